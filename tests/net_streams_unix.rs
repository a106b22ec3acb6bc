//! The ecosystem's I/O traits on Unix-only lwt streams, on every backend: a cancelled read of a
//! descriptor in blocking mode keeps its job's bytes, files through the traits,
//! `BufReader::read_line` over a pipe, Unix-domain streams, and tokio's traits (feature
//! `tokio-io`).
#![cfg(unix)]
mod util;

use futures_lite::io::{AsyncBufReadExt, BufReader};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
#[cfg(feature = "tokio-io")]
use lwt::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A connected pair of TCP streams (client, server side).
#[cfg(feature = "tokio-io")]
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
        // End of file after the shutdown.
        assert!(buf.filled().is_empty());
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
        // A child's pipes too.
        let mut child = lwt::process::Command::new("cat")
            .stdin(lwt::process::Stdio::piped())
            .stdout(lwt::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        std::future::poll_fn(|cx| Pin::new(&mut stdin).poll_write(cx, b"child"))
            .await
            .unwrap();
        std::future::poll_fn(|cx| Pin::new(&mut stdin).poll_shutdown(cx))
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut buf = ReadBuf::uninit(&mut raw);
            std::future::poll_fn(|cx| Pin::new(&mut stdout).poll_read(cx, &mut buf))
                .await
                .unwrap();
            if buf.filled().is_empty() {
                break;
            }
            out.extend_from_slice(buf.filled());
        }
        assert_eq!(out, b"child");
        assert!(child.wait().await.unwrap().success());
    });
}
