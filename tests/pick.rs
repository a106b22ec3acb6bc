//! The seed's example: under `pick [timeout; read sock1; read sock2]` exactly one completes,
//! and a canceled read consumes nothing.
#![cfg(unix)] // Unix sockets (socketpair); the Windows subset is in windows_*.rs
mod util;

use lwt::unix::{read, socketpair, write, SocketDomain, SocketType};
use lwt::Error;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type Boxed<'a> = Pin<Box<dyn Future<Output = Result<(usize, usize), Error>> + 'a>>;

#[test]
fn timeout_wins_and_later_data_is_intact() {
    util::for_each_backend(|_| async {
        let (s1, p1) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let (s2, p2) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let mut b1 = [0u8; 8];
        let mut b2 = [0u8; 8];
        {
            let futs: Vec<Boxed<'_>> = vec![
                Box::pin(lwt::timeout(Duration::from_millis(20))),
                Box::pin(async { read(&s1, &mut b1).await.map(|n| (1, n)) }),
                Box::pin(async { read(&s2, &mut b2).await.map(|n| (2, n)) }),
            ];
            let r = lwt::pick(futs).await;
            assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        }
        // Data written afterwards is all there for the next reader.
        write(&p1, b"one").await.unwrap();
        write(&p2, b"two").await.unwrap();
        lwt::sleep(Duration::from_millis(5)).await;
        let n = read(&s1, &mut b1).await.unwrap();
        assert_eq!(&b1[..n], b"one");
        let n = read(&s2, &mut b2).await.unwrap();
        assert_eq!(&b2[..n], b"two");
    });
}

#[test]
fn exactly_one_read_completes() {
    util::for_each_backend(|_| async {
        let (s1, p1) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let (s2, p2) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        write(&p1, b"aaa").await.unwrap();
        write(&p2, b"bbb").await.unwrap();
        let mut b1 = [0u8; 8];
        let mut b2 = [0u8; 8];
        let winner = {
            let futs: Vec<Boxed<'_>> = vec![
                Box::pin(lwt::timeout(Duration::from_secs(5))),
                Box::pin(async { read(&s1, &mut b1).await.map(|n| (1, n)) }),
                Box::pin(async { read(&s2, &mut b2).await.map(|n| (2, n)) }),
            ];
            lwt::pick(futs).await.unwrap()
        };
        assert_eq!(winner, (1, 3));
        assert_eq!(&b1[..3], b"aaa");
        // The loser consumed nothing.
        let n = read(&s2, &mut b2).await.unwrap();
        assert_eq!(&b2[..n], b"bbb");
    });
}

#[test]
fn pending_read_fails_when_closed_or_aborted() {
    util::for_each_backend(|_| async {
        let (a, _b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let a2 = a.clone();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 4];
            read(&a2, &mut buf).await
        });
        lwt::sleep(Duration::from_millis(5)).await;
        lwt::unix::close(&a).await.unwrap();
        assert!(matches!(reader.await.unwrap(), Err(Error::Closed)));

        let (c, _d) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let c2 = c.clone();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 4];
            read(&c2, &mut buf).await
        });
        lwt::sleep(Duration::from_millis(5)).await;
        lwt::unix::abort(&c, Error::from_errno(libc::ECONNRESET, "test", ""));
        match reader.await.unwrap() {
            Err(Error::Aborted(cause)) => assert_eq!(cause.errno(), Some(libc::ECONNRESET)),
            other => panic!("{other:?}"),
        }
        // Close still works on an aborted descriptor; a second close is EBADF.
        lwt::unix::close(&c).await.unwrap();
        let e = lwt::unix::close(&c).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBADF));
    });
}
