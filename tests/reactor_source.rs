//! `lwt_core::reactor::Source`, the readiness of one descriptor, seen from outside: it names its
//! descriptor, registers nothing until an operation has to wait, and says whether it is
//! registered with the runtime the calling thread is in, on every backend.
#![cfg(unix)]
mod util;

use lwt_core::reactor::{Direction, Source};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A read through `src` that has to wait (another thread writes after a moment).
async fn read_that_waits(src: &Source, b: &UnixStream, a: &UnixStream) {
    let mut a = a.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        a.write_all(b"x").unwrap();
    });
    let mut buf = [0u8; 1];
    let n = src
        .op(Direction::Read, || {
            (&*b)
                .read(&mut buf)
                .map_err(|e| lwt_core::Error::from_io(e, "read", ""))
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    writer.join().unwrap();
}

#[test]
fn a_source_names_its_descriptor_and_knows_where_it_is_registered() {
    for kind in util::backends() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let src = Source::new(b.as_fd());
        assert_eq!(src.as_raw(), b.as_raw_fd(), "{kind}");
        assert!(format!("{src:?}").contains(&b.as_raw_fd().to_string()));
        let waiter = lwt_core::reactor::Waiter::default();
        assert_eq!(format!("{waiter:?}"), "Waiter { registered: false }");
        // Outside any runtime: registered nowhere.
        assert!(!src.is_registered_here());
        let first = util::runtime(kind);
        first.block_on(async {
            assert!(
                !src.is_registered_here(),
                "{kind}: registered before any wait"
            );
            read_that_waits(&src, &b, &a).await;
            assert!(
                src.is_registered_here(),
                "{kind}: not registered after a wait"
            );
        });
        // A second runtime, the first still alive: not registered there until it waits there.
        let second = util::runtime(kind);
        second.block_on(async {
            assert!(
                !src.is_registered_here(),
                "{kind}: the first runtime's registration counted"
            );
            read_that_waits(&src, &b, &a).await;
            assert!(
                src.is_registered_here(),
                "{kind}: not registered in the second runtime"
            );
        });
        // And the first still has its own.
        first.block_on(async { assert!(src.is_registered_here(), "{kind}") });
        drop(first);
        second.block_on(async { assert!(src.is_registered_here(), "{kind}") });
        assert!(!src.is_registered_here());
    }
}

/// A regular file, which epoll refuses to watch (`EPERM`), is always ready: an operation on it
/// runs and completes instead of failing to register, on every backend.
#[test]
fn an_operation_on_a_regular_file_completes_where_the_backend_cannot_watch_it() {
    util::for_each_backend(|kind| async move {
        let path = std::env::temp_dir().join(format!("lwt-reactor-source-{}", std::process::id()));
        std::fs::write(&path, b"file bytes").unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let src = Source::new(f.as_fd());
        let mut buf = [0u8; 32];
        let n = src
            .op(Direction::Read, || {
                (&f).read(&mut buf)
                    .map_err(|e| lwt_core::Error::from_io(e, "read", ""))
            })
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        assert_eq!(&buf[..n], b"file bytes");
    });
}

/// Closing a source (or dropping it) deregisters it: the runtime's registration count goes
/// back, a closed source says so, and an operation that would have to wait on it fails with
/// `Closed` instead of waiting.
#[test]
fn closing_or_dropping_a_source_deregisters_it() {
    util::for_each_backend(|kind| async move {
        let registrations = || lwt::Handle::current().metrics().registrations;
        let before = registrations();
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        // Dropped.
        {
            let src = Source::new(b.as_fd());
            read_that_waits(&src, &b, &a).await;
            assert_eq!(registrations(), before + 1, "{kind}");
        }
        assert_eq!(
            registrations(),
            before,
            "{kind}: a dropped source stayed registered"
        );
        // Closed.
        let src = Source::new(b.as_fd());
        read_that_waits(&src, &b, &a).await;
        assert!(!src.is_closed());
        src.close();
        assert!(src.is_closed(), "{kind}");
        assert_eq!(
            registrations(),
            before,
            "{kind}: a closed source stayed registered"
        );
        let mut buf = [0u8; 1];
        let r = src
            .op(Direction::Read, || {
                (&b).read(&mut buf)
                    .map_err(|e| lwt_core::Error::from_io(e, "read", ""))
            })
            .await;
        assert!(matches!(r, Err(lwt_core::Error::Closed)), "{kind}: {r:?}");
    });
}

