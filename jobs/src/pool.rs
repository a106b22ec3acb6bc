//! The worker pool, the registry of pending jobs, and `run_job`.
//!
//! # Design
//!
//! - Submission is a push on a lock-free queue (`concurrent-queue`).
//! - A submitter wakes at most one parked worker, and none when a worker is spinning (Go's
//!   rule); a spinner that finds work while more is queued wakes one more.
//! - Parked workers wait on a LIFO stack, so the most recently active (warmest) thread gets the
//!   next job.
//! - After a job a worker spins for [`WORKER_SPIN`] before it parks (only on machines with more
//!   than one CPU), so a stream of short jobs never pays a thread wake-up.
//! - When a spinning worker takes the job, the task awaiting it re-polls itself through the
//!   loop's run queue for up to [`AWAIT_SPIN`] before it lets the loop sleep, so a short job's
//!   result is picked up without an eventfd round trip; other tasks keep running meanwhile.
//!   (When a parked worker had to be woken, the result cannot come that fast: no spin.) A
//!   worker counts itself as spinning from just before it publishes a result, so the next
//!   job submitted in reaction to it finds a spinner.
//! - Both sides spin politely: each turn of a spin is a `sched_yield`, so on a busy machine,
//!   where the loop's thread and the worker often share a CPU, the spinner hands its CPU over
//!   at once instead of burning its time slice. Measured here (2 vCPUs, load 6-8 from other
//!   work): a trivial job's round trip went from 5-45 us with busy spinning to 2-3.5 us.
//! - When the pool is full (no idle worker and [`thread_count`] `>=` [`pool_size`]), the job
//!   waits in the queue until a worker finishes its job and takes it; [`jobs_queued_at_limit`]
//!   counts those. It never runs on the submitting thread, which is usually the loop's: a full
//!   pool must not freeze the loop. This departs from Lwt, whose seed runs such a job
//!   synchronously (and whose users then raise the pool to 1000 threads to avoid it). Only a
//!   pool of size 0 runs jobs synchronously, by request ([`jobs_run_inline`] counts those),
//!   and, as a last resort, a job for which no worker exists and the OS refuses to start one.
//! - An idle worker exits after [`keep_alive`] (default [`DEFAULT_KEEP_ALIVE`]).
//! - [`set_keep_alive`] and [`set_pool_size`] unpark the parked workers so they take the new
//!   setting at once, but leave them on the idle stack: a job submitted meanwhile still finds
//!   them there. A worker leaves the stack to exit only under the stack's lock, after winning
//!   the decrement of the thread count, so a submitter never sees an empty stack while a
//!   worker that stays is idle.
//! - A worker that exits re-checks the queue after giving up its place; if a job arrived
//!   meanwhile and the pool has room (or no other worker is left), it stays to run it, so a
//!   job queued at the limit is never left without a worker.
//!
//! # Who owns what
//!
//! The pool (`Pool`, one per process) is shared by every runtime and worker: its counters are
//! atomics, the job queue is lock-free, and the idle stack is the one lock of the worker side
//! (never held while a job, a waker or any user code runs, and never nested with another
//! lock). The registry of pending jobs (`Registry`) is only locked by the submitting side and
//! by `abort_jobs`/`wait_for_jobs`; a job slot's lock is taken alone, never inside the
//! registry's.
//!
//! # Fork
//!
//! A forked child has only the thread that called `fork`; any other thread of the parent may
//! have been anywhere at that moment: parked on the idle stack (the child must never hand it a
//! job), holding the idle stack's or the registry's lock or a job slot's, half-way through a
//! push on the job queue, or notifying the registry's event. So the child reuses none of it:
//! the pool and the registry are `lwt_core::fork::Renewable`s that the fork hook refills with
//! new ones (the parent's settings and counters carried over, no thread, nothing queued or
//! parked; the abort epoch carried over), and the parent's are leaked untouched. A job of the
//! parent is told apart by its slot's fork generation: in the child its future fails with
//! `Canceled` without waiting for its slot's lock (it takes the result if it can get the lock
//! at once and the job had finished), `wait_for_jobs` counts it finished, and the runtime wakes
//! every task once after the fork so those futures run. A worker that forks (`fork` inside a
//! detached job) goes on in the child as a thread of the parent's pool: the child must `exec`
//! or `_exit` before that job returns.

use crate::method::{async_method, AsyncMethod};
use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use lwt_core::fork::{generation, Renewable};
use lwt_core::metrics::JobMetrics;
use lwt_core::Error;
use slab::Slab;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker waits for a job before it exits, unless [`set_keep_alive`] says
/// otherwise.
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::unix::DEFAULT_KEEP_ALIVE.as_secs(), 10);
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// How long a worker keeps looking for a new job after one before it parks (multi-CPU only).
///
/// # Examples
///
/// ```
/// assert!(lwt::unix::WORKER_SPIN < std::time::Duration::from_millis(1));
/// ```
pub const WORKER_SPIN: Duration = Duration::from_micros(50);
/// How long the task awaiting a detached job keeps re-polling itself (through the run queue,
/// so other tasks still run) before it lets the loop sleep, when a spinning worker took the
/// job.
///
/// # Examples
///
/// ```
/// assert!(lwt::unix::AWAIT_SPIN < std::time::Duration::from_millis(1));
/// ```
pub const AWAIT_SPIN: Duration = Duration::from_micros(20);
/// The environment variable that sets the pool size (a whole number from 0 to
/// [`MAX_POOL_SIZE`]; 0 runs every job synchronously).
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::unix::POOL_SIZE_ENV, "LWT_POOL_SIZE");
/// ```
pub const POOL_SIZE_ENV: &str = "LWT_POOL_SIZE";
/// The largest pool size lwt takes: 1024 worker threads (Lwt's own default is 1000). Each
/// worker is an OS thread with its own stack, so a size far beyond the CPUs only helps jobs
/// that block, and an unbounded one let 3 000 blocking jobs make 3 000 threads.
/// [`set_pool_size`] caps larger values to it; `LWT_POOL_SIZE` and `lwt::Builder::pool_size`
/// refuse them (see [`pool_size_from_env`]).
///
/// # Examples
///
/// ```
/// use lwt::unix::{pool_size, set_pool_size, MAX_POOL_SIZE};
/// let before = pool_size();
/// set_pool_size(usize::MAX);
/// assert_eq!(pool_size(), MAX_POOL_SIZE);
/// set_pool_size(before);
/// ```
pub const MAX_POOL_SIZE: usize = 1024;

