//! Reading and writing: `read`, `write`, `write_string`, on non-blocking descriptors through
//! the loop and on blocking ones through jobs, with a page-cache fast path for regular files;
//! `pread`, `pwrite`, `readv` and `writev`.

use crate::cvt;
use crate::fd::{FileDescr, IoEvent};
use crate::iovec::IoVectors;
use crate::sigpipe;
use lwt_core::Result;
use rustix::fd::AsFd;
use std::io::IoSliceMut;

/// Reads up to `buf.len()` bytes from `fd` (Lwt's `read fd buf ofs len`, with the slice
/// `&mut buf[ofs..ofs + len]`). Returns the number of bytes read, 0 at end of file.
///
/// Cooperates by readiness on a non-blocking descriptor: the task waits, the loop goes on.
/// On a blocking one (a regular file, a terminal) it first tries the page cache without
/// waiting (Linux: `preadv2` with `RWF_NOWAIT`, straight into `buf`, no thread hop); if the
/// data is not cached, a regular file on the io_uring backend is read by the kernel through
/// the ring (no pool thread; not under the `none` async method), and anything else waits for
/// readiness, then reads in a job, by the async method in force; either way into a temporary
/// buffer that is then copied into `buf`. A canceled ring or job read may have moved the file
/// position by the bytes it discarded. A file found cold is sent
/// straight to jobs for the next few milliseconds (a miss costs readahead work). A read canceled (dropped) while waiting consumes no byte. See
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
        if let Some(r) = fast_read(fd, &mut [IoSliceMut::new(buf)], CURRENT, "read") {
            return r;
        }
        if let Some(r) = ring_read(fd, buf, CURRENT, "read").await {
            return r;
        }
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
    let len = buf.len();
    fd.io_read(len, |os| fd.inner.read_now(os, &mut *buf)).await
}

/// Writes up to `buf.len()` bytes to `fd` and returns how many were written, which may be
/// fewer (Lwt's `write`). Cooperates like [`read`]; on a blocking descriptor the bytes are
/// copied, then written by the kernel through the ring (a regular file on the io_uring
/// backend: no pool thread) or in a job. See [write(2)](https://man7.org/linux/man-pages/man2/write.2.html).
///
/// A write on a pipe or socket whose reader is gone fails with `EPIPE` and raises no SIGPIPE,
/// and SIGPIPE's disposition (and any handler of yours) is left alone: on a socket the write
/// is a `send` with `MSG_NOSIGNAL`; on anything else SIGPIPE is blocked in the writing thread
/// around the call and the one it raised is consumed.
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
    if fd.is_blocking() {
        if let Some(r) = ring_write(fd, buf, CURRENT, "write").await {
            return r;
        }
        fd.wait_ready(IoEvent::Write).await?;
        let os = fd.checked()?;
        let data = buf.to_vec();
        return lwt_jobs::run_job(None, move || {
            crate::retry_eintr(|| os.inner().write_now(os.as_fd(), &data, "write"))
        })
        .await?;
    }
    fd.io(IoEvent::Write, |os| fd.inner.write_now(os, buf, "write"))
        .await
}

/// [`write`](fn@write) for a string slice (Lwt's `write_string`).
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

