//! `FileDescr`: a file descriptor with a state (Opened / Closed / Aborted), the blocking mode
//! lwt uses for it, and its readiness on the loop (Lwt's `file_descr`).
//!
//! # Who owns what
//!
//! Clones of a `FileDescr` share one [`FdInner`]: the descriptor number, one atomic state word
//! and a [`Source`] (the descriptor's registrations, one per runtime that waited on it, see
//! `lwt_core::reactor`).
//!
//! The state word holds the state (open, aborted, closed), whether the descriptor has been
//! released, and how many operations are using the number right now. Every system call on the
//! descriptor runs between an *enter* (one `fetch_add`, which also checks the state) and an
//! *exit* (one `fetch_sub`): no lock on the I/O path. [`close`] marks the state closed, closes
//! the `Source` (deregistering it everywhere and waking every waiter, which then fail with
//! `Closed`), and releases the number at once if no call is using it; otherwise the last call
//! to exit releases it. So a number is never closed (and reused) under a call in flight.
//!
//! # Borrowing the descriptor
//!
//! `FileDescr` implements `AsFd`, so every rustix or std function that takes a descriptor
//! applies. A borrowed descriptor must stay open for the borrow, even if another clone is
//! closed meanwhile; so once a descriptor has been borrowed, `close` detaches the number from
//! the file with `dup2` of a dead descriptor (the file is closed for real, the peer sees it) and
//! the number itself stays reserved until the last clone is dropped. A descriptor never
//! borrowed is simply closed (and `close` then reports `close(2)`'s error, which the `dup2`
//! path cannot). Borrowing a closed descriptor gives the dead descriptor.

use crate::cvt;
use crate::sigpipe::{self, SocketHint};
use lwt_core::reactor::{Direction, Source, Waiter};
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use rustix::fs::FileType;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

/// The state of a file descriptor (Lwt's `state`).
#[derive(Clone, Debug)]
pub enum State {
    /// The descriptor is open and usable.
    Opened,
    /// It was closed by [`close`]; every operation fails with [`Error::Closed`].
    Closed,
    /// It was aborted by [`abort`]; every operation but `close` fails with
    /// `Error::Aborted(cause)`.
    Aborted(Arc<Error>),
}

/// A readiness direction of `wrap_syscall` and `register_action` (Lwt's `io_event`).
pub type IoEvent = Direction;

// The state word (see the module documentation).
const STATE: usize = 0b11;
const OPEN: usize = 0;
const ABORTED: usize = 1;
const CLOSED: usize = 2;
/// The number was closed, or detached from its file (`close` happened for the OS).
const RELEASED: usize = 0b100;
/// One operation using the number.
const ONE: usize = 0b1000;

// Whether a short read on the descriptor means "drained".
const DRAINS_UNKNOWN: u8 = 0;
const DRAINS_YES: u8 = 1;
const DRAINS_NO: u8 = 2;

/// `FdInner::file_type`: not looked at yet / a regular file / anything else.
const FILE_UNKNOWN: u8 = 0;
const FILE_REGULAR: u8 = 1;
const FILE_OTHER: u8 = 2;

pub(crate) struct FdInner {
    /// # Invariant
    ///
    /// Open (on its file, or on the dead descriptor after a detaching `close`) until
    /// `RELEASED` is set by a plain close, or until this value is dropped.
    raw: RawFd,
    word: AtomicUsize,
    /// The abort cause; set before the state says `ABORTED`.
    cause: Mutex<Option<Arc<Error>>>,
    /// Lent out through `AsFd` at least once (see the module documentation).
    borrowed: AtomicBool,
    /// A detaching close left the number on the dead descriptor: close it on drop.
    reserved: AtomicBool,
    blocking: AtomicBool,
    drains: AtomicU8,
    /// Whether it is a socket (then reads are `recv`, writes `send`).
    pub(crate) socket: SocketHint,
    source: Source,
    close_on_drop: bool,
    /// Free for the I/O paths' own bookkeeping (the regular-file fast path of `io.rs`
    /// remembers here whether `RWF_NOWAIT` reads work and when a cold file may be tried again).
    // Only the Linux fast path reads it (`preadv2` with `RWF_NOWAIT` exists only there).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) io_hint: std::sync::atomic::AtomicU64,
    /// Whether the descriptor is a regular file (`FILE_*`), found out once by `fstat` (or
    /// known when `openfile` made it): the io_uring file operations are for regular files only.
    file_type: AtomicU8,
}

/// What a socket or pipe is, as far as reading it goes: whether a short read means the
/// descriptor is drained (internet-family stream sockets and pipes) or not (Unix-domain stream
/// sockets stop reads at ancillary-data boundaries; datagrams are read one at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A short read means drained (an internet-family stream socket).
    Drains,
    /// A pipe or FIFO: a short read means drained too, and it is no socket.
    Pipe,
    /// A socket of another kind: a short read says nothing.
    Socket,
    /// Not known yet: found out on the first short read.
    Unknown,
}

impl Kind {
    /// What a socket of this domain and type is.
    pub(crate) fn of_socket(domain: crate::net::SocketDomain, ty: crate::net::SocketType) -> Kind {
        use crate::net::{SocketDomain, SocketType};
        match (domain, ty) {
            (SocketDomain::Inet | SocketDomain::Inet6, SocketType::Stream) => Kind::Drains,
            _ => Kind::Socket,
        }
    }
}

