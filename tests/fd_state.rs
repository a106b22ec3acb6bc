//! A descriptor's state as its users see it: `state` and `check_descriptor` say open,
//! aborted (with the cause) or closed, and `AsFd` lends the descriptor itself while it is
//! open, and a dead descriptor (at end of file, never the old number) once it is closed; a
//! second close fails; `abort` leaves a closed descriptor closed; `readable` and `writable`
//! look without waiting; in blocking mode `poll_flush` waits for the write job in flight.
#![cfg(unix)]
mod util;

use lwt::unix::{abort, check_descriptor, close, pipe, state, unix_file_descr, write, State};
use lwt::Error;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};

/// Reads once from `fd` with a plain `read(2)`.
fn read_raw(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Vec<u8>> {
    // A duplicate, ours to close.
    let mut f = std::fs::File::from(fd.try_clone_to_owned()?);
    let mut buf = [0u8; 16];
    let n = f.read(&mut buf)?;
    Ok(buf[..n].to_vec())
}

#[test]
fn state_and_check_descriptor_say_open_aborted_or_closed() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        assert!(matches!(state(&r), State::Opened), "{kind}");
        assert!(check_descriptor(&r).is_ok(), "{kind}");
        abort(&r, Error::Timeout);
        match state(&r) {
            State::Aborted(c) if matches!(*c, Error::Timeout) => {}
            other => panic!("{kind}: an aborted descriptor's state: {other:?}"),
        }
        assert!(
            matches!(check_descriptor(&r), Err(Error::Aborted(c)) if matches!(*c, Error::Timeout)),
            "{kind}: {:?}",
            check_descriptor(&r)
        );
        close(&w).await.unwrap();
        assert!(matches!(state(&w), State::Closed), "{kind}");
        assert!(matches!(check_descriptor(&w), Err(Error::Closed)), "{kind}");
    });
}

#[test]
fn as_fd_lends_the_descriptor_while_open_and_a_dead_one_once_closed() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        let raw = unix_file_descr(&r);
        write(&w, b"data").await.unwrap();
        assert_eq!(r.as_fd().as_raw_fd(), raw, "{kind}");
        assert_eq!(read_raw(r.as_fd()).unwrap(), b"data", "{kind}");
        close(&r).await.unwrap();
        let lent = r.as_fd().as_raw_fd();
        assert_ne!(lent, raw, "{kind}: a closed descriptor lent its old number");
        assert_eq!(
            read_raw(r.as_fd()).unwrap(),
            b"",
            "{kind}: the dead descriptor reads EOF"
        );
    });
}

/// `abort` of a closed descriptor changes nothing, and an abort while an operation is in
/// flight keeps count of it: the close after it releases the descriptor once the operation
/// ends.
#[test]
fn abort_leaves_a_closed_descriptor_closed_and_counts_operations_in_flight() {
    util::for_each_backend(|kind| async move {
        let (r, _w) = pipe().unwrap();
        close(&r).await.unwrap();
        abort(&r, Error::Timeout);
        assert!(
            matches!(state(&r), State::Closed),
            "{kind}: {:?}",
            state(&r)
        );
        assert!(matches!(check_descriptor(&r), Err(Error::Closed)), "{kind}");

        let (r, w) = pipe().unwrap();
        let in_flight = r.checked().unwrap();
        abort(&r, Error::Timeout);
        drop(in_flight);
        close(&r).await.unwrap();
        // Released: the pipe has no reader.
        match write(&w, b"x").await {
            Err(e) if e.errno() == Some(libc::EPIPE) => {}
            other => panic!("{kind}: an aborted, then closed, pipe kept its reader: {other:?}"),
        }
    });
}

