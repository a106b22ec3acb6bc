//! Operations waiting on a descriptor are woken by what happens at its other end, with the
//! outcome the system call then gives, on every backend:
//! - a write waiting on a full pipe completes when the reader drains it (writability alone:
//!   the write end never becomes readable);
//! - a read on an empty pipe gets end of file when the last writer closes (the kernel reports
//!   a hang-up only, not readable);
//! - a write on a full pipe gets `EPIPE` when the reader closes (an error report);
//! - a read on a socket whose peer resets the connection gets `ECONNRESET`.
//! - several readers of one descriptor are each woken, a writer beside a woken reader stays
//!   watched, and a read polled late after its wake-up leaves the waiter that took its place.
//!
//! A backend or reactor that mistook any of these reports for "nothing happened", or woke the
//! wrong direction, would leave the operation waiting for ever.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::time::Duration;

/// Fills `w`'s pipe until a write would wait.
async fn fill(w: &FileDescr) {
    let chunk = vec![0u8; 65536];
    loop {
        match lwt::unix::with_timeout(Duration::from_millis(20), write(w, &chunk)).await {
            Ok(n) => assert!(n > 0),
            Err(lwt::Error::Timeout) => break, // it waits: the pipe is full
            Err(e) => panic!("filling the pipe: {e:?}"),
        }
    }
}

#[test]
fn a_write_waiting_on_a_full_pipe_completes_when_the_reader_drains_it() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        fill(&w).await;
        let writer = lwt::spawn(async move { write(&w, b"more").await });
        lwt::sleep(Duration::from_millis(5)).await; // the write waits
                                                    // Another thread drains the pipe with plain reads.
        let raw = unix_file_descr(&r);
        let drainer = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            // SAFETY: `r` stays open until the thread is joined; a read into a local buffer.
            let n = unsafe { libc::read(raw, buf.as_mut_ptr().cast(), buf.len()) };
            assert!(n > 0);
        });
        let got = lwt::unix::with_timeout(Duration::from_secs(5), writer)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the write never saw the pipe drained"));
        assert_eq!(got.unwrap(), 4, "{kind}");
        drainer.join().unwrap();
        drop(r);
    });
}

#[test]
fn a_read_waiting_on_a_pipe_ends_when_the_writer_closes() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 8];
            read(&r, &mut buf).await
        });
        lwt::sleep(Duration::from_millis(5)).await; // the read waits
        close(&w).await.unwrap();
        let got = lwt::unix::with_timeout(Duration::from_secs(5), reader)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the read never saw the writer close"));
        assert_eq!(got.unwrap(), 0, "{kind}: end of file");
    });
}

#[test]
fn a_write_waiting_on_a_full_pipe_fails_when_the_reader_closes() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        fill(&w).await;
        let writer = lwt::spawn(async move { write(&w, b"more").await });
        lwt::sleep(Duration::from_millis(5)).await; // the write waits
        close(&r).await.unwrap();
        let got = lwt::unix::with_timeout(Duration::from_secs(5), writer)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the write never saw the reader close"));
        let e = got.expect_err("a write into a pipe with no reader");
        assert_eq!(e.errno(), Some(libc::EPIPE), "{kind}: {e:?}");
    });
}

#[test]
fn a_read_waiting_on_a_socket_fails_when_the_peer_resets() {
    util::for_each_backend(|kind| async move {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let s = of_unix_file_descr(s.into(), None, true).unwrap();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 8];
            read(&s, &mut buf).await
        });
        lwt::sleep(Duration::from_millis(5)).await; // the read waits
                                                    // SO_LINGER with a zero timeout: closing sends a reset, not a FIN.
        let peer = with_linger_zero(peer);
        drop(peer);
        let got = lwt::unix::with_timeout(Duration::from_secs(5), reader)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the read never saw the reset"));
        let e = got.expect_err("a read on a reset connection");
        assert_eq!(e.errno(), Some(libc::ECONNRESET), "{kind}: {e:?}");
    });
}

/// Sets `SO_LINGER` to {on, 0 s} on `s`.
fn with_linger_zero(s: std::net::TcpStream) -> std::net::TcpStream {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `s` is an open socket for the call; the option value is a valid `linger` of the
    // size passed.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    s
}

