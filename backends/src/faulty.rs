//! The fault-injecting backend (cargo feature `fault-injection`, for tests only): a real
//! backend behind [`Backend`], with faults drawn from a seeded generator mixed into what it
//! does.
//!
//! Selected with `LWT_BACKEND=faulty`; `LWT_FAULT_SEED` gives the seed (else one is made from
//! the clock) and `LWT_FAULT_INNER` the backend it wraps (else the best this OS has). Every
//! instance prints its seed and the line that replays it on standard error when it is made,
//! which the test harness shows for a failing test. The same seed makes the same decisions in
//! the same order of calls; threads can reorder calls, so a replay reproduces a schedule-free
//! failure exactly and a racy one with a good chance.
//!
//! # The faults
//!
//! What the backend contract (`lwt_core::backend`) allows a backend to do, which the runtime
//! must absorb without any operation noticing, is on in [`Faults::CONTRACT`]:
//!
//! - **spurious readiness**: a `wait` reports a registered source in a direction that may not
//!   be ready ("an event means: try the operation");
//! - **duplicated** events (one readiness reported twice) and **merged** ones (two reports of
//!   one source in one batch become one; a report widened to both directions);
//! - **delayed** events: held back from one `wait` and reported by the next (which then does
//!   not block), for sources still registered then;
//! - **EINTR** from `wait`, instead of waiting;
//! - **ENOMEM** from `wait`, instead of waiting: a transient failure, which the driver retries
//!   (only a failure that persists is given to the waiting operations);
//! - **early wake-ups**: a `wait` that returns before its timeout with nothing to report, and
//!   notifies nobody asked for (from `register` and `arm`, as if a notify for an earlier wait
//!   arrived late).
//!
//! Failing **registrations** and **arms** (`ENOMEM`) are given to the operation that asked by
//! contract, so they are off in `CONTRACT` and on in [`Faults::ALL`], which the tests of
//! `tests/backend_faults.rs` use where they check that such an error reaches its operation
//! and nothing else.
//!
//! # Tokens
//!
//! A token is the reactor's pointer to a live source. The backend only ever invents an event
//! for a token that is registered at the moment it reports it (spurious and delayed events
//! alike), which the contract lets any `wait` do: the reactor keeps a token valid until a later
//! `wait` has started after its deregistration.

use crate::BackendKind;
use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use lwt_core::fork::Renewable;
use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The variable that gives the seed.
pub const SEED_VAR: &str = "LWT_FAULT_SEED";
/// The variable that names the wrapped backend.
pub const INNER_VAR: &str = "LWT_FAULT_INNER";

/// How often each fault happens, in thousandths of the calls (or events) it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Per `wait`: a spurious event for a registered source.
    pub spurious: u16,
    /// Per event: reported twice.
    pub duplicate: u16,
    /// Per event: merged with the next report of its source, or widened to both directions.
    pub merge: u16,
    /// Per event: held back until the next `wait`.
    pub delay: u16,
    /// Per `wait`: `EINTR` instead of waiting.
    pub interrupt: u16,
    /// Per `wait`: `ENOMEM` instead of waiting.
    pub out_of_memory: u16,
    /// Per `wait`: returns early (a timeout cut to at most a millisecond).
    pub early_wake: u16,
    /// Per `register` and `arm`: a notify nobody asked for.
    pub stray_notify: u16,
    /// Per `register`: fails with `ENOMEM`.
    pub fail_register: u16,
    /// Per `arm`: fails with `ENOMEM`.
    pub fail_arm: u16,
}

impl Faults {
    /// No fault: the wrapped backend as it is.
    pub const NONE: Faults = Faults {
        spurious: 0,
        duplicate: 0,
        merge: 0,
        delay: 0,
        interrupt: 0,
        out_of_memory: 0,
        early_wake: 0,
        stray_notify: 0,
        fail_register: 0,
        fail_arm: 0,
    };

