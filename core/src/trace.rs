//! `tracing` spans for tasks and jobs, in the shape tokio-console's `console-subscriber` reads.
//!
//! Every task (`spawn`, `spawn_local`, the future of a `block_on`) and every job (`run_job`)
//! gets a span named [`SPAN_NAME`] (`runtime.spawn`) with target [`SPAN_TARGET`]
//! (`runtime::spawn`), at level `TRACE`, with these fields:
//!
//! | field | value |
//! |---|---|
//! | `kind` | `"task"` (`spawn`), `"local"` (`spawn_local`), `"block_on"`, `"blocking"` (a job) |
//! | `task.id` | a number unique in the process, counted from 1 |
//! | `loc.file`, `loc.line`, `loc.col` | where the task was spawned (tasks only: `spawn` and `block_on` are `#[track_caller]`) |
//! | `task.name` | a job's name: the type name of its closure, which names the function that ran it |
//! | `job.method` | a job's async method: `"none"`, `"detach"` or `"switch"` |
//!
//! A task's span is entered for each poll and closed when the task's future is dropped
//! (finished or canceled); it has no parent, as in tokio, so a long-lived task does not keep
//! the span that spawned it open. A job's span is a child of the span current where
//! `run_job` is called (the awaiting task's) and is entered on the thread that runs the job —
//! a pool worker for `detach` — for as long as the job runs.
//!
//! While a task's span is enabled, its future is polled with a waker that reports each
//! operation on it (and on its clones) as an event with target [`WAKER_TARGET`]
//! (`runtime::waker`) and fields `op` (`"waker.clone"`, `"waker.drop"`, `"waker.wake"`,
//! `"waker.wake_by_ref"`) and `task.id` = the task span's [`tracing::Id`], emitted where the
//! operation happens: a task that wakes itself does it inside its own span, which is how
//! tokio-console tells a self-wake. The wrapper is made once per task, at its first poll.
//!
//! # tokio-console
//!
//! `console-subscriber` picks spans by the name `runtime.spawn` and waker events by the target
//! `runtime::waker`, and `console_subscriber::init()` enables the targets `tokio` and `runtime`
//! at `TRACE`, so lwt's tasks show in `tokio-console` without tokio. `console-subscriber`
//! refuses to start unless built with `--cfg tokio_unstable` or
//! `--cfg console_without_tokio_unstable`; `examples/console` has the second in its own
//! `.cargo/config.toml`.
//!
//! # Cost
//!
//! With no subscriber, or one whose most verbose level is above `TRACE`, making a span is one
//! relaxed atomic load and a branch, and the fields (the task id counter included) are not
//! computed; entering the span and choosing the waker check an `Option`. Nothing here is shared between threads but
//! the task id counter, and no lock is taken.
//!
//! # Examples
//!
//! ```
//! // A subscriber that counts the task spans it is offered.
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use tracing::{span, Event, Metadata, Subscriber};
//!
//! struct CountSpawns(AtomicUsize);
//! impl Subscriber for CountSpawns {
//!     fn enabled(&self, _: &Metadata<'_>) -> bool { true }
//!     fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
//!         if attrs.metadata().name() == lwt_core::trace::SPAN_NAME {
//!             self.0.fetch_add(1, Ordering::SeqCst);
//!         }
//!         span::Id::from_u64(1)
//!     }
//!     fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
//!     fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
//!     fn event(&self, _: &Event<'_>) {}
//!     fn enter(&self, _: &span::Id) {}
//!     fn exit(&self, _: &span::Id) {}
//! }
//!
//! let counter = std::sync::Arc::new(CountSpawns(AtomicUsize::new(0)));
//! tracing::subscriber::with_default(counter.clone(), || {
//!     lwt::run(async {
//!         lwt::spawn(async {}).await.unwrap();
//!     })
//! });
//! // The `block_on` future and the spawned task.
//! assert_eq!(counter.0.load(Ordering::SeqCst), 2);
//! ```

use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use tracing::Span;

/// The name of a task's or job's span (the name `console-subscriber` looks for).
pub const SPAN_NAME: &str = "runtime.spawn";
/// The target of a task's or job's span.
pub const SPAN_TARGET: &str = "runtime::spawn";
/// The target of the event that reports a task's wake-up.
pub const WAKER_TARGET: &str = "runtime::waker";

/// The last task id handed out (ids start at 1).
static TASK_IDS: AtomicU64 = AtomicU64::new(0);

fn next_task_id() -> u64 {
    TASK_IDS.fetch_add(1, Ordering::Relaxed) + 1
}

