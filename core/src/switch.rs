//! The loop hand-off behind the `switch` async method.
//!
//! # Protocol
//!
//! The loop's private state is one `Box<Core>` (see `crate::scheduler`); whoever holds it
//! drives the loop. A switch call moves it through two cells of the runtime:
//!
//! 1. [`switch_call`] (or [`try_switch_call`]), on the home thread holding the loop, bumps the
//!    runtime's call number, puts its core into the `call` cell and runs the blocking call
//!    inline. A call that finishes fast takes the core back out of `call` with one swap: two
//!    atomic swaps and no thread hop in all.
//! 2. A watchdog thread samples every runtime every [`WATCHDOG_TICK`]. A `call` cell that is
//!    full at two samples with the same call number (so the call is at least one tick old) is
//!    emptied by the watchdog: whoever empties it owns the core. The watchdog hands the core to
//!    a new stand-in thread, which drives the loop: its `Send` tasks, timers, I/O and
//!    notifications. A false steal (the call ended and a new one began between two samples)
//!    only costs one hand-off.
//! 3. When the call returns, the home thread swaps `call` empty. If it gets its core, it goes
//!    on. If not, the loop was stolen: it sets `reclaim`, wakes the loop and waits for the
//!    stand-in, which finishes the task it is running, puts the core into the `returned` cell
//!    and unparks the home thread. The stand-in hands back through a guard, so even a panic in
//!    it gives the core back (the panic is re-raised by `block_on`); if no stand-in thread can
//!    be started, the watchdog puts the core into `returned` at once and the call simply blocks
//!    the loop, as under `none`. A panic in the call itself unwinds through the same reclaim.
//!
//! The core is always in exactly one place (a thread's context, a cell, or the watchdog's
//! hands between two of them), so two threads can never drive the loop.
//!
//! A stand-in thread is started per hand-off (calls that block for more than a tick are slow
//! anyway). The watchdog (one thread for all runtimes, started by the first call) parks after
//! 20 ms with no call in progress and is unparked by the next call. [`steals`] and
//! [`calls_handed_off`] count the hand-offs.
//!
//! # Fork
//!
//! A forked child has none of the parent's threads, so `crate::fork` resets this module there:
//! the watchdog is a [`Renewable`] that the child empties (a new one, with a new id, starts at
//! the child's first call; a runtime re-registers when its `watched` id is not the current
//! watchdog's, so the runtimes of the parent that the child never runs again are never
//! watched), and no call is counted as handed off. A fork made inside a switch call first takes
//! the loop back (`take_back`, as the call's own end does, also from a stand-in) and gives it
//! back to the call afterwards (`resume_call`), so the child has the loop.
//!
//! # Locks
//!
//! The watchdog's list of runtimes is its one lock, a leaf; a stand-in's slot is taken alone.
//! A stand-in reads the home thread (the scheduler's `home` lock) before it hands the loop
//! back, so once the core is back nothing of the stand-in holds a lock (a fork right after a
//! hand-back never leaves one held in the child).
//!
//! What must be `Send`: the tasks the stand-in runs (`spawn`), timers and wakers. What stays
//! home: the future given to `block_on` and `spawn_local` tasks only run on the home thread,
//! so they wait while the home thread is blocked; and a job started on a stand-in (or on any
//! thread that is not a loop's home) cannot switch, so the jobs layer sends it to the pool
//! instead (detach). The stand-in is not a pool worker: `pool_size` does not limit it.

use crate::cell::AtomicCell;
use crate::context;
use crate::fork::Renewable;
use crate::scheduler::{catch, lock, Core, Shared};
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

/// One runtime's hand-off state (in `Shared`), with each party's steps of the protocol as
/// methods: the home thread's ([`HandOff::enter`], [`HandOff::leave`], [`HandOff::reclaim`]),
/// the watchdog's ([`HandOff::in_call`], [`HandOff::steal`]) and the stand-in's
/// ([`HandOff::reclaimed`], [`HandOff::give_back`]). The loom model of the hand-off
/// (`crate::loom_models`) runs these same methods on loom's atomics.
pub(crate) struct HandOff<T> {
    /// The core while the home thread is in a blocking call (the watchdog may take it).
    call: AtomicCell<T>,
    /// Where a stand-in gives the core back.
    returned: AtomicCell<T>,
    /// The home thread wants the core back from its stand-in.
    reclaim: crate::loom::AtomicBool,
    /// The number of the home thread's current (or last) call.
    seq: crate::loom::AtomicU64,
}

