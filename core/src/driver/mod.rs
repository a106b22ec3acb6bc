//! The driver: everything below the scheduler that makes tasks ready — the backend with its I/O
//! sources ([`io`]), the timers ([`timers`]) and the queue of notifications to deliver.
//!
//! The driver never calls back into the scheduler: [`Driver::turn`] waits on the backend once,
//! then hands back what became ready (wakers of I/O waiters and due timers, and a bounded
//! batch of notification ids) for the scheduler to run. It depends only on the backend
//! contract (`crate::backend`); the scheduler depends on it, never the reverse.
//!
//! # Who owns what
//!
//! - [`Driver`] is shared (`Arc`): the backend, the flags of the wake-up protocol, the set of
//!   registered sources, the timers and the notification queue. Any thread may register,
//!   arm a timer, queue a notification or wake the loop.
//! - [`DriverLocal`] (the event buffer and the output lists) belongs to the loop's private state
//!   and moves with it; only the thread that holds the loop calls `turn`.
//!
//! # Wake-up protocol
//!
//! Before the loop blocks in the backend it publishes `sleeping` ([`Driver::begin_park`]) and
//! only then looks at its queues and at the timers; a thread that makes work for the loop
//! publishes that work first and then reads `sleeping` ([`Driver::wake`]). Both sides use
//! sequentially consistent operations, so at least one sees the other: either the loop finds
//! the work, or the other thread sees it asleep and notifies the backend. `notified`
//! de-duplicates notifies until the loop wakes.
//!
//! # Locks
//!
//! `timers`, the I/O set's lock and each source's lock are independent: none is taken while
//! another is held, except a backend's internal lock under a source's (see [`io`]).
//!
//! # Fork
//!
//! `fork(2)` copies only the forking thread, so a push onto a lock-free queue that another
//! thread was in the middle of stays half-written in the child (its consumer would wait for
//! it forever), and a lock another thread held stays held. Pushes by threads that do not hold
//! the loop onto the runtime's queues (the scheduler's injector and local queue, the
//! notification queue) pass the driver's [`ForkGate`]; `crate::fork::prepare` closes it and
//! waits for the pushes in progress, and takes `timers` and the I/O set's lock
//! ([`Driver::hold_for_fork`]) across the fork, so the child finds every queue whole and
//! those locks free.

pub mod completion;
pub(crate) mod io;
pub(crate) mod timers;

use crate::backend::{Backend, Events};
use crate::Error;
use concurrent_queue::ConcurrentQueue;
use io::{lock, IoSet};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};
use timers::{TimerId, Timers};

/// How many events one `wait` collects at most.
const EVENTS_CAPACITY: usize = 1024;

/// The shared half of a runtime's driver.
pub(crate) struct Driver {
    pub(crate) backend: Box<dyn Backend>,
    sleeping: AtomicBool,
    notified: AtomicBool,
    pub(crate) io: IoSet,
    timers: Mutex<Timers>,
    /// The number of armed timers, mirrored outside the lock so a turn with none skips it.
    timers_len: AtomicUsize,
    notifications: ConcurrentQueue<usize>,
    /// Consecutive failed waits (for the log and the back-off).
    wait_errors: AtomicU64,
    /// Keeps other threads' pushes onto the runtime's queues out of a fork.
    pub(crate) fork_gate: ForkGate,
}

/// Keeps the pushes of other threads onto a runtime's lock-free queues out of a `fork(2)` (see
/// the module documentation, "Fork"): a pusher passes it, a forking thread closes it and waits
/// until no push is in progress.
///
/// The word counts pushers in progress (in steps of 2) and has bit 0 set while closed. It is
/// not a lock: nothing else is done while passing it, so closing it cannot deadlock.
#[derive(Default)]
pub(crate) struct ForkGate(AtomicUsize);

/// Bit 0 of a [`ForkGate`]: a fork is being prepared.
const GATE_CLOSED: usize = 1;

impl ForkGate {
    /// Runs `push` with the gate passed: not while a fork is prepared, and never cut by one.
    #[inline]
    pub(crate) fn pass<R>(&self, push: impl FnOnce() -> R) -> R {
        while self.0.fetch_add(2, Ordering::SeqCst) & GATE_CLOSED != 0 {
            self.0.fetch_sub(2, Ordering::SeqCst);
            while self.0.load(Ordering::SeqCst) & GATE_CLOSED != 0 {
                std::thread::yield_now();
            }
        }
        let r = push();
        self.0.fetch_sub(2, Ordering::SeqCst);
        r
    }

