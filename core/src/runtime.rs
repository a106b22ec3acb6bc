//! The public face of a runtime: [`Runtime`], [`Handle`], [`spawn`], [`spawn_local`],
//! [`JoinHandle`]. The machinery is in `crate::scheduler` (tasks, the run
//! loop, shutdown) and `crate::driver` (backend, timers, notifications).

use crate::backend::Backend;
use crate::context;
use crate::driver::Driver;
use crate::scheduler::{self, Shared};
use crate::Error;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// An event loop: a backend, timers and a run queue of tasks.
///
/// Build one with `lwt::Builder` (which picks the backend from `LWT_BACKEND`), or
/// [`Runtime::new`] with a backend instance. [`Runtime::block_on`] drives it until a future
/// completes. Dropping the runtime, on any thread, cancels every task still in it wherever it
/// is parked (its future is dropped) and releases its descriptors and timers; a [`Handle`]
/// that outlives it can no longer run anything (its spawns are cancelled at once), but keeps
/// the backend's kernel objects until the last handle goes, as tokio's does.
///
/// # Examples
///
/// ```
/// # fn backend() -> Box<dyn lwt_core::backend::Backend> { lwt::backends::open(None).unwrap() }
/// let rt = lwt_core::Runtime::new(backend());
/// let n = rt.block_on(async {
///     let t = lwt_core::spawn(async { 20 + 1 });
///     t.await.unwrap() * 2
/// });
/// assert_eq!(n, 42);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
}

/// A cheap, cloneable, `Send` handle to a runtime: spawns tasks into it from any thread.
///
/// # Examples
///
/// ```
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// let handle = rt.handle();
/// let v = rt.block_on(async move {
///     let t = std::thread::spawn(move || handle.spawn(async { 5 }));
///     t.join().unwrap().await.unwrap()
/// });
/// assert_eq!(v, 5);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime on the given backend.
    pub fn new(backend: Box<dyn Backend>) -> Runtime {
        Runtime {
            shared: Shared::new(Driver::new(backend)),
        }
    }

    /// The name of the backend this runtime runs on (`"epoll"`, `"poll"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// assert!(!rt.backend_name().is_empty());
    /// ```
    pub fn backend_name(&self) -> &'static str {
        self.shared.driver.backend.name()
    }

    /// A snapshot of the runtime's metrics (see [`RuntimeMetrics`](crate::RuntimeMetrics)):
    /// counters since it was created and gauges now. From the loop's own thread the loop's
    /// counters are exact; from another thread they are as of the loop's last turn.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// rt.block_on(async { lwt_core::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// assert_eq!(m.tasks_spawned, 1);
    /// assert_eq!(m.num_alive_tasks, 0);
    /// assert_eq!(m.backend, rt.backend_name());
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        self.shared.metrics()
    }

    /// Makes this thread the host of the runtime's loop, driven from a host loop lwt does not
    /// own (see [`crate::embed`]); the loop is free again when the returned value drops.
    ///
    /// # Panics
    ///
    /// If this thread already runs a runtime, or if another thread drives this one (in
    /// `block_on`, or embedded).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// let t = rt.spawn(async { 7 });
    /// let mut host = rt.embed();
    /// while host.run_once() {}
    /// drop(host);
    /// assert!(t.is_finished());
    /// ```
    pub fn embed(&self) -> crate::embed::Embedded<'_> {
        crate::embed::Embedded::new(&self.shared)
    }

    /// Turns timing of the loop's parks on or off (off by default): with it, the metrics'
    /// `worker_total_busy_duration` counts the time the loop spent not parked, at the cost of
    /// two clock reads per park (about 1% of a TCP ping-pong round trip on the development
    /// machine, where every round trip parks).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// assert_eq!(rt.metrics().worker_total_busy_duration, None);
    /// rt.time_parks(true);
    /// rt.block_on(lwt_core::sleep(std::time::Duration::from_millis(1))).unwrap();
    /// assert!(rt.metrics().worker_total_busy_duration.is_some());
    /// ```
    pub fn time_parks(&self, on: bool) {
        self.shared
            .time_parks
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A handle to spawn tasks into this runtime from anywhere.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Runs `fut` to completion on this thread, running the runtime's tasks, timers and I/O
    /// meanwhile (OCaml's `Lwt_main.run`). The future need not be `Send`; `spawn_local` tasks
    /// run on this thread too, and belong to this call: those still alive when it returns are
    /// cancelled (dropped here, on their thread). `spawn` tasks stay in the runtime and run
    /// again in its next `block_on`.
    ///
    /// While another thread is in `block_on` of the same runtime, this one waits for it to
    /// return (polling `fut` meanwhile, which may complete first), then drives the loop.
    ///
    /// # Panics
    ///
    /// If this thread is already running a runtime (a nested `lwt::run` or `block_on`, which
    /// Lwt refuses too, since the inner loop would block the outer one); if `fut` panics; and
    /// with the payload of a panic in the loop's own work on a switch stand-in thread (a waker
    /// that panicked, for instance).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
    /// let v = rt.block_on(async {
    ///     lwt_core::sleep(std::time::Duration::from_millis(1)).await.unwrap();
    ///     3
    /// });
    /// assert_eq!(v, 3);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.shared.block_on(fut, Location::caller())
    }

    /// Spawns a `Send` task (see [`spawn`]).
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        JoinHandle::new(scheduler::spawn(&self.shared, fut, Location::caller()))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

