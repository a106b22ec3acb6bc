//! The runtime: one event loop made of a backend, a timer structure, a run queue of tasks and
//! the wake-up protocol between threads.
//!
//! # Ownership of the loop
//!
//! The loop's private state (its run queue, its event buffer) is driven by exactly one thread
//! at a time, its *owner*. [`Runtime::block_on`] makes the calling thread (the *home* thread)
//! the owner for its duration. Under the `switch` async method a *stand-in* thread may become
//! the owner while the home thread is blocked in a system call (see [`crate::switch`]). The
//! owner is recorded in the thread-local `OWNER`, and handed over only through the atomic state
//! word `Inner::state` (acquire/release), so the private state is never touched by two threads.
//!
//! Everything else is shared and thread-safe: tasks scheduled by a non-owner go to the
//! `injector` queue and wake the loop; timers and I/O registrations are behind their own locks;
//! notifications are a queue of ids.

use crate::backend::{Backend, Events};
use crate::reactor::IoShared;
use crate::timer::Timers;
use crate::Error;
use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;
use slab::Slab;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::{Duration, Instant};

/// How many tasks run between two looks at the backend when the run queue stays busy.
const EVENT_INTERVAL: u32 = 61;
/// How many events one `wait` collects at most.
const EVENTS_CAPACITY: usize = 1024;

pub(crate) const IDLE: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const IN_CALL: u8 = 2;
pub(crate) const STOLEN: u8 = 3;
pub(crate) const RECLAIM: u8 = 4;

thread_local! {
    /// The runtime whose context this thread is in (for `spawn`, `sleep`, registrations).
    static CURRENT: RefCell<Option<Arc<Inner>>> = const { RefCell::new(None) };
    /// The runtime whose loop this thread owns right now (compared, never dereferenced).
    static OWNER: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// The loop's private state: only its owner touches it.
struct Local {
    queue: VecDeque<Runnable>,
    events: Events,
    wakers: Vec<Waker>,
}

pub(crate) struct Inner {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) edge_triggered: bool,
    local: UnsafeCell<Local>,
    injector: ConcurrentQueue<Runnable>,
    local_tasks: ConcurrentQueue<Runnable>,
    home: Mutex<Option<Thread>>,
    main_woken: AtomicBool,
    sleeping: AtomicBool,
    notified: AtomicBool,
    pub(crate) state: AtomicU8,
    pub(crate) call_seq: AtomicU64,
    pub(crate) watched: AtomicBool,
    pub(crate) timers: Mutex<Timers>,
    pub(crate) io: Mutex<Slab<Arc<IoShared>>>,
    pub(crate) notifications: ConcurrentQueue<usize>,
    pub(crate) local_task_count: std::sync::atomic::AtomicUsize,
}

