//! `FileDescr` as a stream: the `futures_io` traits (and tokio's, with the `tokio-io`
//! feature), and the job-backed state that lets a descriptor in blocking mode (a regular
//! file, a terminal) serve the poll-style traits.
//!
//! # Who owns what
//!
//! Each clone of a `FileDescr` has its own poll state (`PollState` in `fd.rs`): the readiness
//! waiters of the non-blocking path, and here, for blocking mode, at most one job in flight
//! and the bytes a read job got that were not delivered yet. Only `&mut FileDescr` reaches
//! it, so it needs no lock.
//!
//! # What blocking mode does under the poll traits
//!
//! - A read starts one job (after a wait for readiness, so a terminal's read does not hold a
//!   worker until someone types) that reads up to the caller's length, at most
//!   [`JOB_IO_MAX`]; the poll returns `Pending`, and the poll after the job ended delivers the
//!   bytes. A read cancelled while its job runs loses nothing: the job's bytes stay in the
//!   clone and the clone's next read delivers them first.
//! - A write is written behind (as `tokio::fs::File` does): it copies up to [`JOB_IO_MAX`]
//!   bytes, starts a job that writes them all, and is ready at once; the next operation of the
//!   clone waits for that job and returns its error, if any; `flush` waits for it.
//! - Jobs run by the async method in force (`run_job(None, ..)`); one clone's operations run
//!   one after another, in order.

use crate::fd::{FileDescr, IoEvent, PollState};
use crate::{cvt, retry_eintr};
use lwt_core::{Error, Result};
use rustix::fd::AsFd;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The most bytes one read or write of a descriptor in blocking mode hands to one job under
/// the poll-style traits ([`FileDescr::poll_read`], [`FileDescr::poll_write`]): 2 MiB, as
/// tokio's `File`.
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::unix::JOB_IO_MAX, 2 * 1024 * 1024);
/// ```
pub const JOB_IO_MAX: usize = 2 * 1024 * 1024;

type JobFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

#[derive(Default)]
enum Job {
    #[default]
    Idle,
    Read(JobFuture<Vec<u8>>),
    Write(JobFuture<()>),
    Close(JobFuture<()>),
    Closed,
}

/// A clone's job-backed I/O state in blocking mode (see the module documentation).
#[derive(Default)]
pub(crate) struct JobState {
    job: Job,
    /// Bytes a read job got that were not delivered yet, from `pos` on.
    leftover: Vec<u8>,
    pos: usize,
}

// SAFETY: a `JobState` is reached only through `&mut FileDescr` (it lives in the clone's
// `polls`, which only the `&mut self` poll methods touch), and it has no method on `&self`:
// a shared reference gives no access to the boxed futures, which are `Send` but need not be
// `Sync`.
unsafe impl Sync for JobState {}

fn state(polls: &mut Option<Box<PollState>>) -> &mut JobState {
    &mut polls.get_or_insert_with(Default::default).job
}

/// Copies what fits of `src` into `dst`; how much.
fn put(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    for (d, s) in dst[..n].iter_mut().zip(src) {
        d.write(*s);
    }
    n
}

/// Another handle on the same descriptor, for a job's future (with its own waiters).
fn handle(fd: &FileDescr) -> FileDescr {
    fd.clone()
}

fn start_read(fd: FileDescr, len: usize) -> JobFuture<Vec<u8>> {
    Box::pin(async move {
        fd.wait_ready(IoEvent::Read).await?;
        let os = fd.checked()?;
        lwt_jobs::run_job(None, move || -> Result<Vec<u8>> {
            let mut tmp = vec![0u8; len];
            let n = retry_eintr(|| cvt(rustix::io::read(os.as_fd(), &mut tmp), "read", ""))?;
            tmp.truncate(n);
            Ok(tmp)
        })
        .await?
    })
}

fn start_write(fd: FileDescr, data: Vec<u8>) -> JobFuture<()> {
    Box::pin(async move {
        fd.wait_ready(IoEvent::Write).await?;
        let os = fd.checked()?;
        lwt_jobs::run_job(None, move || -> Result<()> {
            let mut rest = &data[..];
            while !rest.is_empty() {
                match retry_eintr(|| os.inner().write_now(os.as_fd(), rest, "write"))? {
                    0 => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                    n => rest = &rest[n..],
                }
            }
            Ok(())
        })
        .await?
    })
}

