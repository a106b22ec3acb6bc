//! The ecosystem's I/O traits on lwt's streams, on every backend (and under Wine on IOCP):
//! `futures_lite::io::copy` of 16 MiB between TCP streams, a cancelled read that consumes
//! nothing, split halves in two tasks at once, `incoming`, UDP. The Unix-only cases (pipes,
//! descriptors in blocking mode, Unix-domain streams, tokio's traits) are in
//! net_streams_unix.rs.
mod util;

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
        lwt::sleep(Duration::from_millis(20)).await;
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
fn incoming_connections_and_conversions() {
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
            let mut s = incoming.next().await.unwrap().unwrap();
            let mut b = [0u8; 1];
            #[cfg(unix)]
            {
                // Every lwt::unix function applies to the stream's descriptor.
                let fd: lwt::unix::FileDescr = s.into();
                assert_eq!(lwt::unix::read(&fd, &mut b).await.unwrap(), 1);
                s = TcpStream::from_file_descr(fd).unwrap();
            }
            #[cfg(windows)]
            s.read_exact(&mut b).await.unwrap();
            seen.push(b[0]);
            assert!(s.peer_addr().unwrap().ip().is_loopback());
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
                lwt::sleep(Duration::from_millis(5)).await;
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