impl Handle {
    /// The handle of the runtime this thread is running in.
    ///
    /// # Panics
    ///
    /// Outside of a runtime (use [`Handle::try_current`] to get an `Option`).
    pub fn current() -> Handle {
        Handle::try_current().expect("lwt: not inside an lwt runtime (call this from a future run by lwt::run / Runtime::block_on)")
    }

    /// The handle of the runtime this thread is running in, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(lwt_core::Handle::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::current().map(|shared| Handle { shared })
    }

    /// Spawns a `Send` task into this runtime; may be called from any thread. Into a runtime
    /// that was dropped, the task is cancelled at once (its handle gives `Err(Canceled)`).
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        JoinHandle::new(scheduler::spawn(&self.shared, fut, Location::caller()))
    }

    /// The name of the backend of this runtime.
    pub fn backend_name(&self) -> &'static str {
        self.shared.driver.backend.name()
    }

    /// A snapshot of the runtime's metrics, as [`Runtime::metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let m = lwt::Handle::current().metrics();
    ///     assert_eq!(m.num_workers, 1);
    /// });
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        self.shared.metrics()
    }

    /// Resets this runtime in a child process after `fork(2)`: gives the backend fresh kernel
    /// objects ([`Backend::after_fork`]) and registers every I/O source again, so the child's
    /// loop neither steals the parent's events nor wakes the parent, then wakes every task once
    /// (if this thread holds the loop), so an operation waiting for a thread the child lacks
    /// (a job) finds out. Tasks, timers and notifications are process memory and carry over as
    /// they are. Use [`crate::runtime_after_fork`], which also resets the rest of lwt;
    /// `lwt::unix::fork` calls it.
    ///
    /// # Errors
    ///
    /// The backend's error (e.g. `EMFILE`), or `Unsupported` for a backend that cannot be
    /// reset (IOCP: Windows has no `fork`).
    pub fn after_fork(&self) -> io::Result<()> {
        self.shared.driver.after_fork()?;
        self.shared.wake_all();
        Ok(())
    }
}

/// Spawns a `Send` task on the current runtime (OCaml's `Lwt.async`, tokio's `spawn`).
///
/// The task starts on the next turn of the loop. Dropping the returned [`JoinHandle`] detaches
/// the task (it keeps running); [`JoinHandle::cancel`] cancels it.
///
/// # Panics
///
/// Outside of a runtime. A panic inside the task is re-raised where its handle is awaited.
///
/// # Examples
///
/// ```
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// rt.block_on(async {
///     let a = lwt_core::spawn(async { 1 });
///     let b = lwt_core::spawn(async { 2 });
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let loc = Location::caller();
    let task = context::with_current(|sh| scheduler::spawn(sh, fut, loc))
        .expect("lwt::spawn called outside of an lwt runtime");
    JoinHandle::new(task)
}

/// Spawns a `!Send` task on the current runtime; it runs only on the thread that drives
/// `block_on` (the home thread), and only during that `block_on` call: when the call returns,
/// the task is cancelled if it has not finished.
///
/// # Panics
///
/// Outside of a runtime, or on a thread that is not the runtime's home thread (a switch
/// stand-in, a job worker).
///
/// # Examples
///
/// ```
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// rt.block_on(async {
///     let shared = std::rc::Rc::new(5);
///     let s = shared.clone();
///     let t = lwt_core::spawn_local(async move { *s + 1 });
///     assert_eq!(t.await.unwrap(), 6);
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let loc = Location::caller();
    assert!(
        context::is_home(),
        "lwt::spawn_local must be called on the thread that runs the runtime's block_on"
    );
    let task = context::with_current(|sh| scheduler::spawn_local(sh, fut, loc))
        .expect("lwt::spawn_local called outside of an lwt runtime");
    JoinHandle::new(task)
}

/// The handle of a spawned task: await it for the task's result.
///
/// Awaiting gives `Ok(value)`, or `Err(Error::Canceled)` if the task was canceled (by
/// [`JoinHandle::cancel`] or because its runtime was dropped). Dropping the handle detaches the
/// task: it goes on running. If the task panicked, awaiting the handle panics with the same
/// payload.
///
/// # Examples
///
/// ```
/// # let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// rt.block_on(async {
///     let t = lwt_core::spawn(lwt_core::sleep(std::time::Duration::from_secs(60)));
///     assert!(t.cancel().await.is_none()); // canceled before it finished
/// });
/// ```
#[must_use = "dropping a JoinHandle detaches the task; await it or call cancel()"]
pub struct JoinHandle<T> {
    task: Option<async_task::FallibleTask<T>>,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    fn new(task: async_task::Task<T>) -> JoinHandle<T> {
        JoinHandle {
            task: Some(task.fallible()),
        }
    }

    /// Cancels the task (Lwt's `cancel`): it is dropped at its current await point and never
    /// runs again. Returns its output if it had already finished.
    pub async fn cancel(mut self) -> Option<T> {
        match self.task.take() {
            Some(t) => t.cancel().await,
            None => None,
        }
    }

    /// Whether the task has finished (completed, panicked or been canceled).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.task.as_mut() {
            Some(t) => match Pin::new(t).poll(cx) {
                Poll::Ready(Some(v)) => Poll::Ready(Ok(v)),
                Poll::Ready(None) => Poll::Ready(Err(Error::Canceled)),
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready(Err(Error::Canceled)),
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}