impl<T> HandOff<T> {
    pub(crate) fn new() -> HandOff<T> {
        HandOff {
            call: AtomicCell::new(None),
            returned: AtomicCell::new(None),
            reclaim: crate::loom::AtomicBool::new(false),
            seq: crate::loom::AtomicU64::new(0),
        }
    }

    /// Home thread: a call begins, with a new number; the core goes into `call`.
    pub(crate) fn enter(&self, core: Box<T>) {
        // Only the home thread writes `seq`; the swap into `call` publishes it.
        self.seq.store(
            self.seq.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        self.call.set(core);
    }

    /// Home thread: gives the core back to the call in progress (after a fork), under its
    /// number.
    pub(crate) fn resume(&self, core: Box<T>) {
        self.call.set(core);
    }

    /// Home thread: the call ended; the core, unless the watchdog took it.
    pub(crate) fn leave(&self) -> Option<Box<T>> {
        self.call.take()
    }

    /// Home thread, after [`HandOff::leave`] found nothing: asks the stand-in for the core
    /// and waits until it gives it back. `wake` makes a stand-in parked in the backend look at
    /// `reclaim`; `pause(n)` waits a little, the `n`th time.
    pub(crate) fn reclaim(&self, wake: impl Fn(), mut pause: impl FnMut(u32)) -> Box<T> {
        self.reclaim.store(true, Ordering::SeqCst);
        wake();
        let mut n = 0u32;
        let core = loop {
            if let Some(core) = self.returned.take() {
                break core;
            }
            pause(n);
            n = n.saturating_add(1);
        };
        self.reclaim.store(false, Ordering::SeqCst);
        core
    }

    /// Watchdog: the number of the call in progress, if the core is in `call` now.
    pub(crate) fn in_call(&self) -> Option<u64> {
        self.call.is_some().then(|| self.seq.load(Ordering::SeqCst))
    }

    /// Watchdog: takes the core out of `call`; whoever gets it owns it.
    pub(crate) fn steal(&self) -> Option<Box<T>> {
        self.call.take()
    }

    /// Stand-in: whether the home thread wants the core back.
    pub(crate) fn reclaimed(&self, order: Ordering) -> bool {
        self.reclaim.load(order)
    }

    /// Stand-in (or the watchdog, when no stand-in can start): gives the core back.
    pub(crate) fn give_back(&self, core: Box<T>) {
        self.returned.set(core);
    }
}

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
    runtimes: Mutex<Vec<Weak<Shared>>>,
    parked: AtomicBool,
    /// The watchdog's thread, started by the first call (`None`: the OS refused one).
    thread: OnceLock<Option<Thread>>,
    /// This watchdog's id, never 0 (what a runtime's `watched` holds once registered).
    id: u64,
}

/// The watchdog of this process (a forked child empties it, see "Fork").
static WATCHDOG: Renewable<Watchdog> = Renewable::empty();

fn watchdog() -> &'static Watchdog {
    WATCHDOG.get_or_init(|| Watchdog {
        runtimes: Mutex::new(Vec::new()),
        parked: AtomicBool::new(false),
        thread: OnceLock::new(),
        id: crate::fork::generation() + 1,
    })
}

/// Makes sure the watchdog knows `rt` and runs; `None` if no watchdog thread can be started
/// (the call then simply blocks the loop, as under `none`).
fn watch_runtime(rt: &Arc<Shared>) -> Option<&'static Watchdog> {
    let w = watchdog();
    if rt.watched.load(Ordering::Relaxed) != w.id && rt.watched.swap(w.id, Ordering::SeqCst) != w.id
    {
        lock(&w.runtimes).push(Arc::downgrade(rt));
    }
    let thread = w.thread.get_or_init(|| {
        match thread::Builder::new()
            .name("lwt-switch-watchdog".into())
            .spawn(watch)
        {
            Ok(t) => Some(t.thread().clone()),
            Err(e) => {
                tracing::warn!("lwt: cannot start the switch watchdog thread ({e}): switch calls will block the loop");
                None
            }
        }
    });
    thread.as_ref().map(|_| w)
}

