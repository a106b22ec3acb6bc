//! The loop hand-off behind the `switch` async method.
//!
//! # Protocol
//!
//! A runtime's state word (`Inner::state`) says who owns its loop:
//!
//! | state | owner of the loop | meaning |
//! |---|---|---|
//! | `IDLE` | nobody | no `block_on` runs |
//! | `RUNNING` | the home thread | the home thread drives the loop |
//! | `IN_CALL` | the home thread | the home thread is inside a blocking call ([`switch_call`]) |
//! | `STOLEN` | a stand-in thread | the call blocked too long; a stand-in drives the loop |
//! | `RECLAIM` | the stand-in, until it lets go | the call returned; the home wants the loop back |
//!
//! 1. [`switch_call`] (or [`try_switch_call`]) checks that this thread owns the loop in state
//!    `RUNNING` (which only the home thread can: a stand-in owns it in `STOLEN` / `RECLAIM`
//!    only), stores `IN_CALL`, gives up its owner marker and runs the call inline: a call that
//!    finishes fast costs a store, a CAS and no thread hop (about 50 ns measured).
//! 2. A watchdog thread samples every runtime in a call every [`WATCHDOG_TICK`]. A call still
//!    running with the same sequence number at two samples (so at least one tick old) is
//!    stolen: the watchdog CASes `IN_CALL` to `STOLEN` and starts a stand-in thread, which
//!    drives the loop: its `Send` tasks, timers, I/O and notifications.
//! 3. When the call returns, one CAS `IN_CALL -> RUNNING` ends it if nobody stole the loop.
//!    Otherwise the home thread stores `RECLAIM`, wakes the stand-in, and waits; the stand-in
//!    finishes the task it is running, drops its owner marker, stores `RUNNING` and unparks
//!    the home thread, which takes its marker back and returns the call's result. The
//!    stand-in hands back through a guard, so even a panic in it cannot leave the home thread
//!    waiting; if no stand-in thread can be started, the loop is given back at once and the
//!    call simply blocks it, as under `none`. A panic in the call itself unwinds through the
//!    same reclaim.
//!
//! A stand-in thread is started per hand-off (calls that block for more than a tick are slow
//! anyway). The watchdog (one thread for all runtimes) parks after 20 ms with no call in
//! progress and is unparked by the next call. [`steals`] and [`calls_handed_off`] count the hand-offs.
//! A call whose thread is merely preempted by the OS for more than a tick is handed off too:
//! harmless (the loop goes on meanwhile), just a hand-off that was not needed.
//!
//! Exactly one thread owns the loop at any time; a false steal costs one hand-off, never
//! correctness. What must be `Send`: the tasks the stand-in runs (`spawn`), timers and wakers.
//! What stays home: the future given to `block_on` and `spawn_local` tasks only run on the
//! home thread, so they wait while the home thread is blocked; and a job started on a stand-in
//! (or on any thread that is not a loop's home) cannot switch, so the jobs layer sends it to
//! the pool instead (detach). The stand-in is not a pool worker: `pool_size` does not limit
//! it.

use crate::runtime::{
    self, home_thread, lock, put_ownership_marker, take_ownership_marker, Inner, IN_CALL, RECLAIM,
    RUNNING, STOLEN,
};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, Thread};
use std::time::Duration;

/// How often the watchdog samples calls in progress: a call is handed off once it has run
/// for between one and two ticks.
pub const WATCHDOG_TICK: Duration = Duration::from_micros(100);
/// How long the watchdog keeps sampling after the last call before it parks.
const WATCHDOG_LINGER: Duration = Duration::from_millis(20);

static STEALS: AtomicU64 = AtomicU64::new(0);
static HANDED_OFF: AtomicUsize = AtomicUsize::new(0);

/// How many [`switch_call`]s, in all runtimes, are handed off right now: their loop runs in
/// a stand-in while the call blocks its home thread (so `wait_for_jobs` can wait for them).
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::core::switch::calls_handed_off(), 0);
/// ```
pub fn calls_handed_off() -> usize {
    HANDED_OFF.load(Ordering::SeqCst)
}