    /// Closes the gate and waits for the pushes in progress to finish.
    pub(crate) fn close(&self) {
        self.0.fetch_or(GATE_CLOSED, Ordering::SeqCst);
        let mut spins = 0u32;
        while self.0.load(Ordering::SeqCst) >> 1 != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Opens the gate again (in the parent); in the child, also forgets the pushers that were
    /// waiting at it, whose threads the child does not have.
    pub(crate) fn open(&self, in_child: bool) {
        if in_child {
            self.0.store(0, Ordering::SeqCst);
        } else {
            self.0.fetch_and(!GATE_CLOSED, Ordering::SeqCst);
        }
    }
}

/// The driver's locks, held by a forking thread across `fork(2)` ([`Driver::hold_for_fork`]).
pub(crate) struct ForkHold<'a> {
    _timers: MutexGuard<'a, Timers>,
    _io: io::SetHold<'a>,
}

/// The private half of a runtime's driver: it moves with the loop.
#[derive(Default)]
pub(crate) struct DriverLocal {
    events: Events,
    /// Wakers made ready by the last turn.
    pub(crate) wakers: Vec<Waker>,
    /// Notification ids to deliver, taken by the last turn.
    pub(crate) notes: Vec<usize>,
}

impl DriverLocal {
    pub(crate) fn new() -> DriverLocal {
        DriverLocal {
            events: Events::with_capacity(EVENTS_CAPACITY),
            wakers: Vec::with_capacity(64),
            notes: Vec::new(),
        }
    }
}

impl Driver {
    pub(crate) fn new(backend: Box<dyn Backend>) -> Driver {
        Driver {
            backend,
            sleeping: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            io: IoSet::default(),
            timers: Mutex::new(Timers::default()),
            timers_len: AtomicUsize::new(0),
            notifications: ConcurrentQueue::unbounded(),
            wait_errors: AtomicU64::new(0),
            fork_gate: ForkGate::default(),
        }
    }