/// An lwt file descriptor: the OS descriptor, its [`State`], whether lwt does blocking or
/// non-blocking I/O on it, and its readiness on the loop.
///
/// Clones share the same descriptor and state (like an OCaml value). The OS descriptor is
/// closed by [`close`], or when the last clone is dropped (except for [`stdin`], [`stdout`]
/// and [`stderr`]). An operation in flight on another thread keeps the OS descriptor open
/// until it returns, so its number is never reused under it. A descriptor works in whichever
/// runtime uses it, one after another or several at once (see `lwt_core::reactor`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     assert!(matches!(lwt::unix::state(&r), lwt::unix::State::Opened));
///     lwt::unix::close(&w).await.unwrap();
///     assert!(matches!(lwt::unix::state(&w), lwt::unix::State::Closed));
///     let mut buf = [0u8; 1];
///     assert_eq!(lwt::unix::read(&r, &mut buf).await.unwrap(), 0); // end of file
/// });
/// ```
pub struct FileDescr {
    pub(crate) inner: Arc<FdInner>,
    /// This clone's own waiters for [`FileDescr::poll_read`] / [`FileDescr::poll_write`]
    /// (made on first use: a clone is one reader or writer, as for any stream).
    pub(crate) polls: Option<Box<PollState>>,
}

#[derive(Default)]
pub(crate) struct PollState {
    read: Waiter,
    write: Waiter,
    /// In blocking mode: the job in flight, bytes a job read that were not delivered yet
    /// (see `crate::stream`).
    pub(crate) job: crate::stream::JobState,
}

impl Clone for FileDescr {
    /// Another handle on the same descriptor and state (with its own poll waiters).
    fn clone(&self) -> FileDescr {
        FileDescr {
            inner: self.inner.clone(),
            polls: None,
        }
    }
}

impl std::fmt::Debug for FileDescr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDescr")
            .field("fd", &self.inner.raw)
            .field("state", &state(self))
            .field("blocking", &self.inner.blocking.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent; poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether lwt should use blocking I/O on this descriptor by default: non-blocking for
/// sockets and pipes (FIFOs), blocking for everything else (Lwt's rule).
fn guess_blocking(fd: BorrowedFd<'_>) -> bool {
    match rustix::fs::fstat(fd) {
        Ok(st) => !matches!(
            FileType::from_raw_mode(st.st_mode),
            FileType::Socket | FileType::Fifo
        ),
        Err(_) => true,
    }
}

/// Finds out whether a short read on `fd` means drained (see [`Kind`]).
fn probe_kind(fd: BorrowedFd<'_>) -> Kind {
    let Ok(st) = rustix::fs::fstat(fd) else {
        return Kind::Unknown;
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Fifo => Kind::Pipe,
        FileType::Socket => {
            use rustix::net::{sockopt, AddressFamily, SocketType};
            let stream = sockopt::socket_type(fd) == Ok(SocketType::STREAM);
            // The family of the local address (`SO_DOMAIN` is not on every system).
            let inet = matches!(
                rustix::net::getsockname(fd).map(|a| a.address_family()),
                Ok(f) if f == AddressFamily::INET || f == AddressFamily::INET6
            );
            if stream && inet {
                Kind::Drains
            } else {
                Kind::Socket
            }
        }
        _ => Kind::Unknown,
    }
}

fn set_os_blocking(fd: BorrowedFd<'_>, blocking: bool) -> Result<()> {
    let flags = cvt(rustix::fs::fcntl_getfl(fd), "set_blocking", "")?;
    let new = if blocking {
        flags - rustix::fs::OFlags::NONBLOCK
    } else {
        flags | rustix::fs::OFlags::NONBLOCK
    };
    if new != flags {
        cvt(rustix::fs::fcntl_setfl(fd, new), "set_blocking", "")?;
    }
    Ok(())
}

/// A descriptor that is never anything: the read end of a pipe whose write end is closed
/// (reads give end of file, writes fail with `EBADF`). A detaching `close` puts it under the
/// closed number, and `AsFd` lends it for a closed descriptor.
///
/// # Invariant
///
/// Open for the life of the process (never closed; a forked child inherits it).
fn dead_fd() -> Result<BorrowedFd<'static>> {
    static DEAD: OnceLock<std::result::Result<RawFd, Error>> = OnceLock::new();
    let raw = DEAD
        .get_or_init(|| {
            let (r, w) = cvt(rustix::pipe::pipe(), "close", "dead descriptor")?;
            cvt(
                rustix::io::fcntl_setfd(&r, rustix::io::FdFlags::CLOEXEC),
                "close",
                "dead descriptor",
            )?;
            drop(w);
            Ok(r.into_raw_fd())
        })
        .clone()?;
    // SAFETY: the number is open for the life of the process (the invariant above).
    Ok(unsafe { BorrowedFd::borrow_raw(raw) })
}

/// An operation using a descriptor's number: the number stays open while it lives.
pub(crate) struct FdRef<'a> {
    inner: &'a FdInner,
}

impl FdRef<'_> {
    #[inline]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: while an operation is counted in the state word the number is not released
        // (the `raw` invariant: release waits for the count to be zero).
        unsafe { BorrowedFd::borrow_raw(self.inner.raw) }
    }
}

impl Drop for FdRef<'_> {
    fn drop(&mut self) {
        self.inner.exit();
    }
}

/// The descriptor of a [`FileDescr`], checked open and kept open (not closed, its number not
/// reused) while this guard lives, even if the `FileDescr` is closed meanwhile; `Send`, so it
/// can go into a job. Made by [`FileDescr::checked`].
pub struct FdGuard {
    inner: Arc<FdInner>,
}

impl FdGuard {
    pub(crate) fn inner(&self) -> &FdInner {
        &self.inner
    }
}

impl AsFd for FdGuard {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the guard counts as an operation in flight, so the number is not released
        // while it lives (the `raw` invariant).
        unsafe { BorrowedFd::borrow_raw(self.inner.raw) }
    }
}

impl AsRawFd for FdGuard {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.raw
    }
}

impl Drop for FdGuard {
    fn drop(&mut self) {
        self.inner.exit();
    }
}

impl std::fmt::Debug for FdGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FdGuard").field(&self.inner.raw).finish()
    }
}