// SAFETY: `local` is only accessed by the thread that owns the loop (see the module doc);
// ownership moves between threads only through `state` with acquire/release ordering, and the
// `Runnable`s and `Waker`s it holds are `Send`. Every other field is thread-safe.
unsafe impl Sync for Inner {}
// SAFETY: as above; the `UnsafeCell<Local>` content is `Send`.
unsafe impl Send for Inner {}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks leaves consistent data (each critical section
    // is a few container operations), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn is_owner(&self) -> bool {
        OWNER.with(|o| std::ptr::eq(o.get(), self))
    }

    /// Runs `f` on the private state.
    ///
    /// # Safety
    ///
    /// The calling thread must own the loop, and `f` must not run user code (no polls, no
    /// wakes, no drops of tasks), so that no second borrow can start while this one lives.
    unsafe fn with_local<R>(&self, f: impl FnOnce(&mut Local) -> R) -> R {
        debug_assert!(self.is_owner());
        // SAFETY: the caller owns the loop and `f` cannot re-enter (contract above).
        f(unsafe { &mut *self.local.get() })
    }

    pub(crate) fn schedule(&self, runnable: Runnable) {
        if self.is_owner() {
            // SAFETY: we own the loop, and a push runs no user code.
            unsafe { self.with_local(|l| l.queue.push_back(runnable)) };
        } else {
            // The queue is unbounded and never closed while `Inner` lives.
            let _ = self.injector.push(runnable);
            self.wake_loop();
        }
    }

    fn schedule_local(&self, runnable: Runnable) {
        let _ = self.local_tasks.push(runnable);
        if !self.is_owner() {
            self.wake_loop();
        }
    }

    /// Makes a loop blocked in the backend (or about to block) return. Cheap when the loop is
    /// awake: one fence and one load.
    pub(crate) fn wake_loop(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && !self.notified.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.backend.notify() {
                tracing::error!("lwt: backend notify failed: {e}");
            }
        }
    }

    fn has_remote_work(&self, home: bool) -> bool {
        !self.injector.is_empty()
            || !self.notifications.is_empty()
            || (home && (self.main_woken.load(Ordering::SeqCst) || !self.local_tasks.is_empty()))
    }

    fn next_task(&self, home: bool) -> Option<Runnable> {
        // SAFETY: called by the owner; popping runs no user code.
        let r = unsafe { self.with_local(|l| l.queue.pop_front()) };
        if r.is_some() {
            return r;
        }
        if home {
            if let Ok(r) = self.local_tasks.pop() {
                return Some(r);
            }
        }
        self.injector.pop().ok()
    }

    /// One look at the backend, then the timers and notifications it made due.
    fn turn(&self, block: bool, home: bool) {
        let mut timeout = Some(Duration::ZERO);
        if block {
            timeout = lock(&self.timers)
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if timeout != Some(Duration::ZERO) {
                self.sleeping.store(true, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                if self.has_remote_work(home)
                    || (!home && self.state.load(Ordering::SeqCst) != STOLEN)
                {
                    timeout = Some(Duration::ZERO);
                }
            }
        }
        // SAFETY: owner; taking the buffers out runs no user code.
        let (mut events, mut wakers) = unsafe {
            self.with_local(|l| (std::mem::take(&mut l.events), std::mem::take(&mut l.wakers)))
        };
        events.clear();
        let res = self.backend.wait(&mut events, timeout);
        self.sleeping.store(false, Ordering::SeqCst);
        self.notified.store(false, Ordering::SeqCst);
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "lwt: the {} backend failed to wait: {e}",
                self.backend.name()
            ),
        }
        if !events.is_empty() {
            let io = lock(&self.io);
            for ev in events.iter() {
                if let Some(shared) = io.get(ev.key) {
                    shared.dispatch(self, ev.readable, ev.writable, &mut wakers);
                }
            }
        }
        {
            let mut timers = lock(&self.timers);
            if timers.len() > 0 {
                timers.fire(Instant::now(), &mut wakers);
            }
        }
        // SAFETY: owner; putting the event buffer back runs no user code.
        unsafe { self.with_local(|l| l.events = events) };
        for w in wakers.drain(..) {
            w.wake();
        }
        // SAFETY: owner; as above.
        unsafe { self.with_local(|l| l.wakers = wakers) };
        while let Ok(id) = self.notifications.pop() {
            crate::notification::dispatch(id);
        }
    }

    /// Runs tasks and turns the loop until `main` (if any) completes, or, for a stand-in
    /// (`main == None`), until the home thread reclaims the loop.
    fn run<T>(&self, mut main: Option<(Pin<&mut dyn Future<Output = T>>, &Waker)>) -> Option<T> {
        let home = main.is_some();
        let mut since_io = 0u32;
        loop {
            let pass_start = since_io;
            if let Some((fut, waker)) = main.as_mut() {
                if self.main_woken.swap(false, Ordering::SeqCst) {
                    let mut cx = Context::from_waker(waker);
                    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                        return Some(v);
                    }
                    since_io += 1;
                }
            } else if self.state.load(Ordering::SeqCst) != STOLEN {
                return None;
            }
            let mut ran = 0;
            while ran < EVENT_INTERVAL {
                match self.next_task(home) {
                    Some(r) => {
                        r.run();
                        ran += 1;
                    }
                    None => break,
                }
                if home && self.main_woken.load(Ordering::Relaxed) {
                    break;
                }
                if !home && self.state.load(Ordering::Relaxed) != STOLEN {
                    break;
                }
            }
            since_io += ran;
            // SAFETY: owner; reading the queue length runs no user code.
            let busy =
                unsafe { self.with_local(|l| !l.queue.is_empty()) } || self.has_remote_work(home);
            // Queued notifications count as work but only `turn` delivers them: a pass that
            // polled and ran nothing must turn, or the loop would spin without delivering.
            let idle_pass = since_io == pass_start;
            if !busy || idle_pass || since_io >= EVENT_INTERVAL {
                self.turn(!busy, home);
                since_io = 0;
            }
        }
    }

    fn shutdown(&self) {
        let prev = OWNER.with(|o| o.replace(self));
        let home_here = lock(&self.home)
            .as_ref()
            .is_none_or(|t| t.id() == thread::current().id());
        loop {
            // SAFETY: we own the loop for the shutdown (no `block_on` runs: state is IDLE).
            let mut batch: Vec<Runnable> =
                unsafe { self.with_local(|l| l.queue.drain(..).collect()) };
            while let Ok(r) = self.injector.pop() {
                batch.push(r);
            }
            let mut locals = Vec::new();
            while let Ok(r) = self.local_tasks.pop() {
                locals.push(r);
            }
            let wakers = lock(&self.timers).drain();
            let shared: Vec<_> = lock(&self.io).iter().map(|(_, s)| s.clone()).collect();
            let mut io_wakers = Vec::new();
            for s in &shared {
                s.drain_all(&mut io_wakers);
            }
            if batch.is_empty() && locals.is_empty() && wakers.is_empty() && io_wakers.is_empty() {
                break;
            }
            drop(batch); // drops the futures: cancels the tasks
            if home_here {
                drop(locals);
            } else {
                // `!Send` futures cannot be dropped on another thread than theirs.
                std::mem::forget(locals);
            }
            // Waking (not dropping) parked tasks schedules them, so the next pass drops
            // their runnables and cancels them; dropped wakers would leak their futures.
            wakers.into_iter().for_each(Waker::wake);
            io_wakers.into_iter().for_each(Waker::wake);
        }
        while self.notifications.pop().is_ok() {}
        OWNER.with(|o| o.set(prev));
    }
}

