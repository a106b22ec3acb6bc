//! The ecosystem's I/O traits on lwt's streams, on every backend: `futures_lite::io::copy`
//! between TCP streams, cancelled reads that consume nothing (readiness and job-backed),
//! `BufReader::read_line` over a pipe, split halves in two tasks at once, UDP and
//! Unix-domain streams, and tokio's traits (feature `tokio-io`).
mod util;

use futures_lite::io::{AsyncBufReadExt, BufReader};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use lwt::net::{TcpListener, TcpStream, UdpSocket};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A connected pair of TCP streams (client, server side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = lwt::join2(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}

/// The byte at offset `i` of the test stream: not periodic in any power of two up to 2^24.
fn byte(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

const COPY_LEN: usize = 16 << 20;

#[test]
fn copy_of_16_mib_between_tcp_streams_keeps_every_byte() {
    util::for_each_backend(|_| async {
        let (mut src_tx, src_rx) = tcp_pair().await;
        let (dst_tx, mut dst_rx) = tcp_pair().await;
        let producer = lwt::spawn(async move {
            let chunk: Vec<u8> = (0..COPY_LEN).map(byte).collect();
            // Several writes of uneven sizes.
            for part in chunk.chunks(1_000_003) {
                src_tx.write_all(part).await.unwrap();
            }
            src_tx.close().await.unwrap();
        });
        let copier = lwt::spawn(async move {
            let mut dst_tx = dst_tx;
            let n = futures_lite::io::copy(src_rx, &mut dst_tx).await.unwrap();
            dst_tx.close().await.unwrap();
            n
        });
        let mut got = Vec::with_capacity(COPY_LEN);
        dst_rx.read_to_end(&mut got).await.unwrap();
        assert_eq!(copier.await.unwrap(), COPY_LEN as u64);
        producer.await.unwrap();
        assert_eq!(got.len(), COPY_LEN);
        if let Some(i) = (0..COPY_LEN).find(|&i| got[i] != byte(i)) {
            panic!("byte {i} is {} instead of {}", got[i], byte(i));
        }
    });
}

type Boxed<'a> = Pin<Box<dyn Future<Output = Option<usize>> + 'a>>;

/// `pick` of a 20 ms timeout and a read through `AsyncReadExt::read` that cannot complete
/// in time: the timeout wins, the read is dropped; `None` says so.
async fn read_or_time_out<R: futures_lite::AsyncRead + Unpin>(r: &mut R) -> Option<usize> {
    let mut buf = [0u8; 64];
    let reading: Boxed<'_> = Box::pin(async { Some(r.read(&mut buf).await.unwrap()) });
    let timeout: Boxed<'_> = Box::pin(async {
        lwt::sleep(Duration::from_millis(20)).await.unwrap();
        None
    });
    lwt::pick([timeout, reading]).await
}

#[test]
fn a_cancelled_trait_read_on_a_tcp_stream_consumes_nothing() {
    util::for_each_backend(|_| async {
        let (mut a, mut b) = tcp_pair().await;
        for round in 0..3u8 {
            assert_eq!(read_or_time_out(&mut b).await, None, "nothing was sent yet");
            let msg = [b'a' + round; 5];
            a.write_all(&msg).await.unwrap();
            // The next read of `b` gets all of it: the cancelled read took nothing.
            let mut got = [0u8; 5];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(got, msg);
        }
    });
}