    /// Every fault the contract allows, which no operation may notice (see the module
    /// documentation): what `LWT_BACKEND=faulty` runs the behaviour tests with.
    pub const CONTRACT: Faults = Faults {
        spurious: 200,
        duplicate: 50,
        merge: 50,
        delay: 100,
        interrupt: 50,
        out_of_memory: 20,
        early_wake: 100,
        stray_notify: 50,
        fail_register: 0,
        fail_arm: 0,
    };

    /// [`Faults::CONTRACT`] and failing registrations and arms.
    pub const ALL: Faults = Faults {
        fail_register: 100,
        fail_arm: 100,
        ..Faults::CONTRACT
    };
}

/// How many faults of each kind a [`Faulty`] backend injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Spurious events.
    pub spurious: u64,
    /// Duplicated events.
    pub duplicated: u64,
    /// Merged or widened events.
    pub merged: u64,
    /// Delayed events.
    pub delayed: u64,
    /// `EINTR`s from `wait`.
    pub interrupts: u64,
    /// `ENOMEM`s from `wait`.
    pub out_of_memory: u64,
    /// Early returns from `wait`.
    pub early_wakes: u64,
    /// Notifies nobody asked for.
    pub stray_notifies: u64,
    /// Failed registrations.
    pub failed_registers: u64,
    /// Failed arms.
    pub failed_arms: u64,
}

/// What the backend keeps between calls (a forked child gets a new one: a lock of the
/// parent's may be held by a thread the child lacks).
#[derive(Debug, Default)]
struct State {
    /// The tokens registered now.
    live: Mutex<BTreeSet<usize>>,
    /// Events held back by the last `wait` (only the waiting thread touches them).
    delayed: Mutex<Vec<Event>>,
}

/// A backend that injects faults into another (see the module documentation).
///
/// # Examples
///
/// ```
/// use lwt_backends::faulty::{Faults, Faulty};
/// use lwt_backends::{AnyBackend, BackendKind};
/// let inner = AnyBackend::open(BackendKind::best()).unwrap();
/// let b = Faulty::new(Box::new(inner), 7, Faults::CONTRACT);
/// let rt = lwt_core::Runtime::new(Box::new(b));
/// assert_eq!(rt.backend_name(), "faulty");
/// rt.block_on(async {
///     for _ in 0..20 {
///         lwt_core::sleep(std::time::Duration::from_micros(100)).await;
///     }
/// });
/// ```
pub struct Faulty {
    inner: Box<dyn Backend>,
    seed: u64,
    /// The number of decisions drawn so far (the generator's position).
    draws: AtomicU64,
    faults: Faults,
    state: Renewable<State>,
    counts: [AtomicU64; 10],
}

impl std::fmt::Debug for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faulty")
            .field("inner", &self.inner.name())
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

/// The indices of [`Faulty::counts`].
#[derive(Clone, Copy)]
enum Kind {
    Spurious,
    Duplicated,
    Merged,
    Delayed,
    Interrupt,
    OutOfMemory,
    EarlyWake,
    StrayNotify,
    FailRegister,
    FailArm,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves the set consistent (one container operation).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn enomem() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(libc::ENOMEM)
    }
    #[cfg(windows)]
    {
        io::Error::from(io::ErrorKind::OutOfMemory)
    }
}

