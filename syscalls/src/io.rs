//! Reading and writing: `read`, `write`, `write_string`, on non-blocking descriptors through
//! the loop and on blocking ones through jobs.

use crate::cvt;
use crate::fd::{FileDescr, IoEvent};
use lwt_core::Result;
use rustix::fd::AsFd;

/// Reads up to `buf.len()` bytes from `fd` (Lwt's `read fd buf ofs len`, with the slice
/// `&mut buf[ofs..ofs + len]`). Returns the number of bytes read, 0 at end of file.
///
/// Cooperates by readiness on a non-blocking descriptor: the task waits, the loop goes on.
/// On a blocking one (a regular file, a terminal) it waits for readiness, then reads in a
/// job, by the async method in force, into a temporary buffer that is then copied into
/// `buf`. A read canceled (dropped) while waiting consumes no byte. See
/// [read(2)](https://man7.org/linux/man-pages/man2/read.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted` if `fd` is or gets closed or aborted; the errors of `read(2)` except
/// `EAGAIN` and `EINTR` (which are handled).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     lwt::unix::write_string(&w, "ping").await.unwrap();
///     let mut buf = [0u8; 16];
///     let n = lwt::unix::read(&r, &mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// });
/// ```
pub async fn read(fd: &FileDescr, buf: &mut [u8]) -> Result<usize> {
    if fd.is_blocking() {
        fd.wait_ready(IoEvent::Read).await?;
        let os = fd.checked()?;
        let len = buf.len();
        let data = lwt_jobs::run_job(None, move || -> Result<Vec<u8>> {
            let mut tmp = vec![0u8; len];
            let n = crate::retry_eintr(|| cvt(rustix::io::read(os.as_fd(), &mut tmp), "read", ""))?;
            tmp.truncate(n);
            Ok(tmp)
        })
        .await??;
        buf[..data.len()].copy_from_slice(&data);
        return Ok(data.len());
    }
    fd.io(IoEvent::Read, |os| cvt(rustix::io::read(os, &mut *buf), "read", ""))
        .await
}

/// Writes up to `buf.len()` bytes to `fd` and returns how many were written, which may be
/// fewer (Lwt's `write`). Cooperates like [`read`]; on a blocking descriptor the bytes are
/// copied for the job. See [write(2)](https://man7.org/linux/man-pages/man2/write.2.html).
///
/// A write on a pipe or socket whose reader is gone fails with `EPIPE` (SIGPIPE is ignored
/// by lwt, never killing the process).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `write(2)` except `EAGAIN` and `EINTR`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (_r, w) = lwt::unix::pipe().unwrap();
///     assert_eq!(lwt::unix::write(&w, b"abc").await.unwrap(), 3);
/// });
/// ```
pub async fn write(fd: &FileDescr, buf: &[u8]) -> Result<usize> {
    crate::ignore_sigpipe();
    if fd.is_blocking() {
        fd.wait_ready(IoEvent::Write).await?;
        let os = fd.checked()?;
        let data = buf.to_vec();
        return lwt_jobs::run_job(None, move || {
            crate::retry_eintr(|| cvt(rustix::io::write(os.as_fd(), &data), "write", ""))
        })
        .await?;
    }
    fd.io(IoEvent::Write, |os| cvt(rustix::io::write(os, buf), "write", ""))
        .await
}

/// [`write`] for a string slice (Lwt's `write_string`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (_r, w) = lwt::unix::pipe().unwrap();
///     assert_eq!(lwt::unix::write_string(&w, "héllo").await.unwrap(), 6);
/// });
/// ```
pub async fn write_string(fd: &FileDescr, s: &str) -> Result<usize> {
    write(fd, s.as_bytes()).await
}