/// How many times, since the process started, a call made by [`switch_call`] blocked long
/// enough for the loop to be handed to a stand-in thread (a metric for tuning and tests).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let before = lwt::core::switch::steals();
///     lwt::core::switch::switch_call(|| std::thread::sleep(std::time::Duration::from_millis(20)));
///     assert!(lwt::core::switch::steals() > before);
/// });
/// ```
pub fn steals() -> u64 {
    STEALS.load(Ordering::Relaxed)
}

struct Watchdog {
    runtimes: Mutex<Vec<Weak<Inner>>>,
    parked: AtomicBool,
    thread: Thread,
}

fn watchdog() -> &'static Watchdog {
    static W: OnceLock<Watchdog> = OnceLock::new();
    W.get_or_init(|| {
        let t = thread::Builder::new()
            .name("lwt-switch-watchdog".into())
            .spawn(watch)
            .expect("lwt: cannot start the switch watchdog thread");
        Watchdog {
            runtimes: Mutex::new(Vec::new()),
            parked: AtomicBool::new(false),
            thread: t.thread().clone(),
        }
    })
}

fn watch() {
    let mut seen: Vec<(Weak<Inner>, u64)> = Vec::new();
    let mut idle = Duration::ZERO;
    loop {
        thread::sleep(WATCHDOG_TICK);
        let w = watchdog();
        let list: Vec<Arc<Inner>> = {
            let mut l = lock(&w.runtimes);
            l.retain(|r| r.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        let mut busy = false;
        let mut next_seen = Vec::with_capacity(list.len());
        for rt in &list {
            if rt.state.load(Ordering::SeqCst) != IN_CALL {
                continue;
            }
            busy = true;
            let seq = rt.call_seq.load(Ordering::SeqCst);
            let before = seen
                .iter()
                .any(|(w, s)| *s == seq && std::ptr::eq(w.as_ptr(), Arc::as_ptr(rt)));
            if before
                && rt
                    .state
                    .compare_exchange(IN_CALL, STOLEN, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                STEALS.fetch_add(1, Ordering::Relaxed);
                HANDED_OFF.fetch_add(1, Ordering::SeqCst);
                start_stand_in(rt.clone());
            } else {
                next_seen.push((Arc::downgrade(rt), seq));
            }
        }
        seen = next_seen;
        if busy {
            idle = Duration::ZERO;
        } else {
            idle += WATCHDOG_TICK;
            if idle >= WATCHDOG_LINGER {
                w.parked.store(true, Ordering::SeqCst);
                // Re-check after announcing the park, so a call entered meanwhile is seen.
                let any = lock(&w.runtimes)
                    .iter()
                    .filter_map(Weak::upgrade)
                    .any(|r| r.state.load(Ordering::SeqCst) == IN_CALL);
                if !any {
                    thread::park();
                }
                w.parked.store(false, Ordering::SeqCst);
                idle = Duration::ZERO;
            }
        }
    }
}

/// Gives the loop back to its home thread when dropped: stores `RUNNING` and unparks the home
/// thread. Dropped when a stand-in lets go of the loop, even by a panic (so the home thread is
/// never left waiting), or at once if no stand-in thread could be started.
struct HandBack(Arc<Inner>);

impl Drop for HandBack {
    fn drop(&mut self) {
        self.0.state.store(RUNNING, Ordering::SeqCst);
        if let Some(home) = home_thread(&self.0) {
            home.unpark();
        }
    }
}

fn start_stand_in(rt: Arc<Inner>) {
    let hand_back = HandBack(rt);
    let slot = Arc::new(Mutex::new(Some(hand_back)));
    let in_thread = slot.clone();
    let spawned = thread::Builder::new()
        .name("lwt-switch".into())
        .spawn(move || {
            if let Some(hand_back) = lock(&in_thread).take() {
                // Drives the loop until the home thread reclaims it; our owner marker is gone
                // when it returns, then `hand_back` stores `RUNNING`.
                runtime::run_stand_in(&hand_back.0);
            }
        });
    if let Err(e) = spawned {
        // No thread: nobody drives the loop during this call, as under `none`. Give the loop
        // back at once: with `RUNNING` stored, the home thread's `Leave` finds nothing to
        // reclaim (its CASes fail and its wait ends at once), and the watchdog does not steal
        // this call again.
        tracing::warn!("lwt: cannot start a switch stand-in thread: {e}");
        drop(lock(&slot).take());
    }
}

/// Whether [`switch_call`] can hand the loop off on this thread: it must be the home thread
/// of a running runtime, driving it now.
///
/// # Examples
///
/// ```
/// assert!(!lwt::core::switch::available()); // not inside a runtime
/// lwt::run(async { assert!(lwt::core::switch::available()) });
/// ```
pub fn available() -> bool {
    runtime::with_current(|rt| can_switch(rt)).unwrap_or(false)
}

/// Owning the loop in state `RUNNING` means being its home thread: a stand-in owns it only in
/// `STOLEN` / `RECLAIM`, and gives up its marker before it stores `RUNNING`.
fn can_switch(rt: &Inner) -> bool {
    runtime::is_owner_of(rt) && rt.state.load(Ordering::SeqCst) == RUNNING
}

/// Runs the blocking call `f` inline on the loop's thread; if it has not returned after about
/// one [`WATCHDOG_TICK`], the loop goes on in a stand-in thread until it does (see the module
/// doc). Where [`available`] is false, `f` simply runs inline.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let me = std::thread::current().id();
///     let ran_on = lwt::core::switch::switch_call(|| std::thread::current().id());
///     assert_eq!(ran_on, me); // a call runs on the loop's own thread
/// });
/// ```
pub fn switch_call<R>(f: impl FnOnce() -> R) -> R {
    match try_switch_call(f) {
        Ok(r) => r,
        Err(f) => f(),
    }
}

/// [`switch_call`], or `Err(f)` (not run) where [`available`] is false, so the caller can run
/// it some other way (the jobs layer detaches it).
///
/// # Errors
///
/// Gives `f` back, not run, when this thread cannot switch.
///
/// # Examples
///
/// ```
/// assert!(lwt::core::switch::try_switch_call(|| 1).is_err()); // not in a runtime
/// lwt::run(async {
///     assert_eq!(lwt::core::switch::try_switch_call(|| 1).ok(), Some(1));
/// });
/// ```
pub fn try_switch_call<R, F: FnOnce() -> R>(f: F) -> Result<R, F> {
    let rt = match runtime::with_current(|rt| can_switch(rt).then(|| rt.clone())) {
        Some(Some(rt)) => rt,
        _ => return Err(f),
    };
    // Only the home thread writes `call_seq`; the `SeqCst` store of `IN_CALL` publishes it.
    rt.call_seq.store(
        rt.call_seq.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    rt.state.store(IN_CALL, Ordering::SeqCst);
    if !rt.watched.load(Ordering::Relaxed) && !rt.watched.swap(true, Ordering::SeqCst) {
        lock(&watchdog().runtimes).push(Arc::downgrade(&rt));
    }
    let w = watchdog();
    if w.parked.load(Ordering::SeqCst) {
        w.thread.unpark();
    }
    struct Leave {
        rt: Arc<Inner>,
        marker: *const Inner,
    }
    impl Drop for Leave {
        fn drop(&mut self) {
            let rt = &self.rt;
            if rt
                .state
                .compare_exchange(IN_CALL, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // Stolen: ask for the loop back and wait for the stand-in to let go.
                let _ =
                    rt.state
                        .compare_exchange(STOLEN, RECLAIM, Ordering::SeqCst, Ordering::SeqCst);
                rt.wake_loop();
                let mut spins = 0u32;
                while rt.state.load(Ordering::SeqCst) != RUNNING {
                    if spins < 2000 {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        thread::park_timeout(Duration::from_millis(1));
                    }
                }
                HANDED_OFF.fetch_sub(1, Ordering::SeqCst);
            }
            put_ownership_marker(self.marker);
        }
    }
    let _leave = Leave {
        marker: take_ownership_marker(),
        rt,
    };
    Ok(f())
}