#[test]
fn a_cancelled_read_of_a_blocking_mode_descriptor_keeps_its_bytes() {
    // A descriptor in blocking mode reads through a job (see `FileDescr::poll_read`): a read
    // cancelled while its job waits keeps the job, and the next read of the same value gets
    // its bytes.
    util::for_each_backend(|_| async {
        let (mut r, w) = lwt::unix::pipe().unwrap();
        lwt::unix::set_blocking(&r, true, true).unwrap();
        assert_eq!(read_or_time_out(&mut r).await, None);
        lwt::unix::write(&w, b"kept").await.unwrap();
        let mut got = [0u8; 4];
        r.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"kept");
        // And a regular file: reads, writes written behind, flush.
        let path = std::env::temp_dir().join(format!(
            "lwt-net-streams-{}-{}",
            std::process::id(),
            lwt::Handle::current().backend_name()
        ));
        let mut f = lwt::unix::openfile(
            &path,
            lwt::unix::OpenFlags::RDWR | lwt::unix::OpenFlags::CREAT | lwt::unix::OpenFlags::TRUNC,
            0o600,
        )
        .await
        .unwrap();
        assert!(lwt::unix::blocking(&f));
        let data: Vec<u8> = (0..300_000).map(byte).collect();
        f.write_all(&data).await.unwrap();
        f.flush().await.unwrap();
        lwt::unix::lseek(&f, 0, lwt::unix::SeekCommand::Set)
            .await
            .unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).await.unwrap();
        assert!(back == data, "the file read back differs");
        f.close().await.unwrap();
        assert!(matches!(lwt::unix::state(&f), lwt::unix::State::Closed));
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn buf_reader_read_line_over_a_pipe() {
    util::for_each_backend(|_| async {
        let (r, mut w) = lwt::unix::pipe().unwrap();
        let writer = lwt::spawn(async move {
            for i in 0..100 {
                w.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
            }
            w.write_all(b"no newline at the end").await.unwrap();
            w.close().await.unwrap();
        });
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        for i in 0..100 {
            line.clear();
            assert_eq!(reader.read_line(&mut line).await.unwrap(), line.len());
            assert_eq!(line, format!("line {i}\n"));
        }
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "no newline at the end");
        line.clear();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 0); // end of file
        writer.await.unwrap();
    });
}

const HALVES_LEN: usize = 4 << 20;

#[test]
fn split_halves_read_and_write_in_two_tasks_at_once() {
    util::for_each_backend(|_| async {
        let (a, mut b) = tcp_pair().await;
        // The peer echoes everything; the two halves of `a` run in two tasks: the writer
        // sends more than the socket buffers hold, so it finishes only because the reader
        // drains the echo at the same time.
        let echo = lwt::spawn(async move {
            let (mut r, mut w) = b.split();
            futures_lite::io::copy(&mut r, &mut w).await.unwrap()
        });
        let (mut r, mut w) = a.into_split();
        let writer = lwt::spawn(async move {
            let data: Vec<u8> = (0..HALVES_LEN).map(byte).collect();
            w.write_all(&data).await.unwrap();
            w // kept: dropping it would shut down the sending half
        });
        let reader = lwt::spawn(async move {
            let mut got = vec![0u8; HALVES_LEN];
            r.read_exact(&mut got).await.unwrap();
            (r, got)
        });
        let w = writer.await.unwrap();
        let (r, got) = reader.await.unwrap();
        assert!((0..HALVES_LEN).all(|i| got[i] == byte(i)), "echo differs");
        let mut a = r.reunite(w).unwrap();
        a.close().await.unwrap();
        assert_eq!(echo.await.unwrap(), HALVES_LEN as u64);
    });
}

#[test]
fn borrowed_halves_under_join_and_owned_write_half_drop_shuts_down() {
    util::for_each_backend(|_| async {
        let (mut a, mut b) = tcp_pair().await;
        let (mut r, mut w) = a.split();
        let ((), got) = lwt::join2(
            async {
                w.write_all(b"ping").await.unwrap();
            },
            async {
                let mut buf = [0u8; 4];
                b.read_exact(&mut buf).await.unwrap();
                b.write_all(b"pong").await.unwrap();
                let mut back = [0u8; 4];
                r.read_exact(&mut back).await.unwrap();
                (buf, back)
            },
        )
        .await;
        assert_eq!(got, (*b"ping", *b"pong"));
        let (_r, w) = a.into_split();
        drop(w); // shuts down the sending direction
        let mut rest = Vec::new();
        assert_eq!(b.read_to_end(&mut rest).await.unwrap(), 0);
    });
}

