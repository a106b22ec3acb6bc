//! I/O readiness for descriptors: a [`Source`] waits for readiness on the loop of whichever
//! runtime polls it.
//!
//! A `Source` wraps a descriptor (a socket on Windows). The first operation that has to wait in
//! a runtime registers it with that runtime's backend; a later one in another runtime registers
//! it there too, and a registration whose runtime is gone is dropped and replaced. Errors are
//! never cached: an operation whose registration fails gets the error, and the next one tries
//! again.
//!
//! Operations follow Lwt's `wrap_syscall`: read the readiness tick, try the system call, and on
//! `EAGAIN` wait until the loop reports the direction after that tick (see `crate::driver::io`
//! for the protocol). A cancelled (dropped) operation never runs its call again, so a cancelled
//! read consumes nothing.
//!
//! # Several runtimes
//!
//! A descriptor may be used by several live runtimes at once, on different threads: each has
//! its own registration, and each is told about readiness. As with any descriptor shared by
//! two readers, which of two concurrent reads gets the bytes is a race; a read that loses it
//! finds `EAGAIN` and waits again.
//!
//! # Locks
//!
//! A source's list of registrations has its own lock. It is taken before (never under) the
//! driver's locks: registering holds it while adding the new registration to the driver's set
//! and to the backend.

use crate::backend::BorrowedSource;
use crate::context;
use crate::driver::io::{self, lock, IoSet, Registered, ScheduledIo, READ, WRITE};
use crate::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub use crate::driver::io::RawSource;

/// A direction of I/O readiness (Lwt's `io_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Readability (`Read`).
    Read,
    /// Writability (`Write`).
    Write,
}

impl Direction {
    fn idx(self) -> usize {
        match self {
            Direction::Read => READ,
            Direction::Write => WRITE,
        }
    }
}

#[derive(Default)]
struct Regs {
    list: Vec<Arc<ScheduledIo>>,
    closed: bool,
}

/// A descriptor's readiness, on whichever runtime polls it.
///
/// # Invariant
///
/// The descriptor given to [`Source::new`] must stay open until [`Source::close`] has returned
/// (dropping the source calls it): the backends hold its number while it is registered.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use lwt_core::reactor::{Direction, Source};
/// use std::io::{Read, Write};
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// rt.block_on(async {
///     let (mut a, b) = UnixStream::pair().unwrap();
///     b.set_nonblocking(true).unwrap();
///     let src = Source::new(b.as_fd());
///     let writer = std::thread::spawn(move || a.write_all(b"hi").unwrap());
///     let mut buf = [0u8; 2];
///     let n = src
///         .op(Direction::Read, || {
///             (&b).read(&mut buf).map_err(|e| lwt_core::Error::from_io(e, "read", ""))
///         })
///         .await
///         .unwrap();
///     assert_eq!(&buf[..n], b"hi");
///     writer.join().unwrap();
/// });
/// # }
/// ```
pub struct Source {
    raw: RawSource,
    regs: Mutex<Regs>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("raw", &self.raw).finish()
    }
}

impl Source {
    /// Wraps `source`; nothing is registered until an operation has to wait.
    pub fn new(source: BorrowedSource<'_>) -> Source {
        #[cfg(unix)]
        let raw = std::os::fd::AsRawFd::as_raw_fd(&source);
        #[cfg(windows)]
        let raw = std::os::windows::io::AsRawSocket::as_raw_socket(&source);
        Source {
            raw,
            regs: Mutex::new(Regs::default()),
        }
    }

    /// The raw descriptor.
    pub fn as_raw(&self) -> RawSource {
        self.raw
    }