/// SplitMix64: the `n`th output of the generator seeded with `seed`.
fn splitmix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Faulty {
    /// Wraps `inner`, injecting `faults` with decisions drawn from `seed`.
    pub fn new(inner: Box<dyn Backend>, seed: u64, faults: Faults) -> Faulty {
        Faulty {
            inner,
            seed,
            draws: AtomicU64::new(0),
            faults,
            state: Renewable::new(State::default()),
            counts: Default::default(),
        }
    }

    /// The backend `LWT_BACKEND=faulty` makes: over `LWT_FAULT_INNER` (else the best this OS
    /// has), seeded with `LWT_FAULT_SEED` (else from the clock), injecting
    /// [`Faults::CONTRACT`]. Prints the seed and how to replay it on standard error.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a seed that is not a number or an inner backend that is not one of
    /// this OS's (`faulty` itself included); the error of opening the inner backend.
    pub fn from_env() -> io::Result<Faulty> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let seed = match std::env::var(SEED_VAR) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|e| bad(format!("{SEED_VAR}={s:?} is not a number: {e}")))?,
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        };
        let kind = match std::env::var(INNER_VAR) {
            Ok(s) if !s.is_empty() => s
                .parse::<BackendKind>()
                .map_err(|e| bad(format!("{INNER_VAR}: {e}")))?,
            _ => BackendKind::best(),
        };
        if kind.name() == "faulty" {
            return Err(bad(format!(
                "{INNER_VAR}=faulty: it must name a real backend"
            )));
        }
        let inner = crate::AnyBackend::open(kind).map_err(io::Error::from)?;
        // Straight to the descriptor would skip the test harness's capture, which shows this
        // line with the output of a failing test only.
        eprintln!(
            "lwt: faulty backend over {}, seed {seed} (replay: LWT_BACKEND=faulty {SEED_VAR}={seed} {INNER_VAR}={})",
            kind.name(),
            kind.name()
        );
        Ok(Faulty::new(Box::new(inner), seed, Faults::CONTRACT))
    }

    /// The seed of this instance.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many faults of each kind were injected so far.
    pub fn injected(&self) -> Injected {
        let c = |k: Kind| self.counts[k as usize].load(Ordering::Relaxed);
        Injected {
            spurious: c(Kind::Spurious),
            duplicated: c(Kind::Duplicated),
            merged: c(Kind::Merged),
            delayed: c(Kind::Delayed),
            interrupts: c(Kind::Interrupt),
            out_of_memory: c(Kind::OutOfMemory),
            early_wakes: c(Kind::EarlyWake),
            stray_notifies: c(Kind::StrayNotify),
            failed_registers: c(Kind::FailRegister),
            failed_arms: c(Kind::FailArm),
        }
    }

    fn state(&self) -> &State {
        self.state.get_or_init(State::default)
    }

    fn draw(&self) -> u64 {
        splitmix(self.seed, self.draws.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether a fault of `per_mille` happens now (counted as `kind` if so).
    fn chance(&self, per_mille: u16, kind: Kind) -> bool {
        if per_mille == 0 {
            return false;
        }
        let hit = self.draw() % 1000 < u64::from(per_mille);
        if hit {
            self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    fn stray_notify(&self) {
        if self.chance(self.faults.stray_notify, Kind::StrayNotify) {
            // A stray notify only wakes a wait early; its failure changes nothing.
            let _ = self.inner.notify();
        }
    }

    /// Rewrites the events the inner backend appended from `from` on: merges, duplicates,
    /// widens, holds back.
    fn mangle(&self, events: &mut Events, from: usize, delayed: &mut Vec<Event>) {
        let fresh: Vec<Event> = events.iter().skip(from).copied().collect();
        if fresh.is_empty() {
            return;
        }
        let kept: Vec<Event> = events.iter().take(from).copied().collect();
        events.clear();
        kept.into_iter().for_each(|e| events.push(e));
        let mut i = 0;
        while i < fresh.len() {
            let mut ev = fresh[i];
            i += 1;
            if self.chance(self.faults.merge, Kind::Merged) {
                match fresh.get(i) {
                    Some(next) if next.token == ev.token => {
                        ev.readable |= next.readable;
                        ev.writable |= next.writable;
                        ev.hup |= next.hup;
                        i += 1;
                    }
                    _ => {
                        ev.readable = true;
                        ev.writable = true;
                    }
                }
            }
            if self.chance(self.faults.delay, Kind::Delayed) {
                delayed.push(ev);
                continue;
            }
            events.push(ev);
            if self.chance(self.faults.duplicate, Kind::Duplicated) {
                events.push(ev);
            }
        }
    }
}

impl Backend for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        if self.chance(self.faults.fail_register, Kind::FailRegister) {
            return Err(enomem());
        }
        self.inner.register(source, token)?;
        lock(&self.state().live).insert(token);
        self.stray_notify();
        Ok(())
    }

    fn arm(&self, source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()> {
        if !interest.is_none() && self.chance(self.faults.fail_arm, Kind::FailArm) {
            return Err(enomem());
        }
        self.inner.arm(source, token, interest)?;
        self.stray_notify();
        Ok(())
    }

    fn deregister(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        // Forgotten first: from here on no event is invented for it.
        lock(&self.state().live).remove(&token);
        self.inner.deregister(source, token)
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let st = self.state();
        let mut held = std::mem::take(&mut *lock(&st.delayed));
        {
            let live = lock(&st.live);
            held.retain(|e| live.contains(&e.token));
        }
        let put_back = |held: Vec<Event>| lock(&st.delayed).extend(held);
        if self.chance(self.faults.interrupt, Kind::Interrupt) {
            put_back(held);
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        if self.chance(self.faults.out_of_memory, Kind::OutOfMemory) {
            put_back(held);
            return Err(enomem());
        }
        // Held-back events are reported now, so this wait must not block.
        let timeout = if !held.is_empty() {
            Some(Duration::ZERO)
        } else if self.chance(self.faults.early_wake, Kind::EarlyWake) {
            let cut = Duration::from_micros(self.draw() % 1000);
            Some(timeout.map_or(cut, |t| t.min(cut)))
        } else {
            timeout
        };
        let from = events.len();
        if let Err(e) = self.inner.wait(events, timeout) {
            put_back(held);
            return Err(e);
        }
        let mut delayed = Vec::new();
        self.mangle(events, from, &mut delayed);
        held.into_iter().for_each(|e| events.push(e));
        if self.chance(self.faults.spurious, Kind::Spurious) {
            let live = lock(&st.live);
            if !live.is_empty() {
                let k = (self.draw() % live.len() as u64) as usize;
                let pick = self.draw();
                if let Some(&token) = live.iter().nth(k) {
                    events.push(Event {
                        token,
                        readable: pick & 1 != 0 || pick & 2 == 0,
                        writable: pick & 2 != 0,
                        hup: false,
                    });
                }
            }
        }
        put_back(delayed);
        Ok(())
    }

    fn notify(&self) -> io::Result<()> {
        self.inner.notify()
    }

    fn host_fds(&self, out: &mut Vec<(lwt_core::reactor::RawSource, Interest)>) {
        self.inner.host_fds(out)
    }

    fn syscalls(&self) -> Option<u64> {
        self.inner.syscalls()
    }

    fn after_fork(&self) -> io::Result<()> {
        self.inner.after_fork()?;
        // The driver registers every source again.
        self.state.renew(Some(State::default()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_decisions() {
        let open = || {
            let inner = crate::AnyBackend::open(BackendKind::best()).unwrap();
            Faulty::new(Box::new(inner), 42, Faults::ALL)
        };
        let (a, b) = (open(), open());
        let picks =
            |f: &Faulty| -> Vec<bool> { (0..200).map(|_| f.chance(500, Kind::Spurious)).collect() };
        assert_eq!(picks(&a), picks(&b));
        let c = Faulty::new(
            Box::new(crate::AnyBackend::open(BackendKind::best()).unwrap()),
            43,
            Faults::ALL,
        );
        assert_ne!(picks(&a), picks(&c), "another seed, other decisions");
    }

    #[test]
    fn waits_inject_interrupts_and_out_of_memory_and_still_report_the_wake_up() {
        let inner = crate::AnyBackend::open(BackendKind::best()).unwrap();
        let f = Faulty::new(Box::new(inner), 1, Faults::CONTRACT);
        let mut events = Events::with_capacity(16);
        let mut errors = 0;
        for _ in 0..400 {
            events.clear();
            f.notify().unwrap();
            match f.wait(&mut events, Some(Duration::from_millis(50))) {
                Ok(()) => {}
                Err(e) => {
                    assert!(
                        e.kind() == io::ErrorKind::Interrupted
                            || e.raw_os_error() == enomem().raw_os_error(),
                        "{e}"
                    );
                    errors += 1;
                }
            }
            assert!(events.is_empty(), "nothing is registered: {events:?}");
        }
        let n = f.injected();
        assert_eq!(errors, n.interrupts + n.out_of_memory);
        assert!(n.interrupts > 0 && n.out_of_memory > 0, "{n:?}");
    }
}