struct MainWaker {
    inner: Arc<Inner>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.inner.main_woken.store(true, Ordering::SeqCst);
        if !self.inner.is_owner() {
            self.inner.wake_loop();
        }
    }
}

/// Restores the thread-locals and the loop state when `block_on` ends (even by a panic).
struct Enter {
    inner: Arc<Inner>,
    prev_current: Option<Arc<Inner>>,
    prev_owner: *const Inner,
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.prev_current.take());
        OWNER.with(|o| o.set(self.prev_owner));
        *lock(&self.inner.home) = None;
        self.inner.state.store(IDLE, Ordering::SeqCst);
    }
}

/// An event loop: a backend, timers and a run queue of tasks.
///
/// Build one with `lwt::Builder` (which picks the backend from `LWT_BACKEND`), or
/// [`Runtime::new`] with a backend instance. [`Runtime::block_on`] drives it until a future
/// completes; dropping the runtime cancels the tasks still in it.
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
    inner: Arc<Inner>,
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
    pub(crate) inner: Arc<Inner>,
}

impl Runtime {
    /// A runtime on the given backend.
    pub fn new(backend: Box<dyn Backend>) -> Runtime {
        let edge_triggered = backend.edge_triggered();
        Runtime {
            inner: Arc::new(Inner {
                backend,
                edge_triggered,
                local: UnsafeCell::new(Local {
                    queue: VecDeque::with_capacity(256),
                    events: Events::with_capacity(EVENTS_CAPACITY),
                    wakers: Vec::with_capacity(64),
                }),
                injector: ConcurrentQueue::unbounded(),
                local_tasks: ConcurrentQueue::unbounded(),
                home: Mutex::new(None),
                main_woken: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
                notified: AtomicBool::new(false),
                state: AtomicU8::new(IDLE),
                call_seq: AtomicU64::new(0),
                watched: AtomicBool::new(false),
                timers: Mutex::new(Timers::default()),
                io: Mutex::new(Slab::new()),
                notifications: ConcurrentQueue::unbounded(),
                local_task_count: std::sync::atomic::AtomicUsize::new(0),
            }),
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
        self.inner.backend.name()
    }

    /// A handle to spawn tasks into this runtime from anywhere.
    pub fn handle(&self) -> Handle {
        Handle {
            inner: self.inner.clone(),
        }
    }

    /// Runs `fut` to completion on this thread, running the runtime's tasks, timers and I/O
    /// meanwhile (OCaml's `Lwt_main.run`). The future need not be `Send`; `spawn_local` tasks
    /// run on this thread too.
    ///
    /// # Panics
    ///
    /// If the runtime is already being driven (a nested `block_on` of the same runtime, as Lwt
    /// forbids nested `Lwt_main.run`), or if `fut` panics.
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
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let inner = &self.inner;
        if inner
            .state
            .compare_exchange(IDLE, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            panic!("lwt: nested calls to block_on (Lwt_main.run) on one runtime are not allowed");
        }
        *lock(&inner.home) = Some(thread::current());
        let _enter = Enter {
            inner: inner.clone(),
            prev_current: CURRENT.with(|c| c.borrow_mut().replace(inner.clone())),
            prev_owner: OWNER.with(|o| o.replace(Arc::as_ptr(inner))),
        };
        let waker = Waker::from(Arc::new(MainWaker {
            inner: inner.clone(),
        }));
        inner.main_woken.store(true, Ordering::SeqCst);
        let fut = pin!(fut);
        let fut: Pin<&mut dyn Future<Output = F::Output>> = fut;
        match inner.run(Some((fut, &waker))) {
            Some(v) => v,
            None => unreachable!("the home loop only returns with the main result"),
        }
    }