    fn borrow(&self) -> BorrowedSource<'_> {
        #[cfg(unix)]
        // SAFETY: the descriptor is open until `close` (the type's invariant), and `close`
        // refuses new registrations before it deregisters the existing ones.
        unsafe {
            std::os::fd::BorrowedFd::borrow_raw(self.raw)
        }
        #[cfg(windows)]
        // SAFETY: as above.
        unsafe {
            std::os::windows::io::BorrowedSocket::borrow_raw(self.raw)
        }
    }

    /// The registration with the runtime this thread is in, made now if needed.
    fn registration(&self) -> Result<Arc<ScheduledIo>> {
        let Some(driver_id) = context::current_driver_id() else {
            return Err(Error::invalid(
                "register",
                "not inside an lwt runtime".to_string(),
            ));
        };
        let mut regs = lock(&self.regs);
        if regs.closed {
            return Err(Error::Closed);
        }
        // Registrations whose runtime is gone (or that were deregistered) go.
        regs.list.retain(|s| !s.is_dead());
        if let Some(s) = regs.list.iter().find(|s| s.driver_id() == driver_id) {
            return Ok(s.clone());
        }
        let driver = context::current_driver().ok_or(Error::Canceled)?;
        let sio = IoSet::register(&driver, self.borrow())?;
        regs.list.push(sio.clone());
        Ok(sio)
    }

    /// Whether the source has a live registration with the runtime this thread is in.
    pub fn is_registered_here(&self) -> bool {
        let Some(id) = context::current_driver_id() else {
            return false;
        };
        lock(&self.regs)
            .list
            .iter()
            .any(|s| !s.is_dead() && s.driver_id() == id)
    }

    /// Polls an operation in the manner of Lwt's `wrap_syscall`: runs `op`; if it fails with
    /// `EAGAIN`/`EWOULDBLOCK` or [`Error::Retry`] it waits for `dir` (for
    /// [`Error::RetryRead`]/[`Error::RetryWrite`], for that direction) and tries again when the
    /// loop reports it. `EINTR` is retried at once. Any other outcome completes the operation.
    ///
    /// If the direction was marked drained ([`Waiter::mark_drained`]) and nothing was reported
    /// since, it waits without trying first.
    ///
    /// # Errors
    ///
    /// `op`'s errors; `Closed` once the source is closed (if `op` itself does not fail first);
    /// `InvalidArgument` outside of a runtime; the backend's error if it cannot register or
    /// wait for the descriptor.
    pub fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: &mut Waiter,
        op: &mut dyn FnMut() -> Result<T>,
    ) -> Poll<Result<T>> {
        if let Some(e) = waiter.take_failure() {
            return Poll::Ready(Err(e));
        }
        loop {
            if waiter.unwatchable {
                // A descriptor the backend cannot watch (a regular file under epoll) is always
                // ready: try, and if it would block, try again on the next turn.
                return match attempt(op) {
                    Attempt::Done(r) => Poll::Ready(r),
                    Attempt::Wait(_) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                };
            }
            let sio = match waiter.current() {
                Some(s) => s,
                None => match self.registration() {
                    Ok(s) => waiter.set(s),
                    Err(e) if is_unwatchable(&e) => {
                        waiter.unwatchable = true;
                        continue;
                    }
                    // Closed: the operation's own outcome (its descriptor's state, e.g. an
                    // abort cause) says more than "closed", if it has one.
                    Err(Error::Closed) => {
                        return Poll::Ready(match attempt(op) {
                            Attempt::Done(r) => r,
                            Attempt::Wait(_) => Err(Error::Closed),
                        })
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                },
            };
            let ticks = [sio.tick(READ), sio.tick(WRITE)];
            let mut want = dir.idx();
            if !sio.drained_at(want, ticks[want]) {
                match attempt(op) {
                    Attempt::Done(r) => {
                        waiter.last = Some((want, ticks[want]));
                        waiter.remove();
                        return Poll::Ready(r);
                    }
                    Attempt::Wait(d) => want = d.map_or(want, Direction::idx),
                }
            }
            match sio.register_waiter(want, ticks[want], cx.waker(), &mut waiter.slot) {
                Ok(Registered::Yes) => {
                    waiter.failures_at = sio.failures();
                    return Poll::Pending;
                }
                Ok(Registered::TickMoved) => continue,
                Ok(Registered::Dead) => waiter.forget(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The future of [`Source::poll_op`]: Lwt's `wrap_syscall` / `register_action`. Dropping it
    /// before it completes removes its waiter and never runs `op` again.
    pub fn op<T, F: FnMut() -> Result<T>>(&self, dir: Direction, op: F) -> Op<'_, T, F> {
        Op {
            src: self,
            dir,
            op,
            waiter: Waiter::default(),
            _t: std::marker::PhantomData,
        }
    }

    /// Deregisters the source from every runtime and wakes every waiter (they try their call
    /// again, and wait anew if it still would block: e.g. after `dup2` put another file under
    /// the same number). Later operations register again.
    pub fn deregister(&self) {
        let list = std::mem::take(&mut lock(&self.regs).list);
        for sio in &list {
            io::deregister(sio);
        }
    }

    /// Closes the source: deregisters it everywhere, wakes every waiter, and refuses to
    /// register it again (waiting operations that try again fail with [`Error::Closed`] unless
    /// their call fails first). Idempotent. Afterwards the descriptor may be closed.
    pub fn close(&self) {
        let list = {
            let mut regs = lock(&self.regs);
            regs.closed = true;
            std::mem::take(&mut regs.list)
        };
        for sio in &list {
            io::deregister(sio);
        }
    }

    /// Whether [`Source::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.regs).closed
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.close();
    }
}

enum Attempt<T> {
    Done(Result<T>),
    /// Would block; wait for this direction (`None`: the operation's own).
    Wait(Option<Direction>),
}

fn attempt<T>(op: &mut dyn FnMut() -> Result<T>) -> Attempt<T> {
    loop {
        return match op() {
            Err(Error::RetryRead) => Attempt::Wait(Some(Direction::Read)),
            Err(Error::RetryWrite) => Attempt::Wait(Some(Direction::Write)),
            Err(Error::Retry) => Attempt::Wait(None),
            Err(e) if e.is_would_block() => Attempt::Wait(None),
            Err(e) if e.errno() == Some(eintr()) => continue,
            other => Attempt::Done(other),
        };
    }
}

fn is_unwatchable(e: &Error) -> bool {
    #[cfg(unix)]
    {
        e.errno() == Some(libc::EPERM) && e.call() == Some("register")
    }
    #[cfg(windows)]
    {
        let _ = e;
        false
    }
}

fn eintr() -> i32 {
    #[cfg(unix)]
    {
        libc::EINTR
    }
    #[cfg(windows)]
    {
        10004 // WSAEINTR
    }
}

/// The state of one waiting operation: the registration it waits on and its place there.
///
/// Keep one per operation (a future), and drop it with the operation: its drop removes the
/// waiter. See [`Source::poll_op`].
#[derive(Default)]
pub struct Waiter {
    reg: Option<Arc<ScheduledIo>>,
    slot: Option<(usize, usize, u64)>,
    /// The direction and tick of the attempt that completed the operation.
    last: Option<(usize, u64)>,
    /// The registration's failure count when the waiter was registered.
    failures_at: u64,
    unwatchable: bool,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("registered", &self.slot.is_some())
            .finish()
    }
}

impl Waiter {
    /// Says that the attempt that completed the operation consumed everything the descriptor
    /// had (a short read on a TCP socket or a pipe): the next operation in that direction waits
    /// for the loop's next report instead of trying a call that would fail with `EAGAIN`.
    ///
    /// Only correct where a short transfer means "drained": stream sockets of the internet
    /// families and pipes, not Unix-domain stream sockets (whose reads stop early at
    /// ancillary-data boundaries) or datagram sockets.
    pub fn mark_drained(&self) {
        if let (Some(reg), Some((d, tick))) = (&self.reg, self.last) {
            reg.mark_drained(d, tick);
        }
    }

    fn current(&self) -> Option<Arc<ScheduledIo>> {
        let reg = self.reg.as_ref()?;
        if reg.is_dead() || Some(reg.driver_id()) != context::current_driver_id() {
            return None;
        }
        Some(reg.clone())
    }

    fn set(&mut self, reg: Arc<ScheduledIo>) -> Arc<ScheduledIo> {
        self.forget();
        self.reg = Some(reg.clone());
        reg
    }

    fn forget(&mut self) {
        self.remove();
        self.reg = None;
    }

    fn remove(&mut self) {
        if let Some(reg) = &self.reg {
            reg.remove_waiter(&mut self.slot);
        }
        self.slot = None;
    }

    /// A backend failure that woke this waiter.
    fn take_failure(&mut self) -> Option<Error> {
        let reg = self.reg.as_ref()?;
        self.slot?;
        if reg.failures() == self.failures_at {
            return None;
        }
        self.failures_at = reg.failures();
        let e = reg.failure();
        self.remove();
        e
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The future returned by [`Source::op`].
pub struct Op<'a, T, F> {
    src: &'a Source,
    dir: Direction,
    op: F,
    waiter: Waiter,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F: FnMut() -> Result<T> + Unpin> Future for Op<'_, T, F> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        this.src
            .poll_op(cx, this.dir, &mut this.waiter, &mut this.op)
    }
}
