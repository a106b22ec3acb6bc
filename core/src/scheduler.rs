//! The scheduler: the run queues, the loop that runs tasks and turns the driver, the registry
//! of live tasks, and shutdown.
//!
//! # Who owns what
//!
//! - [`Core`] is the loop's private state: the local run queue, the registry of live tasks and
//!   the driver's private half. Exactly one `Box<Core>` exists per runtime and it is always in
//!   exactly one place: in [`Shared::idle`] while no thread drives the loop, in one thread's
//!   context while that thread holds the loop (`crate::context`), or in one of the switch
//!   hand-off cells (`crate::switch`). It moves only by being taken out of one place and put
//!   into another, so two threads can never drive the loop at once. (This is how tokio's
//!   current-thread scheduler hands its `Box<Core>` around.)
//! - [`Shared`] is what every thread may touch: the driver, the injector (tasks scheduled by
//!   threads that do not hold the loop), the queue of `spawn_local` tasks, and the hand-off
//!   cells. It is behind an `Arc` held by the `Runtime`, its `Handle`s and the threads in it; a
//!   task's schedule function holds only a `Weak`, so a task woken after its runtime is gone is
//!   dropped instead of keeping the runtime (and its descriptors) alive.
//! - A thread that drives the loop (`block_on`, a switch stand-in, an embedding host) owns a
//!   [`Scratch`]: the buffers that receive what one turn of the driver made ready. The turn
//!   fills the core's buffers, which are then swapped with the (empty) scratch ones, so the
//!   wakers are woken and the notifications delivered with the core back in place (they run
//!   user code) while the core is borrowed only once per turn. Between turns both are empty.
//!
//! # Fairness
//!
//! The loop runs tasks from its local queue, but every [`GLOBAL_INTERVAL`] tasks it looks at the
//! remote queues first (the injector, where job completions and other threads' wake-ups land,
//! and the `spawn_local` queue), and every [`EVENT_INTERVAL`] tasks it turns the driver without
//! blocking (I/O, timers, notifications). A task that yields forever therefore delays nothing
//! by more than a bounded number of polls. The `block_on` future is polled between passes.
//!
//! # Live tasks and shutdown
//!
//! Every task that has returned `Pending` once is in the core's registry with its waker, until
//! its future is dropped. Dropping the runtime wakes every registered task and drops every
//! runnable that shows up in the queues, so each future is dropped wherever it was parked (on
//! a timer, a descriptor, a job, another task's handle, a channel), and the I/O sources and
//! timers are released. `spawn_local` tasks belong to the `block_on` call that drives them: when
//! it returns, those still alive are cancelled the same way on their home thread, so a runtime
//! dropped on another thread only ever drops `Send` futures.
//!
//! # Locks
//!
//! `home` and `waiting` are leaf locks taken briefly; no lock is held while a task runs.

use crate::cell::AtomicCell;
use crate::context;
use crate::driver::{Driver, DriverLocal};
use crate::metrics::{Counters, Published, RuntimeMetrics};
use crate::trace;
use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;
use slab::Slab;
use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

/// How many tasks run between two looks at the driver when the run queue stays busy.
pub(crate) const EVENT_INTERVAL: u32 = 61;
/// How many tasks run between two looks at the remote queues before the local one.
pub(crate) const GLOBAL_INTERVAL: u32 = 31;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The scheduler's critical sections are a few assignments, so a poisoned lock still
    // guards consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The message of the panic of a nested `block_on`.
const NESTED: &str = "lwt: cannot start a runtime from within a running one: this thread is \
    already driving an lwt loop (a nested lwt::run or Runtime::block_on would block it, as Lwt \
    refuses a nested Lwt_main.run); spawn the future instead, or run the other runtime on \
    another thread";

/// The registry of live tasks: one waker per task that has been pending at least once.
#[derive(Default)]
pub(crate) struct TaskSet {
    slab: Slab<(u64, Waker)>,
    next_id: u64,
}