    /// Makes a loop blocked in the backend (or about to block) return. Cheap when the loop is
    /// awake: one fence and one load.
    pub(crate) fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && !self.notified.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.backend.notify() {
                tracing::error!("lwt: backend notify failed: {e}");
            }
        }
    }

    /// Announces that the loop is about to block; the caller then checks for work and calls
    /// [`Driver::turn`] (with `block` false if it found some).
    pub(crate) fn begin_park(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Whether the loop is (about to be) blocked in the backend.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed)
    }

    /// Whether something the driver delivers is queued (notifications).
    pub(crate) fn has_queued(&self) -> bool {
        !self.notifications.is_empty()
    }

    /// One look at the backend (blocking until the next timer if `block`), then the timers:
    /// collects into `local` the wakers made ready and a batch of notifications (those queued
    /// when the turn started: a handler that sends again runs in a later turn). Returns how
    /// many events it dispatched and how many timers fired.
    pub(crate) fn turn(&self, local: &mut DriverLocal, block: bool) -> (usize, usize) {
        self.io.release_pending();
        let timeout = if block && self.notifications.is_empty() {
            self.next_timeout()
        } else {
            Some(Duration::ZERO)
        };
        local.events.clear();
        let res = self.backend.wait(&mut local.events, timeout);
        if let Some(c) = self.backend.completions() {
            c.take_woken(&mut local.wakers);
        }
        // Only the loop's thread sets `sleeping` (in `begin_park`), so it can test it cheaply;
        // `notified` is only set while `sleeping` is.
        if self.sleeping.load(Ordering::Relaxed) {
            self.sleeping.store(false, Ordering::SeqCst);
            if self.notified.load(Ordering::Relaxed) {
                self.notified.store(false, Ordering::SeqCst);
            }
        }
        match res {
            Ok(()) => self.wait_errors.store(0, Ordering::Relaxed),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => self.fail(e, timeout, &mut local.wakers),
        }
        let events = local.events.len();
        for ev in local.events.iter() {
            // SAFETY: a token is the address of a `ScheduledIo` that the I/O set keeps alive
            // until `release_pending` runs at the start of a later turn, after every event
            // collected before its deregistration has been dispatched (see `io`, "Tokens").
            let sio = unsafe { &*(ev.token as *const io::ScheduledIo) };
            sio.dispatch(&*self.backend, ev, &mut local.wakers);
        }
        let mut fired = 0;
        if self.timers_len.load(Ordering::SeqCst) > 0 {
            let mut t = lock(&self.timers);
            let before = local.wakers.len();
            t.fire(Instant::now(), &mut local.wakers);
            fired = local.wakers.len() - before;
            self.timers_len.store(t.len(), Ordering::SeqCst);
        }
        for _ in 0..self.notifications.len() {
            match self.notifications.pop() {
                Ok(id) => local.notes.push(id),
                Err(_) => break,
            }
        }
        (events, fired)
    }

    /// The backend failed: the operations waiting now get the error, and the loop goes on. A
    /// failure that repeats backs off, so a broken backend cannot make the loop spin.
    fn fail(&self, e: std::io::Error, timeout: Option<Duration>, out: &mut Vec<Waker>) {
        let n = self.wait_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_power_of_two() {
            tracing::error!(
                "lwt: the {} backend failed to wait ({e}); the waiting operations get the error (failure {n} in a row)",
                self.backend.name()
            );
        }
        let err = Error::from_io(e, "wait", self.backend.name());
        self.io.fail_all(&*self.backend, &err, out);
        if n > 1 {
            let pause = timeout.map_or(Duration::from_millis(10), |t| {
                t.min(Duration::from_millis(10))
            });
            std::thread::sleep(pause);
        }
    }

    /// How long until the next timer is due (`None`: no timer).
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        if self.timers_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        lock(&self.timers)
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Arms a timer; the caller wakes the loop if it is not the loop's thread.
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: Waker) -> TimerId {
        let mut t = lock(&self.timers);
        let id = t.insert(deadline, waker);
        self.timers_len.store(t.len(), Ordering::SeqCst);
        id
    }

    /// Replaces the waker of a live timer; false if it has fired (or was cancelled).
    pub(crate) fn update_timer(&self, id: TimerId, waker: &Waker) -> bool {
        lock(&self.timers).update_waker(id, waker)
    }

    /// Cancels a timer (no effect if it fired).
    pub(crate) fn cancel_timer(&self, id: TimerId) {
        let mut t = lock(&self.timers);
        t.cancel(id);
        self.timers_len.store(t.len(), Ordering::SeqCst);
    }

    /// The number of armed timers.
    pub(crate) fn timers_armed(&self) -> usize {
        self.timers_len.load(Ordering::Relaxed)
    }

    /// Queues a notification for the loop and wakes it.
    pub(crate) fn queue_notification(&self, id: usize) {
        // Unbounded and never closed.
        let _ = self.fork_gate.pass(|| self.notifications.push(id));
        self.wake();
    }

    /// Takes the timers' and the I/O set's locks for a fork (in this order; see the module
    /// documentation, "Fork"); they are released when the value drops, in the parent and in
    /// the child alike.
    pub(crate) fn hold_for_fork(&self) -> ForkHold<'_> {
        ForkHold {
            _timers: lock(&self.timers),
            _io: self.io.hold(),
        }
    }

    /// The runtime shuts down: kills every source, takes every timer's waker, drops queued
    /// notifications. The caller wakes what this returns (the tasks are being cancelled).
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        self.io.shutdown(out);
        {
            let mut t = lock(&self.timers);
            out.extend(t.drain());
            self.timers_len.store(0, Ordering::SeqCst);
        }
        while self.notifications.pop().is_ok() {}
    }

    /// Resets the driver in a child process after `fork(2)`: a fresh backend instance, every
    /// source registered and armed again.
    pub(crate) fn after_fork(&self) -> std::io::Result<()> {
        self.backend.after_fork()?;
        self.sleeping.store(false, Ordering::SeqCst);
        self.notified.store(false, Ordering::SeqCst);
        self.io.reregister_all(&*self.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::ForkGate;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    #[test]
    fn closing_the_fork_gate_waits_for_the_push_in_progress_and_holds_back_new_ones() {
        let gate = Arc::new(ForkGate::default());
        let (inside_tx, inside_rx) = mpsc::channel();
        let (finish_tx, finish_rx) = mpsc::channel::<()>();
        // A push in progress: inside the gate until told to finish.
        let pusher = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.pass(|| {
                    inside_tx.send(()).unwrap();
                    finish_rx.recv().unwrap();
                })
            })
        };
        inside_rx.recv().unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let closer = {
            let (gate, closed) = (gate.clone(), closed.clone());
            std::thread::spawn(move || {
                gate.close();
                closed.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !closed.load(Ordering::SeqCst),
            "close returned while a push was in progress"
        );
        finish_tx.send(()).unwrap();
        pusher.join().unwrap();
        closer.join().unwrap();
        assert!(closed.load(Ordering::SeqCst));

        // Closed: a new push waits until the gate opens.
        let pushed = Arc::new(AtomicBool::new(false));
        let late = {
            let (gate, pushed) = (gate.clone(), pushed.clone());
            std::thread::spawn(move || gate.pass(|| pushed.store(true, Ordering::SeqCst)))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !pushed.load(Ordering::SeqCst),
            "a push passed a closed gate"
        );
        gate.open(false);
        late.join().unwrap();
        assert!(pushed.load(Ordering::SeqCst));

        // In a child, opening forgets pushers the child does not have.
        gate.0.fetch_add(2 | super::GATE_CLOSED, Ordering::SeqCst);
        gate.open(true);
        assert_eq!(gate.0.load(Ordering::SeqCst), 0);
        gate.close(); // returns at once: nobody is pushing
    }
}
