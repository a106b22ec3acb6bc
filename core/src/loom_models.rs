//! loom models of the two protocols that move the loop between threads, run on the real code
//! (`RUSTFLAGS="--cfg loom" cargo test -p lwt-core --lib --release loom_models`; `.ci/run`
//! does it). Under `--cfg loom` the protocols' atomics are loom's (`crate::loom`), so the model
//! checker explores every interleaving of the threads below and every outcome the memory model
//! allows for those atomics, and fails a model on a panic, a data race on a `loom` cell, or a
//! deadlock (every thread blocked: a lost wake-up).
//!
//! - [`hand_off_has_exactly_one_owner`]: the home thread, the watchdog and a stand-in, through
//!   `switch::HandOff` (the real `AtomicCell`s and `reclaim` flag) and a real `Driver` (the
//!   stand-in parks in it and the home thread's reclaim wakes it). Invariant: the core is held
//!   by exactly one thread at every step (an owner count that each party raises when it takes
//!   the core out of a cell and lowers before it puts it in), its contents are never touched by
//!   two threads without a happens-before edge (a `loom` cell inside), and it ends up back home
//!   with both cells empty.
//! - [`a_wake_up_is_never_lost`]: the wake-up protocol of `crate::driver` (`begin_park`,
//!   `wake`, `turn` with its `sleeping`/`notified` flags): the loop parks while another thread
//!   queues two pieces of work for it (notifications), waking it for each. Invariant: the loop
//!   sees both pieces of work without anyone waking it again; a lost wake-up leaves it blocked
//!   in the backend forever, which loom reports as a deadlock.
//!
//! The backend is [`LoomBackend`]: `wait` blocks on a loom condition variable until `notify`.
//! The stand-in's loop is the skeleton of `Shared::run_stand_in` (look at `reclaim`, park, look
//! at `reclaim` again before blocking, as `Shared::has_work` does for a stand-in); the
//! watchdog takes the core as soon as it sees a call (the real one waits one tick more, which
//! only narrows the interleavings).
//!
//! Each model fails when its invariant is broken on purpose (checked once by hand, see the
//! README's "How it is tested"): `AtomicCell::swap` with `Relaxed` instead of `AcqRel` is a
//! "causality violation" on the core's cell; a stand-in that blocks without looking at
//! `reclaim` again leaves the home thread waiting forever (loom stops it at its branch
//! limit); a `turn` that never clears `notified`, or `begin_park`/`wake` without their
//! `SeqCst` fences, is a deadlock. `.ci/run` bounds the search with `LOOM_MAX_PREEMPTIONS=8`
//! (every one of those mutations is caught from a bound of 3; unbounded takes about 30 s).