/// Reads up to `buf.len()` bytes from `fd` at file offset `offset`, without moving the file
/// position (`pread`, which Lwt has as `pread fd buf ~file_offset ofs len`).
///
/// Cooperates like [`read`]: a cached regular-file read completes at once with no thread
/// hop; otherwise the kernel reads it through the ring (io_uring backend), else it runs in a
/// job. On a non-blocking descriptor it waits for readiness
/// (most such descriptors cannot seek: `ESPIPE`). See
/// [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `pread(2)`, named `"pread"` (`ESPIPE` on a pipe,
/// `EINVAL` for an offset past `i64::MAX`).
///
/// # Examples
///
/// ```
/// use lwt::unix::{openfile, pread, pwrite, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-pread-{}", std::process::id()));
///     let fd = openfile(&path, OpenFlags::RDWR | OpenFlags::CREAT, 0o600).await.unwrap();
///     pwrite(&fd, b"hello world", 0).await.unwrap();
///     let mut buf = [0u8; 5];
///     assert_eq!(pread(&fd, &mut buf, 6).await.unwrap(), 5);
///     assert_eq!(&buf, b"world");
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn pread(fd: &FileDescr, buf: &mut [u8], offset: u64) -> Result<usize> {
    if offset > i64::MAX as u64 {
        return Err(lwt_core::Error::from_errno(
            libc::EINVAL,
            "pread",
            offset.to_string(),
        ));
    }
    if !fd.is_blocking() {
        return fd
            .io(IoEvent::Read, |os| {
                cvt(rustix::io::pread(os, &mut *buf, offset), "pread", "")
            })
            .await;
    }
    if let Some(r) = fast_read(fd, &mut [IoSliceMut::new(buf)], offset, "pread") {
        return r;
    }
    if let Some(r) = ring_read(fd, buf, offset, "pread").await {
        return r;
    }
    let os = fd.checked()?;
    let len = buf.len();
    let data = lwt_jobs::run_job(None, move || -> Result<Vec<u8>> {
        let mut tmp = vec![0u8; len];
        let n = crate::retry_eintr(|| {
            cvt(rustix::io::pread(os.as_fd(), &mut tmp, offset), "pread", "")
        })?;
        tmp.truncate(n);
        Ok(tmp)
    })
    .await??;
    buf[..data.len()].copy_from_slice(&data);
    Ok(data.len())
}

/// Writes up to `buf.len()` bytes to `fd` at file offset `offset`, without moving the file
/// position (`pwrite`; Lwt's `pwrite fd buf ~file_offset ofs len`). Returns how many bytes
/// were written. On a blocking descriptor the bytes are copied and written in a job. See
/// [pwrite(2)](https://man7.org/linux/man-pages/man2/pwrite.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `pwrite(2)`, named `"pwrite"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{openfile, pwrite, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-pwrite-{}", std::process::id()));
///     let fd = openfile(&path, OpenFlags::WRONLY | OpenFlags::CREAT, 0o600).await.unwrap();
///     assert_eq!(pwrite(&fd, b"abc", 10).await.unwrap(), 3);
///     assert_eq!(std::fs::metadata(&path).unwrap().len(), 13);
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn pwrite(fd: &FileDescr, buf: &[u8], offset: u64) -> Result<usize> {
    // No SIGPIPE to guard against: `pwrite` on a pipe or socket fails with ESPIPE.
    if offset > i64::MAX as u64 {
        return Err(lwt_core::Error::from_errno(
            libc::EINVAL,
            "pwrite",
            offset.to_string(),
        ));
    }
    if !fd.is_blocking() {
        return fd
            .io(IoEvent::Write, |os| {
                cvt(rustix::io::pwrite(os, buf, offset), "pwrite", "")
            })
            .await;
    }
    if let Some(r) = ring_write(fd, buf, offset, "pwrite").await {
        return r;
    }
    let os = fd.checked()?;
    let data = buf.to_vec();
    lwt_jobs::run_job(None, move || {
        crate::retry_eintr(|| cvt(rustix::io::pwrite(os.as_fd(), &data, offset), "pwrite", ""))
    })
    .await?
}