impl TaskSet {
    fn insert(&mut self, waker: &Waker) -> (usize, u64) {
        self.next_id += 1;
        let id = self.next_id;
        (self.slab.insert((id, waker.clone())), id)
    }

    fn remove(&mut self, (key, id): (usize, u64)) {
        if self.slab.get(key).is_some_and(|(i, _)| *i == id) {
            self.slab.remove(key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    fn wakers(&self) -> impl Iterator<Item = Waker> + '_ {
        self.slab.iter().map(|(_, (_, w))| w.clone())
    }

    fn into_wakers(self) -> impl Iterator<Item = Waker> {
        self.slab.into_iter().map(|(_, (_, w))| w)
    }
}

/// The loop's private state (see the module documentation).
pub(crate) struct Core {
    queue: VecDeque<Runnable>,
    tick: u32,
    pub(crate) tasks: TaskSet,
    pub(crate) local_tasks: TaskSet,
    pub(crate) driver: DriverLocal,
    /// The loop's own counters (see `crate::metrics`).
    pub(crate) counters: Counters,
}

impl Core {
    fn new() -> Core {
        Core {
            queue: VecDeque::with_capacity(256),
            tick: 0,
            tasks: TaskSet::default(),
            local_tasks: TaskSet::default(),
            driver: DriverLocal::new(),
            counters: Counters::default(),
        }
    }

    fn next_task(&mut self, shared: &Shared, home: bool) -> Option<Runnable> {
        self.tick = self.tick.wrapping_add(1);
        let next = if self.tick % GLOBAL_INTERVAL == 0 {
            shared
                .next_remote(home, self.tick)
                .or_else(|| self.queue.pop_front())
        } else {
            self.queue
                .pop_front()
                .or_else(|| shared.next_remote(home, self.tick))
        };
        if next.is_some() {
            self.counters.polls += 1;
        }
        next
    }
}

/// A driving thread's buffers for what one turn of the driver made ready (swapped with the
/// core's, see `Shared::park`). Empty between turns.
#[derive(Default)]
pub(crate) struct Scratch {
    wakers: Vec<Waker>,
    notes: Vec<usize>,
}

/// The shared half of a runtime (see the module documentation).
pub(crate) struct Shared {
    pub(crate) driver: Arc<Driver>,
    injector: ConcurrentQueue<Runnable>,
    local_queue: ConcurrentQueue<Runnable>,
    main_woken: AtomicBool,
    /// The core while no thread drives the loop.
    idle: AtomicCell<Core>,
    /// Switch: the hand-off cells (the core during a blocking call, and back from a stand-in).
    pub(crate) switch: crate::switch::HandOff<Core>,
    /// Switch: the id of the watchdog that knows this runtime (0: none; a forked child has a
    /// watchdog of its own, see `crate::switch`).
    pub(crate) watched: AtomicU64,
    /// The thread running `block_on`, if any.
    home: Mutex<Option<Thread>>,
    /// Threads in `block_on` waiting for the core (another thread drives the loop).
    waiting: Mutex<Vec<Thread>>,
    /// Set when the runtime starts shutting down: later schedules drop their task.
    closed: AtomicBool,
    /// A panic of the loop's own work on a stand-in thread, for `block_on` to re-raise.
    loop_panic: Mutex<Option<Box<dyn Any + Send>>>,
    has_loop_panic: AtomicBool,
    /// Metrics for other threads to read (see `crate::metrics`).
    pub(crate) published: Published,
    /// Time the loop's parks, for `worker_total_busy_duration` (two clock reads per park).
    pub(crate) time_parks: AtomicBool,
}

impl Shared {
    pub(crate) fn new(driver: Driver) -> Arc<Shared> {
        Arc::new(Shared {
            driver: Arc::new(driver),
            injector: ConcurrentQueue::unbounded(),
            local_queue: ConcurrentQueue::unbounded(),
            main_woken: AtomicBool::new(false),
            idle: AtomicCell::new(Some(Box::new(Core::new()))),
            switch: crate::switch::HandOff::new(),
            watched: AtomicU64::new(0),
            home: Mutex::new(None),
            waiting: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            loop_panic: Mutex::new(None),
            has_loop_panic: AtomicBool::new(false),
            published: Published::default(),
            time_parks: AtomicBool::new(false),
        })
    }

    /// A snapshot of the runtime's metrics: exact if this thread holds the loop, else the
    /// loop's counters as of its last turn.
    pub(crate) fn metrics(self: &Arc<Self>) -> RuntimeMetrics {
        let d = &self.driver;
        let snap = |exact: Option<(&Counters, usize)>| {
            self.published.snapshot(
                exact,
                d.backend.name(),
                self.injector.len(),
                d.io.len(),
                d.timers_armed(),
                d.backend.syscalls(),
                d.is_sleeping(),
                self.time_parks.load(Ordering::Relaxed),
            )
        };
        context::with_core(Arc::as_ptr(self), |c| {
            snap(Some((&c.counters, c.queue.len())))
        })
        .unwrap_or_else(|| snap(None))
    }

    fn next_remote(&self, home: bool, tick: u32) -> Option<Runnable> {
        // `is_empty` first: two loads, where `pop` on an empty queue costs several times that
        // (this runs on every pass whose local queue is empty).
        fn take(q: &ConcurrentQueue<Runnable>) -> Option<Runnable> {
            if q.is_empty() {
                None
            } else {
                q.pop().ok()
            }
        }
        if !home {
            return take(&self.injector);
        }
        // Alternate which remote queue goes first, so neither starves the other.
        if (tick / GLOBAL_INTERVAL) % 2 == 0 {
            take(&self.local_queue).or_else(|| take(&self.injector))
        } else {
            take(&self.injector).or_else(|| take(&self.local_queue))
        }
    }

    fn has_work(&self, home: bool) -> bool {
        context::with_held_core(|c| !c.queue.is_empty()) || self.has_remote_work(home)
    }

    /// [`Shared::has_work`] but for the core's own queue.
    fn has_remote_work(&self, home: bool) -> bool {
        !self.injector.is_empty()
            || self.driver.has_queued()
            || if home {
                !self.local_queue.is_empty() || self.main_woken.load(Ordering::SeqCst)
            } else {
                self.switch.reclaimed(Ordering::SeqCst)
            }
    }

    /// Runs up to [`EVENT_INTERVAL`] tasks, then turns the driver (blocking if the queues ran
    /// dry and `may_block`). The calling thread holds the loop; `scratch` is its buffers for
    /// what a turn makes ready.
    pub(crate) fn pass(&self, home: bool, may_block: bool, scratch: &mut Scratch) {
        for _ in 0..EVENT_INTERVAL {
            match context::with_held_core(|c| c.next_task(self, home)) {
                Some(r) => {
                    r.run();
                }
                None => {
                    // `next_task` found the core's queue empty, and nothing but this thread
                    // fills it.
                    self.park(home, may_block, true, scratch);
                    return;
                }
            }
            if !home && self.switch.reclaimed(Ordering::Relaxed) {
                return;
            }
        }
        self.park(home, false, false, scratch);
    }

    /// Turns the driver, then runs what it made ready: wakes the wakers and delivers the
    /// notifications (a panicking handler is contained, see `crate::notification`).
    /// `queue_empty`: the core's run queue is known to be empty.
    fn park(&self, home: bool, may_block: bool, queue_empty: bool, scratch: &mut Scratch) {
        let mut block = false;
        if may_block {
            self.driver.begin_park();
            block = !(if queue_empty {
                self.has_remote_work(home)
            } else {
                self.has_work(home)
            });
        }
        debug_assert!(scratch.wakers.is_empty() && scratch.notes.is_empty());
        // The turn runs no user code, so it may borrow the core throughout. What it made
        // ready is swapped into `scratch` (whose empty buffers the core keeps for the next
        // turn), so the core is borrowed once per turn.
        context::with_held_core(|c| {
            let timed = block && self.time_parks.load(Ordering::Relaxed);
            if timed {
                let now = std::time::Instant::now();
                c.counters.busy += now - c.counters.since;
            }
            let (events, fired) = self.driver.turn(&mut c.driver, block);
            let k = &mut c.counters;
            k.turns += 1;
            k.events += events as u64;
            k.timers_fired += fired as u64;
            k.notifications += c.driver.notes.len() as u64;
            if block {
                k.parks += 1;
            }
            if timed {
                k.since = std::time::Instant::now();
            }
            self.published.publish(&c.counters, c.queue.len());
            std::mem::swap(&mut c.driver.wakers, &mut scratch.wakers);
            std::mem::swap(&mut c.driver.notes, &mut scratch.notes);
        });
        // Waking and delivering run user code: with the core back in place. Reversed, then
        // popped: in the order reported, without a `Drain` to drop each turn. A panic here
        // drops the rest of the batch with `scratch`'s owner.
        scratch.wakers.reverse();
        while let Some(w) = scratch.wakers.pop() {
            w.wake();
        }
        scratch.notes.reverse();
        while let Some(id) = scratch.notes.pop() {
            crate::notification::deliver(id);
        }
    }

    /// Re-raises, on the home thread, a panic of the loop's work on a stand-in.
    fn check_loop_panic(&self) {
        if self.has_loop_panic.load(Ordering::Acquire) {
            self.has_loop_panic.store(false, Ordering::Release);
            if let Some(p) = lock(&self.loop_panic).take() {
                resume_unwind(p);
            }
        }
    }

    /// Records a panic of the loop's work on a stand-in thread.
    pub(crate) fn set_loop_panic(&self, p: Box<dyn Any + Send>) {
        *lock(&self.loop_panic) = Some(p);
        self.has_loop_panic.store(true, Ordering::Release);
    }

    /// Drives the loop as a switch stand-in until the home thread reclaims it.
    pub(crate) fn run_stand_in(&self) {
        let mut scratch = Scratch::default();
        while !self.switch.reclaimed(Ordering::Acquire) {
            self.pass(false, true, &mut scratch);
        }
    }

    /// Wakes every task and the `block_on` future once (in a forked child, so that each
    /// pending operation looks again at what it waits for). Only where this thread holds the
    /// loop: the wakers are the core's.
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = context::with_core(self, |c| {
            c.tasks.wakers().chain(c.local_tasks.wakers()).collect()
        })
        .unwrap_or_default();
        if wakers.is_empty() && !context::holds(self) {
            return;
        }
        self.main_woken.store(true, Ordering::SeqCst);
        // Outside the core's borrow: waking schedules onto the core's queue.
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn home_thread(&self) -> Option<Thread> {
        lock(&self.home).clone()
    }

    /// Runs `fut` to completion on this thread, driving the loop (`Runtime::block_on`).
    pub(crate) fn block_on<F: Future>(
        self: &Arc<Self>,
        fut: F,
        loc: &'static Location<'static>,
    ) -> F::Output {
        if context::in_runtime() {
            panic!("{NESTED}");
        }
        let mut fut = std::pin::pin!(fut);
        let span = trace::task_span("block_on", loc);
        let core = match self.idle.take() {
            Some(core) => core,
            None => match self.wait_for_core(fut.as_mut(), &span) {
                Ok(core) => core,
                Err(out) => return out,
            },
        };
        let _enter = context::enter(self.clone(), Some(core), true);
        *lock(&self.home) = Some(thread::current());
        let _exit = HomeExit(self);
        let waker = Waker::from(Arc::new(MainWaker {
            shared: Arc::downgrade(self),
        }));
        let mut cx = Context::from_waker(&waker);
        let mut traced = trace::Traced::new(&span);
        let mut scratch = Scratch::default();
        self.main_woken.store(true, Ordering::SeqCst);
        loop {
            if self.main_woken.load(Ordering::Acquire)
                && self.main_woken.swap(false, Ordering::AcqRel)
            {
                let _entered = span.enter();
                if let Poll::Ready(v) = traced.poll(&mut cx, |cx| fut.as_mut().poll(cx)) {
                    return v;
                }
            }
            self.check_loop_panic();
            self.pass(true, true, &mut scratch);
        }
    }

    /// Makes this thread the host of an embedded loop (see `crate::embed`): in the runtime,
    /// holding its core, as its home thread, until the returned guards drop.
    pub(crate) fn host(self: &Arc<Self>) -> (context::Entered, HomeExit<'_>) {
        if context::in_runtime() {
            panic!("{NESTED}");
        }
        let core = self.idle.take().expect(
            "lwt: Runtime::embed while another thread drives the runtime (block_on or embed)",
        );
        let enter = context::enter(self.clone(), Some(core), true);
        *lock(&self.home) = Some(thread::current());
        (enter, HomeExit(self))
    }

    /// One non-blocking pass of an embedded loop; whether more work is ready at once.
    pub(crate) fn run_once(&self, scratch: &mut Scratch) -> bool {
        self.check_loop_panic();
        self.pass(true, false, scratch);
        self.has_work(true)
    }

    /// The host of an embedded loop is about to block: from now on a wake-up notifies the
    /// backend (making its descriptors readable). Returns how long the host may block.
    pub(crate) fn prepare_host_wait(&self) -> Option<Duration> {
        self.driver.begin_park();
        if self.has_work(true) {
            return Some(Duration::ZERO);
        }
        self.driver.next_timeout()
    }

    /// Another thread drives the loop: polls `fut` here meanwhile, until it completes (`Err`)
    /// or the core is free (`Ok`).
    fn wait_for_core<F: Future>(
        self: &Arc<Self>,
        mut fut: Pin<&mut F>,
        span: &tracing::Span,
    ) -> Result<Box<Core>, F::Output> {
        let _enter = context::enter(self.clone(), None, false);
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut traced = trace::Traced::new(span);
        loop {
            lock(&self.waiting).push(thread::current());
            if let Some(core) = self.idle.take() {
                return Ok(core);
            }
            let entered = span.enter();
            if let Poll::Ready(v) = traced.poll(&mut cx, |cx| fut.as_mut().poll(cx)) {
                return Err(v);
            }
            drop(entered);
            thread::park();
        }
    }

    /// Drops every task of the runtime (see the module documentation); the runtime's
    /// descriptors and timers go with them.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.closed.store(true, Ordering::SeqCst);
        let core = match self.idle.take() {
            Some(core) => core,
            None => {
                // Only reachable if a loop's core was lost to a bug; its tasks cannot be
                // reached, but the driver can still release its sources and timers.
                tracing::error!("lwt: a runtime was dropped without its loop state");
                let mut wakers = Vec::new();
                self.driver.shutdown(&mut wakers);
                wakers.into_iter().for_each(Waker::wake);
                return;
            }
        };
        let enter = context::enter(self.clone(), Some(core), false);
        loop {
            let tasks = context::with_held_core(|c| std::mem::take(&mut c.tasks));
            let mut wakers = Vec::new();
            self.driver.shutdown(&mut wakers);
            let mut progressed = tasks.len() > 0 || !wakers.is_empty();
            // Waking a parked task schedules it here, so its runnable is dropped below; a
            // dropped runnable drops its future (the task is cancelled).
            tasks.into_wakers().for_each(Waker::wake);
            wakers.into_iter().for_each(Waker::wake);
            loop {
                let r = context::with_held_core(|c| c.queue.pop_front())
                    .or_else(|| self.injector.pop().ok());
                match r {
                    Some(r) => {
                        drop(r);
                        progressed = true;
                    }
                    None => break,
                }
            }
            if !progressed {
                break;
            }
        }
        // `spawn_local` tasks never outlive their `block_on` (see `HomeExit`), so this queue
        // is empty; were it not, its futures could not be dropped on this thread.
        while let Ok(r) = self.local_queue.pop() {
            tracing::error!("lwt: a spawn_local task outlived its block_on; leaking it");
            std::mem::forget(r);
        }
        let core = context::take_core();
        drop(enter);
        if let Some(mut core) = core {
            // Every task is gone now, including those dropped away from the loop (not counted
            // as they went): settle the count so no task stays "alive".
            let c = &mut core.counters;
            c.finished = c.spawned + self.published.remote_spawned.load(Ordering::Relaxed);
            self.published.publish(&core.counters, 0);
        }
    }
}

/// Ends a `block_on` (or an embedding): cancels its `spawn_local` tasks on this (their home)
/// thread, then puts the core back for the next `block_on` (also when the future panicked).
pub(crate) struct HomeExit<'a>(&'a Arc<Shared>);

