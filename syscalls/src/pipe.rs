//! Pipes: `pipe`, `pipe_in`, `pipe_out`.

use crate::cvt;
use crate::fd::{FileDescr, Kind};
use lwt_core::Result;
use rustix::fd::OwnedFd;

/// Creates a pipe; both ends are non-blocking lwt descriptors, close-on-exec (Lwt's
/// `pipe`). Returns `(read end, write end)`. See
/// [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html).
///
/// # Errors
///
/// The errors of `pipe2` (`EMFILE`, `ENFILE`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     lwt::unix::write(&w, b"x").await.unwrap();
///     let mut b = [0u8; 1];
///     assert_eq!(lwt::unix::read(&r, &mut b).await.unwrap(), 1);
/// });
/// ```
pub fn pipe() -> Result<(FileDescr, FileDescr)> {
    let (r, w) = cvt(crate::compat::pipe(true), "pipe", "")?;
    Ok((
        FileDescr::new_nonblocking(r, Kind::Drains),
        FileDescr::new_nonblocking(w, Kind::Drains),
    ))
}

/// Creates a pipe whose read end is an lwt descriptor and whose write end is a plain,
/// blocking OS descriptor, e.g. for a child process to write into (Lwt's `pipe_in`). Both
/// are close-on-exec; `dup2` it onto the child's descriptor, which clears the flag.
///
/// # Errors
///
/// The errors of `pipe2` and `fcntl`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe_in().unwrap();
///     rustix::io::write(&w, b"from outside").unwrap();
///     let mut b = [0u8; 32];
///     let n = lwt::unix::read(&r, &mut b).await.unwrap();
///     assert_eq!(&b[..n], b"from outside");
/// });
/// ```
pub fn pipe_in() -> Result<(FileDescr, OwnedFd)> {
    let (r, w) = cvt(crate::compat::pipe(false), "pipe_in", "")?;
    Ok((FileDescr::from_owned(r, Some(false), true)?, w))
}

/// Creates a pipe whose write end is an lwt descriptor and whose read end is a plain,
/// blocking OS descriptor (Lwt's `pipe_out`). Returns `(read end, write end)`.
///
/// # Errors
///
/// The errors of `pipe2` and `fcntl`.
pub fn pipe_out() -> Result<(OwnedFd, FileDescr)> {
    let (r, w) = cvt(crate::compat::pipe(false), "pipe_out", "")?;
    Ok((r, FileDescr::from_owned(w, Some(false), true)?))
}