/// [`FileDescr::poll_read_uninit`] in blocking mode.
pub(crate) fn poll_read_job(
    fd: &mut FileDescr,
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> Poll<Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let other = handle(fd);
    let st = state(&mut fd.polls);
    loop {
        match &mut st.job {
            Job::Idle => {
                if st.pos < st.leftover.len() {
                    let n = put(buf, &st.leftover[st.pos..]);
                    st.pos += n;
                    if st.pos == st.leftover.len() {
                        st.leftover = Vec::new();
                        st.pos = 0;
                    }
                    return Poll::Ready(Ok(n));
                }
                st.job = Job::Read(start_read(other.clone(), buf.len().min(JOB_IO_MAX)));
            }
            Job::Read(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Idle;
                match r {
                    Ok(data) if data.is_empty() => return Poll::Ready(Ok(0)), // end of file
                    Ok(data) => {
                        st.leftover = data;
                        st.pos = 0;
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            Job::Write(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Idle;
                r?;
            }
            Job::Close(_) | Job::Closed => return Poll::Ready(Err(Error::Closed)),
        }
    }
}

/// [`FileDescr::poll_write`] in blocking mode.
pub(crate) fn poll_write_job(
    fd: &mut FileDescr,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let other = handle(fd);
    let st = state(&mut fd.polls);
    loop {
        match &mut st.job {
            Job::Idle => {
                let n = buf.len().min(JOB_IO_MAX);
                let mut job = start_write(other.clone(), buf[..n].to_vec());
                // Polled once now so that the job starts; its end wakes this task (harmless
                // if it has moved on).
                match job.as_mut().poll(cx) {
                    Poll::Ready(r) => r?,
                    Poll::Pending => st.job = Job::Write(job),
                }
                return Poll::Ready(Ok(n));
            }
            Job::Write(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Idle;
                r?;
            }
            Job::Read(f) => {
                // A read cancelled earlier: its bytes stay for the next read.
                let r = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Idle;
                if let Ok(data) = r {
                    st.leftover.drain(..st.pos);
                    st.pos = 0;
                    st.leftover.extend_from_slice(&data);
                }
            }
            Job::Close(_) | Job::Closed => return Poll::Ready(Err(Error::Closed)),
        }
    }
}

/// [`FileDescr::poll_flush`]: waits for the write job in flight, if any.
pub(crate) fn poll_flush_job(fd: &mut FileDescr, cx: &mut Context<'_>) -> Poll<Result<()>> {
    let Some(polls) = fd.polls.as_mut() else {
        return Poll::Ready(Ok(()));
    };
    let st = &mut polls.job;
    if let Job::Write(f) = &mut st.job {
        let r = std::task::ready!(f.as_mut().poll(cx));
        st.job = Job::Idle;
        r?;
    }
    Poll::Ready(Ok(()))
}

/// `poll_close` of the traits: flushes; then shuts down the sending half of a socket (the
/// descriptor stays open, its reads go on), or closes any other descriptor
/// ([`close`](crate::close): every clone sees it closed).
fn poll_close(fd: &mut FileDescr, cx: &mut Context<'_>) -> Poll<Result<()>> {
    std::task::ready!(poll_flush_job(fd, cx))?;
    let other = handle(fd);
    let st = state(&mut fd.polls);
    loop {
        match &mut st.job {
            Job::Closed => return Poll::Ready(Ok(())),
            Job::Close(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Closed;
                return Poll::Ready(r);
            }
            Job::Read(f) => {
                // A cancelled read: nobody will read its bytes after the close.
                let _ = std::task::ready!(f.as_mut().poll(cx));
                st.job = Job::Idle;
            }
            Job::Write(_) => unreachable!("flushed above"),
            Job::Idle => {
                let os = other.checked()?;
                let is_socket = rustix::fs::fstat(os.as_fd())
                    .map(|s| rustix::fs::FileType::from_raw_mode(s.st_mode))
                    .is_ok_and(|t| t == rustix::fs::FileType::Socket);
                drop(os);
                if is_socket {
                    crate::shutdown(&other, crate::ShutdownCommand::Send)?;
                    st.job = Job::Closed;
                    return Poll::Ready(Ok(()));
                }
                let fd = other.clone();
                st.job = Job::Close(Box::pin(async move { crate::close(&fd).await }));
            }
        }
    }
}

/// Reads by [`FileDescr::poll_read`]: by readiness on a non-blocking descriptor, through
/// a job in blocking mode (see there for what a cancelled read does). A read that was polled
/// but not finished consumed nothing.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// lwt::run(async {
///     let (mut r, mut w) = lwt::unix::pipe().unwrap();
///     w.write_all(b"hello").await.unwrap();
///     w.close().await.unwrap(); // a pipe: closes it, the reader sees end of file
///     let mut s = String::new();
///     r.read_to_string(&mut s).await.unwrap();
///     assert_eq!(s, "hello");
/// });
/// ```
impl futures_io::AsyncRead for FileDescr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        FileDescr::poll_read(self.get_mut(), cx, buf).map_err(Into::into)
    }
}

/// Writes by [`FileDescr::poll_write`]; `poll_flush` waits for a write job in flight
/// (blocking mode); `poll_close` flushes, then shuts down a socket's sending half
/// (`shutdown(SHUT_WR)`: the peer reads end of file, this side can still read) or closes any
/// other descriptor (as [`close`](crate::close), for every clone).
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use lwt::unix::{socketpair, SocketDomain, SocketType};
/// lwt::run(async {
///     let (mut a, mut b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     a.write_all(b"half").await.unwrap();
///     a.close().await.unwrap(); // shutdown(SHUT_WR): `a` still reads
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await.unwrap();
///     assert_eq!(got, b"half");
///     b.write_all(b"back").await.unwrap();
///     let mut back = [0u8; 4];
///     a.read_exact(&mut back).await.unwrap();
///     assert_eq!(&back, b"back");
/// });
/// ```
impl futures_io::AsyncWrite for FileDescr {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        FileDescr::poll_write(self.get_mut(), cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        FileDescr::poll_flush(self.get_mut(), cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_close(self.get_mut(), cx).map_err(Into::into)
    }
}

/// tokio's `AsyncRead` (feature `tokio-io`; no tokio runtime is involved): reads straight
/// into the `ReadBuf`'s unfilled part, without zeroing it ([`FileDescr::poll_read_uninit`]).
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for FileDescr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: `poll_read_uninit` writes only initialised bytes, so nothing of the buffer
        // that was initialised is de-initialised (`unfilled_mut`'s contract).
        let unfilled = unsafe { buf.unfilled_mut() };
        let n = std::task::ready!(self.get_mut().poll_read_uninit(cx, unfilled))?;
        // SAFETY: the read initialised the first `n` bytes of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// tokio's `AsyncWrite` (feature `tokio-io`): as the `futures_io` one, `poll_shutdown` being
/// `poll_close`.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for FileDescr {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        FileDescr::poll_write(self.get_mut(), cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        FileDescr::poll_flush(self.get_mut(), cx).map_err(Into::into)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_close(self.get_mut(), cx).map_err(Into::into)
    }
}