#[test]
fn incoming_connections_and_conversions_to_file_descr() {
    util::for_each_backend(|_| async {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        let clients = lwt::spawn(async move {
            let mut out = Vec::new();
            for i in 0..4u8 {
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.set_nodelay(true).unwrap();
                c.write_all(&[i]).await.unwrap();
                out.push(c);
            }
            out
        });
        let mut incoming = l.incoming();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let s = incoming.next().await.unwrap().unwrap();
            // Every lwt::unix function applies to the stream's descriptor.
            let fd: lwt::unix::FileDescr = s.into();
            let mut b = [0u8; 1];
            assert_eq!(lwt::unix::read(&fd, &mut b).await.unwrap(), 1);
            seen.push(b[0]);
            let back = TcpStream::from_file_descr(fd).unwrap();
            assert!(back.peer_addr().unwrap().ip().is_loopback());
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3]);
        drop(clients.await.unwrap());
    });
}

#[test]
fn udp_send_to_recv_from_and_connected_send_recv() {
    util::for_each_backend(|_| async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (ab, bb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // The receive waits on the loop; the send comes after it started.
        let (recv, sent) = lwt::join2(
            async {
                let mut buf = [0u8; 32];
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                (buf[..n].to_vec(), from)
            },
            async {
                lwt::sleep(Duration::from_millis(5)).await.unwrap();
                a.send_to(b"datagram", bb).await.unwrap()
            },
        )
        .await;
        assert_eq!(sent, 8);
        assert_eq!(recv, (b"datagram".to_vec(), ab));
        a.connect(bb).await.unwrap();
        b.connect(ab).await.unwrap();
        a.send(b"connected").await.unwrap();
        let mut buf = [0u8; 32];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"connected");
        assert_eq!(a.peer_addr().unwrap(), bb);
    });
}

#[test]
fn unix_streams_listener_and_pair() {
    util::for_each_backend(|kind| async move {
        let path = std::env::temp_dir().join(format!(
            "lwt-net-streams-{}-{}.sock",
            std::process::id(),
            kind.name()
        ));
        let _ = std::fs::remove_file(&path);
        let l = lwt::net::UnixListener::bind(&path).await.unwrap();
        assert_eq!(
            l.local_addr().unwrap(),
            lwt::unix::SockAddr::Unix(path.clone())
        );
        let p = path.clone();
        let client = lwt::spawn(async move {
            let mut c = lwt::net::UnixStream::connect(&p).await.unwrap();
            c.write_all(b"hello over a path").await.unwrap();
            c.close().await.unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).await.unwrap();
            reply
        });
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        s.write_all(got.to_uppercase().as_bytes()).await.unwrap();
        drop(s);
        assert_eq!(client.await.unwrap(), "HELLO OVER A PATH");
        std::fs::remove_file(&path).unwrap();

        let (a, mut b) = lwt::net::UnixStream::pair().unwrap();
        let (_r, mut w) = a.into_split();
        w.write_all(b"half").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"half");
    });
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_traits_read_into_uninitialised_memory_and_write() {
    use std::mem::MaybeUninit;
    use std::task::Poll;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    util::for_each_backend(|_| async {
        let (mut a, mut b) = tcp_pair().await;
        let n = std::future::poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"tokio"))
            .await
            .unwrap();
        assert_eq!(n, 5);
        let mut raw = [MaybeUninit::<u8>::uninit(); 16];
        let mut buf = ReadBuf::uninit(&mut raw);
        while buf.filled().len() < 5 {
            std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
                .await
                .unwrap();
        }
        assert_eq!(buf.filled(), b"tokio");
        std::future::poll_fn(|cx| Pin::new(&mut a).poll_shutdown(cx))
            .await
            .unwrap();
        let mut buf = ReadBuf::uninit(&mut raw);
        std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert!(buf.filled().is_empty()); // end of file after the shutdown
                                          // A FileDescr too.
        let (mut r, mut w) = lwt::unix::pipe().unwrap();
        std::future::poll_fn(|cx| Pin::new(&mut w).poll_write(cx, b"fd"))
            .await
            .unwrap();
        let mut buf = ReadBuf::uninit(&mut raw);
        let r = std::future::poll_fn(|cx| match Pin::new(&mut r).poll_read(cx, &mut buf) {
            Poll::Ready(r) => Poll::Ready(r.map(|()| buf.filled().to_vec())),
            Poll::Pending => Poll::Pending,
        })
        .await
        .unwrap();
        assert_eq!(r, b"fd");
    });
}