/// Several operations waiting on one descriptor in the same direction are each woken: three
/// readers of one socket each get one of three bytes written one at a time.
#[test]
fn every_reader_waiting_on_one_descriptor_is_woken() {
    util::for_each_backend(|kind| async move {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let a = a.clone();
                lwt::spawn(async move {
                    let mut buf = [0u8; 1];
                    read(&a, &mut buf).await.map(|_| buf[0])
                })
            })
            .collect();
        lwt::sleep(Duration::from_millis(5)).await; // all three wait
        for byte in [1u8, 2, 3] {
            std::io::Write::write_all(&mut &b, &[byte]).unwrap();
            lwt::sleep(Duration::from_millis(5)).await;
        }
        let mut got = Vec::new();
        for r in readers {
            let b = lwt::unix::with_timeout(Duration::from_secs(5), r)
                .await
                .unwrap_or_else(|_| panic!("{kind}: a reader was never woken"));
            got.push(b.unwrap());
        }
        got.sort();
        assert_eq!(got, [1, 2, 3], "{kind}");
    });
}

/// A read and a write waiting on one socket at once: the report that wakes the reader (the
/// peer sent something) must leave the writer watched, so that the peer draining the socket
/// later wakes it (a oneshot backend stops watching a source once it reports it).
#[test]
fn a_writer_waiting_beside_a_woken_reader_stays_watched() {
    util::for_each_backend(|kind| async move {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        // Fill a's send buffer until a write waits.
        let chunk = vec![7u8; 65536];
        let mut sent = 0usize;
        loop {
            match lwt::unix::with_timeout(Duration::from_millis(20), write(&a, &chunk)).await {
                Ok(n) => sent += n,
                Err(lwt::Error::Timeout) => break,
                Err(e) => panic!("{kind}: filling: {e:?}"),
            }
        }
        let reader = {
            let a = a.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 1];
                read(&a, &mut buf).await.map(|_| buf[0])
            })
        };
        let writer = {
            let a = a.clone();
            lwt::spawn(async move { write(&a, b"tail").await })
        };
        lwt::sleep(Duration::from_millis(5)).await; // both wait
                                                    // The peer sends a byte: the reader is woken, the writer still waits.
        std::io::Write::write_all(&mut &b, &[9]).unwrap();
        let got = lwt::unix::with_timeout(Duration::from_secs(5), reader)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the reader was never woken"));
        assert_eq!(got.unwrap(), 9);
        lwt::sleep(Duration::from_millis(5)).await;
        assert!(!writer.is_finished(), "{kind}: the write did not wait");
        // The peer drains what a sent: the writer is woken.
        let drainer = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            while got < sent {
                got += std::io::Read::read(&mut &b, &mut buf).unwrap();
            }
            b
        });
        let w = lwt::unix::with_timeout(Duration::from_secs(5), writer)
            .await
            .unwrap_or_else(|_| panic!("{kind}: the writer was never woken after the drain"));
        assert_eq!(w.unwrap(), 4);
        drop(drainer.join().unwrap());
    });
}

/// A read woken by a report but polled again only after other reads came and went: its old
/// place among the waiters now holds another read's waker, which must stay. Both reads are
/// woken by the writes that follow.
#[test]
fn a_read_polled_late_after_a_wake_up_leaves_the_next_waiter_in_place() {
    use futures_lite::future::poll_once;
    util::for_each_backend(|kind| async move {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        let mut late = std::pin::pin!(async {
            let mut buf = [0u8; 1];
            read(&a, &mut buf).await.map(|_| buf[0])
        });
        // It waits: the first (inline) place among the read waiters.
        assert!(poll_once(late.as_mut()).await.is_none(), "{kind}");
        std::io::Write::write_all(&mut &b, &[1]).unwrap();
        // The loop turns and takes the report: `late`'s waker (this task's) is woken, but
        // `late` is not polled; another read takes the byte.
        lwt::sleep(Duration::from_millis(5)).await;
        let mut buf = [0u8; 1];
        assert_eq!(read(&a, &mut buf).await.unwrap(), 1, "{kind}");
        assert_eq!(buf[0], 1);
        // A third read waits, in the place `late` had.
        let next = {
            let a = a.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 1];
                read(&a, &mut buf).await.map(|_| buf[0])
            })
        };
        lwt::sleep(Duration::from_millis(5)).await;
        // Now `late` is polled: it would block and waits again, beside `next`.
        assert!(poll_once(late.as_mut()).await.is_none(), "{kind}");
        let writes = async {
            for byte in [2u8, 3] {
                std::io::Write::write_all(&mut &b, &[byte]).unwrap();
                lwt::sleep(Duration::from_millis(5)).await;
            }
        };
        let next = async { next.await.map_err(|_| lwt::Error::Canceled)? };
        let all = futures_lite::future::zip(futures_lite::future::zip(late, writes), next);
        let ((l, ()), n) = lwt::unix::with_timeout(Duration::from_secs(5), async { Ok(all.await) })
            .await
            .unwrap_or_else(|e| panic!("{kind}: a read was never woken: {e:?}"));
        let mut got = [l.unwrap(), n.unwrap()];
        got.sort();
        assert_eq!(got, [2, 3], "{kind}");
    });
}
