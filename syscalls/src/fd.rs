//! `FileDescr`: a file descriptor with a state (Opened / Closed / Aborted), the blocking mode
//! lwt uses for it, and its registration with the loop (Lwt's `file_descr`).

use crate::cvt;
use lwt_core::reactor::{Direction, Registration};
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use rustix::fs::FileType;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

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

struct Shared {
    state: State,
    fd: Option<Arc<OwnedFd>>,
}

pub(crate) struct FdInner {
    raw: RawFd,
    shared: Mutex<Shared>,
    blocking: AtomicBool,
    reg: OnceLock<Result<Registration>>,
    close_on_drop: bool,
    /// Free for the I/O paths' own bookkeeping (the regular-file fast path of `io.rs`
    /// remembers here whether `RWF_NOWAIT` reads work and when a cold file may be tried again).
    // Only the Linux fast path reads it (`preadv2` with `RWF_NOWAIT` exists only there).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) io_hint: std::sync::atomic::AtomicU64,
}

/// An lwt file descriptor: the OS descriptor, its [`State`], whether lwt does blocking or
/// non-blocking I/O on it, and its registration with the loop.
///
/// Clones share the same descriptor and state (like an OCaml value). The OS descriptor is
/// closed by [`close`], or when the last clone is dropped (except for [`stdin`], [`stdout`]
/// and [`stderr`]). An operation in flight on another thread keeps the OS descriptor alive
/// until it returns, so its number is never reused under it.
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
#[derive(Clone)]
pub struct FileDescr {
    pub(crate) inner: Arc<FdInner>,
}