    /// Spawns a `Send` task (see [`spawn`]).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_in(&self.inner, fut)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.inner.shutdown();
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
        CURRENT.with(|c| c.borrow().clone().map(|inner| Handle { inner }))
    }

    /// Spawns a `Send` task into this runtime; may be called from any thread.
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_in(&self.inner, fut)
    }

    /// The name of the backend of this runtime.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// Resets this runtime in a child process after `fork(2)`: gives the backend fresh kernel
    /// objects ([`Backend::after_fork`]) and registers every I/O source again, so the child's
    /// loop neither steals the parent's events nor wakes the parent. Tasks, timers and
    /// notifications are process memory and carry over as they are. Use
    /// [`runtime_after_fork`], which also runs the fork hooks; `lwt::unix::fork` calls it.
    ///
    /// # Errors
    ///
    /// The backend's error (e.g. `EMFILE`), or `Unsupported` for a backend that cannot be
    /// reset.
    pub fn after_fork(&self) -> io::Result<()> {
        let inner = &self.inner;
        inner.backend.after_fork()?;
        inner.sleeping.store(false, Ordering::SeqCst);
        inner.notified.store(false, Ordering::SeqCst);
        let shared: Vec<_> = lock(&inner.io).iter().map(|(_, s)| s.clone()).collect();
        for s in shared {
            s.reregister(inner)?;
        }
        Ok(())
    }
}

/// How many hooks [`register_fork_hook`] keeps.
const FORK_HOOKS: usize = 16;
/// The hooks run in a forked child, as function pointers (0: free slot). Atomics, not a lock:
/// a lock held by another thread at fork time would stay locked forever in the child.
static FORK_HOOK_SLOTS: [std::sync::atomic::AtomicUsize; FORK_HOOKS] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; FORK_HOOKS];

/// Registers `hook` to run in every child process right after `lwt::unix::fork`, once the
/// runtime has been reset (e.g. the job pool forgets its threads and rejects pending jobs).
/// Registering the same function twice keeps one. Hooks run in registration order, on the
/// child's only thread.
///
/// # Panics
///
/// When more than 16 distinct hooks are registered.
///
/// # Examples
///
/// ```
/// fn reset() {}
/// lwt_core::register_fork_hook(reset);
/// lwt_core::register_fork_hook(reset); // kept once
/// ```
pub fn register_fork_hook(hook: fn()) {
    let v = hook as usize;
    for slot in &FORK_HOOK_SLOTS {
        match slot.compare_exchange(0, v, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return,
            Err(cur) if cur == v => return,
            Err(_) => {}
        }
    }
    panic!("lwt: more than {FORK_HOOKS} fork hooks registered");
}