impl FdInner {
    /// One read of the descriptor: `recv` on a socket (cheaper in the kernel than `read(2)`,
    /// with the same meaning for flags 0), else `read`.
    #[inline]
    pub(crate) fn read_now(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
        if self.socket.get() != Some(false) {
            let len = buf.len();
            match rustix::net::recv(fd, &mut *buf, rustix::net::RecvFlags::empty()) {
                Err(rustix::io::Errno::NOTSOCK) => self.socket.set(false),
                r => {
                    self.socket.set(true);
                    return cvt(r.map(|(n, _)| n.min(len)), "read", "");
                }
            }
        }
        cvt(rustix::io::read(fd, buf), "read", "")
    }

    /// [`FdInner::read_now`] into a buffer that need not be initialised (the kernel writes
    /// the bytes it returns; no byte of `buf` is read).
    pub(crate) fn read_now_uninit(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Result<usize> {
        if self.socket.get() != Some(false) {
            match rustix::net::recv(fd, &mut *buf, rustix::net::RecvFlags::empty()) {
                Err(rustix::io::Errno::NOTSOCK) => self.socket.set(false),
                r => {
                    self.socket.set(true);
                    return cvt(r.map(|((init, _), _)| init.len()), "read", "");
                }
            }
        }
        cvt(
            rustix::io::read(fd, buf).map(|(init, _)| init.len()),
            "read",
            "",
        )
    }

    /// One write of the descriptor, never raising a visible SIGPIPE (see `crate::sigpipe`).
    #[inline]
    pub(crate) fn write_now(
        &self,
        fd: BorrowedFd<'_>,
        buf: &[u8],
        call: &'static str,
    ) -> Result<usize> {
        sigpipe::write(fd, buf, call, &self.socket)
    }

    /// Counts an operation in and checks the state.
    #[inline]
    fn enter(&self) -> Result<()> {
        let w = self.word.fetch_add(ONE, Ordering::Acquire);
        match w & STATE {
            OPEN => Ok(()),
            ABORTED => {
                self.exit();
                Err(self.abort_error())
            }
            _ => {
                self.exit();
                Err(Error::Closed)
            }
        }
    }

    /// Counts an operation out; the last one out of a closed descriptor releases it.
    #[inline]
    fn exit(&self) {
        let w = self.word.fetch_sub(ONE, Ordering::AcqRel) - ONE;
        if w == CLOSED {
            self.release_deferred();
        }
    }

    #[cold]
    #[inline(never)]
    fn release_deferred(&self) {
        if let Some(Err(e)) = self.try_release() {
            // The `close` that deferred this has returned already: nobody to tell.
            tracing::debug!("lwt: deferred close of fd {} failed: {e}", self.raw);
        }
    }

    fn abort_error(&self) -> Error {
        match &*lock(&self.cause) {
            Some(c) => Error::Aborted(c.clone()),
            None => Error::Closed,
        }
    }

    /// Releases the number if it is closed, unreleased and unused; `None` if someone else
    /// does (or did).
    fn try_release(&self) -> Option<Result<()>> {
        self.word
            .compare_exchange(
                CLOSED,
                CLOSED | RELEASED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()?;
        Some(self.release())
    }

    /// Closes the number for the OS (the state word says `RELEASED`, by our CAS).
    fn release(&self) -> Result<()> {
        if self.borrowed.load(Ordering::SeqCst) {
            // Borrowed: keep the number, on the dead descriptor, until the last clone goes.
            let dead = dead_fd()?;
            // SAFETY: `raw` is open and ours (unreleased until this call); `dup2` replaces its
            // file in place, so the number stays open and ours, now on the dead descriptor.
            let r = unsafe { libc::dup2(dead.as_raw_fd(), self.raw) };
            if r == -1 {
                return Err(Error::last_os_error("close", ""));
            }
            self.reserved.store(true, Ordering::Release);
            return Ok(());
        }
        close_raw(self.raw)
    }
}

impl FileDescr {
    fn make(fd: OwnedFd, blocking: bool, close_on_drop: bool, kind: Kind) -> FileDescr {
        let source = Source::new(fd.as_fd());
        let raw = fd.into_raw_fd();
        let (drains, socket) = match kind {
            Kind::Drains => (DRAINS_YES, Some(true)),
            Kind::Pipe => (DRAINS_YES, Some(false)),
            Kind::Socket => (DRAINS_NO, Some(true)),
            Kind::Unknown => (DRAINS_UNKNOWN, None),
        };
        FileDescr {
            inner: Arc::new(FdInner {
                raw,
                word: AtomicUsize::new(OPEN),
                cause: Mutex::new(None),
                borrowed: AtomicBool::new(false),
                reserved: AtomicBool::new(false),
                blocking: AtomicBool::new(blocking),
                drains: AtomicU8::new(drains),
                socket: SocketHint::new(socket),
                source,
                close_on_drop,
                io_hint: std::sync::atomic::AtomicU64::new(0),
                file_type: AtomicU8::new(FILE_UNKNOWN),
            }),
            polls: None,
        }
    }

    /// Wraps a descriptor known to be in non-blocking mode already (sockets and pipes that lwt
    /// created itself), saying what it is.
    pub(crate) fn new_nonblocking(fd: OwnedFd, kind: Kind) -> FileDescr {
        FileDescr::make(fd, false, true, kind)
    }

    /// Wraps an owned descriptor with the blocking mode lwt should use (see
    /// [`of_unix_file_descr`]).
    ///
    /// # Errors
    ///
    /// The error of `fcntl` when `set_flags` is true and the mode cannot be set.
    pub fn from_owned(fd: OwnedFd, blocking: Option<bool>, set_flags: bool) -> Result<FileDescr> {
        let blocking = blocking.unwrap_or_else(|| guess_blocking(fd.as_fd()));
        if set_flags {
            set_os_blocking(fd.as_fd(), blocking)?;
        }
        Ok(FileDescr::make(fd, blocking, true, Kind::Unknown))
    }

    /// Counts an operation in (the number stays open until the returned value drops), after
    /// checking the state: `Closed` or the abort cause otherwise.
    #[inline]
    pub(crate) fn enter(&self) -> Result<FdRef<'_>> {
        self.inner.enter()?;
        Ok(FdRef { inner: &self.inner })
    }

    /// The OS descriptor, after checking the state (`Closed`, or the abort cause): the guard
    /// keeps it open for as long as it lives, even if the `FileDescr` is closed meanwhile.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`], `Error::Aborted(cause)` after [`abort`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// lwt::run(async {
    ///     let (r, _w) = lwt::unix::pipe().unwrap();
    ///     let g = r.checked().unwrap();
    ///     assert!(rustix::fs::fstat(g.as_fd()).is_ok());
    /// });
    /// ```
    pub fn checked(&self) -> Result<FdGuard> {
        self.inner.enter()?;
        Ok(FdGuard {
            inner: self.inner.clone(),
        })
    }

    /// Whether lwt uses blocking I/O (jobs) on this descriptor.
    pub fn is_blocking(&self) -> bool {
        self.inner.blocking.load(Ordering::Relaxed)
    }

    /// What the descriptor is, as far as reading it goes (inherited by accepted sockets).
    pub(crate) fn kind(&self) -> Kind {
        match (
            self.inner.drains.load(Ordering::Relaxed),
            self.inner.socket.get(),
        ) {
            (DRAINS_YES, Some(true)) => Kind::Drains,
            (DRAINS_YES, Some(false)) => Kind::Pipe,
            (DRAINS_NO, Some(true)) => Kind::Socket,
            _ => Kind::Unknown,
        }
    }

    /// Whether a short read on this descriptor means it is drained (see [`Kind`]).
    #[inline]
    fn drains(&self, fd: BorrowedFd<'_>) -> bool {
        drains_of(&self.inner, fd)
    }

    /// Runs `op` on the descriptor in the manner of Lwt's `wrap_syscall`: now, and if it
    /// would block (`EAGAIN` or [`Error::Retry`]/[`Error::RetryRead`]/[`Error::RetryWrite`]),
    /// again each time the loop reports the direction ready. The state is checked before every
    /// attempt, so a close or an abort makes a pending operation fail (with `Closed` or the
    /// abort cause). EINTR is retried.
    ///
    /// The future is a plain `poll_fn` (one state, no `async` state machine around it): it is
    /// on every read and write of the loop's hot path.
    pub fn io<'a, T: 'a>(
        &'a self,
        dir: IoEvent,
        mut op: impl FnMut(BorrowedFd<'_>) -> Result<T> + 'a,
    ) -> impl std::future::Future<Output = Result<T>> + 'a {
        let mut waiter = Waiter::default();
        std::future::poll_fn(move |cx| {
            self.inner.source.poll_op(cx, dir, &mut waiter, &mut || {
                let g = self.enter()?;
                op(g.fd())
            })
        })
    }

    /// [`FileDescr::io`] for a read of up to `len` bytes returning how many it got: a short
    /// read on a descriptor where that means "drained" (a TCP socket, a pipe) makes the next
    /// read wait for the loop's next report instead of trying a call that would fail with
    /// `EAGAIN`.
    pub(crate) fn io_read<'a>(
        &'a self,
        len: usize,
        mut op: impl FnMut(BorrowedFd<'_>) -> Result<usize> + 'a,
    ) -> impl std::future::Future<Output = Result<usize>> + 'a {
        let mut waiter = Waiter::default();
        std::future::poll_fn(move |cx| {
            let mut short = false;
            let r = self
                .inner
                .source
                .poll_op(cx, Direction::Read, &mut waiter, &mut || {
                    let g = self.enter()?;
                    let r = op(g.fd());
                    if let Ok(n) = r {
                        short = n > 0 && n < len && self.drains(g.fd());
                    }
                    r
                });
            if short {
                self.inner.source.mark_drained(&waiter);
            }
            r
        })
    }

