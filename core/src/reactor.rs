//! I/O registrations: a source registered with a runtime's backend, and the futures that wait
//! for its readiness.
//!
//! Each direction (read, write) has a *tick*, bumped by every readiness event, and a set of
//! waiting tasks. An operation reads the tick, tries its system call, and on `EAGAIN` registers
//! its waker only if the tick has not moved meanwhile (else it tries again at once). So an
//! edge-triggered backend needs no re-arming and no readiness is lost between the attempt and
//! the registration.

use crate::backend::{BorrowedSource, Interest};
use crate::runtime::{current_inner, lock, Inner};
use crate::{Error, Result};
use slab::Slab;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The raw source type stored by a registration.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// The raw source type stored by a registration.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

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
            Direction::Read => 0,
            Direction::Write => 1,
        }
    }
    fn interest(self) -> Interest {
        match self {
            Direction::Read => Interest::READ,
            Direction::Write => Interest::WRITE,
        }
    }
}

struct IoState {
    waiters: [Slab<Waker>; 2],
    interest: Interest,
    closed: bool,
}

pub(crate) struct IoShared {
    ticks: [AtomicU64; 2],
    state: Mutex<IoState>,
    raw: RawSource,
    key: usize,
}

impl IoShared {
    fn source(&self) -> BorrowedSource<'_> {
        // SAFETY: `raw` stays open while the registration exists: the owner of the descriptor
        // deregisters (Registration::deregister, called by its close and its drop) before it
        // closes it.
        unsafe { borrow_raw(self.raw) }
    }

    /// Records readiness and takes the wakers of the ready directions (runs on the loop).
    pub(crate) fn dispatch(
        &self,
        rt: &Inner,
        readable: bool,
        writable: bool,
        out: &mut Vec<Waker>,
    ) {
        let mut st = lock(&self.state);
        for (ready, d) in [(readable, 0usize), (writable, 1usize)] {
            if ready {
                self.ticks[d].fetch_add(1, Ordering::SeqCst);
                out.extend(st.waiters[d].drain());
            }
        }
        if !rt.edge_triggered {
            let want = interest_of(&st);
            if want != st.interest && !st.closed {
                st.interest = want;
                if let Err(e) = rt.backend.modify(self.source(), self.key, want) {
                    tracing::warn!("lwt: backend modify failed: {e}");
                }
            }
        }
    }

    /// Registers the source again with the same key and interest (in a child after fork, when
    /// the backend has been given a fresh, empty instance).
    pub(crate) fn reregister(&self, rt: &Inner) -> std::io::Result<()> {
        let st = lock(&self.state);
        if st.closed {
            return Ok(());
        }
        rt.backend.register(self.source(), self.key, st.interest)
    }

    pub(crate) fn drain_all(&self, out: &mut Vec<Waker>) {
        let mut st = lock(&self.state);
        for d in 0..2 {
            self.ticks[d].fetch_add(1, Ordering::SeqCst);
            out.extend(st.waiters[d].drain());
        }
    }
}

fn interest_of(st: &IoState) -> Interest {
    let mut i = Interest::NONE;
    if !st.waiters[0].is_empty() {
        i = i.add(Interest::READ);
    }
    if !st.waiters[1].is_empty() {
        i = i.add(Interest::WRITE);
    }
    i
}

#[cfg(unix)]
unsafe fn borrow_raw<'a>(raw: RawSource) -> BorrowedSource<'a> {
    // SAFETY: forwarded to the caller.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) }
}
#[cfg(windows)]
unsafe fn borrow_raw<'a>(raw: RawSource) -> BorrowedSource<'a> {
    // SAFETY: forwarded to the caller.
    unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(raw) }
}

/// A source registered with the current runtime's backend.
///
/// # Invariant
///
/// The descriptor given to [`Registration::new`] must stay open until
/// [`Registration::deregister`] has been called (dropping the registration calls it).
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use lwt_core::reactor::{Direction, Registration};
/// use std::os::unix::net::UnixStream;
/// use std::os::fd::AsFd;
/// use std::io::{Read, Write};
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// rt.block_on(async {
///     let (mut a, b) = UnixStream::pair().unwrap();
///     b.set_nonblocking(true).unwrap();
///     let reg = Registration::new(b.as_fd()).unwrap();
///     a.write_all(b"hi").unwrap();
///     let mut buf = [0u8; 2];
///     let n = reg
///         .op(Direction::Read, || (&b).read(&mut buf).map_err(|e| lwt_core::Error::from_io(e, "read", "")))
///         .await
///         .unwrap();
///     assert_eq!(&buf[..n], b"hi");
/// });
/// # }
/// ```
pub struct Registration {
    rt: Arc<Inner>,
    shared: Arc<IoShared>,
}