/// Reads from `fd` into the slices of `vs`, in order, and returns the number of bytes read
/// (Lwt's `readv`). Only the first [`IoVectors::system_limit`] slices are used. `vs` is not
/// consumed: call [`IoVectors::drop`] to advance it.
///
/// Every slice is checked first: one that runs past its buffer, or a read-only one
/// ([`IoVectors::append_slice`]), makes the call fail with `InvalidArgument` before any byte
/// is read. On a non-blocking descriptor the data goes straight into the slices, by
/// readiness; on a blocking one a cached regular file is read straight into them too (no
/// thread hop), else the kernel (a regular file on io_uring, through the ring) or a job reads
/// into a temporary buffer that is then copied (Lwt copies bytes slices the same way). See [readv(2)](https://man7.org/linux/man-pages/man2/readv.2.html).
///
/// # Errors
///
/// `InvalidArgument` (named `"readv"`) for a bad slice; `Closed`/`Aborted`; the errors of
/// `readv(2)`.
///
/// # Examples
///
/// ```
/// use lwt::unix::IoVectors;
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     lwt::unix::write(&w, b"abcdef").await.unwrap();
///     let (mut x, mut y) = ([0u8; 2], [0u8; 4]);
///     let mut vs = IoVectors::new();
///     vs.append_bytes(&mut x, 0, 2);
///     vs.append_bytes(&mut y, 0, 4);
///     assert_eq!(lwt::unix::readv(&r, &mut vs).await.unwrap(), 6);
///     drop(vs);
///     assert_eq!((&x, &y), (b"ab", b"cdef"));
/// });
/// ```
pub async fn readv(fd: &FileDescr, vs: &mut IoVectors<'_>) -> Result<usize> {
    let n = vs.check("readv", true)?;
    if !fd.is_blocking() {
        return fd
            .io(IoEvent::Read, |os| {
                cvt(rustix::io::readv(os, &mut vs.io_slices_mut(n)), "readv", "")
            })
            .await;
    }
    if let Some(r) = fast_read(fd, &mut vs.io_slices_mut(n), CURRENT, "readv") {
        return r;
    }
    let len = vs.count_first(n);
    if len > 0 && ring_usable() {
        // A regular file on io_uring: the kernel reads into one buffer, scattered after.
        let mut tmp = vec![0u8; len];
        if let Some(r) = ring_read(fd, &mut tmp, CURRENT, "readv").await {
            let got = r?;
            vs.scatter(n, &tmp[..got]);
            return Ok(got);
        }
    }
    fd.wait_ready(IoEvent::Read).await?;
    let os = fd.checked()?;
    let data = lwt_jobs::run_job(None, move || -> Result<Vec<u8>> {
        let mut tmp = vec![0u8; len];
        let got = crate::retry_eintr(|| cvt(rustix::io::read(os.as_fd(), &mut tmp), "readv", ""))?;
        tmp.truncate(got);
        Ok(tmp)
    })
    .await??;
    vs.scatter(n, &data);
    Ok(data.len())
}

/// Writes the bytes of the slices of `vs` to `fd`, in order, and returns how many were
/// written (Lwt's `writev`). Only the first [`IoVectors::system_limit`] slices are used; `vs`
/// is not consumed. Vectors whose slices are all empty write 0 bytes (on Linux; BSDs fail
/// with `EINVAL` for zero slices).
///
/// A slice that runs past its buffer makes the call fail with `InvalidArgument` before any
/// byte is written. On a non-blocking descriptor the bytes are written from the slices
/// themselves, by readiness; on a blocking one they are copied and written by the kernel (a
/// regular file on io_uring, through the ring) or in a job. See
/// [writev(2)](https://man7.org/linux/man-pages/man2/writev.2.html).
///
/// # Errors
///
/// `InvalidArgument` (named `"writev"`) for a bad slice; `Closed`/`Aborted`; the errors of
/// `writev(2)`.
///
/// # Examples
///
/// ```
/// use lwt::unix::IoVectors;
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     let mut vs = IoVectors::new();
///     vs.append_slice(b"head:", 0, 5);
///     vs.append_slice(b"xxbodyxx", 2, 4);
///     assert_eq!(lwt::unix::writev(&w, &vs).await.unwrap(), 9);
///     let mut buf = [0u8; 16];
///     let n = lwt::unix::read(&r, &mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"head:body");
/// });
/// ```
pub async fn writev(fd: &FileDescr, vs: &IoVectors<'_>) -> Result<usize> {
    let n = vs.check("writev", false)?;
    if !fd.is_blocking() {
        return fd
            .io(IoEvent::Write, |os| {
                sigpipe::writev(os, &vs.io_slices(n), "writev", &fd.inner.socket)
            })
            .await;
    }
    if vs.count_first(n) > 0 && ring_usable() {
        // A regular file on io_uring: the kernel writes a gathered copy.
        if let Some(r) = ring_write(fd, &vs.gather(n), CURRENT, "writev").await {
            return r;
        }
    }
    fd.wait_ready(IoEvent::Write).await?;
    let os = fd.checked()?;
    let data = vs.gather(n);
    lwt_jobs::run_job(None, move || {
        crate::retry_eintr(|| os.inner().write_now(os.as_fd(), &data, "writev"))
    })
    .await?
}