    /// Polls a read of up to `buf.len()` bytes: by readiness on a non-blocking descriptor
    /// (one non-blocking read straight into `buf` now, and if there is nothing to read,
    /// `Pending` until the loop reports the descriptor readable; this clone's task is woken
    /// then), through a job on a descriptor in blocking mode (see "Blocking mode" below). A
    /// poll that returns `Pending` consumed nothing. Use it to implement `poll`-style traits
    /// (`FileDescr` implements `futures_io::AsyncRead` with it); `lwt::unix::read(..).await`
    /// is the same operation as a future.
    ///
    /// # Blocking mode
    ///
    /// A descriptor in blocking mode (a regular file, a terminal: see [`blocking`]) cannot be
    /// read by readiness, so this clone keeps one job in flight, as `tokio::fs::File` does:
    /// the first poll waits for readiness (a terminal's input), then starts a job that reads
    /// up to `buf.len()` bytes (at most [`JOB_IO_MAX`](crate::JOB_IO_MAX)) into a buffer of its own, and returns
    /// `Pending`; a later poll delivers them. **Cancellation**: if the read is cancelled
    /// while its job is in flight (the future polling this is dropped), the job is not
    /// stopped, and the bytes it read are kept in this clone and delivered first by its next
    /// `poll_read`: nothing is lost as long as this value is read again. Dropping the value
    /// drops such bytes (the file position has moved past them).
    ///
    /// # Errors
    ///
    /// `Closed`/`Aborted`; the errors of `read(2)`/`recv(2)`; in blocking mode, those of the
    /// job (e.g. `Aborted` after `abort_jobs`), and the error of an earlier write (see
    /// [`FileDescr::poll_write`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Poll;
    /// lwt::run(async {
    ///     let (mut r, w) = lwt::unix::pipe().unwrap();
    ///     let mut buf = [0u8; 4];
    ///     let first = std::future::poll_fn(|cx| Poll::Ready(r.poll_read(cx, &mut buf))).await;
    ///     assert!(first.is_pending()); // nothing yet
    ///     lwt::unix::write(&w, b"ping").await.unwrap();
    ///     let n = std::future::poll_fn(|cx| r.poll_read(cx, &mut buf)).await.unwrap();
    ///     assert_eq!(&buf[..n], b"ping");
    /// });
    /// ```
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize>> {
        // SAFETY: `poll_read_uninit` writes only initialised bytes into its buffer (what the
        // kernel read, or a copy of bytes), so every byte of `buf` stays initialised.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        self.poll_read_uninit(cx, buf)
    }