impl Registration {
    /// Registers `source` with the current runtime's backend.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` outside of a runtime; the backend's error (e.g. `EPERM` for a regular
    /// file under epoll) as a `Unix` error named `"register"`.
    pub fn new(source: BorrowedSource<'_>) -> Result<Registration> {
        let rt = current_inner("register")?;
        #[cfg(unix)]
        let raw = std::os::fd::AsRawFd::as_raw_fd(&source);
        #[cfg(windows)]
        let raw = std::os::windows::io::AsRawSocket::as_raw_socket(&source);
        let mut io = lock(&rt.io);
        let entry = io.vacant_entry();
        let key = entry.key();
        let shared = Arc::new(IoShared {
            ticks: [AtomicU64::new(0), AtomicU64::new(0)],
            state: Mutex::new(IoState {
                waiters: [Slab::new(), Slab::new()],
                interest: if rt.edge_triggered {
                    Interest::BOTH
                } else {
                    Interest::NONE
                },
                closed: false,
            }),
            raw,
            key,
        });
        let interest = if rt.edge_triggered {
            Interest::BOTH
        } else {
            Interest::NONE
        };
        rt.backend
            .register(source, key, interest)
            .map_err(|e| Error::from_io(e, "register", ""))?;
        entry.insert(shared.clone());
        drop(io);
        Ok(Registration { rt, shared })
    }

    /// Whether this registration belongs to the runtime the current thread runs.
    pub fn is_current(&self) -> bool {
        crate::runtime::with_current(|i| Arc::ptr_eq(i, &self.rt)).unwrap_or(false)
    }

    /// The readiness tick of `dir`: it changes whenever the backend reports that direction.
    pub fn tick(&self, dir: Direction) -> u64 {
        self.shared.ticks[dir.idx()].load(Ordering::SeqCst)
    }