/// Wakes the watchdog if it parked (after a call was entered).
fn wake_watchdog(w: &Watchdog) {
    if w.parked.load(Ordering::SeqCst) {
        if let Some(Some(t)) = w.thread.get() {
            t.unpark();
        }
    }
}

fn watch() {
    let mut seen: Vec<(usize, u64)> = Vec::new();
    let mut idle = Duration::ZERO;
    loop {
        thread::sleep(WATCHDOG_TICK);
        let w = watchdog();
        let list: Vec<Arc<Shared>> = {
            let mut l = lock(&w.runtimes);
            l.retain(|r| r.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        let mut busy = false;
        let mut next_seen = Vec::with_capacity(list.len());
        for rt in &list {
            let Some(seq) = rt.switch.in_call() else {
                continue;
            };
            busy = true;
            let id = Arc::as_ptr(rt) as usize;
            if seen.contains(&(id, seq)) {
                if let Some(core) = rt.switch.steal() {
                    STEALS.fetch_add(1, Ordering::Relaxed);
                    rt.published.hand_offs.fetch_add(1, Ordering::Relaxed);
                    HANDED_OFF.fetch_add(1, Ordering::SeqCst);
                    start_stand_in(rt.clone(), core);
                }
            } else {
                next_seen.push((id, seq));
            }
        }
        seen = next_seen;
        drop(list);
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
                    .any(|r| r.switch.in_call().is_some());
                if !any {
                    thread::park();
                }
                w.parked.store(false, Ordering::SeqCst);
                idle = Duration::ZERO;
            }
        }
    }
}

/// Gives the core back to the home thread when dropped, even by a panic.
struct HandBack(Arc<Shared>);

impl Drop for HandBack {
    fn drop(&mut self) {
        // Read before the core goes back: from then on the stand-in takes no lock (see
        // "Locks").
        let home = self.0.home_thread();
        match context::take_core() {
            Some(core) => self.0.switch.give_back(core),
            None => tracing::error!("lwt: a switch stand-in lost the loop's state"),
        }
        if let Some(home) = home {
            home.unpark();
        }
    }
}

fn start_stand_in(rt: Arc<Shared>, core: Box<Core>) {
    let slot = Arc::new(Mutex::new(Some(core)));
    let in_thread = slot.clone();
    let rt2 = rt.clone();
    let spawned = thread::Builder::new()
        .name("lwt-switch".into())
        .spawn(move || {
            let Some(core) = lock(&in_thread).take() else {
                return;
            };
            let _enter = context::enter(rt2.clone(), Some(core), false);
            let hand_back = HandBack(rt2.clone());
            if let Err(p) = catch(|| rt2.run_stand_in()) {
                rt2.set_loop_panic(p);
            }
            drop(hand_back);
        });
    if let Err(e) = spawned {
        // No thread: nobody drives the loop during this call, as under `none`. Give the core
        // back at once; the home thread finds it when its call returns.
        tracing::warn!("lwt: cannot start a switch stand-in thread: {e}");
        if let Some(core) = lock(&slot).take() {
            rt.switch.give_back(core);
        }
        if let Some(home) = rt.home_thread() {
            home.unpark();
        }
    }
}

/// Whether [`switch_call`] can hand the loop off on this thread: it must be the home thread
/// of a running runtime, holding its loop now.
///
/// # Examples
///
/// ```
/// assert!(!lwt::core::switch::available()); // not inside a runtime
/// lwt::run(async { assert!(lwt::core::switch::available()) });
/// ```
pub fn available() -> bool {
    context::is_home() && context::holds(context::current_ptr())
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
    if !context::is_home() {
        return Err(f);
    }
    let Some(rt) = context::current() else {
        return Err(f);
    };
    if !context::holds(Arc::as_ptr(&rt)) {
        return Err(f);
    }
    // Before the core leaves this thread: nothing may fail while it is in no one's hands.
    let w = watch_runtime(&rt);
    let Some(core) = context::take_core() else {
        return Err(f);
    };
    rt.switch.enter(core);
    if let Some(w) = w {
        wake_watchdog(w);
    }
    let _leave = Leave(rt);
    Ok(f())
}