/// A blocking computation that `run_job` can run on any thread (Lwt's `'a job`). Every
/// `FnOnce() -> T + Send` closure is a job; a type of your own can be one too.
///
/// # Examples
///
/// ```
/// struct Stat(std::path::PathBuf);
/// impl lwt::unix::Job for Stat {
///     type Output = std::io::Result<u64>;
///     fn run(self) -> Self::Output {
///         std::fs::metadata(&self.0).map(|m| m.len())
///     }
/// }
/// lwt::run(async {
///     let r = lwt::unix::run_job(None, Stat("/".into())).await.unwrap();
///     assert!(r.is_ok());
/// });
/// ```
pub trait Job: Send + 'static {
    /// What the job produces.
    type Output: Send + 'static;
    /// Runs the job (on a worker, or on the loop's thread under `none` and `switch`).
    fn run(self) -> Self::Output;
}

impl<T: Send + 'static, F: FnOnce() -> T + Send + 'static> Job for F {
    type Output = T;
    fn run(self) -> T {
        self()
    }
}

type Work = Box<dyn FnOnce() + Send>;

/// A job in the queue, with when it was queued if it is timed (see [`JobMetrics::wait_time`]:
/// only jobs that found no spinning worker are).
struct Queued {
    work: Work,
    since: Option<Instant>,
}

/// A parked worker, as seen from the idle stack.
struct Parked {
    thread: Thread,
    notified: AtomicBool,
}

struct Pool {
    queue: ConcurrentQueue<Queued>,
    /// Parked workers, most recently parked last (LIFO).
    idle: Mutex<Vec<Arc<Parked>>>,
    size: AtomicUsize,
    threads: AtomicUsize,
    waiting: AtomicUsize,
    spinning: AtomicUsize,
    next_name: AtomicUsize,
    keep_alive_ns: AtomicU64,
    inline: AtomicU64,
    queued_at_limit: AtomicU64,
    /// Jobs submitted (for metrics).
    submitted: AtomicU64,
    /// Nanoseconds timed jobs waited in the queue (for metrics).
    wait_ns: AtomicU64,
    multi_cpu: bool,
    max_spinning: usize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside our locks; a poisoned lock still guards consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads `LWT_POOL_SIZE` the way lwt does (the jobs layer here, `lwt::Builder::from_env` the
/// same way): `None` when it is unset or empty, else a whole number of threads from 0 to
/// [`MAX_POOL_SIZE`] (surrounding spaces allowed). Immediate.
///
/// # Errors
///
/// `InvalidArgument` naming `LWT_POOL_SIZE` and the value, for a value that is not valid
/// UTF-8, not a whole number, or above [`MAX_POOL_SIZE`]. The jobs layer then prints the
/// error once on standard error and uses its default size; `lwt::Builder::from_env` (and so
/// `lwt::run`) refuses to start with it.
///
/// # Examples
///
/// ```
/// // Whatever the environment of this doc test says, the answer is a valid size or an error.
/// match lwt::unix::pool_size_from_env() {
///     Ok(Some(n)) => assert!(n <= lwt::unix::MAX_POOL_SIZE),
///     Ok(None) => {}
///     Err(e) => assert!(e.to_string().contains("LWT_POOL_SIZE")),
/// }
/// ```
pub fn pool_size_from_env() -> Result<Option<usize>, Error> {
    let bad = |what: String| Error::invalid(POOL_SIZE_ENV, what);
    let v = match std::env::var(POOL_SIZE_ENV) {
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(bad(format!("{v:?} is not valid UTF-8")))
        }
        Ok(v) => v,
    };
    if v.is_empty() {
        return Ok(None);
    }
    match v.trim().parse::<u64>() {
        Ok(n) if n <= MAX_POOL_SIZE as u64 => Ok(Some(n as usize)),
        Ok(_) => Err(bad(format!(
            "{v:?} threads is more than the largest pool, {MAX_POOL_SIZE} (MAX_POOL_SIZE)"
        ))),
        Err(_) => Err(bad(format!(
            "{v:?} is not a whole number of threads (0..={MAX_POOL_SIZE})"
        ))),
    }
}

fn default_size() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let default = (cpus * 8).clamp(8, 128);
    match pool_size_from_env() {
        Ok(Some(n)) => n,
        Ok(None) => default,
        Err(e) => {
            eprintln!("lwt: {e}; using the default pool size ({default})");
            default
        }
    }
}

/// The pool's figures for `Runtime::metrics` (registered as the core's provider).
fn metrics() -> JobMetrics {
    let p = pool();
    let threads = p.threads.load(Ordering::Relaxed);
    let idle = p.waiting.load(Ordering::Relaxed).min(threads);
    JobMetrics::new(
        p.submitted.load(Ordering::Relaxed),
        p.queue.len(),
        threads - idle,
        threads,
        idle,
        Duration::from_nanos(p.wait_ns.load(Ordering::Relaxed)),
        p.inline.load(Ordering::Relaxed),
        p.queued_at_limit.load(Ordering::Relaxed),
    )
}

/// The pool of this process (a forked child gets a new one, see "Fork").
static POOL: Renewable<Pool> = Renewable::empty();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        lwt_core::register_fork_hook(reset_after_fork);
        lwt_core::metrics::register_jobs_metrics(metrics);
        Pool::new(default_size(), DEFAULT_KEEP_ALIVE.as_nanos() as u64, [0; 5])
    })
}

impl Pool {
    /// An empty pool: no thread, nothing queued; `counters` are the worker names used, the
    /// jobs run inline, queued at the limit and submitted, and the queue's wait time (ns).
    fn new(size: usize, keep_alive_ns: u64, counters: [u64; 5]) -> Pool {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pool {
            queue: ConcurrentQueue::unbounded(),
            idle: Mutex::new(Vec::new()),
            size: AtomicUsize::new(size),
            threads: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
            next_name: AtomicUsize::new(counters[0] as usize),
            keep_alive_ns: AtomicU64::new(keep_alive_ns),
            inline: AtomicU64::new(counters[1]),
            queued_at_limit: AtomicU64::new(counters[2]),
            submitted: AtomicU64::new(counters[3]),
            wait_ns: AtomicU64::new(counters[4]),
            multi_cpu: cpus > 1,
            max_spinning: (cpus / 4).max(1),
        }
    }
}