    /// Whether the registration was closed ([`Registration::deregister`]).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.state).closed
    }

    /// Registers `cx`'s waker to be woken when `dir`'s tick moves past `tick`. Returns false
    /// (and registers nothing) if it already has, or if the registration is closed.
    pub fn register_waiter(
        &self,
        dir: Direction,
        tick: u64,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> bool {
        let d = dir.idx();
        let mut st = lock(&self.shared.state);
        if st.closed || self.shared.ticks[d].load(Ordering::SeqCst) != tick {
            return false;
        }
        match waiter.slot {
            Some((wd, idx, t)) if wd == d && t == tick => {
                if let Some(w) = st.waiters[d].get_mut(idx) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                    return true;
                }
                waiter.slot = None;
            }
            Some(_) => self.remove_locked(&mut st, waiter),
            None => {}
        }
        let idx = st.waiters[d].insert(cx.waker().clone());
        waiter.slot = Some((d, idx, tick));
        if !self.rt.edge_triggered && !st.interest.add(dir.interest()).eq(&st.interest) {
            st.interest = st.interest.add(dir.interest());
            if let Err(e) =
                self.rt
                    .backend
                    .modify(self.shared.source(), self.shared.key, st.interest)
            {
                tracing::warn!("lwt: backend modify failed: {e}");
            }
            if !crate::runtime::is_owner_of(&self.rt) {
                self.rt.wake_loop();
            }
        }
        true
    }

    fn remove_locked(&self, st: &mut IoState, waiter: &mut Waiter) {
        if let Some((d, idx, tick)) = waiter.slot.take() {
            if self.shared.ticks[d].load(Ordering::SeqCst) == tick && st.waiters[d].contains(idx) {
                st.waiters[d].remove(idx);
            }
        }
    }

    /// Forgets a waiter (when its operation completes or is dropped).
    pub fn remove_waiter(&self, waiter: &mut Waiter) {
        if let Some((d, _, tick)) = waiter.slot {
            // Every tick bump (dispatch, deregister, drain_all) drains that direction's
            // waiters under the state lock: a moved tick means the waker is gone already,
            // which is the usual case after a wake-up, so the lock is not needed.
            if self.shared.ticks[d].load(Ordering::SeqCst) != tick {
                waiter.slot = None;
                return;
            }
            let mut st = lock(&self.shared.state);
            self.remove_locked(&mut st, waiter);
        }
    }

    /// Polls an operation in the manner of Lwt's `wrap_syscall`: runs `op`; if it fails with
    /// `EAGAIN`/`EWOULDBLOCK` or [`Error::Retry`] it waits for `dir`, with
    /// [`Error::RetryRead`]/[`Error::RetryWrite`] for that direction, and tries again when the
    /// backend reports it. Any other outcome completes the operation.
    pub fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: &mut Waiter,
        op: &mut dyn FnMut() -> Result<T>,
    ) -> Poll<Result<T>> {
        loop {
            let ticks = [self.tick(Direction::Read), self.tick(Direction::Write)];
            let want = match op() {
                Err(Error::RetryRead) => Direction::Read,
                Err(Error::RetryWrite) => Direction::Write,
                Err(Error::Retry) => dir,
                Err(e) if e.is_would_block() => dir,
                Err(Error::Unix { errno, .. }) if errno == libc_eintr() => continue,
                other => {
                    self.remove_waiter(waiter);
                    return Poll::Ready(other);
                }
            };
            if self.register_waiter(want, ticks[want.idx()], cx, waiter) {
                return Poll::Pending;
            }
            if self.is_closed() {
                self.remove_waiter(waiter);
                return Poll::Ready(Err(Error::Closed));
            }
        }
    }

    /// The future of [`Registration::poll_op`]: Lwt's `wrap_syscall` / `register_action`.
    /// Dropping it before it completes removes its waiter and never runs `op` again.
    pub fn op<T, F: FnMut() -> Result<T>>(&self, dir: Direction, op: F) -> Op<'_, T, F> {
        Op {
            reg: self,
            dir,
            op,
            waiter: Waiter::default(),
            _t: std::marker::PhantomData,
        }
    }

    /// Waits until the backend reports `dir` after `tick` (a value from [`Registration::tick`]).
    pub fn wait(&self, dir: Direction, tick: u64) -> WaitReady<'_> {
        WaitReady {
            reg: self,
            dir,
            tick,
            waiter: Waiter::default(),
        }
    }

    /// Closes the registration: removes it from the backend and wakes every waiter (they will
    /// see the descriptor's new state). Idempotent.
    pub fn deregister(&self) {
        let mut wakers = Vec::new();
        {
            let mut st = lock(&self.shared.state);
            if st.closed {
                return;
            }
            st.closed = true;
            for d in 0..2 {
                self.shared.ticks[d].fetch_add(1, Ordering::SeqCst);
                wakers.extend(st.waiters[d].drain());
            }
            // The descriptor may already be invalid (the error is then EBADF/ENOENT); either
            // way the registration is gone, so the error is only logged.
            if let Err(e) = self
                .rt
                .backend
                .deregister(self.shared.source(), self.shared.key)
            {
                tracing::debug!("lwt: backend deregister: {e}");
            }
            let mut io = lock(&self.rt.io);
            if io
                .get(self.shared.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                io.remove(self.shared.key);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.deregister();
    }
}

fn libc_eintr() -> i32 {
    #[cfg(unix)]
    {
        libc::EINTR
    }
    #[cfg(windows)]
    {
        10004 // WSAEINTR
    }
}

/// The place of one waiting operation in a registration's waiter set.
#[derive(Debug, Default)]
pub struct Waiter {
    slot: Option<(usize, usize, u64)>,
}

/// The future returned by [`Registration::op`].
pub struct Op<'a, T, F> {
    reg: &'a Registration,
    dir: Direction,
    op: F,
    waiter: Waiter,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F: FnMut() -> Result<T> + Unpin> Future for Op<'_, T, F> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        this.reg
            .poll_op(cx, this.dir, &mut this.waiter, &mut this.op)
    }
}

impl<T, F> Drop for Op<'_, T, F> {
    fn drop(&mut self) {
        self.reg.remove_waiter(&mut self.waiter);
    }
}

/// The future returned by [`Registration::wait`].
pub struct WaitReady<'a> {
    reg: &'a Registration,
    dir: Direction,
    tick: u64,
    waiter: Waiter,
}

impl Future for WaitReady<'_> {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this
            .reg
            .register_waiter(this.dir, this.tick, cx, &mut this.waiter)
        {
            return Poll::Pending;
        }
        this.reg.remove_waiter(&mut this.waiter);
        if this.reg.is_closed() {
            Poll::Ready(Err(Error::Closed))
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

impl Drop for WaitReady<'_> {
    fn drop(&mut self) {
        self.reg.remove_waiter(&mut self.waiter);
    }
}