    /// [`FileDescr::poll_read`] into a buffer that need not be initialised: on success the
    /// first `n` bytes of `buf` are initialised (the read wrote them) and no byte was read
    /// from it. For adapters of traits that hand out uninitialised memory (hyper's
    /// `ReadBufCursor`, tokio's `ReadBuf`) without zeroing it first.
    ///
    /// # Errors
    ///
    /// As [`FileDescr::poll_read`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    /// lwt::run(async {
    ///     let (mut r, w) = lwt::unix::pipe().unwrap();
    ///     lwt::unix::write(&w, b"raw").await.unwrap();
    ///     let mut buf = [MaybeUninit::<u8>::uninit(); 8];
    ///     let n = std::future::poll_fn(|cx| r.poll_read_uninit(cx, &mut buf)).await.unwrap();
    ///     assert_eq!(n, 3);
    ///     // SAFETY: the read initialised the first `n` bytes.
    ///     let got = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    ///     assert_eq!(got, b"raw");
    /// });
    /// ```
    pub fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<Result<usize>> {
        if self.is_blocking() {
            return crate::stream::poll_read_job(self, cx, buf);
        }
        let inner = &*self.inner;
        let st = self.polls.get_or_insert_with(Default::default);
        let len = buf.len();
        let mut short = false;
        let mut attempt = || {
            inner.enter()?;
            let g = FdRef { inner };
            let r = inner.read_now_uninit(g.fd(), &mut *buf);
            if let Ok(n) = r {
                short = n > 0 && n < len && drains_of(inner, g.fd());
            }
            r
        };
        let r = inner
            .source
            .poll_op(cx, Direction::Read, &mut st.read, &mut attempt);
        if short {
            inner.source.mark_drained(&st.read);
        }
        r
    }

    /// Polls a write of up to `buf.len()` bytes: by readiness on a non-blocking descriptor
    /// (see [`FileDescr::poll_read`]), never raising a visible SIGPIPE (a broken pipe is
    /// `EPIPE`); through a job in blocking mode.
    ///
    /// # Blocking mode
    ///
    /// Writes are written behind, as `tokio::fs::File` does: a poll with no job in flight
    /// copies up to [`JOB_IO_MAX`](crate::JOB_IO_MAX) bytes of `buf`, starts a job that writes all of them, and
    /// returns `Ready(Ok(n))` at once; a poll while that job runs returns `Pending` until it
    /// ends. The job's error is returned by this clone's next operation (a read, a write,
    /// `poll_flush`). **Cancellation**: an accepted write is not undone; use `flush` (the
    /// futures' `AsyncWriteExt::flush`) to know it reached the file.
    ///
    /// # Errors
    ///
    /// `Closed`/`Aborted`; the errors of `write(2)`/`send(2)`; in blocking mode, the error of
    /// the previous write's job.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (r, mut w) = lwt::unix::pipe().unwrap();
    ///     let n = std::future::poll_fn(|cx| w.poll_write(cx, b"pong")).await.unwrap();
    ///     assert_eq!(n, 4);
    ///     let mut buf = [0u8; 4];
    ///     assert_eq!(lwt::unix::read(&r, &mut buf).await.unwrap(), 4);
    /// });
    /// ```
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        if self.is_blocking() {
            return crate::stream::poll_write_job(self, cx, buf);
        }
        let inner = &*self.inner;
        let st = self.polls.get_or_insert_with(Default::default);
        let mut attempt = || {
            inner.enter()?;
            let g = FdRef { inner };
            inner.write_now(g.fd(), buf, "write")
        };
        inner
            .source
            .poll_op(cx, Direction::Write, &mut st.write, &mut attempt)
    }

    /// Polls until every write this clone accepted has reached the descriptor: in blocking
    /// mode, waits for the write job in flight (and returns its error); otherwise ready at
    /// once (a non-blocking write is in the kernel when it returns).
    ///
    /// # Errors
    ///
    /// The error of the write job that was in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let path = std::env::temp_dir().join(format!("lwt-doc-flush-{}", std::process::id()));
    ///     let mut f = lwt::unix::openfile(&path, lwt::unix::OpenFlags::WRONLY | lwt::unix::OpenFlags::CREAT, 0o600)
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(std::future::poll_fn(|cx| f.poll_write(cx, b"data")).await.unwrap(), 4);
    ///     std::future::poll_fn(|cx| f.poll_flush(cx)).await.unwrap();
    ///     assert_eq!(std::fs::read(&path).unwrap(), b"data");
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        crate::stream::poll_flush_job(self, cx)
    }

    /// Waits until the descriptor is ready in `dir` (readable or writable now, or reported
    /// so by the loop).
    ///
    /// # Errors
    ///
    /// `Closed` or the abort cause if it is (or gets) closed or aborted.
    pub(crate) async fn wait_ready(&self, dir: IoEvent) -> Result<()> {
        self.io(dir, |fd| {
            if poll_now(fd, dir)? {
                Ok(())
            } else {
                Err(Error::Retry)
            }
        })
        .await
    }

    /// Forgets the descriptor's registrations (its number now refers to another file, after
    /// `dup2`): waiting operations try again, and register anew if they must wait.
    pub(crate) fn reregister(&self) {
        self.inner.source.deregister();
    }

    /// Forgets what was learnt about the descriptor's file (whether it is a socket, whether a
    /// short read drains it, whether it is a regular file, the page-cache hint): after `dup2`
    /// its number refers to another file, which is looked at again when first used. An
    /// operation in flight during the `dup2` may record what it saw of either file; the next
    /// one that finds the hint wrong corrects it (a socket call on a non-socket fails with
    /// `ENOTSOCK` and falls back), except the regular-file and drain hints, which a `dup2`
    /// racing with I/O on its destination can leave stale (the kernel gives no order there
    /// either).
    pub(crate) fn forget_kind(&self) {
        let inner = &self.inner;
        inner.drains.store(DRAINS_UNKNOWN, Ordering::Relaxed);
        inner.socket.forget();
        inner.io_hint.store(0, Ordering::Relaxed);
        inner.file_type.store(FILE_UNKNOWN, Ordering::Relaxed);
    }

    /// Records whether the descriptor is a regular file, when its maker knows (`openfile`
    /// looked at it).
    pub(crate) fn note_regular_file(&self, regular: bool) {
        let v = if regular { FILE_REGULAR } else { FILE_OTHER };
        self.inner.file_type.store(v, Ordering::Relaxed);
    }

    /// Whether the descriptor is a regular file: `fstat(2)` the first time, remembered after
    /// (until a `dup2` onto it). A failing `fstat` says no and is not remembered.
    pub(crate) fn is_regular_file(&self, fd: BorrowedFd<'_>) -> bool {
        match self.inner.file_type.load(Ordering::Relaxed) {
            FILE_REGULAR => true,
            FILE_OTHER => false,
            _ => match rustix::fs::fstat(fd) {
                Ok(st) => {
                    let regular = FileType::from_raw_mode(st.st_mode).is_file();
                    self.note_regular_file(regular);
                    regular
                }
                Err(_) => false,
            },
        }
    }
}