impl Drop for HomeExit<'_> {
    fn drop(&mut self) {
        let sh = self.0;
        if context::holds(Arc::as_ptr(sh)) {
            loop {
                let tasks = context::with_held_core(|c| std::mem::take(&mut c.local_tasks));
                let mut progressed = tasks.len() > 0;
                tasks.into_wakers().for_each(Waker::wake);
                while let Ok(r) = sh.local_queue.pop() {
                    drop(r); // drops the future here, on its home thread
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
        }
        *lock(&sh.home) = None;
        match context::take_core() {
            Some(core) => {
                // So that a snapshot taken after `block_on` sees everything it did.
                sh.published.publish(&core.counters, core.queue.len());
                sh.idle.set(core)
            }
            None => tracing::error!("lwt: block_on ended without its loop state"),
        }
        for t in lock(&sh.waiting).drain(..) {
            t.unpark();
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The waker of the `block_on` future.
struct MainWaker {
    shared: Weak<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let ptr = self.shared.as_ptr();
        if context::holds(ptr) {
            // SAFETY: this thread holds the loop of the runtime at `ptr`, so the runtime is
            // alive (the thread's context keeps an `Arc` to it) for this call.
            unsafe { &*ptr }.main_woken.store(true, Ordering::SeqCst);
        } else if let Some(sh) = self.shared.upgrade() {
            sh.main_woken.store(true, Ordering::SeqCst);
            sh.driver.wake();
        }
    }
}

/// A spawned future, tracked in the core's registry once it has been pending.
struct Tracked<F> {
    fut: F,
    /// The task's `runtime.spawn` span (see `crate::trace`), entered for each poll.
    span: tracing::Span,
    /// The waker its future sees while the span is enabled (reporting waker operations).
    traced: trace::Traced,
    /// The address of the runtime's `Shared` (identity only).
    shared: usize,
    local: bool,
    entry: Option<(usize, u64)>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`, and `Tracked`
        // has no `Unpin` impl of its own; the other fields are plain data, not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.span.enter();
        // SAFETY: as above, `fut` stays in place.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let res = this.traced.poll(cx, |cx| fut.poll(cx));
        if res.is_pending() && this.entry.is_none() {
            let local = this.local;
            this.entry = context::with_core(this.shared as *const Shared, |core| {
                let set = if local {
                    &mut core.local_tasks
                } else {
                    &mut core.tasks
                };
                set.insert(cx.waker())
            });
        }
        res
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        let entry = self.entry.take();
        let local = self.local;
        // Away from its loop (only while its runtime closes) it is not counted here: the
        // shutdown counts every task finished.
        context::with_core(self.shared as *const Shared, |core| {
            core.counters.finished += 1;
            if let Some(entry) = entry {
                if local {
                    core.local_tasks.remove(entry)
                } else {
                    core.tasks.remove(entry)
                }
            }
        });
    }
}

/// Schedules a `Send` task: on the loop's own queue if this thread holds the loop, else on the
/// injector (waking the loop); a task of a runtime that is gone or closing is dropped.
fn schedule(weak: &Weak<Shared>, runnable: Runnable) {
    let mut slot = Some(runnable);
    if context::with_core(weak.as_ptr(), |core| {
        if let Some(r) = slot.take() {
            core.queue.push_back(r);
        }
    })
    .is_some()
    {
        return;
    }
    let Some(runnable) = slot else { return };
    match weak.upgrade() {
        Some(sh) => schedule_remote(&sh, runnable),
        // Dropping the runnable cancels the task (its future is dropped here: it is `Send`).
        None => drop(runnable),
    }
}

/// Schedules a `Send` task from a thread that does not hold the loop: on the injector, waking
/// the loop; a task of a closing runtime is dropped (canceled).
fn schedule_remote(sh: &Shared, runnable: Runnable) {
    if sh.closed.load(Ordering::Acquire) {
        drop(runnable);
        return;
    }
    // Unbounded and never closed. Through the gate: a fork must not cut the push in half.
    let _ = sh.driver.fork_gate.pass(|| sh.injector.push(runnable));
    sh.published
        .remote_schedules
        .fetch_add(1, Ordering::Relaxed);
    sh.driver.wake();
}

/// Schedules a `spawn_local` task on its runtime's local queue.
fn schedule_local(weak: &Weak<Shared>, runnable: Runnable) {
    let ptr = weak.as_ptr();
    if context::holds(ptr) {
        // SAFETY: this thread holds the loop of the runtime at `ptr`, so its context keeps an
        // `Arc` to the runtime alive for this call.
        let _ = unsafe { &*ptr }.local_queue.push(runnable);
        return;
    }
    match weak.upgrade() {
        Some(sh) => {
            let _ = sh.driver.fork_gate.pass(|| sh.local_queue.push(runnable));
            sh.driver.wake();
        }
        // Unreachable: a local task never outlives the `block_on` that spawned it, and its
        // runtime outlives every `block_on`. Dropping it here, off its thread, would panic.
        None => std::mem::forget(runnable),
    }
}

/// Counts a spawn: in the core if this thread holds the loop, else in the shared counter.
fn count_spawn(shared: &Arc<Shared>) {
    if context::with_core(Arc::as_ptr(shared), |c| c.counters.spawned += 1).is_none() {
        shared
            .published
            .remote_spawned
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Spawns a `Send` task into `shared`, spawned at `loc`.
pub(crate) fn spawn<F>(
    shared: &Arc<Shared>,
    fut: F,
    loc: &'static Location<'static>,
) -> async_task::Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let weak = Arc::downgrade(shared);
    let span = trace::task_span("task", loc);
    let fut = Tracked {
        fut,
        traced: trace::Traced::new(&span),
        span,
        shared: Arc::as_ptr(shared) as usize,
        local: false,
        entry: None,
    };
    let (runnable, task) = async_task::Builder::new()
        .propagate_panic(true)
        .spawn(|()| fut, move |r| schedule(&weak, r));
    // The first schedule, counted with the same look at this thread's context (and not
    // reported as a wake).
    let mut slot = Some(runnable);
    let here = context::with_core(Arc::as_ptr(shared), |c| {
        c.counters.spawned += 1;
        if let Some(r) = slot.take() {
            c.queue.push_back(r);
        }
    });
    if here.is_none() {
        shared
            .published
            .remote_spawned
            .fetch_add(1, Ordering::Relaxed);
        if let Some(r) = slot {
            schedule_remote(shared, r);
        }
    }
    task
}

/// Spawns a `!Send` task into `shared`, spawned at `loc`; the caller checked that this is its
/// home thread.
pub(crate) fn spawn_local<F>(
    shared: &Arc<Shared>,
    fut: F,
    loc: &'static Location<'static>,
) -> async_task::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let weak = Arc::downgrade(shared);
    count_spawn(shared);
    let span = trace::task_span("local", loc);
    let fut = Tracked {
        fut,
        traced: trace::Traced::new(&span),
        span,
        shared: Arc::as_ptr(shared) as usize,
        local: true,
        entry: None,
    };
    let (runnable, task) = async_task::Builder::new()
        .propagate_panic(true)
        .spawn_local(|()| fut, move |r| schedule_local(&weak, r));
    // The first schedule, not reported as a wake.
    if context::holds(Arc::as_ptr(shared)) {
        let _ = shared.local_queue.push(runnable);
    } else {
        let _ = shared
            .driver
            .fork_gate
            .pass(|| shared.local_queue.push(runnable));
        shared.driver.wake();
    }
    task
}

/// Runs `f`, catching a panic (used by a stand-in around its loop).
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::TaskSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_task_set_counts_and_removes_its_entries() {
        let mut set = TaskSet::default();
        let (_, w) = counting();
        let a = set.insert(&w);
        let b = set.insert(&w);
        assert_ne!(a, b);
        assert_eq!(set.len(), 2);
        set.remove(a);
        assert_eq!(set.len(), 1);
        set.remove(a); // a second removal of the same entry changes nothing
        assert_eq!(set.len(), 1);
        set.remove(b);
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn a_stale_entry_never_removes_the_task_that_reuses_its_slot() {
        // The shutdown takes the set and a task dropped later removes its old entry from the
        // new one, where another task may hold the same slot.
        let mut set = TaskSet::default();
        let (_, w) = counting();
        let old = set.insert(&w);
        set.remove(old);
        let new = set.insert(&w);
        assert_eq!(old.0, new.0, "the slot is reused");
        set.remove(old);
        assert_eq!(set.len(), 1, "a stale entry removed another task's");
    }

    /// A backend with no sources: `wait` sleeps until the timeout or a `notify` (also for the
    /// other modules' unit tests).
    #[derive(Default)]
    pub(crate) struct Sleeper(std::sync::Mutex<bool>, std::sync::Condvar);

    impl crate::Backend for Sleeper {
        fn name(&self) -> &'static str {
            "sleeper"
        }
        fn register(&self, _: crate::backend::BorrowedSource<'_>, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn arm(
            &self,
            _: crate::backend::BorrowedSource<'_>,
            _: usize,
            _: crate::backend::Interest,
        ) -> std::io::Result<()> {
            Ok(())
        }
        fn deregister(
            &self,
            _: crate::backend::BorrowedSource<'_>,
            _: usize,
        ) -> std::io::Result<()> {
            Ok(())
        }
        fn wait(
            &self,
            _: &mut crate::backend::Events,
            timeout: Option<std::time::Duration>,
        ) -> std::io::Result<()> {
            let limit = timeout.unwrap_or(std::time::Duration::from_secs(60));
            let g = self.0.lock().unwrap();
            let (mut g, _) = self.1.wait_timeout_while(g, limit, |n| !*n).unwrap();
            *g = false;
            Ok(())
        }
        fn notify(&self) -> std::io::Result<()> {
            *self.0.lock().unwrap() = true;
            self.1.notify_one();
            Ok(())
        }
    }

    #[test]
    fn a_finished_task_leaves_the_registry_of_live_tasks() {
        let rt = crate::Runtime::new(Box::new(Sleeper::default()));
        rt.block_on(async {
            for _ in 0..10 {
                // Pending twice before it finishes.
                crate::spawn(async {
                    crate::yield_now().await;
                    crate::yield_now().await;
                })
                .await
                .unwrap();
            }
            drop(crate::spawn(std::future::pending::<()>()));
            crate::yield_now().await;
        });
        let shared = &rt.handle().shared;
        let core = shared.idle.take().expect("the loop is idle");
        let live = core.tasks.len();
        shared.idle.set(core);
        assert_eq!(live, 1, "only the pending task is registered");
    }

    #[test]
    fn a_task_set_gives_every_waker() {
        let mut set = TaskSet::default();
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        set.insert(&w1);
        set.insert(&w2);
        set.wakers().for_each(Waker::wake);
        assert_eq!(
            (c1.0.load(Ordering::SeqCst), c2.0.load(Ordering::SeqCst)),
            (1, 1)
        );
        set.into_wakers().for_each(Waker::wake);
        assert_eq!(
            (c1.0.load(Ordering::SeqCst), c2.0.load(Ordering::SeqCst)),
            (2, 2)
        );
    }
}
