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
//! # Who owns what
//!
//! A source owns its registrations. The first one ever made is its *primary*: it is never
//! replaced and is freed only with the source, so an operation in that registration's runtime
//! (the usual case: one runtime) finds it with one atomic load and borrows it for the
//! duration of a poll, with no lock and no reference count. Every later registration (another
//! runtime, or a new one after the primary's runtime is gone, after `deregister` or `dup2`)
//! goes to a list under the source's lock. A waiter holds a reference (an `Arc`) only while it
//! is registered with the driver, or when its registration is not the primary.
//!
//! # Locks
//!
//! A source's list of registrations has its own lock. It is taken before (never under) the
//! driver's locks: registering holds it while adding the new registration to the driver's set
//! and to the backend, and it is the only place the primary is set.

use crate::backend::BorrowedSource;
use crate::context;
use crate::driver::io::{self, lock, IoSet, Registered, ScheduledIo, READ, WRITE};
use crate::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
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
    /// The first registration made for the source (see the module doc): set once, under
    /// `regs`'s lock, and dropped only with the source.
    primary: OnceLock<Arc<ScheduledIo>>,
    /// The other registrations.
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
            primary: OnceLock::new(),
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

    /// The primary registration, if it belongs to the runtime `driver_id` and is live.
    #[inline]
    fn primary_for(&self, driver_id: usize) -> Option<&Arc<ScheduledIo>> {
        self.primary.get().filter(|p| p.is_current(driver_id))
    }

    /// The registration with the runtime `driver_id` (the one this thread is in), made now if
    /// needed: the primary (borrowed) in the usual case, else one of the others.
    #[inline]
    fn lookup(&self, driver_id: usize) -> Result<Found<'_>> {
        match self.primary_for(driver_id) {
            Some(p) => Ok(Found::Primary(p)),
            None => self.lookup_slow(driver_id),
        }
    }

    #[inline(never)]
    fn lookup_slow(&self, driver_id: usize) -> Result<Found<'_>> {
        let mut regs = lock(&self.regs);
        if regs.closed {
            return Err(Error::Closed);
        }
        // Set by another thread since the first look?
        if let Some(p) = self.primary_for(driver_id) {
            return Ok(Found::Primary(p));
        }
        // Registrations whose runtime is gone (or that were deregistered) go.
        regs.list.retain(|s| !s.is_dead());
        if let Some(s) = regs.list.iter().find(|s| s.driver_id() == driver_id) {
            return Ok(Found::Other(s.clone()));
        }
        let driver = context::current_driver().ok_or(Error::Canceled)?;
        let sio = IoSet::register(&driver, self.borrow())?;
        if self.primary.get().is_none() {
            // Under `regs`'s lock: no other thread sets it meanwhile.
            let primary = self.primary.get_or_init(|| sio);
            return Ok(Found::Primary(primary));
        }
        regs.list.push(sio.clone());
        Ok(Found::Other(sio))
    }

    /// Whether the source has a live registration with the runtime this thread is in.
    pub fn is_registered_here(&self) -> bool {
        let Some(id) = context::current_driver_id() else {
            return false;
        };
        self.primary_for(id).is_some() || lock(&self.regs).list.iter().any(|s| s.is_current(id))
    }

    /// Polls an operation in the manner of Lwt's `wrap_syscall`: runs `op`; if it fails with
    /// `EAGAIN`/`EWOULDBLOCK` or [`Error::Retry`] it waits for `dir` (for
    /// [`Error::RetryRead`]/[`Error::RetryWrite`], for that direction) and tries again when the
    /// loop reports it. `EINTR` is retried at once. Any other outcome completes the operation.
    ///
    /// If the direction was marked drained ([`Source::mark_drained`]) and nothing was reported
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
            let Some(driver_id) = context::current_driver_id() else {
                return Poll::Ready(Err(Error::invalid(
                    "register",
                    "not inside an lwt runtime".to_string(),
                )));
            };
            if waiter
                .reg
                .as_ref()
                .is_some_and(|r| !r.is_current(driver_id))
            {
                waiter.forget();
            }
            // The waiter's own reference is moved out for the step (moving an `Arc` costs
            // nothing) and put back after it.
            let found = match waiter.reg.take() {
                Some(reg) => Found::Other(reg),
                None => match self.lookup(driver_id) {
                    Ok(found) => found,
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
            let step = match found {
                Found::Other(reg) => {
                    let step = step(&reg, cx, dir, waiter, op);
                    if !matches!(step, Step::Dead) {
                        waiter.reg = Some(reg);
                    }
                    step
                }
                Found::Primary(primary) => {
                    let step = step(primary, cx, dir, waiter, op);
                    if matches!(step, Step::Pending) {
                        // Registered with the driver: the waiter keeps a reference, so that
                        // its drop can remove it.
                        waiter.reg = Some(primary.clone());
                    }
                    step
                }
            };
            match step {
                Step::Done(r) => return Poll::Ready(r),
                Step::Pending => return Poll::Pending,
                Step::Again | Step::Dead => {}
            }
        }
    }

    /// Says that the attempt that completed `waiter`'s operation on this source consumed
    /// everything the descriptor had (a short read on a TCP socket or a pipe): the next
    /// operation in that direction waits for the loop's next report instead of trying a call
    /// that would fail with `EAGAIN`.
    ///
    /// Only correct where a short transfer means "drained": stream sockets of the internet
    /// families and pipes, not Unix-domain stream sockets (whose reads stop early at
    /// ancillary-data boundaries) or datagram sockets. Does nothing if `waiter`'s last
    /// operation did not complete on this source.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use lwt_core::reactor::{Direction, Source, Waiter};
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsFd;
    /// use std::os::unix::net::UnixStream;
    /// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// rt.block_on(async {
    ///     // Marking is for internet-family stream sockets and pipes; a socket pair only shows
    ///     // the calls.
    ///     let (mut a, b) = UnixStream::pair().unwrap();
    ///     b.set_nonblocking(true).unwrap();
    ///     a.write_all(b"hi").unwrap();
    ///     let src = Source::new(b.as_fd());
    ///     let mut waiter = Waiter::default();
    ///     let mut buf = [0u8; 8];
    ///     let n = std::future::poll_fn(|cx| {
    ///         src.poll_op(cx, Direction::Read, &mut waiter, &mut || {
    ///             (&b).read(&mut buf).map_err(|e| lwt_core::Error::from_io(e, "read", ""))
    ///         })
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(n, 2);
    ///     src.mark_drained(&waiter); // a short read: the next read waits for the loop first
    /// });
    /// # }
    /// ```
    pub fn mark_drained(&self, waiter: &Waiter) {
        let Some((d, tick, id)) = waiter.last else {
            return;
        };
        let reg = match &waiter.reg {
            Some(r) if r.id() == id => r,
            _ => match self.primary.get() {
                Some(p) if p.id() == id => p,
                _ => return,
            },
        };
        reg.mark_drained(d, tick);
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
        // The primary stays (dead) until the source drops; later operations register anew.
        if let Some(p) = self.primary.get() {
            io::deregister(p);
        }
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
        // Read after `closed` was set under the lock: a primary set before that is seen here,
        // and none can be set after it.
        if let Some(p) = self.primary.get() {
            io::deregister(p);
        }
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

/// What [`Source::lookup`] found.
enum Found<'a> {
    /// The source's primary registration, borrowed.
    Primary(&'a Arc<ScheduledIo>),
    /// Another one, or the waiter's own reference (to either).
    Other(Arc<ScheduledIo>),
}

/// What one try of an operation on a registration came to.
enum Step<T> {
    Done(Result<T>),
    /// The waker is registered with the driver.
    Pending,
    /// The tick moved between the try and the registration: try again.
    Again,
    /// The registration is dead: forget it and look up the current one.
    Dead,
}

/// Tries `op` on `sio` (the registration with this runtime) and registers the waker if it
/// would block. `waiter.reg` is not used (the caller has moved it out or never had one); the
/// waiter's slot, if any, belongs to `sio`.
#[inline(always)]
fn step<T>(
    sio: &Arc<ScheduledIo>,
    cx: &mut Context<'_>,
    dir: Direction,
    waiter: &mut Waiter,
    op: &mut dyn FnMut() -> Result<T>,
) -> Step<T> {
    let ticks = [sio.tick(READ), sio.tick(WRITE)];
    let mut want = dir.idx();
    if !sio.drained_at(want, ticks[want]) {
        match attempt(op) {
            Attempt::Done(r) => {
                waiter.last = Some((want, ticks[want], sio.id()));
                sio.remove_waiter(&mut waiter.slot);
                return Step::Done(r);
            }
            Attempt::Wait(d) => want = d.map_or(want, Direction::idx),
        }
    }
    match sio.register_waiter(want, ticks[want], cx.waker(), &mut waiter.slot) {
        Ok(Registered::Yes) => {
            waiter.failures_at = sio.failures();
            Step::Pending
        }
        Ok(Registered::TickMoved) => Step::Again,
        Ok(Registered::Dead) => {
            sio.remove_waiter(&mut waiter.slot);
            Step::Dead
        }
        Err(e) => Step::Done(Err(e)),
    }
}

enum Attempt<T> {
    Done(Result<T>),
    /// Would block; wait for this direction (`None`: the operation's own).
    Wait(Option<Direction>),
}

#[inline(always)]
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
/// Keep one per operation (a future), use it with one [`Source`], and drop it with the
/// operation: its drop removes the waiter. See [`Source::poll_op`].
#[derive(Default)]
pub struct Waiter {
    /// The registration the waiter is registered with (or was, or a non-primary one it uses).
    /// `slot` is `None` whenever this is.
    reg: Option<Arc<ScheduledIo>>,
    slot: Option<(usize, usize, u64)>,
    /// The direction and tick of the attempt that completed the operation, and the
    /// registration's id.
    last: Option<(usize, u64, u64)>,
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
    fn forget(&mut self) {
        self.remove();
        self.reg = None;
    }

    #[inline]
    fn remove(&mut self) {
        if let Some(reg) = &self.reg {
            reg.remove_waiter(&mut self.slot);
        }
        self.slot = None;
    }

    /// A backend failure that woke this waiter.
    #[inline]
    fn take_failure(&mut self) -> Option<Error> {
        let reg = self.reg.as_ref()?;
        self.slot?;
        if reg.failures() == self.failures_at {
            return None;
        }
        self.take_failure_slow()
    }

    #[cold]
    fn take_failure_slow(&mut self) -> Option<Error> {
        let reg = self.reg.as_ref()?;
        self.failures_at = reg.failures();
        let e = reg.failure();
        self.remove();
        e
    }
}

impl Drop for Waiter {
    #[inline]
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