/// Whether a short read on the descriptor means it is drained (see [`Kind`]), found out once.
#[inline]
fn drains_of(inner: &FdInner, fd: BorrowedFd<'_>) -> bool {
    match inner.drains.load(Ordering::Relaxed) {
        DRAINS_YES => true,
        DRAINS_NO => false,
        _ => {
            let yes = matches!(probe_kind(fd), Kind::Drains | Kind::Pipe);
            let v = if yes { DRAINS_YES } else { DRAINS_NO };
            inner.drains.store(v, Ordering::Relaxed);
            yes
        }
    }
}

fn poll_now(fd: BorrowedFd<'_>, dir: IoEvent) -> Result<bool> {
    use rustix::event::{PollFd, PollFlags};
    let want = match dir {
        Direction::Read => PollFlags::IN,
        Direction::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(&fd, want)];
    loop {
        match rustix::event::poll(
            &mut fds,
            Some(&rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        ) {
            Ok(_) => return Ok(!fds[0].revents().is_empty()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::from_errno(e.raw_os_error(), "poll", "")),
        }
    }
}

impl AsRawFd for FileDescr {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.raw
    }
}

/// Lends the descriptor (see the module documentation, "Borrowing the descriptor"): it stays
/// open for the borrow even if another clone is closed meanwhile; a closed descriptor lends a
/// dead one (reads give end of file, writes fail).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     let st = rustix::fs::fstat(r.as_fd()).unwrap();
///     assert_eq!(rustix::fs::FileType::from_raw_mode(st.st_mode), rustix::fs::FileType::Fifo);
/// });
/// ```
impl AsFd for FileDescr {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // Announce the borrow before reading the state; `close` sets the state before reading
        // `borrowed` (both sequentially consistent), so either `close` sees the borrow and keeps
        // the number, or this sees the descriptor closed and lends the dead one.
        self.inner.borrowed.store(true, Ordering::SeqCst);
        if self.inner.word.load(Ordering::SeqCst) & STATE == CLOSED {
            if let Ok(dead) = dead_fd() {
                return dead;
            }
        }
        // SAFETY: the state was not closed after the borrow was announced, so any later close
        // sees the borrow and keeps the number open (on its file, or on the dead descriptor)
        // until the last clone drops; this borrow of one clone cannot outlive that.
        unsafe { BorrowedFd::borrow_raw(self.inner.raw) }
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        // Deregister before the descriptor can be closed (the source's invariant).
        self.source.close();
        let w = *self.word.get_mut();
        if w & RELEASED != 0 {
            if *self.reserved.get_mut() {
                // The number sat on the dead descriptor for borrowers; nobody can borrow now.
                let _ = close_raw(self.raw);
            }
            return;
        }
        if self.close_on_drop {
            // An error of close(2) in a destructor has nobody to report to.
            let _ = close_raw(self.raw);
        }
        // stdin/stdout/stderr belong to the process, not to this value.
    }
}

/// The state of a descriptor (Lwt's `state`).
pub fn state(fd: &FileDescr) -> State {
    match fd.inner.word.load(Ordering::Acquire) & STATE {
        OPEN => State::Opened,
        ABORTED => match fd.inner.abort_error() {
            Error::Aborted(c) => State::Aborted(c),
            _ => State::Closed,
        },
        _ => State::Closed,
    }
}

/// The OS descriptor number; always answers, even if `fd` is closed (Lwt's
/// `unix_file_descr`).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// assert_eq!(lwt::unix::unix_file_descr(&lwt::unix::stdin()), 0);
/// assert_eq!(lwt::unix::stdout().as_raw_fd(), 1);
/// ```
pub fn unix_file_descr(fd: &FileDescr) -> RawFd {
    fd.inner.raw
}

/// Fails unless `fd` is open (Lwt's `check_descriptor`): [`Error::Closed`] after
/// [`close`], `Error::Aborted(cause)` after [`abort`].
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert!(lwt::unix::check_descriptor(&r).is_ok());
///     lwt::unix::abort(&r, lwt::Error::Timeout);
///     assert!(matches!(lwt::unix::check_descriptor(&r), Err(lwt::Error::Aborted(_))));
/// });
/// ```
pub fn check_descriptor(fd: &FileDescr) -> Result<()> {
    fd.enter().map(drop)
}