/// The maximum number of worker threads (Lwt's `pool_size`): `LWT_POOL_SIZE` (at most
/// [`MAX_POOL_SIZE`]), else 8 per CPU, between 8 and 128. When every worker is busy and this
/// many exist, a new job waits in the queue until a worker is free (see
/// [`jobs_queued_at_limit`]); it never runs on the calling thread (Lwt's seed runs it
/// synchronously there, which freezes the loop). With 0, every job runs synchronously on the
/// calling thread.
///
/// # Examples
///
/// ```
/// assert!(lwt::unix::pool_size() >= lwt::unix::thread_count());
/// ```
pub fn pool_size() -> usize {
    pool().size.load(Ordering::SeqCst)
}

/// Changes the maximum number of worker threads (Lwt's `set_pool_size`), capped at
/// [`MAX_POOL_SIZE`] (a larger `n` is taken as that, with a warning through `tracing`). With
/// 0, every job runs synchronously on the calling thread, **blocking the loop** while it
/// runs, as under the `none` async method (counted by [`jobs_run_inline`]). Shrinking does
/// not stop busy workers; they exit when they next find no work (parked ones at once).
///
/// # Examples
///
/// ```
/// let before = lwt::unix::pool_size();
/// lwt::unix::set_pool_size(4);
/// assert_eq!(lwt::unix::pool_size(), 4);
/// lwt::unix::set_pool_size(before);
/// ```
pub fn set_pool_size(n: usize) {
    let p = pool();
    if n > MAX_POOL_SIZE {
        tracing::warn!("lwt: set_pool_size({n}) capped at MAX_POOL_SIZE ({MAX_POOL_SIZE})");
    }
    let n = n.min(MAX_POOL_SIZE);
    p.size.store(n, Ordering::SeqCst);
    // Parked workers beyond the new size exit at once.
    if p.threads.load(Ordering::SeqCst) > n {
        wake_all(p);
    }
}

/// The number of worker threads alive (Lwt's `thread_count`).
///
/// # Examples
///
/// ```
/// let _alive: usize = lwt::unix::thread_count();
/// ```
pub fn thread_count() -> usize {
    pool().threads.load(Ordering::SeqCst)
}

/// The number of worker threads waiting for a job, spinning or parked (Lwt's
/// `thread_waiting_count`).
///
/// # Examples
///
/// ```
/// assert!(lwt::unix::thread_waiting_count() <= lwt::unix::thread_count());
/// ```
pub fn thread_waiting_count() -> usize {
    pool().waiting.load(Ordering::SeqCst)
}

/// How long an idle worker waits for a job before it exits (default
/// [`DEFAULT_KEEP_ALIVE`], 10 s).
///
/// # Examples
///
/// ```
/// assert!(lwt::unix::keep_alive() > std::time::Duration::ZERO);
/// ```
pub fn keep_alive() -> Duration {
    Duration::from_nanos(pool().keep_alive_ns.load(Ordering::SeqCst))
}

/// Sets how long an idle worker waits for a job before it exits; parked workers take the new
/// value at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let before = lwt::unix::keep_alive();
/// lwt::unix::set_keep_alive(Duration::from_secs(2));
/// assert_eq!(lwt::unix::keep_alive(), Duration::from_secs(2));
/// lwt::unix::set_keep_alive(before);
/// ```
pub fn set_keep_alive(d: Duration) {
    let p = pool();
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    p.keep_alive_ns.store(ns, Ordering::SeqCst);
    wake_all(p);
}

/// How many detached jobs ran synchronously on the submitting thread since the process
/// started: because [`pool_size`] was 0 when they were submitted, or, as a last resort, because
/// no worker existed and the OS refused to start one. A full pool never runs a job here (see
/// [`jobs_queued_at_limit`]). Jobs run under `none` (or inline under `switch`) are not
/// counted.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let before = lwt::unix::jobs_run_inline();
///     lwt::unix::run_job(Some(lwt::unix::AsyncMethod::Detach), || ()).await.unwrap();
///     // A pool of size 0 would have run it here; the default pool did not.
///     assert!(lwt::unix::pool_size() == 0 || lwt::unix::jobs_run_inline() == before);
/// });
/// ```
pub fn jobs_run_inline() -> u64 {
    pool().inline.load(Ordering::SeqCst)
}

/// How many detached jobs, since the process started, found the pool full when they were
/// submitted (no idle worker, and [`thread_count`] `>=` [`pool_size`]) and so waited in the
/// queue until a busy worker finished its job. The loop went on meanwhile. A steadily growing
/// figure means the pool is too small for the blocking work: raise it with [`set_pool_size`]
/// (or `LWT_POOL_SIZE`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lwt::unix::{jobs_queued_at_limit, pool_size, run_job, set_pool_size, AsyncMethod};
/// lwt::run(async {
///     let size = pool_size();
///     set_pool_size(1);
///     let before = jobs_queued_at_limit();
///     let slow = lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
///         std::thread::sleep(Duration::from_millis(50))
///     }));
///     lwt::sleep(Duration::from_millis(10)).await;
///     // The only worker is busy: this job waits for it, and the loop goes on.
///     assert_eq!(run_job(Some(AsyncMethod::Detach), || 7).await.unwrap(), 7);
///     assert!(jobs_queued_at_limit() > before);
///     slow.await.unwrap().unwrap();
///     set_pool_size(size);
/// });
/// ```
pub fn jobs_queued_at_limit() -> u64 {
    pool().queued_at_limit.load(Ordering::SeqCst)
}

