//! Runtime metrics: counters since a runtime was created and gauges of its state now, read
//! with [`Runtime::metrics`](crate::Runtime::metrics) or [`Handle::metrics`](crate::Handle::metrics).
//!
//! # How counting stays off the hot path
//!
//! The loop's own work (polls, turns, waits, events, timers fired, notifications delivered,
//! tasks spawned on the loop's thread, tasks finished, which is always there) is counted in
//! plain fields of the loop's
//! private state (`Core`), with no atomic operation, and published to `Published` with relaxed
//! stores once per turn of the driver. Work done by other threads (tasks spawned or woken from
//! elsewhere) is counted with relaxed atomic additions, beside the atomic queue operation it
//! comes with anyway. A snapshot taken on another thread therefore sees the loop's counters as of
//! its last turn; one taken on the loop's thread (from a task) sees them exactly.
//!
//! The jobs layer is process-wide (one pool for every runtime): its figures come from a
//! provider the jobs crate registers ([`register_jobs_metrics`]), and are the same in every
//! runtime's snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A snapshot of a runtime's metrics.
///
/// The first six fields are tokio's stable `RuntimeMetrics` set (lwt has one worker: the loop);
/// the rest are lwt's own. Counters count since the runtime was created; gauges are the state
/// at the snapshot (for the loop's own queue, at its last turn).
///
/// # Examples
///
/// ```
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// let before = rt.metrics();
/// rt.block_on(async {
///     lwt_core::spawn(async {}).await.unwrap();
///     lwt_core::sleep(std::time::Duration::from_millis(1)).await;
/// });
/// let after = rt.metrics();
/// assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
/// assert_eq!(after.num_alive_tasks, 0);
/// assert!(after.timers_fired > before.timers_fired);
/// assert_eq!(after.num_workers, 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// How many threads run the runtime's tasks: 1 (tokio's `num_workers`).
    pub num_workers: usize,
    /// Tasks spawned and not yet finished or dropped (tokio's `num_alive_tasks`).
    pub num_alive_tasks: usize,
    /// Tasks waiting in the injector: scheduled by threads that do not hold the loop (tokio's
    /// `global_queue_depth`).
    pub global_queue_depth: usize,
    /// Time the loop spent not parked in the backend (tokio's
    /// `worker_total_busy_duration`), since park timing was turned on with
    /// [`Runtime::time_parks`](crate::Runtime::time_parks); `None` while it is off (the default:
    /// it costs two clock reads per park, about 1% of a TCP ping-pong round trip here).
    pub worker_total_busy_duration: Option<Duration>,
    /// How many times the loop parked: blocked in the backend waiting for work (tokio's
    /// `worker_park_count`).
    pub worker_park_count: u64,
    /// Parks plus unparks (tokio's `worker_park_unpark_count`): even while the loop runs, odd
    /// while it is parked.
    pub worker_park_unpark_count: u64,
    /// The backend's name (`"epoll"`, `"poll"`, ...).
    pub backend: &'static str,
    /// Tasks spawned (`spawn` and `spawn_local`, from any thread).
    pub tasks_spawned: u64,
    /// Task polls (each run of a task by the loop).
    pub polls: u64,
    /// Tasks scheduled from threads that do not hold the loop (wake-ups and spawns through
    /// the injector: job results, other threads' work).
    pub remote_schedules: u64,
    /// Tasks in the loop's own run queue, at its last turn.
    pub local_queue_depth: usize,
    /// Turns of the driver: one backend wait each, blocking (a park) or not.
    pub turns: u64,
    /// Readiness events the driver dispatched.
    pub events_dispatched: u64,
    /// Descriptors registered with the backend now.
    pub registrations: usize,
    /// Timers armed now.
    pub timers_armed: usize,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Notifications delivered (handlers run by the loop).
    pub notifications_delivered: u64,
    /// System calls the backend made (waits, registrations, wake-ups), if it counts them
    /// (`None` for a backend that does not).
    pub backend_syscalls: Option<u64>,
    /// Times a `switch` call of this runtime blocked long enough to hand the loop to a
    /// stand-in thread.
    pub switch_hand_offs: u64,
    /// The job pool's figures (process-wide: the same in every runtime's snapshot).
    pub jobs: JobMetrics,
}