/// Takes the loop back from the switch call in progress on this (the home) thread: from the
/// `call` cell, or, if it was handed off, from the stand-in, which finishes the task it runs
/// and gives it back. The watchdog cannot take it any more.
pub(crate) fn take_back(rt: &Shared) -> Box<Core> {
    if let Some(core) = rt.switch.leave() {
        return core;
    }
    // Stolen: ask for the loop back and wait for the stand-in to let go.
    let core = rt.switch.reclaim(
        || rt.driver.wake(),
        |n| {
            if n < 2000 {
                std::hint::spin_loop();
            } else {
                thread::park_timeout(Duration::from_millis(1));
            }
        },
    );
    HANDED_OFF.fetch_sub(1, Ordering::SeqCst);
    core
}

/// Gives the loop back to the switch call in progress on this thread, which [`take_back`]
/// took it from (for a fork): the watchdog may hand it off again.
pub(crate) fn resume_call(rt: &Arc<Shared>, core: Box<Core>) {
    let w = watch_runtime(rt);
    rt.switch.resume(core);
    if let Some(w) = w {
        wake_watchdog(w);
    }
}

/// In a forked child: a new watchdog starts at the next call (the parent's thread is not
/// here), and no call is handed off (the forking thread took its loop back first, and the
/// other runtimes' home threads are not here either).
pub(crate) fn after_fork_child() {
    WATCHDOG.renew(None);
    HANDED_OFF.store(0, Ordering::SeqCst);
}

/// Takes the loop back when a switch call ends (even by a panic).
struct Leave(Arc<Shared>);

impl Drop for Leave {
    fn drop(&mut self) {
        context::put_core(take_back(&self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::{lock, switch_call, watchdog};
    use crate::scheduler::tests::Sleeper;
    use crate::scheduler::Shared;
    use std::sync::{Arc, Weak};
    use std::thread;
    use std::time::{Duration, Instant};

    /// How many entries the watchdog's list has for `rt`.
    fn entries(rt: &Weak<Shared>) -> usize {
        lock(&watchdog().runtimes)
            .iter()
            .filter(|w| Weak::ptr_eq(w, rt))
            .count()
    }

    /// Makes `n` switch calls on a new runtime; the runtime's `Shared`, weakly.
    fn calls(rt: &crate::Runtime, n: usize) -> Weak<Shared> {
        rt.block_on(async move {
            for _ in 0..n {
                switch_call(|| ());
            }
            Arc::downgrade(&crate::context::current().expect("in the runtime"))
        })
    }

    #[test]
    fn a_runtime_is_watched_once_however_many_switch_calls_it_makes() {
        // One entry per call would grow the list the watchdog walks every tick without end.
        let rt = crate::Runtime::new(Box::new(Sleeper::default()));
        let shared = calls(&rt, 50);
        assert_eq!(entries(&shared), 1);
    }

    #[test]
    fn the_watchdog_forgets_a_dropped_runtime() {
        let rt = crate::Runtime::new(Box::new(Sleeper::default()));
        let shared = calls(&rt, 1);
        drop(rt);
        // A stand-in that drove the call (Miri is slow enough for the watchdog to hand off
        // even an empty call) lets go of the runtime just after giving the loop back.
        let start = Instant::now();
        while shared.upgrade().is_some() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the runtime is still alive 10 s after its drop"
            );
            thread::sleep(Duration::from_millis(1));
        }
        // Another runtime's call keeps the watchdog sampling; each sample prunes dead entries.
        let other = crate::Runtime::new(Box::new(Sleeper::default()));
        let start = Instant::now();
        while entries(&shared) > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "a dropped runtime stayed in the watchdog's list"
            );
            calls(&other, 1);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