/// Blocks every signal in the calling thread, so that signals go to the loop's threads.
#[cfg(unix)]
#[allow(unsafe_code)] // two libc calls on a local signal set; see the SAFETY comments
fn block_signals() {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigfillset` initialises the set it is given; the pointer is to our own local.
    let r = unsafe { libc::sigfillset(set.as_mut_ptr()) };
    if r != 0 {
        return;
    }
    // SAFETY: the set was initialised by `sigfillset` above; a null old-set pointer is allowed,
    // and the call only changes this thread's signal mask.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut()) };
    if r != 0 {
        tracing::warn!("lwt: a job worker could not block signals (error {r})");
    }
}

/// No signals to block here.
#[cfg(not(unix))]
fn block_signals() {}

/// Takes the warmest parked worker off the stack and wakes it.
fn wake_one(p: &Pool) -> bool {
    let w = lock(&p.idle).pop();
    match w {
        Some(w) => {
            w.notified.store(true, Ordering::SeqCst);
            w.thread.unpark();
            true
        }
        None => false,
    }
}

/// Unparks every parked worker so it takes a new setting (keep-alive, pool size) into
/// account, leaving it on the idle stack: a job submitted meanwhile still finds it there
/// (taking them off the stack made such a job look like one at the limit).
fn wake_all(p: &Pool) {
    let all: Vec<Thread> = lock(&p.idle).iter().map(|w| w.thread.clone()).collect();
    for t in all {
        t.unpark();
    }
}

/// Takes `me` off the idle stack; false if a submitter already did (a wake-up is coming).
fn remove_idle(p: &Pool, me: &Arc<Parked>) -> bool {
    let mut idle = lock(&p.idle);
    match idle.iter().position(|w| Arc::ptr_eq(w, me)) {
        Some(i) => {
            idle.remove(i);
            true
        }
        None => false,
    }
}

/// A parked worker of a pool with more threads than its size leaves it: under the idle
/// stack's lock (which submitters take to pop a worker), it gives up its place in the thread
/// count and only then leaves the stack, so a submitter never finds the stack empty while a
/// worker that stays is parked. True if this thread must exit; false if it stays (another
/// worker left first) or if a submitter already took it (a notification is coming).
fn shed_parked(p: &Pool, me: &Arc<Parked>) -> bool {
    let mut idle = lock(&p.idle);
    match idle.iter().position(|w| Arc::ptr_eq(w, me)) {
        Some(i) if shed_excess(p) => {
            idle.remove(i);
            true
        }
        _ => false,
    }
}

/// Leaves the pool if it has more threads than its size; true if this thread must exit.
fn shed_excess(p: &Pool) -> bool {
    let mut n = p.threads.load(Ordering::SeqCst);
    while n > p.size.load(Ordering::SeqCst) {
        match p
            .threads
            .compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(m) => n = m,
        }
    }
    false
}

fn try_start_spinning(p: &Pool) -> bool {
    if !p.multi_cpu {
        return false;
    }
    let mut n = p.spinning.load(Ordering::SeqCst);
    while n < p.max_spinning {
        match p
            .spinning
            .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(m) => n = m,
        }
    }
    false
}

enum Idle {
    Job(Work),
    Again,
    Exit,
}

fn pop(p: &Pool) -> Option<Work> {
    fence(Ordering::SeqCst);
    let q = p.queue.pop().ok()?;
    if let Some(t) = q.since {
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        p.wait_ns.fetch_add(ns, Ordering::Relaxed);
    }
    Some(q.work)
}

/// What a worker does between jobs: spin, then park on the idle stack until woken or until
/// the keep-alive runs out.
fn idle(p: &Pool) -> Idle {
    let spin = SPIN_CLAIMED.with(|c| c.replace(false)) || try_start_spinning(p);
    if spin {
        let start = Instant::now();
        loop {
            if let Some(w) = pop(p) {
                p.spinning.fetch_sub(1, Ordering::SeqCst);
                return Idle::Job(w);
            }
            if start.elapsed() >= WORKER_SPIN
                || p.threads.load(Ordering::Relaxed) > p.size.load(Ordering::Relaxed)
            {
                break;
            }
            // A polite spin: each turn gives the CPU to whoever else wants it (on a busy
            // machine, often the loop's thread, which is about to send the next job).
            thread::yield_now();
        }
        p.spinning.fetch_sub(1, Ordering::SeqCst);
    } else if let Some(w) = pop(p) {
        return Idle::Job(w);
    }
    // Over the pool's size (it shrank): leave, unless work is queued. A submitter that counted
    // on us as a spinner pushed its job before we stopped spinning, so it is seen here.
    if p.queue.is_empty() && shed_excess(p) {
        return Idle::Exit;
    }
    // A fresh record per park, so a late notification of an earlier park cannot be mistaken
    // for one of this park.
    let me = Arc::new(Parked {
        thread: thread::current(),
        notified: AtomicBool::new(false),
    });
    lock(&p.idle).push(me.clone());
    // A submitter that saw no spinner either popped us (we will be notified) or found the
    // stack without us and ran the job elsewhere; either way, look once more now we are
    // visible, so no job is left behind.
    if let Some(w) = pop(p) {
        remove_idle(p, &me);
        return Idle::Job(w);
    }
    let parked_at = Instant::now();
    loop {
        if me.notified.load(Ordering::SeqCst) {
            return match pop(p) {
                Some(w) => Idle::Job(w),
                None => Idle::Again,
            };
        }
        if p.threads.load(Ordering::SeqCst) > p.size.load(Ordering::SeqCst) {
            // The pool shrank: leave it, unless another worker left first or a submitter took
            // this one meanwhile (then its notification comes at once).
            if shed_parked(p, &me) {
                return Idle::Exit;
            }
            if !me.notified.load(Ordering::SeqCst) {
                thread::park_timeout(Duration::from_millis(1));
            }
            continue;
        }
        // Read at every wake-up: `set_keep_alive` unparks the parked workers to apply a new one.
        let deadline = match parked_at.checked_add(keep_alive()) {
            Some(d) => d,
            None => {
                thread::park(); // a keep-alive beyond what `Instant` can hold: no timeout
                continue;
            }
        };
        let now = Instant::now();
        if now >= deadline {
            if remove_idle(p, &me) {
                // Nobody can wake us now: a last look, then leave.
                if let Some(w) = pop(p) {
                    return Idle::Job(w);
                }
                p.threads.fetch_sub(1, Ordering::SeqCst);
                return Idle::Exit;
            }
            // A submitter took us off the stack: its notification is on its way.
            thread::park_timeout(Duration::from_millis(1));
            continue;
        }
        thread::park_timeout(deadline - now);
    }
}

thread_local! {
    /// This thread is a pool worker.
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
    /// This worker already counts itself as spinning (see [`before_publish`]).
    static SPIN_CLAIMED: Cell<bool> = const { Cell::new(false) };
}

/// Called by a job on a worker after the call returns and before its result is published:
/// the worker counts itself as spinning from now on, so that a submitter reacting at once to
/// the result sees a spinner coming and neither wakes nor starts another thread (and its task
/// can wait for the next result by spinning too).
fn before_publish() {
    if IS_WORKER.with(Cell::get) && !SPIN_CLAIMED.with(Cell::get) && try_start_spinning(pool()) {
        SPIN_CLAIMED.with(|c| c.set(true));
    }
}

fn worker() {
    block_signals();
    IS_WORKER.with(|w| w.set(true));
    let p = pool();
    loop {
        p.waiting.fetch_add(1, Ordering::SeqCst);
        let next = idle(p);
        p.waiting.fetch_sub(1, Ordering::SeqCst);
        match next {
            Idle::Job(w) => {
                // Submitters may have counted on this worker for more jobs than the one it
                // took: if more wait and nobody spins, pass them on (Go's rule).
                if !p.queue.is_empty() && p.spinning.load(Ordering::SeqCst) == 0 && !wake_one(p) {
                    start_worker(p);
                }
                // The job's own panic is caught inside `w`; this catches one from dropping an
                // unwanted result, so the worker (and its spinning claim) survives it.
                if catch_unwind(AssertUnwindSafe(w)).is_err() {
                    SPIN_CLAIMED.with(|c| {
                        if c.replace(false) {
                            p.spinning.fetch_sub(1, Ordering::SeqCst);
                        }
                    });
                }
            }
            Idle::Again => {}
            Idle::Exit => {
                if stays_for_queued(p) {
                    continue;
                }
                return;
            }
        }
    }
}

/// Whether a worker that has just given up its place (`threads` already decremented) takes it
/// back to run a queued job. A submitter that found the pool full before this thread gave up
/// its place queued its job for "the first busy worker to finish": if a job is queued now,
/// the leaving worker stays when the pool has room again, or when no other worker is left to
/// take it; else that job would wait for the busy workers, or for ever.
fn stays_for_queued(p: &Pool) -> bool {
    fence(Ordering::SeqCst);
    !p.queue.is_empty()
        && (reserve_thread(p)
            || p.threads
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok())
}

fn reserve_thread(p: &Pool) -> bool {
    let mut n = p.threads.load(Ordering::SeqCst);
    loop {
        if n >= p.size.load(Ordering::SeqCst) {
            return false;
        }
        match p
            .threads
            .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(m) => n = m,
        }
    }
}

fn run_inline(p: &Pool) {
    if let Some(w) = pop(p) {
        p.inline.fetch_add(1, Ordering::SeqCst);
        w();
    }
}

/// Queues `work` and makes sure someone runs it: a spinning worker, else the warmest parked
/// one, else a new thread, else (pool full) the first busy worker to finish its job. Only a
/// pool of size 0 runs it on the calling thread, now (or, as a last resort, when no worker
/// exists and none can be started). True if a spinning worker will take it (its result is
/// then likely to come within microseconds).
fn submit(work: Work) -> bool {
    let p = pool();
    if p.size.load(Ordering::SeqCst) == 0 {
        p.inline.fetch_add(1, Ordering::SeqCst);
        work();
        return false;
    }
    p.submitted.fetch_add(1, Ordering::Relaxed);
    // A spinning worker takes the job at once: not worth a clock read.
    let since = (p.spinning.load(Ordering::Relaxed) == 0).then(Instant::now);
    let _ = p.queue.push(Queued { work, since }); // unbounded and never closed
    fence(Ordering::SeqCst);
    if p.spinning.load(Ordering::SeqCst) > 0 {
        return true;
    }
    if wake_one(p) {
        return false;
    }
    if start_worker(p) {
        return false;
    }
    if p.threads.load(Ordering::SeqCst) == 0 {
        // No worker exists to take it: the OS refused to start one, or the pool shrank to 0
        // since the size was read above. Nobody else would run it.
        run_inline(p);
    } else {
        // The pool is full: the job waits in the queue for the first worker to finish (a
        // worker that exits meanwhile re-checks the queue, see `worker`).
        p.queued_at_limit.fetch_add(1, Ordering::SeqCst);
    }
    false
}

/// Starts a worker thread if the pool has room; false if it has none or the OS refused.
fn start_worker(p: &Pool) -> bool {
    if !reserve_thread(p) {
        return false;
    }
    let id = p.next_name.fetch_add(1, Ordering::Relaxed);
    let spawned = thread::Builder::new()
        .name(format!("lwt-job-{id}"))
        .spawn(worker);
    match spawned {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("lwt: cannot start a job worker thread: {e}");
            p.threads.fetch_sub(1, Ordering::SeqCst);
            false
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pending jobs: their slots and the registry behind abort_jobs / cancel_jobs / wait_for_jobs.

enum Outcome<T> {
    Pending,
    Done(std::thread::Result<T>),
    Rejected(Error),
    /// The result was taken, or nobody waits for it any more.
    Taken,
    /// The awaiting future was dropped before the call returned: the worker drops the result.
    Abandoned,
}

struct SlotState<T> {
    outcome: Outcome<T>,
    waker: Option<Waker>,
}

struct Slot<T> {
    st: Mutex<SlotState<T>>,
    /// The fork generation of the process that submitted it (`lwt_core::fork::generation`):
    /// a slot of an older one is the parent's, whose worker is not in this process.
    generation: u64,
    /// The outcome is no longer `Pending` (checked without the lock while spinning).
    settled: AtomicBool,
    /// The real call has returned.
    finished: AtomicBool,
}

/// A job in the registry, whatever its output type.
pub(crate) trait Pending: Send + Sync {
    fn reject(&self, e: &Error);
    fn finished(&self) -> bool;
}

impl<T: Send> Pending for Slot<T> {
    fn reject(&self, e: &Error) {
        let w = {
            let mut st = lock(&self.st);
            if !matches!(st.outcome, Outcome::Pending) {
                return;
            }
            st.outcome = Outcome::Rejected(e.clone());
            self.settled.store(true, Ordering::SeqCst);
            st.waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }
    fn finished(&self) -> bool {
        // A job of the parent process never finishes here: its call runs on the parent's
        // thread.
        self.finished.load(Ordering::SeqCst) || self.is_parents()
    }
}

impl<T> Slot<T> {
    /// The job was submitted before a fork that led to this process.
    fn is_parents(&self) -> bool {
        self.generation != generation()
    }
}

/// The jobs whose real call may still run. Only the submitting side touches it: an entry is
/// removed by the future that took the job's result, or by a sweep of finished entries (the
/// future was dropped, or the job rejected), so the workers never take this lock.
pub(crate) struct Jobs {
    slab: Slab<Arc<dyn Pending>>,
    sweep_at: usize,
}

impl Jobs {
    pub(crate) fn insert(&mut self, job: Arc<dyn Pending>) -> usize {
        if self.slab.len() >= self.sweep_at {
            self.slab.retain(|_, j| !j.finished());
            self.sweep_at = (self.slab.len() * 2).max(64);
        }
        self.slab.insert(job)
    }

    /// Removes entry `key` if it is still `job` (keys are reused after a sweep).
    pub(crate) fn remove<P: ?Sized>(&mut self, key: usize, job: &Arc<P>) {
        let same = self
            .slab
            .get(key)
            .is_some_and(|j| std::ptr::addr_eq(Arc::as_ptr(j), Arc::as_ptr(job)));
        if same {
            self.slab.remove(key);
        }
    }

    fn pending(&self) -> Vec<Arc<dyn Pending>> {
        self.slab
            .iter()
            .filter(|(_, j)| !j.finished())
            .map(|(_, j)| j.clone())
            .collect()
    }
}

pub(crate) struct Registry {
    pub(crate) jobs: Mutex<Jobs>,
    /// Notified whenever a job finishes or is rejected (for `wait_for_jobs`).
    pub(crate) done: Event,
    /// Bumped by every `abort_jobs`, so a switch job can tell it was aborted meanwhile.
    abort_epoch: AtomicU64,
    abort_error: Mutex<Option<Error>>,
}

/// The registry of this process (a forked child gets a new one, see "Fork").
static REGISTRY: Renewable<Registry> = Renewable::empty();

pub(crate) fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry::new(0, None))
}

impl Registry {
    fn new(abort_epoch: u64, abort_error: Option<Error>) -> Registry {
        Registry {
            jobs: Mutex::new(Jobs {
                slab: Slab::new(),
                sweep_at: 64,
            }),
            done: Event::new(),
            abort_epoch: AtomicU64::new(abort_epoch),
            abort_error: Mutex::new(abort_error),
        }
    }
}

/// Resets the jobs layer in a child process after `lwt::unix::fork` (registered as a fork
/// hook; see "Fork" in the module documentation): a new, empty pool with the parent's settings
/// and counters, a new registry with the parent's abort epoch, and this thread is no worker of
/// the new pool. Nothing of the parent's pool or registry is locked, run or dropped: another
/// thread of the parent may have held any of it at the fork.
fn reset_after_fork() {
    let old = pool();
    POOL.renew(Some(Pool::new(
        old.size.load(Ordering::SeqCst),
        old.keep_alive_ns.load(Ordering::SeqCst),
        [
            old.next_name.load(Ordering::SeqCst) as u64,
            old.inline.load(Ordering::SeqCst),
            old.queued_at_limit.load(Ordering::SeqCst),
            old.submitted.load(Ordering::SeqCst),
            old.wait_ns.load(Ordering::SeqCst),
        ],
    )));
    let old = registry();
    let abort_error = old.abort_error.try_lock().ok().and_then(|e| e.clone());
    REGISTRY.renew(Some(Registry::new(
        old.abort_epoch.load(Ordering::SeqCst),
        abort_error,
    )));
    // A worker that forked goes on in the child as a thread of the parent's pool only.
    IS_WORKER.with(|w| w.set(false));
    SPIN_CLAIMED.with(|c| c.set(false));
}

/// Makes every pending job fail with `err` (Lwt's `abort_jobs`): the tasks awaiting them get
/// `Err(err)` at once. The real calls keep running on their threads; their results are
/// dropped when they return. A `switch` job in progress is rejected when its call returns.
/// The kernel's own file operations on io_uring ([`kernel_job`](crate::kernel_job): the file
/// reads, writes, syncs, opens, stats and closes that take the ring there instead of a job)
/// are jobs too: they are rejected the same way, and the kernel is asked to cancel them.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let job = lwt::spawn(lwt::unix::run_job(Some(lwt::unix::AsyncMethod::Detach), || {
///         std::thread::sleep(Duration::from_millis(50))
///     }));
///     lwt::sleep(Duration::from_millis(5)).await;
///     lwt::unix::abort_jobs(lwt::Error::Timeout);
///     assert!(matches!(job.await.unwrap(), Err(lwt::Error::Timeout)));
///     lwt::unix::wait_for_jobs().await;
/// });
/// ```
pub fn abort_jobs(err: Error) {
    let r = registry();
    *lock(&r.abort_error) = Some(err.clone());
    r.abort_epoch.fetch_add(1, Ordering::SeqCst);
    let pending = lock(&r.jobs).pending();
    for j in pending {
        j.reject(&err);
    }
    r.done.notify(usize::MAX);
}

/// Makes every pending job fail with `Error::Canceled` (Lwt's `cancel_jobs`, the same as
/// `abort_jobs(Error::Canceled)`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     lwt::unix::cancel_jobs(); // nothing pending: nothing happens
///     assert_eq!(lwt::unix::run_job(None, || 1).await.unwrap(), 1);
/// });
/// ```
pub fn cancel_jobs() {
    abort_jobs(Error::Canceled);
}

/// Waits until every job pending now has finished running (Lwt's `wait_for_jobs`), rejected
/// ones included: it waits for their real calls to return, and for the kernel's file
/// operations on io_uring ([`kernel_job`](crate::kernel_job)) to complete. Jobs started later are not waited
/// for, except `switch` jobs whose loop is handed off, which are waited for until none is
/// (polled every millisecond). In a process forked since a job was submitted, that job is not
/// waited for: its call runs in the parent.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let t = lwt::spawn(lwt::unix::run_job(Some(lwt::unix::AsyncMethod::Detach), || {
///         std::thread::sleep(Duration::from_millis(20));
///         7
///     }));
///     lwt::sleep(Duration::from_millis(1)).await;
///     lwt::unix::wait_for_jobs().await;
///     assert!(t.is_finished() || t.await.unwrap().unwrap() == 7);
/// });
/// ```
pub async fn wait_for_jobs() {
    let born = generation();
    let r = registry();
    let snapshot = lock(&r.jobs).pending();
    // Switch jobs are not in the registry (their fast path stays a few atomic operations):
    // one can only be pending from here while its loop is handed off, which is rare, so
    // poll for that.
    while lwt_core::switch::calls_handed_off() > 0 {
        lwt_core::sleep(Duration::from_millis(1)).await;
    }
    let mut listener: Option<event_listener::EventListener> = None;
    std::future::poll_fn(|cx| loop {
        if generation() != born {
            // Forked since: the snapshot's jobs are the parent's, and so is `r.done`, whose
            // lock a thread of the parent may hold: leave the listener registered there.
            std::mem::forget(listener.take());
            return Poll::Ready(());
        }
        match listener.as_mut() {
            None => {
                listener = Some(r.done.listen());
                if snapshot.iter().all(|j| j.finished()) {
                    return Poll::Ready(());
                }
            }
            Some(l) => match Pin::new(l).poll(cx) {
                Poll::Ready(()) => listener = None,
                Poll::Pending => return Poll::Pending,
            },
        }
    })
    .await
}

/// The future of a detached job.
struct JobFuture<T: Send + 'static> {
    slot: Arc<Slot<T>>,
    key: usize,
    spin_until: Option<Instant>,
}