/// A second `close` fails with `EBADF`; a descriptor in blocking mode that was lent through
/// `AsFd` keeps its number open (on a dead descriptor) after `close`, so a borrower never
/// sees it reused.
#[test]
fn close_twice_fails_and_a_lent_descriptor_keeps_its_number() {
    use lwt::unix::of_unix_file_descr;
    util::for_each_backend(|kind| async move {
        let (r, _w) = pipe().unwrap();
        close(&r).await.unwrap();
        let again = close(&r).await.unwrap_err();
        assert_eq!(again.errno(), Some(libc::EBADF), "{kind}: {again:?}");
        assert_eq!(again.call(), Some("close"), "{kind}: {again:?}");

        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = of_unix_file_descr(f.into(), Some(true), true).unwrap();
        let raw = unix_file_descr(&fd);
        let lent = fd.as_fd().as_raw_fd();
        assert_eq!(lent, raw);
        close(&fd).await.unwrap();
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let open = unsafe { libc::fcntl(raw, libc::F_GETFD) } != -1;
        assert!(
            open,
            "{kind}: a lent descriptor's number was released by close"
        );
        assert_eq!(read_raw(fd.as_fd()).unwrap(), b"", "{kind}");
    });
}

/// `readable` and `writable` look without waiting: an empty pipe is not readable, one with a
/// byte is; its write end is writable while there is room; a closed descriptor is an error.
#[test]
fn readable_and_writable_say_what_the_descriptor_would_do_now() {
    use lwt::unix::{readable, writable};
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        assert!(!readable(&r).unwrap(), "{kind}: an empty pipe is readable");
        assert!(
            writable(&w).unwrap(),
            "{kind}: an empty pipe's write end is not writable"
        );
        assert!(
            !writable(&r).unwrap(),
            "{kind}: a pipe's read end is writable"
        );
        write(&w, b"x").await.unwrap();
        assert!(
            readable(&r).unwrap(),
            "{kind}: a pipe with a byte is not readable"
        );
        close(&r).await.unwrap();
        assert!(matches!(readable(&r), Err(Error::Closed)), "{kind}");
    });
}

/// In blocking mode (jobs) `poll_write` hands its bytes to a job and says they are written;
/// `poll_flush` then waits until that job is done. A FIFO whose reader has not read yet keeps
/// the job's `write(2)` blocked, so the flush must wait for the reader.
#[test]
fn poll_flush_waits_for_the_write_job_in_flight() {
    use futures_lite::future::poll_once;
    use lwt::unix::{mkfifo, openfile, set_blocking, OpenFlags};
    util::for_each_backend(|kind| async move {
        let path = std::env::temp_dir().join(format!(
            "lwt-fd-state-fifo-{}-{}",
            std::process::id(),
            kind.name()
        ));
        let _ = std::fs::remove_file(&path);
        mkfifo(&path, 0o600).await.unwrap();
        let reader = openfile(&path, OpenFlags::RDONLY | OpenFlags::NONBLOCK, 0)
            .await
            .unwrap();
        let mut w = openfile(&path, OpenFlags::WRONLY, 0).await.unwrap();
        set_blocking(&w, true, true).unwrap();
        // Four times what a pipe holds: the job's write blocks until the reader drains it.
        let data = vec![7u8; 256 * 1024];
        let n = std::future::poll_fn(|cx| w.poll_write(cx, &data))
            .await
            .unwrap();
        assert_eq!(n, data.len(), "{kind}");
        assert!(
            poll_once(std::future::poll_fn(|cx| w.poll_flush(cx)))
                .await
                .is_none(),
            "{kind}: a flush returned while its write job was blocked"
        );
        let drained = lwt::spawn(async move {
            let mut got = 0;
            let mut buf = vec![0u8; 65536];
            while got < 256 * 1024 {
                got += lwt::unix::read(&reader, &mut buf).await.unwrap();
            }
            got
        });
        std::future::poll_fn(|cx| w.poll_flush(cx)).await.unwrap();
        assert_eq!(drained.await.unwrap(), data.len(), "{kind}");
        std::fs::remove_file(&path).unwrap();
    });
}