/// An operation interrupted by a signal (`EINTR`) is tried again at once, as Lwt's
/// `wrap_syscall` does: the caller never sees the interruption.
#[test]
fn an_interrupted_operation_is_tried_again() {
    util::for_each_backend(|kind| async move {
        let (_a, b) = UnixStream::pair().unwrap();
        let src = Source::new(b.as_fd());
        let mut calls = 0;
        let r = src
            .op(Direction::Read, || {
                calls += 1;
                if calls < 3 {
                    Err(lwt_core::Error::from_io(
                        std::io::Error::from_raw_os_error(libc::EINTR),
                        "read",
                        "",
                    ))
                } else {
                    Ok(calls)
                }
            })
            .await;
        assert_eq!(r.unwrap_or_else(|e| panic!("{kind}: {e:?}")), 3);
    });
}

/// Counts how often it is woken; its `Arc`'s count says who still holds it.
struct CountingWake(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A waiting operation that is dropped takes its waker out of the registration: nothing keeps
/// it (or what it would wake) alive, and no later readiness wakes it. Polled again meanwhile
/// (with the same waker, then another task's), it holds one registration, not one per poll.
#[test]
fn a_dropped_waiting_operation_releases_its_waker() {
    use std::future::Future;
    use std::sync::Arc;
    util::for_each_backend(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let src = Source::new(b.as_fd());
        let counter = Arc::new(CountingWake(Default::default()));
        let other = Arc::new(CountingWake(Default::default()));
        {
            let mut buf = [0u8; 1];
            let mut fut = std::pin::pin!(src.op(Direction::Read, || {
                (&b).read(&mut buf)
                    .map_err(|e| lwt_core::Error::from_io(e, "read", ""))
            }));
            let waker = std::task::Waker::from(counter.clone());
            let mut cx = std::task::Context::from_waker(&waker);
            for _ in 0..3 {
                assert!(fut.as_mut().poll(&mut cx).is_pending(), "{kind}");
            }
            assert_eq!(
                Arc::strong_count(&counter),
                3,
                "{kind}: one copy kept, not one per poll"
            );
            let waker2 = std::task::Waker::from(other.clone());
            let mut cx2 = std::task::Context::from_waker(&waker2);
            for _ in 0..3 {
                assert!(fut.as_mut().poll(&mut cx2).is_pending(), "{kind}");
            }
            assert_eq!(
                Arc::strong_count(&counter),
                2,
                "{kind}: the first waker was kept"
            );
            assert_eq!(
                Arc::strong_count(&other),
                3,
                "{kind}: the new waker was not kept"
            );
        }
        assert_eq!(
            (Arc::strong_count(&counter), Arc::strong_count(&other)),
            (1, 1),
            "{kind}: a dropped operation's waker is still held"
        );
        // Readiness now wakes nobody.
        (&a).write_all(b"x").unwrap();
        lwt::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            counter.0.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "{kind}"
        );
        assert_eq!(
            other.0.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "{kind}"
        );
    });
}

/// An operation that started waiting in one runtime and is then driven by another (the
/// future moved) waits in the second: its registration with the first is forgotten.
#[test]
fn a_waiting_operation_moved_to_another_runtime_completes_there() {
    for kind in util::backends() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let b = std::sync::Arc::new(b);
        let src = std::sync::Arc::new(Source::new(b.as_fd()));
        let op = {
            let (src, b) = (src.clone(), b.clone());
            async move {
                let mut buf = [0u8; 1];
                src.op(Direction::Read, || {
                    (&*b)
                        .read(&mut buf)
                        .map_err(|e| lwt_core::Error::from_io(e, "read", ""))
                })
                .await
            }
        };
        let mut op = Box::pin(op);
        let first = util::runtime(kind);
        first.block_on(async {
            assert!(futures_lite::future::poll_once(op.as_mut()).await.is_none());
        });
        let second = util::runtime(kind);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            (&a).write_all(b"x").unwrap();
            a
        });
        // Woken by the write (10 ms), not found done by a later poll: well within 3 s.
        let start = std::time::Instant::now();
        let got = second.block_on(async {
            lwt::unix::with_timeout(Duration::from_secs(3), async { Ok(op.await) }).await
        });
        assert_eq!(
            got.unwrap_or_else(|e| panic!("{kind}: the moved read never completed: {e}"))
                .unwrap(),
            1
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{kind}: the moved read was not woken by the write ({:?})",
            start.elapsed()
        );
        drop(writer.join().unwrap());
        drop(first);
    }
}