/// Resets lwt in a child process after `fork(2)`: the current runtime, if this thread runs one
/// ([`Handle::after_fork`]), then every hook of [`register_fork_hook`]. `lwt::unix::fork`
/// calls it; call it yourself only after a `fork` made by other means.
///
/// # Errors
///
/// The error of [`Handle::after_fork`]; the hooks still run.
///
/// # Examples
///
/// ```
/// // Outside a runtime, only the hooks run.
/// lwt_core::runtime_after_fork().unwrap();
/// ```
pub fn runtime_after_fork() -> io::Result<()> {
    let res = match Handle::try_current() {
        Some(h) => h.after_fork(),
        None => Ok(()),
    };
    for slot in &FORK_HOOK_SLOTS {
        let v = slot.load(Ordering::SeqCst);
        if v == 0 {
            break;
        }
        // SAFETY: every non-zero slot value was stored by `register_fork_hook` from a `fn()`,
        // and function pointers and `usize` have the same size on every supported target.
        let hook: fn() = unsafe { std::mem::transmute::<usize, fn()>(v) };
        hook();
    }
    res
}

pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Inner>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

pub(crate) fn current_inner(what: &'static str) -> Result<Arc<Inner>, Error> {
    with_current(|i| i.clone()).ok_or(Error::InvalidArgument {
        call: what,
        msg: "not inside an lwt runtime".into(),
    })
}

pub(crate) fn set_thread_context(
    inner: Option<Arc<Inner>>,
    owner: bool,
) -> (Option<Arc<Inner>>, *const Inner) {
    let ptr = match (&inner, owner) {
        (Some(i), true) => Arc::as_ptr(i),
        _ => std::ptr::null(),
    };
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), inner));
    (prev, OWNER.with(|o| o.replace(ptr)))
}

pub(crate) fn restore_thread_context(prev: (Option<Arc<Inner>>, *const Inner)) {
    CURRENT.with(|c| *c.borrow_mut() = prev.0);
    OWNER.with(|o| o.set(prev.1));
}

pub(crate) fn take_ownership_marker() -> *const Inner {
    OWNER.with(|o| o.replace(std::ptr::null()))
}

pub(crate) fn put_ownership_marker(p: *const Inner) {
    OWNER.with(|o| o.set(p));
}

pub(crate) fn is_owner_of(inner: &Inner) -> bool {
    inner.is_owner()
}

pub(crate) fn home_thread(inner: &Inner) -> Option<Thread> {
    lock(&inner.home).clone()
}

pub(crate) fn home_thread_id(inner: &Inner) -> Option<ThreadId> {
    lock(&inner.home).as_ref().map(|t| t.id())
}

/// Drives the loop as a stand-in until the home thread asks for it back (switch protocol).
pub(crate) fn run_stand_in(inner: &Arc<Inner>) {
    let prev = set_thread_context(Some(inner.clone()), true);
    inner.run::<()>(None);
    restore_thread_context(prev);
}

fn spawn_in<F>(inner: &Arc<Inner>, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let sched = inner.clone();
    let (runnable, task) = async_task::Builder::new()
        .propagate_panic(true)
        .spawn(|()| fut, move |r| sched.schedule(r));
    runnable.schedule();
    JoinHandle {
        task: Some(task.fallible()),
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
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let inner = with_current(|i| i.clone()).expect("lwt::spawn called outside of an lwt runtime");
    spawn_in(&inner, fut)
}

/// Spawns a `!Send` task on the current runtime; it runs only on the thread that drives
/// `block_on` (the home thread).
///
/// # Panics
///
/// Outside of a runtime, or on a thread that is not the runtime's home thread.
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
pub fn spawn_local<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let inner =
        with_current(|i| i.clone()).expect("lwt::spawn_local called outside of an lwt runtime");
    assert_eq!(
        home_thread_id(&inner),
        Some(thread::current().id()),
        "lwt::spawn_local must be called on the thread that runs the runtime's block_on"
    );
    let sched = inner.clone();
    inner.local_task_count.fetch_add(1, Ordering::SeqCst);
    let counted = LocalCount(inner.clone());
    let (runnable, task) = async_task::Builder::new()
        .propagate_panic(true)
        .spawn_local(
            move |()| async move {
                let _counted = counted;
                fut.await
            },
            move |r| sched.schedule_local(r),
        );
    runnable.schedule();
    JoinHandle {
        task: Some(task.fallible()),
    }
}

struct LocalCount(Arc<Inner>);
impl Drop for LocalCount {
    fn drop(&mut self) {
        self.0.local_task_count.fetch_sub(1, Ordering::SeqCst);
    }
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

impl<T> JoinHandle<T> {
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