/// The offset that makes `preadv2` (and a ring read) use and move the file position.
const CURRENT: u64 = u64::MAX;

/// A regular-file read by the kernel itself (see [`ring_op`]), into `buf`: as many ring reads
/// as it takes to fill `buf` or reach the end of the file. The kernel may complete a ring read
/// short of what the file holds (io_uring documents short buffered reads; one whose submitting
/// thread exited half-way gives what it had read), where a `pread(2)` job of a regular file
/// reads it all: the rest is asked for again, so the outcome is the job path's. An error after
/// some bytes gives those bytes (as `read(2)` does); the next call sees the error.
async fn ring_read(
    fd: &FileDescr,
    buf: &mut [u8],
    offset: u64,
    call: &'static str,
) -> Option<Result<usize>> {
    let kind = lwt_core::backend::CompletionKind::Read;
    let len = buf.len();
    ring_loop(
        len,
        offset,
        |at, done| {
            let want = len - done;
            async move { ring_op(fd, kind, at, vec![0u8; want], call).await }
        },
        |done, n, data| buf[done..done + n].copy_from_slice(&data[..n]),
    )
    .await
}

/// A regular-file write by the kernel itself (see [`ring_op`]), of a copy of `buf`: as many
/// ring writes as it takes to write it all (see [`ring_read`] for why, and for errors).
async fn ring_write(
    fd: &FileDescr,
    buf: &[u8],
    offset: u64,
    call: &'static str,
) -> Option<Result<usize>> {
    let kind = lwt_core::backend::CompletionKind::Write;
    ring_loop(
        buf.len(),
        offset,
        |at, done| {
            let rest = buf[done..].to_vec();
            async move { ring_op(fd, kind, at, rest, call).await }
        },
        |_, _, _| {},
    )
    .await
}

/// Runs ring operations `op(offset, done)` over `len` bytes from `offset` (`CURRENT`: the file
/// position, which each one moves) until all are done, one makes no progress (the end of the
/// file), or one fails; `got(done, n, buffer)` takes each one's `n` bytes. `None` if the first
/// cannot go through the ring (take the job path). `len` 0: `None` too (the job path makes the
/// plain call, which also reports a bad descriptor).
async fn ring_loop<F, Fut>(
    len: usize,
    offset: u64,
    mut op: F,
    mut got: impl FnMut(usize, usize, &[u8]),
) -> Option<Result<usize>>
where
    F: FnMut(u64, usize) -> Fut,
    Fut: std::future::Future<Output = Option<Result<(usize, Vec<u8>)>>>,
{
    if len == 0 {
        return None;
    }
    let mut done = 0;
    while done < len {
        let at = if offset == CURRENT {
            CURRENT
        } else {
            offset.saturating_add(done as u64)
        };
        match op(at, done).await {
            // Not through the ring (a file system that refuses it): the job path does it all.
            None if done == 0 => return None,
            Some(Err(e)) if done == 0 => return Some(Err(e)),
            // After some bytes: those bytes; what stopped it is seen by the next call.
            None | Some(Err(_)) => break,
            Some(Ok((n, data))) => {
                let n = n.min(len - done);
                got(done, n, &data);
                done += n;
                if n == 0 {
                    break;
                }
            }
        }
    }
    Some(Ok(done))
}

/// Whether operations go through the ring here: a runtime whose backend completes them
/// (io_uring), and not the `none` async method (which asks for the call on the loop's thread:
/// the job path does that). No system call.
pub(crate) fn ring_usable() -> bool {
    lwt_core::completion::available() && lwt_jobs::async_method() != lwt_jobs::AsyncMethod::None
}