/// The span of a task of `kind` spawned at `loc` (`Span::none()` when nobody listens).
#[inline]
pub(crate) fn task_span(kind: &'static str, loc: &'static Location<'static>) -> Span {
    tracing::trace_span!(
        target: SPAN_TARGET,
        parent: None,
        SPAN_NAME,
        kind = kind,
        task.id = next_task_id(),
        loc.file = loc.file(),
        loc.line = loc.line(),
        loc.col = loc.column(),
    )
}

/// The span of a job named `name` run by `method` (`Span::none()` when nobody listens). For
/// `lwt-jobs`; not a stable interface.
#[doc(hidden)]
#[inline]
pub fn job_span(name: &'static str, method: &'static str) -> Span {
    tracing::trace_span!(
        target: SPAN_TARGET,
        SPAN_NAME,
        kind = "blocking",
        task.id = next_task_id(),
        task.name = name,
        job.method = method,
    )
}

/// What a task's future is polled with: its own waker, or, while the task's span is enabled,
/// a wrapper of it that reports each waker operation (see the module documentation).
pub(crate) struct Traced {
    /// The task span's id; `None` when the span is disabled (nothing is reported).
    id: Option<NonZeroU64>,
    /// The wrapper, made at the first poll with the span enabled.
    waker: Option<Arc<TracedWaker>>,
}

impl Traced {
    /// For a task whose span is `span`.
    #[inline]
    pub(crate) fn new(span: &Span) -> Traced {
        Traced {
            id: span.id().map(|id| id.into_non_zero_u64()),
            waker: None,
        }
    }

    /// Runs `poll` with `cx`, or with a context of the reporting waker if the span is enabled.
    #[inline]
    pub(crate) fn poll<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        match self.id {
            None => poll(cx),
            Some(id) => self.poll_reporting(id, cx, poll),
        }
    }

    fn poll_reporting<R>(
        &mut self,
        id: NonZeroU64,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        let waker = match &self.waker {
            Some(w) if w.inner.will_wake(cx.waker()) => w,
            _ => self.waker.insert(Arc::new(TracedWaker {
                inner: cx.waker().clone(),
                id: id.get(),
            })),
        };
        // A waker lent to the future, not owned: it must never be dropped (its drop would
        // report a `waker.drop` and release a count this `Traced` holds).
        let lent = ManuallyDrop::new(
            // SAFETY: the data pointer is an `Arc<TracedWaker>` that `self.waker` keeps alive
            // for as long as `lent` is used (this call); `VTABLE`'s functions take such a
            // pointer, and `lent` is never dropped, so it releases nothing.
            unsafe { Waker::from_raw(RawWaker::new(Arc::as_ptr(waker).cast::<()>(), &VTABLE)) },
        );
        let mut reporting = Context::from_waker(&lent);
        poll(&mut reporting)
    }
}

/// The waker of a traced task: reports each operation, then does it on the task's waker.
struct TracedWaker {
    inner: Waker,
    /// The id of the task's span.
    id: u64,
}

fn report(id: u64, op: &'static str) {
    tracing::trace!(target: WAKER_TARGET, op = op, task.id = id);
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

// The four functions below take a pointer made by `Arc::as_ptr`/`Arc::into_raw` of an
// `Arc<TracedWaker>`; each `Waker` with `VTABLE` owns one strong count of it, apart from the
// lent one of `Traced::poll_reporting`, which is never dropped or woken by value.

unsafe fn clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` is a live `Arc<TracedWaker>` (see above); the new `Waker` owns the count.
    unsafe { Arc::increment_strong_count(p.cast::<TracedWaker>()) };
    // SAFETY: as above, `p` points to a live `TracedWaker`.
    report(unsafe { &*p.cast::<TracedWaker>() }.id, "waker.clone");
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake(p: *const ()) {
    // SAFETY: the `Waker` being consumed owns one count of `p` (see above).
    let w = unsafe { Arc::from_raw(p.cast::<TracedWaker>()) };
    report(w.id, "waker.wake");
    w.inner.wake_by_ref();
}

unsafe fn wake_by_ref(p: *const ()) {
    // SAFETY: `p` is a live `Arc<TracedWaker>` (see above), borrowed for this call.
    let w = unsafe { &*p.cast::<TracedWaker>() };
    report(w.id, "waker.wake_by_ref");
    w.inner.wake_by_ref();
}

unsafe fn drop_waker(p: *const ()) {
    // SAFETY: the `Waker` being dropped owns one count of `p` (see above).
    let w = unsafe { Arc::from_raw(p.cast::<TracedWaker>()) };
    report(w.id, "waker.drop");
}