/// Wraps an OS descriptor (Lwt's `of_unix_file_descr ?blocking ?set_flags fd`).
///
/// Without `blocking`, lwt uses non-blocking I/O for sockets and pipes and blocking I/O (jobs)
/// for everything else. With `set_flags` (Lwt's default, `true`) the descriptor's
/// `O_NONBLOCK` flag is set to match.
///
/// # Errors
///
/// The error of `fcntl` if `set_flags` is true and the flag cannot be changed (e.g. `EBADF`
/// for a descriptor that is not open).
///
/// # Examples
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = lwt::unix::of_unix_file_descr(a.into(), None, true).unwrap();
/// assert!(!lwt::unix::blocking(&fd)); // a socket: non-blocking
/// let f = std::fs::File::open("/dev/null").unwrap();
/// let fd = lwt::unix::of_unix_file_descr(f.into(), None, true).unwrap();
/// assert!(lwt::unix::blocking(&fd));
/// ```
pub fn of_unix_file_descr(
    fd: OwnedFd,
    blocking: Option<bool>,
    set_flags: bool,
) -> Result<FileDescr> {
    FileDescr::from_owned(fd, blocking, set_flags)
}

/// Whether lwt uses blocking I/O (through jobs) on `fd` (Lwt's `blocking`). This may differ
/// from the OS flag if it was set with `set_flags = false`.
pub fn blocking(fd: &FileDescr) -> bool {
    fd.is_blocking()
}

/// Makes lwt use blocking (`true`) or non-blocking I/O on `fd`; with `set_flags`, also sets
/// the OS flag to match (Lwt's `set_blocking`).
///
/// # Errors
///
/// `Closed`/`Aborted` for a descriptor not open; the error of `fcntl`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     lwt::unix::set_blocking(&r, true, true).unwrap();
///     assert!(lwt::unix::blocking(&r));
/// });
/// ```
pub fn set_blocking(fd: &FileDescr, blocking: bool, set_flags: bool) -> Result<()> {
    let os = fd.enter()?;
    if set_flags {
        set_os_blocking(os.fd(), blocking)?;
    }
    fd.inner.blocking.store(blocking, Ordering::Relaxed);
    Ok(())
}

/// Makes every current and future operation on `fd` fail with `Error::Aborted(cause)`; only
/// [`close`] still works (Lwt's `abort`). Does nothing on a closed descriptor; on an aborted
/// one, replaces the cause. Pending operations (reads, writes, waits for readiness, connects)
/// fail at once with the cause.
pub fn abort(fd: &FileDescr, cause: Error) {
    let inner = &fd.inner;
    {
        let mut c = lock(&inner.cause);
        if inner.word.load(Ordering::Acquire) & STATE == CLOSED {
            return;
        }
        *c = Some(Arc::new(cause));
    }
    let mut w = inner.word.load(Ordering::Acquire);
    loop {
        if w & STATE == CLOSED {
            return;
        }
        match inner.word.compare_exchange_weak(
            w,
            (w & !STATE) | ABORTED,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(cur) => w = cur,
        }
    }
    // Waiting operations wake up, try again and fail at their state check.
    inner.source.close();
}

/// Closes `fd` (Lwt's `close`): its state becomes `Closed`, pending operations fail with
/// [`Error::Closed`], and the OS descriptor is closed (at once if no operation of another
/// thread is using it, else when that operation returns). The descriptor is deregistered from
/// every runtime first.
///
/// # Errors
///
/// `EBADF` (named `"close"`) if `fd` was already closed; the error of `close(2)` (e.g. `EIO`),
/// unless the descriptor was borrowed through `AsFd` (see [`FileDescr`]'s module notes) or
/// another thread's operation was using it.
pub async fn close(fd: &FileDescr) -> Result<()> {
    let inner = &fd.inner;
    let mut w = inner.word.load(Ordering::Acquire);
    loop {
        if w & STATE == CLOSED {
            return Err(Error::from_errno(libc::EBADF, "close", ""));
        }
        match inner.word.compare_exchange_weak(
            w,
            (w & !STATE) | CLOSED,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(cur) => w = cur,
        }
    }
    inner.source.close();
    if inner.blocking.load(Ordering::Relaxed)
        && inner.close_on_drop
        && !inner.borrowed.load(Ordering::SeqCst)
    {
        // close(2) of a file can block (a network file system flushing): claim the release
        // here, then run it as a job.
        if inner
            .word
            .compare_exchange(
                CLOSED,
                CLOSED | RELEASED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(()); // another thread's operation releases it when it returns
        }
        let raw = inner.raw;
        // On io_uring the kernel closes it through the ring (no pool thread); the close goes
        // on even if this future is dropped.
        #[cfg(target_os = "linux")]
        if crate::io::ring_usable() {
            use lwt_core::backend::CompletionKind;
            let close = CompletionKind::Close;
            // A job for wait_for_jobs and abort_jobs, like the job-path close.
            if let Some(closing) = lwt_jobs::kernel_job(close, raw, 0, Vec::new(), Box::new(())) {
                return match closing.await? {
                    Ok(_) => Ok(()),
                    // EINTR on close: the descriptor is closed anyway on Linux.
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
                    Err(e) => Err(Error::from_io(e, "close", "")),
                };
            }
        }
        return lwt_jobs::run_job(None, move || close_raw(raw)).await?;
    }
    match inner.try_release() {
        Some(r) => r,
        // Another thread's operation holds it; it is closed when that returns.
        None => Ok(()),
    }
}