impl<T: Send + 'static> JobFuture<T> {
    /// The outcome of a job of the parent process (see "Fork"): its result if it had finished
    /// and its slot's lock is free, else `Canceled`; the slot's lock is never waited for (a
    /// thread of the parent may hold it forever).
    fn parents_outcome(&self) -> Result<T, Error> {
        let outcome = match self.slot.st.try_lock() {
            Ok(mut st) => std::mem::replace(&mut st.outcome, Outcome::Taken),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                std::mem::replace(&mut p.into_inner().outcome, Outcome::Taken)
            }
            Err(std::sync::TryLockError::WouldBlock) => Outcome::Taken,
        };
        match outcome {
            Outcome::Done(Ok(v)) => Ok(v),
            Outcome::Done(Err(panic)) => resume_unwind(panic),
            Outcome::Rejected(e) => Err(e),
            _ => Err(Error::Canceled),
        }
    }
}

impl<T: Send + 'static> Future for JobFuture<T> {
    type Output = Result<T, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.slot.is_parents() {
            return Poll::Ready(self.parents_outcome());
        }
        if !self.slot.settled.load(Ordering::SeqCst) {
            if let Some(until) = self.spin_until {
                if Instant::now() < until {
                    // Re-poll through the run queue: other tasks run, the loop does not sleep.
                    // Yield the CPU meanwhile, in case the worker waits for this one.
                    thread::yield_now();
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.spin_until = None;
            }
        }
        let mut st = lock(&self.slot.st);
        match std::mem::replace(&mut st.outcome, Outcome::Taken) {
            Outcome::Done(r) => {
                drop(st);
                // The call has returned: the job leaves the registry.
                lock(&registry().jobs).remove(self.key, &self.slot);
                match r {
                    Ok(v) => Poll::Ready(Ok(v)),
                    Err(panic) => resume_unwind(panic),
                }
            }
            Outcome::Rejected(e) => Poll::Ready(Err(e)),
            Outcome::Taken | Outcome::Abandoned => Poll::Ready(Err(Error::Canceled)),
            Outcome::Pending => {
                st.outcome = Outcome::Pending;
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static> Drop for JobFuture<T> {
    fn drop(&mut self) {
        if self.slot.is_parents() {
            // Not the child's registry's, and its lock may be held forever: leave it.
            return;
        }
        let mut st = lock(&self.slot.st);
        let old = std::mem::replace(&mut st.outcome, Outcome::Taken);
        match old {
            Outcome::Pending => st.outcome = Outcome::Abandoned,
            Outcome::Done(r) => {
                // Finished but never taken: drop the result here, outside the lock.
                drop(st);
                lock(&registry().jobs).remove(self.key, &self.slot);
                drop(r);
            }
            other => st.outcome = other,
        }
    }
}

fn run_detached<J: Job>(job: J) -> JobFuture<J::Output> {
    let slot = Arc::new(Slot {
        st: Mutex::new(SlotState {
            outcome: Outcome::Pending,
            waker: None,
        }),
        generation: generation(),
        settled: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    });
    let r = registry();
    let key = lock(&r.jobs).insert(slot.clone());
    let s2 = slot.clone();
    let work: Work = Box::new(move || {
        let res = catch_unwind(AssertUnwindSafe(|| job.run()));
        before_publish();
        let (waker, unused) = {
            let mut st = lock(&s2.st);
            if matches!(st.outcome, Outcome::Pending) {
                st.outcome = Outcome::Done(res);
                s2.settled.store(true, Ordering::SeqCst);
                (st.waker.take(), None)
            } else {
                // Rejected by abort_jobs, or its future was dropped: nobody wants the result.
                (None, Some(res))
            }
        };
        s2.finished.store(true, Ordering::SeqCst);
        registry().done.notify(usize::MAX);
        if let Some(w) = waker {
            w.wake();
        }
        drop(unused);
    });
    let hot = submit(work);
    JobFuture {
        slot,
        key,
        spin_until: hot.then(|| Instant::now() + AWAIT_SPIN),
    }
}

/// Runs the blocking call `job` by an async method and waits for its result (Lwt's
/// `run_job`). The method is `method` if given, else the task-local [`crate::async_method_key`],
/// else [`crate::default_async_method`]:
///
/// - `None`: the job runs now on this thread; the whole loop waits for it.
/// - `Detach`: the job runs on a worker thread of the pool; the loop goes on. When the pool is
///   full, the job waits for a worker to be free ([`jobs_queued_at_limit`] counts that); the
///   loop still goes on. With [`pool_size`] 0 it runs synchronously here, blocking the loop.
/// - `Switch`: the job runs now on this thread; if it has not returned after about 0.1-0.2 ms,
///   the loop goes on in another thread until it does (see `lwt_core::switch`). Where switching
///   is impossible (not on a loop's home thread, e.g. in a task run by a stand-in), it is
///   detached instead.
///
/// # Errors
///
/// The error given to [`abort_jobs`] (`Canceled` for [`cancel_jobs`]) if the job was rejected
/// before it reported. The job's own result (often an `io::Result`) is the `Ok` value.
///
/// # Panics
///
/// A panic inside the job is re-raised here, in the awaiting task; the worker survives.
///
/// # Examples
///
/// ```
/// use lwt::unix::{run_job, AsyncMethod};
/// lwt::run(async {
///     for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
///         assert_eq!(run_job(Some(m), || 6 * 7).await.unwrap(), 42);
///     }
/// });
/// ```
pub async fn run_job<J: Job>(method: Option<AsyncMethod>, job: J) -> Result<J::Output, Error> {
    let method = method.unwrap_or_else(async_method);
    // The job's `runtime.spawn` span (see `lwt_core::trace`), entered where the job runs.
    let span = lwt_core::trace::job_span(std::any::type_name::<J>(), method.name());
    let job = move || span.in_scope(|| job.run());
    match method {
        AsyncMethod::None => Ok(job()),
        AsyncMethod::Switch => {
            let epoch = registry().abort_epoch.load(Ordering::SeqCst);
            match lwt_core::switch::try_switch_call(job) {
                // Read again: a fork in the call gives the child a new registry (with the
                // same epoch).
                Ok(v) if registry().abort_epoch.load(Ordering::SeqCst) == epoch => Ok(v),
                Ok(_) => Err(lock(&registry().abort_error)
                    .clone()
                    .unwrap_or(Error::Canceled)),
                // Not on a loop's home thread: detach instead.
                Err(call) => run_detached(call).await,
            }
        }
        AsyncMethod::Detach => run_detached(job).await,
    }
}

/// The old name of [`run_job`] (Lwt's deprecated `execute_job`).
///
/// # Errors
///
/// As [`run_job`].
///
/// # Examples
///
/// ```
/// #![allow(deprecated)]
/// lwt::run(async {
///     assert_eq!(lwt::unix::execute_job(None, || 1).await.unwrap(), 1);
/// });
/// ```
#[deprecated(note = "use run_job")]
pub async fn execute_job<J: Job>(method: Option<AsyncMethod>, job: J) -> Result<J::Output, Error> {
    run_job(method, job).await
}

/// `run_job`'s future is `Send` whenever the job is, so it can be `spawn`ed.
#[allow(dead_code)]
fn assert_run_job_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let f = run_job(None, || 1u8);
    is_send(&f);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three states a worker can leave the pool in (`threads` already counts it out): a
    /// job queued and room in the pool (another worker busy): it stays; a job queued, the pool
    /// full of busy workers: it leaves (one of them takes the job next); a job queued and no
    /// worker left: it stays, whatever the size. With nothing queued it always leaves.
    #[test]
    fn a_leaving_worker_stays_for_a_queued_job_when_it_can() {
        let queued = |p: &Pool| {
            p.queue
                .push(Queued {
                    work: Box::new(|| {}),
                    since: None,
                })
                .ok()
                .unwrap();
        };
        // Size 2, one busy worker left: room for this one again.
        let p = Pool::new(2, 0, [0; 5]);
        p.threads.store(1, Ordering::SeqCst);
        assert!(!stays_for_queued(&p), "stayed with nothing queued");
        queued(&p);
        assert!(
            stays_for_queued(&p),
            "left a queued job behind with room in the pool"
        );
        assert_eq!(
            p.threads.load(Ordering::SeqCst),
            2,
            "stayed without taking a place"
        );
        // Size 1 and its one place taken by a busy worker: that worker takes the job.
        let p = Pool::new(1, 0, [0; 5]);
        p.threads.store(1, Ordering::SeqCst);
        queued(&p);
        assert!(!stays_for_queued(&p), "stayed beyond the pool's size");
        assert_eq!(p.threads.load(Ordering::SeqCst), 1);
        // A pool shrunk to 0 while this was its last worker: nobody else would run the job.
        let p = Pool::new(0, 0, [0; 5]);
        queued(&p);
        assert!(
            stays_for_queued(&p),
            "the last worker left a queued job to nobody"
        );
        assert_eq!(p.threads.load(Ordering::SeqCst), 1);
    }
}

#[cfg(all(test, unix))]
mod fork_tests {
    use super::*;
    use std::sync::mpsc;

    /// Ends a forked child at once.
    #[allow(unsafe_code)]
    fn child_exit(code: i32) -> ! {
        // SAFETY: `_exit` only ends the process.
        unsafe { libc::_exit(code) }
    }

    /// The state a fork can catch the pool in: a worker parked on the idle stack, and another
    /// thread inside the idle stack's and the registry's critical sections. The child must not
    /// hand a job to the parked worker (it does not exist there) nor wait for either lock.
    #[test]
    #[allow(unsafe_code)]
    fn a_child_runs_jobs_whatever_the_parents_threads_held() {
        let p = pool();
        // A worker that ran a job and parks.
        let (tx, rx) = mpsc::channel();
        submit(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let parked = (0..1000).any(|_| {
            thread::sleep(Duration::from_millis(2));
            !lock(&p.idle).is_empty()
        });
        assert!(parked, "no worker parked");
        // A thread holding both locks across the fork.
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let _idle = lock(&pool().idle);
            let _jobs = lock(&registry().jobs);
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        // SAFETY: the child only runs lwt's reset, a job on a new worker and `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            lwt_core::runtime_after_fork().unwrap();
            let code = (|| {
                if thread_count() != 0 || thread_waiting_count() != 0 {
                    return 2;
                }
                let (tx, rx) = mpsc::channel();
                submit(Box::new(move || tx.send(thread::current().id()).unwrap()));
                match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(id) if id != thread::current().id() => {}
                    _ => return 3,
                }
                if registry().jobs.try_lock().is_err() {
                    return 4;
                }
                0
            })();
            child_exit(code);
        }
        assert!(pid > 0);
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        // Reap within a deadline; a hung child is killed and fails the test.
        let mut status = 0;
        let mut reaped = false;
        for _ in 0..2000 {
            // SAFETY: waits for our own child without blocking, into a local.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                reaped = true;
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        if !reaped {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung");
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child failed: status {status:#x} (2: counters not reset, 3: a job \
             never ran, 4: the registry is locked)"
        );
        // The parent's pool is untouched.
        let (tx, rx) = mpsc::channel();
        submit(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