/// The job pool's metrics (see `lwt::unix::run_job`): process-wide, one pool for every
/// runtime.
///
/// # Examples
///
/// ```
/// let m = lwt_core::metrics::JobMetrics::default();
/// assert_eq!(m.queued, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct JobMetrics {
    /// Jobs submitted to the pool (detached, or switch jobs sent there).
    pub submitted: u64,
    /// Jobs waiting in the queue for a worker now.
    pub queued: usize,
    /// Jobs running on a worker now.
    pub running: usize,
    /// Worker threads alive.
    pub threads: usize,
    /// Worker threads waiting for a job (spinning or parked).
    pub idle_threads: usize,
    /// Total time jobs waited in the queue before a worker took them. Jobs a spinning worker
    /// took at once count as no wait (they are not timed, to keep that path cheap).
    pub wait_time: Duration,
    /// Jobs that ran synchronously on the submitting thread (pool size 0, or no worker could
    /// be started).
    pub run_inline: u64,
    /// Jobs that found the pool full and waited for a busy worker.
    pub queued_at_limit: u64,
}

impl JobMetrics {
    /// A snapshot with every field given (for the jobs layer's provider).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        submitted: u64,
        queued: usize,
        running: usize,
        threads: usize,
        idle_threads: usize,
        wait_time: Duration,
        run_inline: u64,
        queued_at_limit: u64,
    ) -> JobMetrics {
        JobMetrics {
            submitted,
            queued,
            running,
            threads,
            idle_threads,
            wait_time,
            run_inline,
            queued_at_limit,
        }
    }
}

/// The provider of [`JobMetrics`], registered by the jobs layer (0: none).
static JOBS_PROVIDER: AtomicUsize = AtomicUsize::new(0);

/// Registers the function that reports the job pool's metrics (the jobs layer calls it when
/// its pool starts); the last one registered is used.
///
/// # Examples
///
/// ```
/// fn none() -> lwt_core::metrics::JobMetrics { Default::default() }
/// lwt_core::metrics::register_jobs_metrics(none);
/// ```
pub fn register_jobs_metrics(provider: fn() -> JobMetrics) {
    JOBS_PROVIDER.store(provider as usize, Ordering::SeqCst);
}

fn jobs_metrics() -> JobMetrics {
    let p = JOBS_PROVIDER.load(Ordering::SeqCst);
    if p == 0 {
        return JobMetrics::default();
    }
    // SAFETY: a non-zero value was stored by `register_jobs_metrics` from a `fn() ->
    // JobMetrics`, and function pointers and `usize` have the same size on every supported
    // target.
    let f: fn() -> JobMetrics = unsafe { std::mem::transmute::<usize, fn() -> JobMetrics>(p) };
    f()
}

/// The loop's own counters, in its private state (no atomics; published once per turn).
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) polls: u64,
    pub(crate) turns: u64,
    pub(crate) parks: u64,
    pub(crate) events: u64,
    pub(crate) timers_fired: u64,
    pub(crate) notifications: u64,
    pub(crate) spawned: u64,
    pub(crate) finished: u64,
    pub(crate) busy: Duration,
    /// When the loop last came out of a park (or started).
    pub(crate) since: Instant,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            polls: 0,
            turns: 0,
            parks: 0,
            events: 0,
            timers_fired: 0,
            notifications: 0,
            spawned: 0,
            finished: 0,
            busy: Duration::ZERO,
            since: Instant::now(),
        }
    }
}