impl std::fmt::Debug for FileDescr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDescr")
            .field("fd", &self.inner.raw)
            .field("state", &lock(&self.inner.shared).state)
            .field("blocking", &self.inner.blocking.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Every critical section leaves `Shared` consistent; poisoning is ignored.
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

impl FileDescr {
    fn make(fd: OwnedFd, blocking: bool, close_on_drop: bool) -> FileDescr {
        FileDescr {
            inner: Arc::new(FdInner {
                raw: fd.as_raw_fd(),
                shared: Mutex::new(Shared {
                    state: State::Opened,
                    fd: Some(Arc::new(fd)),
                }),
                blocking: AtomicBool::new(blocking),
                reg: OnceLock::new(),
                close_on_drop,
                io_hint: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Wraps a descriptor known to be in non-blocking mode already (sockets and pipes that lwt
    /// created itself).
    pub(crate) fn new_nonblocking(fd: OwnedFd) -> FileDescr {
        FileDescr::make(fd, false, true)
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
        Ok(FileDescr::make(fd, blocking, true))
    }

    /// The OS descriptor, after checking the state: `Closed` or the abort cause otherwise.
    /// The `Arc` keeps it open for the duration of the call.
    pub fn checked(&self) -> Result<Arc<OwnedFd>> {
        let s = lock(&self.inner.shared);
        match (&s.state, &s.fd) {
            (State::Opened, Some(fd)) => Ok(fd.clone()),
            (State::Aborted(cause), _) => Err(Error::Aborted(cause.clone())),
            _ => Err(Error::Closed),
        }
    }

    /// Whether lwt uses blocking I/O (jobs) on this descriptor.
    pub fn is_blocking(&self) -> bool {
        self.inner.blocking.load(Ordering::Relaxed)
    }

    /// The loop registration, made on first need. `None` for descriptors the backend cannot
    /// watch (regular files under epoll): they are always ready.
    pub(crate) fn registration(&self) -> Result<Option<&Registration>> {
        let fd = self.checked()?;
        match self.inner.reg.get_or_init(|| Registration::new(fd.as_fd())) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.errno() == Some(libc::EPERM) => Ok(None),
            Err(e) => Err(e.clone()),
        }
    }

    /// Runs `op` on the descriptor in the manner of Lwt's `wrap_syscall`: now, and if it
    /// would block (`EAGAIN` or [`Error::Retry`]/[`Error::RetryRead`]/[`Error::RetryWrite`]),
    /// again each time the loop reports the direction ready. The state is checked before every
    /// attempt, so a close or an abort makes a pending operation fail. EINTR is retried.
    pub async fn io<T>(
        &self,
        dir: IoEvent,
        mut op: impl FnMut(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = || {
            let fd = self.checked()?;
            loop {
                match op(fd.as_fd()) {
                    Err(e) if e.errno() == Some(libc::EINTR) => continue,
                    r => return r,
                }
            }
        };
        // Once registered, `Registration::op` makes the first attempt itself (after reading
        // the readiness tick): trying here first as well would cost a second failing system
        // call every time the operation has to wait.
        if let Some(Ok(reg)) = self.inner.reg.get() {
            return reg.op(dir, attempt).await;
        }
        match attempt() {
            Err(e) if would_block(&e) => {}
            r => return r,
        }
        match self.registration()? {
            Some(reg) => reg.op(dir, attempt).await,
            // An unwatchable descriptor is always "ready": the operation decides.
            None => loop {
                match attempt() {
                    Err(e) if would_block(&e) => lwt_core::yield_now().await,
                    r => return r,
                }
            },
        }
    }

    /// Waits until the descriptor is ready in `dir` (readable or writable now, or reported
    /// so by the loop).
    pub(crate) async fn wait_ready(&self, dir: IoEvent) -> Result<()> {
        let reg = match self.registration()? {
            Some(reg) => reg,
            None => return Ok(()),
        };
        loop {
            let tick = reg.tick(dir);
            if poll_now(&self.checked()?, dir)? {
                return Ok(());
            }
            reg.wait(dir, tick).await?;
            self.checked()?;
            if poll_now(&self.checked()?, dir)? {
                return Ok(());
            }
        }
    }
}

fn would_block(e: &Error) -> bool {
    matches!(e, Error::Retry | Error::RetryRead | Error::RetryWrite) || e.is_would_block()
}

fn poll_now(fd: &impl AsFd, dir: IoEvent) -> Result<bool> {
    use rustix::event::{PollFd, PollFlags};
    let want = match dir {
        Direction::Read => PollFlags::IN,
        Direction::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(fd, want)];
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

impl Drop for FdInner {
    fn drop(&mut self) {
        // Deregister before the descriptor can be closed (the registration's invariant).
        if let Some(Ok(reg)) = self.reg.get() {
            reg.deregister();
        }
        let fd = lock(&self.shared).fd.take();
        if let Some(fd) = fd {
            if !self.close_on_drop {
                // stdin/stdout/stderr belong to the process, not to this value.
                if let Ok(fd) = Arc::try_unwrap(fd) {
                    let _ = rustix::fd::IntoRawFd::into_raw_fd(fd);
                }
            }
            // Otherwise dropping the last Arc closes it; an error of close(2) in a destructor
            // has nobody to report to.
        }
    }
}

/// The state of a descriptor (Lwt's `state`).
pub fn state(fd: &FileDescr) -> State {
    lock(&fd.inner.shared).state.clone()
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
    fd.checked().map(drop)
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
    let os = fd.checked()?;
    if set_flags {
        set_os_blocking(os.as_fd(), blocking)?;
    }
    fd.inner.blocking.store(blocking, Ordering::Relaxed);
    Ok(())
}

/// Makes every current and future operation on `fd` fail with `Error::Aborted(cause)`; only
/// [`close`] still works (Lwt's `abort`). Does nothing on a closed descriptor; on an aborted
/// one, replaces the cause. Pending reads and writes fail at once.
pub fn abort(fd: &FileDescr, cause: Error) {
    {
        let mut s = lock(&fd.inner.shared);
        if matches!(s.state, State::Closed) {
            return;
        }
        s.state = State::Aborted(Arc::new(cause));
    }
    wake_all(fd);
}

fn wake_all(fd: &FileDescr) {
    if let Some(Ok(reg)) = fd.inner.reg.get() {
        // Deregistering wakes every waiter; they re-check the state and fail.
        reg.deregister();
    }
}

/// Closes `fd` (Lwt's `close`): its state becomes `Closed`, pending operations fail with
/// [`Error::Closed`], and the OS descriptor is closed (at once if no operation of another
/// thread is using it, else when that operation returns).
///
/// # Errors
///
/// `EBADF` (named `"close"`) if `fd` was already closed; the error of `close(2)` (e.g. `EIO`).
pub async fn close(fd: &FileDescr) -> Result<()> {
    let os = {
        let mut s = lock(&fd.inner.shared);
        if matches!(s.state, State::Closed) {
            return Err(Error::from_errno(libc::EBADF, "close", ""));
        }
        s.state = State::Closed;
        s.fd.take()
    };
    wake_all(fd);
    let os = match os {
        Some(os) => os,
        None => return Ok(()),
    };
    if !fd.inner.close_on_drop {
        // The standard descriptors: close the OS descriptor too, as Lwt does.
        if let Ok(owned) = Arc::try_unwrap(os) {
            return close_owned(owned);
        }
        return Ok(());
    }
    match Arc::try_unwrap(os) {
        Ok(owned) if fd.is_blocking() => {
            lwt_jobs::run_job(None, move || close_owned(owned)).await?
        }
        Ok(owned) => close_owned(owned),
        // Another thread's operation holds it; it is closed when that returns.
        Err(_) => Ok(()),
    }
}

fn close_owned(fd: OwnedFd) -> Result<()> {
    let raw = rustix::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: we owned `raw` and just released it; it is closed exactly once, here.
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
    FileDescr::make(fd, true, false)
}

fn std_slot(n: usize) -> &'static FileDescr {
    static SLOTS: [OnceLock<FileDescr>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    SLOTS[n].get_or_init(|| std_fd(n as RawFd))
}

/// Standard input (Lwt's `stdin`): used with blocking I/O, never closed on drop.
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
    poll_now(&fd.checked()?, Direction::Read)
}

/// Whether `fd` is writable now (Lwt's `writable`).
///
/// # Errors
///
/// `Closed`/`Aborted`, or the error of `poll`.
pub fn writable(fd: &FileDescr) -> Result<bool> {
    poll_now(&fd.checked()?, Direction::Write)
}

/// Waits, without blocking other tasks, until there is something to read on `fd` (Lwt's
/// `wait_read`).
///
/// # Errors
///
/// `Closed`/`Aborted` if `fd` is (or gets) closed or aborted meanwhile.
pub async fn wait_read(fd: &FileDescr) -> Result<()> {
    fd.wait_ready(Direction::Read).await
}

/// Waits until it is possible to write on `fd` (Lwt's `wait_write`).
///
/// # Errors
///
/// `Closed`/`Aborted` if `fd` is (or gets) closed or aborted meanwhile.
pub async fn wait_write(fd: &FileDescr) -> Result<()> {
    fd.wait_ready(Direction::Write).await
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn file_descr_is_send_and_sync() {
        send_sync::<super::FileDescr>();
    }
}
