//! The driver's I/O sources: one [`ScheduledIo`] per (descriptor, runtime) registration, and
//! the set of live ones.
//!
//! # Tokens
//!
//! A source's token is the address of its `ScheduledIo`, so the loop turns an event into its
//! source with no lookup and no global lock. The address stays valid because the driver's set
//! holds an `Arc` to every live source, and a deregistered one moves to the set's `pending`
//! list, which the loop empties only at the start of a later turn, before that turn's `wait`:
//! every event a backend can still report for it was collected by an earlier `wait` and has
//! been dispatched by then (the backend contract, `crate::backend`, "Deregister").
//!
//! # Readiness ticks
//!
//! Each direction has a *tick*, bumped by every report of that direction. An operation reads
//! the tick, tries its system call, and on `EAGAIN` registers its waker only if the tick has not
//! moved meanwhile (else it tries again at once): no readiness is lost between the attempt and
//! the registration. Every bump drains that direction's waiters under the source's lock, so a
//! waiter whose tick has moved knows it was already woken. A direction can also be marked
//! *drained* at a tick (a short read consumed everything): the next operation then waits for
//! the next report instead of paying for a failing system call.
//!
//! # Locks
//!
//! Each source has its own `state` lock; the set has its own. They are never held together:
//! dispatch takes only source locks, (de)registration takes one, releases it, then the set's.
//! The backend's internal locks are leaves, taken under a source lock (`arm`).

use crate::backend::{Backend, BorrowedSource, Interest};
use crate::driver::Driver;
use crate::Error;
use slab::Slab;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Hands out [`ScheduledIo::id`]s: never reused, unlike addresses.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// The raw source type stored by a registration.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// The raw source type stored by a registration.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section in the driver leaves its data consistent (a few container
    // operations, no user code), so a poisoned lock is still good.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One direction's index in the per-direction arrays.
pub(crate) const READ: usize = 0;
/// See [`READ`].
pub(crate) const WRITE: usize = 1;

#[inline]
pub(crate) fn interest_of(d: usize) -> Interest {
    if d == READ {
        Interest::READ
    } else {
        Interest::WRITE
    }
}

/// A descriptor registered with one runtime's backend.
pub(crate) struct ScheduledIo {
    ticks: [AtomicU64; 2],
    /// `tick + 1` at which a direction was found drained (0: never).
    drained: [AtomicU64; 2],
    /// How many backend failures were given to this source's waiters (see `Driver::fail`).
    failures: AtomicU64,
    /// Set once it is deregistered or its runtime is gone; never cleared.
    dead: AtomicBool,
    /// Set once the backend reported a hang-up or an error: the read side is finished, so a
    /// direction is never taken as drained again (no edge would come to say otherwise).
    hup: AtomicBool,
    /// The address of the driver it was registered with (identity only).
    driver_id: usize,
    /// This registration's identity, unique in the process (an address may be reused).
    id: u64,
    /// # Invariant
    ///
    /// The descriptor stays open while the source is registered: its owner deregisters it
    /// before closing it (`Source::close`, `Source`'s drop).
    raw: RawSource,
    state: Mutex<IoState>,
}

/// One direction's waiting wakers: the first inline (the usual case is one waiter: no slab
/// insert, no drain), the others in a slab. A waiter's index is [`Waiters::FIRST`] for the
/// inline one, else its slab key.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    rest: Slab<Waker>,
}

impl Waiters {
    const FIRST: usize = usize::MAX;

    #[inline]
    fn insert(&mut self, w: Waker) -> usize {
        if self.first.is_none() {
            self.first = Some(w);
            Self::FIRST
        } else {
            self.rest.insert(w)
        }
    }

    #[inline]
    fn get_mut(&mut self, idx: usize) -> Option<&mut Waker> {
        if idx == Self::FIRST {
            self.first.as_mut()
        } else {
            self.rest.get_mut(idx)
        }
    }

    #[inline]
    fn contains(&self, idx: usize) -> bool {
        if idx == Self::FIRST {
            self.first.is_some()
        } else {
            self.rest.contains(idx)
        }
    }