fn close_raw(raw: RawFd) -> Result<()> {
    // SAFETY: the caller owns `raw` and closes it exactly once (the state word's `RELEASED`
    // bit, set by one CAS, or the last drop).
    let r = unsafe { libc::close(raw) };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        // EINTR on close: the descriptor is closed anyway on Linux; do not retry.
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::from_io(e, "close", ""));
        }
    }
    Ok(())
}

fn std_fd(n: RawFd) -> FileDescr {
    // SAFETY: descriptors 0, 1 and 2 belong to the process for its whole life; the
    // `FileDescr` made here never closes them on drop (`close_on_drop` is false).
    let fd = unsafe { OwnedFd::from_raw_fd(n) };
    FileDescr::make(fd, true, false, Kind::Unknown)
}

fn std_slot(n: usize) -> &'static FileDescr {
    static SLOTS: [OnceLock<FileDescr>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    SLOTS[n].get_or_init(|| std_fd(n as RawFd))
}

/// Standard input (Lwt's `stdin`): used with blocking I/O, never closed on drop. It works in
/// every runtime of the program, one after another.
pub fn stdin() -> FileDescr {
    std_slot(0).clone()
}

/// Standard output (Lwt's `stdout`).
pub fn stdout() -> FileDescr {
    std_slot(1).clone()
}

/// Standard error (Lwt's `stderr`).
pub fn stderr() -> FileDescr {
    std_slot(2).clone()
}

/// Lwt's `wrap_syscall event fd action`: checks `fd`, runs `action` now, and if it cannot
/// complete without blocking (it fails with `EAGAIN`, [`Error::Retry`], [`Error::RetryRead`]
/// or [`Error::RetryWrite`]), runs it again each time `fd` becomes ready. Dropping the future
/// removes the action: it never runs again.
///
/// # Examples
///
/// ```
/// use lwt::unix::{wrap_syscall, IoEvent};
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     let mut tries = 0;
///     let writer = lwt::spawn(async move { lwt::unix::write(&w, b"x").await.unwrap(); w });
///     let n = wrap_syscall(IoEvent::Read, &r, |fd| {
///         tries += 1;
///         let mut b = [0u8; 1];
///         rustix::io::read(fd, &mut b).map_err(|e| lwt::Error::from_errno(e.raw_os_error(), "read", ""))
///     })
///     .await
///     .unwrap();
///     assert_eq!(n, 1);
///     assert!(tries >= 1);
///     drop(writer.await);
/// });
/// ```
pub async fn wrap_syscall<T>(
    event: IoEvent,
    fd: &FileDescr,
    action: impl FnMut(BorrowedFd<'_>) -> Result<T>,
) -> Result<T> {
    fd.io(event, action).await
}

/// Lwt's `register_action event fd action`: waits until `fd` is ready in `event`'s direction,
/// then runs `action`, retrying it like [`wrap_syscall`].
///
/// # Errors
///
/// `Closed`/`Aborted` if `fd` is not open (check first, as Lwt asks), and `action`'s errors.
pub async fn register_action<T>(
    event: IoEvent,
    fd: &FileDescr,
    action: impl FnMut(BorrowedFd<'_>) -> Result<T>,
) -> Result<T> {
    fd.wait_ready(event).await?;
    fd.io(event, action).await
}

/// Whether `fd` is readable now (Lwt's `readable`): a `poll` with no timeout.
///
/// # Errors
///
/// `Closed`/`Aborted`, or the error of `poll`.
pub fn readable(fd: &FileDescr) -> Result<bool> {
    poll_now(fd.enter()?.fd(), Direction::Read)
}

/// Whether `fd` is writable now (Lwt's `writable`).
///
/// # Errors
///
/// `Closed`/`Aborted`, or the error of `poll`.
pub fn writable(fd: &FileDescr) -> Result<bool> {
    poll_now(fd.enter()?.fd(), Direction::Write)
}

/// Waits, without blocking other tasks, until there is something to read on `fd` (Lwt's
/// `wait_read`).
///
/// # Errors
///
/// `Closed`, or `Aborted(cause)` with the cause given to [`abort`], if `fd` is (or gets)
/// closed or aborted meanwhile.
pub async fn wait_read(fd: &FileDescr) -> Result<()> {
    fd.wait_ready(Direction::Read).await
}

/// Waits until it is possible to write on `fd` (Lwt's `wait_write`).
///
/// # Errors
///
/// `Closed`, or `Aborted(cause)` with the cause given to [`abort`], if `fd` is (or gets)
/// closed or aborted meanwhile.
pub async fn wait_write(fd: &FileDescr) -> Result<()> {
    fd.wait_ready(Direction::Write).await
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn file_descr_is_send_and_sync() {
        send_sync::<super::PollState>();
        send_sync::<super::FileDescr>();
        send_sync::<super::FdGuard>();
    }

    /// Which descriptors a short read drains: internet-family stream sockets and pipes; not
    /// Unix-domain or datagram sockets; nothing known of a regular file.
    #[test]
    fn the_kind_of_a_descriptor_says_whether_a_short_read_drains_it() {
        use super::{probe_kind, Kind};
        use crate::net::{SocketDomain, SocketType};
        use std::os::fd::AsFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert_eq!(probe_kind(tcp.as_fd()), Kind::Drains);
        let (unix, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(probe_kind(unix.as_fd()), Kind::Socket);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(probe_kind(udp.as_fd()), Kind::Socket);
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert_eq!(probe_kind(r.as_fd()), Kind::Pipe);
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(probe_kind(file.as_fd()), Kind::Unknown);

        for (domain, ty, kind) in [
            (SocketDomain::Inet, SocketType::Stream, Kind::Drains),
            (SocketDomain::Inet6, SocketType::Stream, Kind::Drains),
            (SocketDomain::Unix, SocketType::Stream, Kind::Socket),
            (SocketDomain::Inet, SocketType::Dgram, Kind::Socket),
        ] {
            assert_eq!(Kind::of_socket(domain, ty), kind, "{domain:?} {ty:?}");
        }
    }
}
