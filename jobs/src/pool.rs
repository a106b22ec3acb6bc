//! The worker pool and `run_job`.

use crate::method::{async_method, AsyncMethod};
use lwt_core::Error;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long an idle worker waits for a job before it exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A blocking computation that `run_job` can run on any thread (Lwt's `'a job`). Every
/// `FnOnce() -> T + Send` closure is a job.
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

struct Pool {
    queue: Mutex<VecDeque<Work>>,
    cond: Condvar,
    size: AtomicUsize,
    threads: AtomicUsize,
    waiting: AtomicUsize,
    next_name: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside the lock; a poisoned queue is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn default_size() -> usize {
    if let Ok(v) = std::env::var("LWT_POOL_SIZE") {
        match v.trim().parse::<usize>() {
            Ok(n) => return n,
            Err(_) => eprintln!("lwt: LWT_POOL_SIZE={v:?} is not a number; using the default"),
        }
    }
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 8).clamp(8, 128)
}

fn pool() -> &'static Pool {
    static P: OnceLock<Pool> = OnceLock::new();
    P.get_or_init(|| Pool {
        queue: Mutex::new(VecDeque::new()),
        cond: Condvar::new(),
        size: AtomicUsize::new(default_size()),
        threads: AtomicUsize::new(0),
        waiting: AtomicUsize::new(0),
        next_name: AtomicUsize::new(0),
    })
}

/// The maximum number of worker threads (`LWT_POOL_SIZE`, else 8 per CPU between 8 and 128).
pub fn pool_size() -> usize {
    pool().size.load(Ordering::SeqCst)
}

/// Changes the maximum number of worker threads. With 0, every job runs synchronously on
/// the calling thread, as when the pool is full.
pub fn set_pool_size(n: usize) {
    pool().size.store(n, Ordering::SeqCst);
}

/// The number of worker threads alive.
pub fn thread_count() -> usize {
    pool().threads.load(Ordering::SeqCst)
}

/// The number of worker threads waiting for a job.
pub fn thread_waiting_count() -> usize {
    pool().waiting.load(Ordering::SeqCst)
}

fn worker(first: Work) {
    let p = pool();
    let mut job = Some(first);
    loop {
        if let Some(j) = job.take() {
            j();
        }
        let mut q = lock(&p.queue);
        p.waiting.fetch_add(1, Ordering::SeqCst);
        loop {
            if let Some(j) = q.pop_front() {
                job = Some(j);
                break;
            }
            let (g, timeout) = p
                .cond
                .wait_timeout(q, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            q = g;
            if timeout.timed_out() && q.is_empty() {
                break;
            }
        }
        p.waiting.fetch_sub(1, Ordering::SeqCst);
        if job.is_none() {
            p.threads.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Submits work to the pool; gives it back when the pool is full (run it inline then).
fn submit(work: Work) -> Result<(), Work> {
    let p = pool();
    {
        let mut q = lock(&p.queue);
        if q.len() < p.waiting.load(Ordering::SeqCst) {
            q.push_back(work);
            drop(q);
            p.cond.notify_one();
            return Ok(());
        }
    }
    let mut n = p.threads.load(Ordering::SeqCst);
    loop {
        if n >= p.size.load(Ordering::SeqCst) {
            return Err(work);
        }
        match p
            .threads
            .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => break,
            Err(m) => n = m,
        }
    }
    let id = p.next_name.fetch_add(1, Ordering::Relaxed);
    let slot = Arc::new(Mutex::new(Some(work)));
    let s2 = slot.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("lwt-job-{id}"))
        .spawn(move || {
            if let Some(w) = lock(&s2).take() {
                worker(w)
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(_) => {
            p.threads.fetch_sub(1, Ordering::SeqCst);
            let w = lock(&slot).take().expect("the thread did not start");
            Err(w)
        }
    }
}

struct Slot<T> {
    state: Mutex<(Option<std::thread::Result<T>>, Option<Waker>)>,
}

struct JobFuture<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for JobFuture<T> {
    type Output = std::thread::Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = lock(&self.slot.state);
        match st.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Runs `job` by the async method `method`, else the task-local key's, else the default
/// (Lwt's `run_job`), and waits for its result.
///
/// # Errors
///
/// `Canceled` if the job was rejected before it could report. The job's own result (often
/// an `io::Result`) is the `Ok` value.
///
/// # Panics
///
/// A panic inside the job is re-raised here, in the awaiting task.
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
    let inline = |job: J| match catch_unwind(AssertUnwindSafe(|| job.run())) {
        Ok(v) => Ok(v),
        Err(p) => resume_unwind(p),
    };
    match method {
        AsyncMethod::None => return inline(job),
        AsyncMethod::Switch if lwt_core::switch::available() => {
            return Ok(lwt_core::switch::switch_call(|| job.run()));
        }
        _ => {}
    }
    let slot = Arc::new(Slot {
        state: Mutex::new((None, None)),
    });
    let s2 = slot.clone();
    let work: Work = Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(|| job.run()));
        let w = {
            let mut st = lock(&s2.state);
            st.0 = Some(r);
            st.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    });
    if let Err(work) = submit(work) {
        work();
    }
    match (JobFuture { slot }).await {
        Ok(v) => Ok(v),
        Err(p) => resume_unwind(p),
    }
}