/// What other threads read: the loop's counters as of its last turn, and the counters of work
/// done elsewhere.
#[derive(Debug, Default)]
pub(crate) struct Published {
    polls: AtomicU64,
    turns: AtomicU64,
    parks: AtomicU64,
    events: AtomicU64,
    timers_fired: AtomicU64,
    notifications: AtomicU64,
    local_spawned: AtomicU64,
    local_finished: AtomicU64,
    busy_ns: AtomicU64,
    queue_depth: AtomicUsize,
    /// Tasks spawned by threads that did not hold the loop.
    pub(crate) remote_spawned: AtomicU64,
    /// Tasks scheduled through the injector.
    pub(crate) remote_schedules: AtomicU64,
    /// Switch hand-offs of this runtime.
    pub(crate) hand_offs: AtomicU64,
}

impl Published {
    /// Publishes the loop's counters (relaxed stores: plain moves on most CPUs).
    pub(crate) fn publish(&self, c: &Counters, queue_depth: usize) {
        self.polls.store(c.polls, Ordering::Relaxed);
        self.turns.store(c.turns, Ordering::Relaxed);
        self.parks.store(c.parks, Ordering::Relaxed);
        self.events.store(c.events, Ordering::Relaxed);
        self.timers_fired.store(c.timers_fired, Ordering::Relaxed);
        self.notifications.store(c.notifications, Ordering::Relaxed);
        self.local_spawned.store(c.spawned, Ordering::Relaxed);
        self.local_finished.store(c.finished, Ordering::Relaxed);
        self.busy_ns.store(
            u64::try_from(c.busy.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.queue_depth.store(queue_depth, Ordering::Relaxed);
    }

    /// A snapshot: the loop's counters from `exact` if the caller holds the loop (else as
    /// published), plus the rest.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn snapshot(
        &self,
        exact: Option<(&Counters, usize)>,
        backend: &'static str,
        global_queue_depth: usize,
        registrations: usize,
        timers_armed: usize,
        backend_syscalls: Option<u64>,
        parked_now: bool,
        timed: bool,
    ) -> RuntimeMetrics {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (polls, turns, parks, events, fired, notes, spawned, finished, busy, depth) =
            match exact {
                Some((c, depth)) => (
                    c.polls,
                    c.turns,
                    c.parks,
                    c.events,
                    c.timers_fired,
                    c.notifications,
                    c.spawned,
                    c.finished,
                    c.busy
                        + if timed {
                            c.since.elapsed()
                        } else {
                            Duration::ZERO
                        },
                    depth,
                ),
                None => (
                    r(&self.polls),
                    r(&self.turns),
                    r(&self.parks),
                    r(&self.events),
                    r(&self.timers_fired),
                    r(&self.notifications),
                    r(&self.local_spawned),
                    r(&self.local_finished),
                    Duration::from_nanos(r(&self.busy_ns)),
                    self.queue_depth.load(Ordering::Relaxed),
                ),
            };
        let spawned_all = spawned + r(&self.remote_spawned);
        // Every task finishes on its loop (or is settled by the runtime's shutdown).
        let finished_all = finished;
        RuntimeMetrics {
            num_workers: 1,
            num_alive_tasks: spawned_all.saturating_sub(finished_all) as usize,
            global_queue_depth,
            worker_total_busy_duration: timed.then_some(busy),
            worker_park_count: parks,
            // A park is counted when it ends: one in progress adds its start.
            worker_park_unpark_count: 2 * parks + u64::from(parked_now),
            backend,
            tasks_spawned: spawned_all,
            polls,
            remote_schedules: r(&self.remote_schedules),
            local_queue_depth: depth,
            turns,
            events_dispatched: events,
            registrations,
            timers_armed,
            timers_fired: fired,
            notifications_delivered: notes,
            backend_syscalls,
            switch_hand_offs: r(&self.hand_offs),
            jobs: jobs_metrics(),
        }
    }
}
