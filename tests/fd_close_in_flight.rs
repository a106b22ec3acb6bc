//! `close` while another thread's operation uses the descriptor: the state is `Closed` at
//! once and later operations fail, but the OS descriptor stays open until that operation is
//! done (its number is never reused under it), and is closed then. On every backend.
#![cfg(unix)]
mod util;

use lwt::unix::{close, pipe, state, write, State};
use lwt::Error;
use std::os::fd::AsRawFd;

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

#[test]
fn a_close_during_an_operation_releases_the_descriptor_when_it_ends() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        // The guard counts as an operation in flight, as a job's read on a worker does.
        let in_flight = r.checked().unwrap();
        let raw = in_flight.as_raw_fd();
        close(&r).await.unwrap();
        assert!(matches!(state(&r), State::Closed), "{kind}");
        assert!(matches!(r.checked(), Err(Error::Closed)), "{kind}");
        // Still open for the operation: the pipe still has its reader.
        assert!(is_open(raw), "{kind}: closed under an operation in flight");
        assert_eq!(write(&w, b"a").await.unwrap(), 1, "{kind}");
        drop(in_flight);
        // The last operation out closed it: the pipe has no reader any more.
        match write(&w, b"b").await {
            Err(e) if e.errno() == Some(libc::EPIPE) => {}
            other => {
                panic!("{kind}: the reader was not closed when the operation ended: {other:?}")
            }
        }
    });
}

#[test]
fn a_second_operation_in_flight_keeps_the_descriptor_until_it_ends_too() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        let first = r.checked().unwrap();
        let second = r.checked().unwrap();
        close(&r).await.unwrap();
        drop(first);
        assert_eq!(
            write(&w, b"a").await.unwrap(),
            1,
            "{kind}: closed while an operation was still in flight"
        );
        drop(second);
        match write(&w, b"b").await {
            Err(e) if e.errno() == Some(libc::EPIPE) => {}
            other => panic!("{kind}: not closed after the last operation: {other:?}"),
        }
    });
}