/// An operation on a regular file done by the kernel itself, on a runtime whose backend
/// completes file operations (io_uring): no pool thread, and the loop goes on meanwhile.
/// `None`: not possible here (another backend, not a regular file, the `none` async method, or
/// a file system that refuses it): take the job path. The operation owns `buf` and the
/// descriptor's guard until the kernel is done, so a canceled one frees nothing early; it then
/// "may have happened": a read's bytes are discarded, a read or write at the file position may
/// have moved it (as a canceled job whose worker had started).
pub(crate) async fn ring_op(
    fd: &FileDescr,
    kind: lwt_core::backend::CompletionKind,
    offset: u64,
    buf: Vec<u8>,
    call: &'static str,
) -> Option<Result<(usize, Vec<u8>)>> {
    use rustix::fd::AsRawFd;
    if !ring_usable() {
        return None;
    }
    let os = match fd.checked() {
        Ok(os) => os,
        Err(e) => return Some(Err(e)),
    };
    // Regular files only: a pipe or terminal write through the ring would raise SIGPIPE in a
    // kernel worker, and their reads wait for readiness anyway.
    if !fd.is_regular_file(os.as_fd()) {
        return None;
    }
    let raw = os.as_raw_fd();
    // A job for wait_for_jobs and abort_jobs, as the job path's call would be.
    match lwt_jobs::kernel_job(kind, raw, offset, buf, Box::new(os))?.await {
        Ok(Ok(r)) => Some(Ok(r)),
        // A file system that cannot do it through the ring: the job path will.
        Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => None,
        Ok(Err(e)) => Some(Err(lwt_core::Error::from_io(e, call, ""))),
        Err(rejected) => Some(Err(rejected)),
    }
}

/// `io_hint` value: `RWF_NOWAIT` reads do not work on this descriptor (a terminal, an old
/// kernel); always use jobs.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOWAIT_UNSUPPORTED: u64 = u64::MAX;

/// How long a file that missed the page cache goes straight to jobs: a miss costs a system
/// call that starts readahead and then a job anyway, and the next reads of a cold file
/// usually miss too.
#[cfg(any(target_os = "linux", target_os = "android"))]
const COLD_FOR: std::time::Duration = std::time::Duration::from_millis(5);

#[cfg(any(target_os = "linux", target_os = "android"))]
fn now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    // +1 so that 0 keeps meaning "never cold".
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
        + 1
}

/// The regular-file fast path: reads what the page cache holds now, without blocking and
/// without a thread hop (`preadv2(..., RWF_NOWAIT)`). `None` means "not cached or not
/// possible here: take the slow path"; `Some` is the outcome of the read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn fast_read(
    fd: &FileDescr,
    bufs: &mut [IoSliceMut<'_>],
    offset: u64,
    call: &'static str,
) -> Option<Result<usize>> {
    use std::sync::atomic::Ordering;
    let hint = &fd.inner.io_hint;
    let h = hint.load(Ordering::Relaxed);
    if h == NOWAIT_UNSUPPORTED || (h != 0 && now_ns() < h) {
        return None;
    }
    let os = match fd.checked() {
        Ok(os) => os,
        Err(e) => return Some(Err(e)),
    };
    if bufs.iter().all(|b| b.is_empty()) {
        // RWF_NOWAIT with nothing to read says nothing about the cache; let the slow path
        // make the plain call.
        return None;
    }
    loop {
        match rustix::io::preadv2(os.as_fd(), bufs, offset, rustix::io::ReadWriteFlags::NOWAIT) {
            Ok(n) => {
                if h != 0 {
                    hint.store(0, Ordering::Relaxed);
                }
                return Some(Ok(n));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => {
                hint.store(now_ns() + COLD_FOR.as_nanos() as u64, Ordering::Relaxed);
                return None;
            }
            Err(
                rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL,
            ) => {
                // EINVAL: a kernel without RWF_NOWAIT, or a descriptor that cannot take it
                // (the slow path reports a real EINVAL again).
                hint.store(NOWAIT_UNSUPPORTED, Ordering::Relaxed);
                return None;
            }
            Err(e) => return Some(cvt(Err(e), call, "")),
        }
    }
}

/// No `RWF_NOWAIT` here: regular files always go through jobs.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn fast_read(
    _fd: &FileDescr,
    _bufs: &mut [IoSliceMut<'_>],
    _offset: u64,
    _call: &'static str,
) -> Option<Result<usize>> {
    None
}