use crate::backend::{Backend, BorrowedSource, Events, Interest};
use crate::driver::{Driver, DriverLocal};
use crate::switch::HandOff;
use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A backend with nothing to watch: `wait` blocks until `notify` (or returns at once for a
/// zero timeout); a notify before the wait makes it return at once, as the contract says.
struct LoomBackend {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl LoomBackend {
    fn new() -> LoomBackend {
        LoomBackend {
            notified: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
}

impl Backend for LoomBackend {
    fn name(&self) -> &'static str {
        "loom"
    }
    fn register(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn arm(&self, _: BorrowedSource<'_>, _: usize, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn deregister(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn wait(&self, _: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut notified = self.notified.lock().unwrap();
        if timeout.is_none() {
            while !*notified {
                notified = self.cv.wait(notified).unwrap();
            }
        }
        *notified = false;
        Ok(())
    }
    fn notify(&self) -> io::Result<()> {
        *self.notified.lock().unwrap() = true;
        self.cv.notify_one();
        Ok(())
    }
}

fn driver() -> Arc<Driver> {
    Arc::new(Driver::new(Box::new(LoomBackend::new())))
}

/// The model's loop state: who holds it, and data only its holder may touch.
struct Core {
    owners: Arc<AtomicUsize>,
    /// Bumped by every holder; a loom cell, so two unordered holders are a reported race.
    turns: UnsafeCell<u32>,
}

impl Core {
    /// Taken out of a cell: this thread owns the core now.
    fn own(&self) {
        // Relaxed: the count must not order the holders itself (a SeqCst read-modify-write
        // would make each holder happen after the last, hiding a hand-off that forgets to).
        // Read-modify-writes of one atomic are still totally ordered, so the count is exact.
        let before = self.owners.fetch_add(1, Ordering::Relaxed);
        assert_eq!(before, 0, "two threads own the loop's core at once");
        // SAFETY: the owner count says this thread is the core's only holder (and loom checks
        // the access against every other one).
        self.turns.with_mut(|t| unsafe { *t += 1 });
    }

    /// About to be put into a cell: this thread lets go.
    fn disown(&self) {
        let before = self.owners.fetch_sub(1, Ordering::Relaxed);
        assert_eq!(
            before, 1,
            "the core was let go by a thread that did not own it"
        );
    }
}

#[test]
fn hand_off_has_exactly_one_owner() {
    loom::model(|| {
        let owners = Arc::new(AtomicUsize::new(0));
        let hand_off: Arc<HandOff<Core>> = Arc::new(HandOff::new());
        let driver = driver();
        let core = Box::new(Core {
            owners: owners.clone(),
            turns: UnsafeCell::new(0),
        });

        // The watchdog: takes the core from a call in progress and starts a stand-in on it.
        let watchdog = {
            let (hand_off, driver) = (hand_off.clone(), driver.clone());
            thread::spawn(move || {
                if hand_off.in_call().is_none() {
                    return false;
                }
                let Some(core) = hand_off.steal() else {
                    return false;
                };
                core.own();
                let stand_in = thread::spawn(move || {
                    let mut local = DriverLocal::new();
                    while !hand_off.reclaimed(Ordering::Acquire) {
                        // A pass of the loop's work.
                        core.turns.with_mut(|t| {
                            // SAFETY: this thread owns the core (checked by `own`).
                            unsafe { *t += 1 }
                        });
                        driver.begin_park();
                        let block = !hand_off.reclaimed(Ordering::SeqCst);
                        driver.turn(&mut local, block);
                    }
                    core.disown();
                    hand_off.give_back(core);
                });
                stand_in.join().unwrap();
                true
            })
        };

        // The home thread: enters a blocking call, then takes its core back.
        core.own();
        core.disown();
        hand_off.enter(core);
        thread::yield_now(); // the blocking call
        let core = match hand_off.leave() {
            Some(core) => core,
            None => hand_off.reclaim(|| driver.wake(), |_| thread::yield_now()),
        };
        core.own();
        let stolen = watchdog.join().unwrap();
        assert!(hand_off.leave().is_none(), "the call cell is empty");
        // SAFETY: every other thread has ended; this one owns the core.
        let turns = core.turns.with(|t| unsafe { *t });
        assert!(turns >= if stolen { 3 } else { 2 }, "{turns} turns");
        core.disown();
    });
}

#[test]
fn a_wake_up_is_never_lost() {
    loom::model(|| {
        let driver = driver();
        // Two pieces of work one after the other: the second finds the loop parked again,
        // after the first wake-up's `notified` was cleared.
        let waker = {
            let driver = driver.clone();
            thread::spawn(move || {
                driver.queue_notification(1);
                driver.queue_notification(2);
            })
        };
        // The loop: parks until it has both notifications (the scheduler's `park`: announce
        // the park, look for work, block only if there is none).
        let mut local = DriverLocal::new();
        let mut got = Vec::new();
        while got.len() < 2 {
            driver.begin_park();
            let block = !driver.has_queued();
            driver.turn(&mut local, block);
            got.append(&mut local.notes);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        waker.join().unwrap();
    });
}