    #[inline]
    fn remove(&mut self, idx: usize) {
        if idx == Self::FIRST {
            self.first = None;
        } else if self.rest.contains(idx) {
            self.rest.remove(idx);
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    /// Moves every waker to `out`, the inline one first.
    #[inline]
    fn drain_into(&mut self, out: &mut Vec<Waker>) {
        if let Some(w) = self.first.take() {
            out.push(w);
        }
        if !self.rest.is_empty() {
            out.extend(self.rest.drain());
        }
    }
}

struct IoState {
    waiters: [Waiters; 2],
    armed: Interest,
    /// The runtime's driver while the registration is live; `None` once it is deregistered or
    /// the runtime shut down (which breaks the cycle driver -> set -> source -> driver).
    driver: Option<Arc<Driver>>,
    /// The source's key in the driver's live set.
    key: usize,
    /// The error of the last backend failure given to this source's waiters.
    failure: Option<Error>,
}

/// What [`ScheduledIo::register_waiter`] did.
pub(crate) enum Registered {
    /// The waker is registered: the operation is pending.
    Yes,
    /// The tick had moved: try the operation again.
    TickMoved,
    /// The registration is dead (deregistered, or its runtime is gone).
    Dead,
}

impl ScheduledIo {
    #[inline]
    pub(crate) fn source(&self) -> BorrowedSource<'_> {
        // SAFETY: the descriptor is open while the source is registered (the `raw` invariant),
        // and every caller holds the state lock of a live registration or is the backend's
        // own call made before the source is published.
        unsafe { borrow_raw(self.raw) }
    }

    #[inline]
    pub(crate) fn token(&self) -> usize {
        self as *const ScheduledIo as usize
    }

    #[inline]
    pub(crate) fn driver_id(&self) -> usize {
        self.driver_id
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether the registration is live and belongs to the driver `driver_id`.
    #[inline]
    pub(crate) fn is_current(&self, driver_id: usize) -> bool {
        self.driver_id == driver_id && !self.is_dead()
    }

    #[inline]
    pub(crate) fn tick(&self, d: usize) -> u64 {
        self.ticks[d].load(Ordering::Acquire)
    }

    /// Moves direction `d`'s tick on. Ticks only move under the state lock (`_st` proves it
    /// is held), so a load and a store do: no read-modify-write on the hot path.
    #[inline]
    fn bump(&self, d: usize, _st: &MutexGuard<'_, IoState>) {
        let t = self.ticks[d].load(Ordering::Relaxed);
        self.ticks[d].store(t.wrapping_add(1), Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Whether `d` was found drained at `tick` and nothing was reported since (never after a
    /// hang-up).
    #[inline]
    pub(crate) fn drained_at(&self, d: usize, tick: u64) -> bool {
        self.drained[d].load(Ordering::Relaxed) == tick.wrapping_add(1)
            && !self.hup.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn mark_drained(&self, d: usize, tick: u64) {
        self.drained[d].store(tick.wrapping_add(1), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> Option<Error> {
        lock(&self.state).failure.clone()
    }

    /// Registers `waker` for direction `d` if its tick is still `tick`, and arms the backend
    /// for it. `slot` is the waiter's place: `(d, index, tick)` of an earlier registration.
    pub(crate) fn register_waiter(
        &self,
        d: usize,
        tick: u64,
        waker: &Waker,
        slot: &mut Option<(usize, usize, u64)>,
    ) -> Result<Registered, Error> {
        let mut st = lock(&self.state);
        if st.driver.is_none() {
            return Ok(Registered::Dead);
        }
        if self.ticks[d].load(Ordering::Acquire) != tick {
            return Ok(Registered::TickMoved);
        }
        match *slot {
            Some((sd, idx, t)) if sd == d && t == tick => {
                if let Some(w) = st.waiters[d].get_mut(idx) {
                    if !w.will_wake(waker) {
                        *w = waker.clone();
                    }
                    return Ok(Registered::Yes);
                }
            }
            Some((sd, idx, t))
                if self.ticks[sd].load(Ordering::Acquire) == t && st.waiters[sd].contains(idx) =>
            {
                st.waiters[sd].remove(idx);
            }
            Some(_) => {}
            None => {}
        }
        *slot = None;
        let idx = st.waiters[d].insert(waker.clone());
        let want = interest_of(d);
        if !st.armed.contains(want) {
            let armed = st.armed.add(want);
            let res = match &st.driver {
                Some(driver) => driver.backend.arm(self.source(), self.token(), armed),
                None => Ok(()),
            };
            if let Err(e) = res {
                st.waiters[d].remove(idx);
                return Err(Error::from_io(e, "arm", ""));
            }
            st.armed = armed;
        }
        *slot = Some((d, idx, tick));
        Ok(Registered::Yes)
    }

    /// Forgets a waiter registered with [`ScheduledIo::register_waiter`].
    #[inline]
    pub(crate) fn remove_waiter(&self, slot: &mut Option<(usize, usize, u64)>) {
        if let Some((d, idx, tick)) = slot.take() {
            // A moved tick means the waiter was drained (woken) already: no lock needed, which
            // is the usual case after a wake-up.
            if self.ticks[d].load(Ordering::Acquire) != tick {
                return;
            }
            self.remove_waiter_locked(d, idx, tick);
        }
    }

    #[inline(never)]
    fn remove_waiter_locked(&self, d: usize, idx: usize, tick: u64) {
        let mut st = lock(&self.state);
        if self.ticks[d].load(Ordering::Acquire) == tick && st.waiters[d].contains(idx) {
            st.waiters[d].remove(idx);
        }
    }

    /// Records a report from the backend and takes the wakers of the reported directions; re-arms
    /// the directions that still have waiters (a oneshot backend stopped watching the source).
    pub(crate) fn dispatch(
        &self,
        backend: &dyn Backend,
        ev: &crate::backend::Event,
        out: &mut Vec<Waker>,
    ) {
        let (readable, writable) = (ev.readable, ev.writable);
        let mut st = lock(&self.state);
        if st.driver.is_none() {
            return;
        }
        if ev.hup {
            // Before the ticks move: a waiter that sees the new tick also sees the hang-up.
            self.hup.store(true, Ordering::Release);
        }
        for (ready, d) in [(readable, READ), (writable, WRITE)] {
            if ready {
                self.bump(d, &st);
                // Most reports have a direction nobody waits for (a socket is writable again
                // after every ACK): no drain then.
                st.waiters[d].drain_into(out);
            }
        }
        let mut remaining = Interest::NONE;
        for d in [READ, WRITE] {
            if !st.waiters[d].is_empty() {
                remaining = remaining.add(interest_of(d));
            }
        }
        st.armed = Interest::NONE;
        if !remaining.is_none() {
            match backend.arm(self.source(), self.token(), remaining) {
                Ok(()) => st.armed = remaining,
                Err(e) => {
                    // The waiters cannot be told apart from a report: wake them all, so each
                    // retries its call (and re-arms, seeing the error there if it persists).
                    tracing::warn!("lwt: backend arm failed while re-arming a source: {e}");
                    for d in [READ, WRITE] {
                        self.bump(d, &st);
                        st.waiters[d].drain_into(out);
                    }
                }
            }
        }
    }

    /// Wakes every waiter with `err` (the backend failed) and disarms the source.
    fn fail(&self, backend: &dyn Backend, err: &Error, out: &mut Vec<Waker>) {
        let mut st = lock(&self.state);
        if st.driver.is_none() {
            return;
        }
        st.failure = Some(err.clone());
        self.failures.fetch_add(1, Ordering::AcqRel);
        for d in [READ, WRITE] {
            self.bump(d, &st);
            st.waiters[d].drain_into(out);
        }
        if !st.armed.is_none() {
            // Best effort: a backend that keeps failing must not be asked for it again.
            let _ = backend.arm(self.source(), self.token(), Interest::NONE);
            st.armed = Interest::NONE;
        }
    }

    /// Marks the registration dead and wakes every waiter; returns its driver (if it was live).
    fn kill(&self, out: &mut Vec<Waker>) -> Option<(Arc<Driver>, usize)> {
        let mut st = lock(&self.state);
        let driver = st.driver.take()?;
        self.dead.store(true, Ordering::Release);
        for d in [READ, WRITE] {
            self.bump(d, &st);
            st.waiters[d].drain_into(out);
        }
        st.armed = Interest::NONE;
        Some((driver, st.key))
    }

    /// Registers again with the same token and armed interest (a fresh backend after fork).
    fn reregister(&self, backend: &dyn Backend) -> std::io::Result<()> {
        let st = lock(&self.state);
        if st.driver.is_none() {
            return Ok(());
        }
        backend.register(self.source(), self.token())?;
        if !st.armed.is_none() {
            backend.arm(self.source(), self.token(), st.armed)?;
        }
        Ok(())
    }
}

/// Deregisters `sio` from its driver and wakes its waiters (they see their descriptor's new
/// state when they try again). Idempotent.
pub(crate) fn deregister(sio: &Arc<ScheduledIo>) {
    let mut wakers = Vec::new();
    if let Some((driver, key)) = sio.kill(&mut wakers) {
        // The descriptor may already be invalid (EBADF/ENOENT): the registration is gone
        // either way, so the error is only logged.
        if let Err(e) = driver.backend.deregister(sio.source(), sio.token()) {
            tracing::debug!("lwt: backend deregister: {e}");
        }
        driver.io.release(key, sio);
    }
    wakers.into_iter().for_each(Waker::wake);
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

/// The live sources of one driver, and the deregistered ones whose tokens may still be
/// reported by a `wait` in progress.
#[derive(Default)]
pub(crate) struct IoSet {
    inner: Mutex<SetInner>,
    needs_release: AtomicBool,
}

/// The I/O set's lock, held across a fork (`Driver::hold_for_fork`).
pub(crate) struct SetHold<'a>(#[allow(dead_code)] MutexGuard<'a, SetInner>);

impl IoSet {
    /// Takes the set's lock until the value drops.
    pub(crate) fn hold(&self) -> SetHold<'_> {
        SetHold(lock(&self.inner))
    }
}

#[derive(Default)]
struct SetInner {
    live: Slab<Arc<ScheduledIo>>,
    pending: Vec<Arc<ScheduledIo>>,
    closed: bool,
}

impl IoSet {
    /// Registers `source` with `driver`'s backend.
    pub(crate) fn register(
        driver: &Arc<Driver>,
        source: BorrowedSource<'_>,
    ) -> Result<Arc<ScheduledIo>, Error> {
        #[cfg(unix)]
        let raw = std::os::fd::AsRawFd::as_raw_fd(&source);
        #[cfg(windows)]
        let raw = std::os::windows::io::AsRawSocket::as_raw_socket(&source);
        let sio = {
            let mut set = lock(&driver.io.inner);
            if set.closed {
                return Err(Error::invalid(
                    "register",
                    "the runtime is shutting down".to_string(),
                ));
            }
            let entry = set.live.vacant_entry();
            let sio = Arc::new(ScheduledIo {
                ticks: [AtomicU64::new(0), AtomicU64::new(0)],
                drained: [AtomicU64::new(0), AtomicU64::new(0)],
                failures: AtomicU64::new(0),
                dead: AtomicBool::new(false),
                hup: AtomicBool::new(false),
                driver_id: Arc::as_ptr(driver) as usize,
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                raw,
                state: Mutex::new(IoState {
                    waiters: [Waiters::default(), Waiters::default()],
                    armed: Interest::NONE,
                    driver: Some(driver.clone()),
                    key: entry.key(),
                    failure: None,
                }),
            });
            entry.insert(sio.clone());
            sio
        };
        if let Err(e) = driver.backend.register(source, sio.token()) {
            // Never published to the backend: forget it at once.
            let mut none = Vec::new();
            if let Some((_, key)) = sio.kill(&mut none) {
                let mut set = lock(&driver.io.inner);
                if set.live.get(key).is_some_and(|s| Arc::ptr_eq(s, &sio)) {
                    set.live.remove(key);
                }
            }
            return Err(Error::from_io(e, "register", ""));
        }
        Ok(sio)
    }

    fn release(&self, key: usize, sio: &Arc<ScheduledIo>) {
        let mut set = lock(&self.inner);
        if set.live.get(key).is_some_and(|s| Arc::ptr_eq(s, sio)) {
            set.live.remove(key);
        }
        if !set.closed {
            set.pending.push(sio.clone());
            self.needs_release.store(true, Ordering::Release);
        }
    }

    /// Frees the deregistered sources (called by the loop before it waits).
    pub(crate) fn release_pending(&self) {
        if self.needs_release.load(Ordering::Acquire)
            && self.needs_release.swap(false, Ordering::AcqRel)
        {
            let pending = std::mem::take(&mut lock(&self.inner).pending);
            drop(pending); // outside the lock
        }
    }

    /// How many deregistered sources wait for [`IoSet::release_pending`].
    #[cfg(all(test, unix))]
    pub(crate) fn pending_len(&self) -> usize {
        lock(&self.inner).pending.len()
    }

    /// How many sources are registered.
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).live.len()
    }

    fn live(&self) -> Vec<Arc<ScheduledIo>> {
        lock(&self.inner)
            .live
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Gives `err` to every waiting operation (the backend failed).
    pub(crate) fn fail_all(&self, backend: &dyn Backend, err: &Error, out: &mut Vec<Waker>) {
        for sio in self.live() {
            sio.fail(backend, err, out);
        }
    }

    /// Registers every live source again (in a child after fork).
    pub(crate) fn reregister_all(&self, backend: &dyn Backend) -> std::io::Result<()> {
        for sio in self.live() {
            sio.reregister(backend)?;
        }
        Ok(())
    }

    /// Kills every source (the runtime shuts down) and refuses new ones; returns the wakers of
    /// their waiters.
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        let (live, pending) = {
            let mut set = lock(&self.inner);
            set.closed = true;
            let live: Vec<_> = set.live.drain().collect();
            (live, std::mem::take(&mut set.pending))
        };
        for sio in &live {
            // Dropping the driver reference here breaks the cycle through the set.
            drop(sio.kill(out));
        }
        drop(pending);
    }
}
