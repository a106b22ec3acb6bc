//! lwt's `tracing` instrumentation as a subscriber sees it (issue 13): one `runtime.spawn`
//! span per spawn, with its kind, a unique `task.id` and the spawn location; the span entered
//! for each poll and closed when the task goes; a job's span entered on the thread that runs
//! the job; waker events that name the woken task's span. These are the names and fields
//! `console-subscriber` reads (see `lwt_core::trace`).
//!
//! The subscriber is the process's global default (job workers are other threads), so the
//! tests of this file take turns.

mod util;

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use lwt::unix::{run_job, AsyncMethod};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SPAN_NAME: &str = "runtime.spawn";

#[derive(Debug, Clone, Default)]
struct SpanRec {
    name: &'static str,
    target: &'static str,
    fields: HashMap<&'static str, String>,
    parent: Option<u64>,
    /// The thread of each `enter`.
    enters: Vec<ThreadId>,
    exits: usize,
    refs: usize,
    closed: bool,
}

#[derive(Debug, Clone)]
struct EventRec {
    target: &'static str,
    fields: HashMap<&'static str, String>,
    /// The span current on the emitting thread.
    current: Option<u64>,
}

#[derive(Default)]
struct State {
    spans: HashMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

struct Recorder {
    next: AtomicU64,
    state: Mutex<State>,
}

thread_local! {
    static STACK: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn current() -> Option<u64> {
    STACK.with(|s| s.borrow().last().copied())
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), value.to_string());
    }
}

#[derive(Clone)]
struct Global(Arc<Recorder>);

impl Subscriber for Global {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            target: attrs.metadata().target(),
            refs: 1,
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        rec.parent = if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else if attrs.is_contextual() {
            current()
        } else {
            None
        };
        lock(&self.0.state).spans.insert(id, rec);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(rec) = lock(&self.0.state).spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        lock(&self.0.state).events.push(EventRec {
            target: event.metadata().target(),
            fields,
            current: current(),
        });
    }
    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
        if let Some(rec) = lock(&self.0.state).spans.get_mut(&span.into_u64()) {
            rec.enters.push(std::thread::current().id());
        }
    }
    fn exit(&self, span: &Id) {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(at) = s.iter().rposition(|&x| x == span.into_u64()) {
                s.remove(at);
            }
        });
        if let Some(rec) = lock(&self.0.state).spans.get_mut(&span.into_u64()) {
            rec.exits += 1;
        }
    }
    fn clone_span(&self, span: &Id) -> Id {
        if let Some(rec) = lock(&self.0.state).spans.get_mut(&span.into_u64()) {
            rec.refs += 1;
        }
        span.clone()
    }
    fn try_close(&self, span: Id) -> bool {
        let mut st = lock(&self.0.state);
        let Some(rec) = st.spans.get_mut(&span.into_u64()) else {
            return false;
        };
        rec.refs -= 1;
        if rec.refs == 0 {
            rec.closed = true;
        }
        rec.closed
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The recorder, installed as the global default once; the returned guard makes the tests
/// take turns, and the record starts empty.
fn recorder() -> (MutexGuard<'static, ()>, Arc<Recorder>) {
    static TURN: Mutex<()> = Mutex::new(());
    static REC: OnceLock<Arc<Recorder>> = OnceLock::new();
    let turn = lock(&TURN);
    let rec = REC
        .get_or_init(|| {
            let rec = Arc::new(Recorder {
                next: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            });
            tracing::subscriber::set_global_default(Global(rec.clone()))
                .expect("no other global subscriber in this test binary");
            rec
        })
        .clone();
    reset(&rec);
    (turn, rec)
}

/// Forgets what was recorded (a span made before is then not followed any more).
fn reset(rec: &Recorder) {
    *lock(&rec.state) = State::default();
}

/// The task spans (`runtime.spawn`) recorded so far, by span id, whose `kind` is `kind`.
fn spans_of(rec: &Recorder, kind: &str) -> Vec<(u64, SpanRec)> {
    let st = lock(&rec.state);
    let mut v: Vec<_> = st
        .spans
        .iter()
        .filter(|(_, s)| {
            s.name == SPAN_NAME && s.fields.get("kind").map(String::as_str) == Some(kind)
        })
        .map(|(&id, s)| (id, s.clone()))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v
}

/// The spans among `spans` spawned at `loc`.
fn at(spans: &[(u64, SpanRec)], loc: &Location<'_>) -> Vec<(u64, SpanRec)> {
    spans
        .iter()
        .filter(|(_, s)| {
            s.fields.get("loc.file").map(String::as_str) == Some(loc.file())
                && s.fields.get("loc.line") == Some(&loc.line().to_string())
                && s.fields.get("loc.col") == Some(&loc.column().to_string())
        })
        .cloned()
        .collect()
}

/// Spawns `fut`, returning its handle and where it was spawned (`lwt::spawn` is
/// `#[track_caller]`, so the span names this function's caller too).
#[track_caller]
fn spawn_here<F>(fut: F) -> (lwt::JoinHandle<F::Output>, &'static Location<'static>)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    (lwt::spawn(fut), Location::caller())
}

fn task_id(s: &SpanRec) -> u64 {
    s.fields
        .get("task.id")
        .expect("a task span has a task.id")
        .parse()
        .expect("task.id is a number")
}

#[test]
fn each_spawn_has_one_task_span_with_its_id_and_location() {
    let (_turn, rec) = recorder();
    let seen = std::cell::RefCell::new(Vec::new());
    util::for_each_backend(|kind| {
        let (rec, seen) = (rec.clone(), &seen);
        async move {
            reset(&rec);
            let home = std::thread::current().id();
            let mut handles = Vec::new();
            let mut loc = None;
            for i in 0..5u32 {
                let (h, l) = spawn_here(async move {
                    lwt::sleep(Duration::from_millis(1)).await.unwrap();
                    i
                });
                handles.push(h);
                loc = Some(l);
            }
            let loc = loc.unwrap();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            assert_eq!(sum, 10);
            let tasks = at(&spans_of(&rec, "task"), loc);
            assert_eq!(
                tasks.len(),
                5,
                "{}: one span per spawn: {tasks:#?}",
                kind.name()
            );
            for (_, s) in &tasks {
                assert_eq!(s.target, "runtime::spawn");
                assert_eq!(s.parent, None, "a task span has no parent");
                // Polled once, then again after its sleep woke it.
                assert!(s.enters.len() >= 2, "{s:#?}");
                assert_eq!(s.enters.len(), s.exits, "every enter is matched by an exit");
                assert!(
                    s.enters.iter().all(|&t| t == home),
                    "polled on the loop thread"
                );
                assert!(s.closed, "the span closes when the task finishes: {s:#?}");
            }
            seen.borrow_mut()
                .extend(tasks.iter().map(|(_, s)| task_id(s)));
        }
    });
    let mut seen_ids = seen.into_inner();
    let n = seen_ids.len();
    seen_ids.sort_unstable();
    seen_ids.dedup();
    assert_eq!(seen_ids.len(), n, "task ids are unique across runtimes");
    assert!(seen_ids[0] >= 1);
}

#[test]
fn local_tasks_block_on_and_other_threads_spawns_are_named_by_kind_and_place() {
    let (_turn, rec) = recorder();
    let _deadline = util::deadline("spans of each kind", util::DEADLINE);
    let rt = lwt::Builder::new().build().unwrap();
    let (local_loc, remote_loc, outer) = {
        #[track_caller]
        fn block_on_here<F: std::future::Future>(
            rt: &lwt::Runtime,
            fut: F,
        ) -> (F::Output, &'static Location<'static>) {
            (rt.block_on(fut), Location::caller())
        }
        let handle = rt.handle();
        #[track_caller]
        fn spawn_local_here() -> (lwt::JoinHandle<u32>, &'static Location<'static>) {
            (lwt::spawn_local(async { 1 }), Location::caller())
        }
        let ((local_loc, remote_loc), outer) = block_on_here(&rt, async move {
            let (l, local_loc) = spawn_local_here();
            assert_eq!(l.await.unwrap(), 1);
            let (remote_loc, h) = std::thread::spawn(move || {
                #[track_caller]
                fn spawn_from_thread(
                    handle: &lwt::Handle,
                ) -> (&'static Location<'static>, lwt::JoinHandle<u32>) {
                    (Location::caller(), handle.spawn(async { 2 }))
                }
                spawn_from_thread(&handle)
            })
            .join()
            .unwrap();
            assert_eq!(h.await.unwrap(), 2);
            (local_loc, remote_loc)
        });
        (local_loc, remote_loc, outer)
    };
    let locals = at(&spans_of(&rec, "local"), local_loc);
    assert_eq!(locals.len(), 1, "{locals:#?}");
    assert!(locals[0].1.closed && !locals[0].1.enters.is_empty());

    let remote = at(&spans_of(&rec, "task"), remote_loc);
    assert_eq!(remote.len(), 1, "Handle::spawn from another thread");
    assert!(!remote[0].1.enters.is_empty() && remote[0].1.closed);

    let mains = at(&spans_of(&rec, "block_on"), outer);
    assert_eq!(mains.len(), 1, "the block_on future has a span");
    let (_, main) = &mains[0];
    assert!(main.closed && !main.enters.is_empty());
    assert_eq!(main.enters.len(), main.exits);
}

#[test]
fn a_jobs_span_is_entered_where_the_job_runs() {
    let (_turn, rec) = recorder();
    util::for_each_backend(|_| {
        let rec = rec.clone();
        async move {
            reset(&rec);
            let home = std::thread::current().id();
            let parent = lwt::spawn(async {
                for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
                    assert_eq!(run_job(Some(m), || 6 * 7).await.unwrap(), 42);
                }
            });
            parent.await.unwrap();
            let jobs = spans_of(&rec, "blocking");
            assert_eq!(jobs.len(), 3, "one span per job: {jobs:#?}");
            let st = lock(&rec.state);
            for (_, s) in &jobs {
                let method = s.fields["job.method"].as_str();
                assert!(
                    s.fields["task.name"].contains("tracing_spans"),
                    "a job is named by its closure's type: {s:#?}"
                );
                let p = s.parent.expect("a job's span is the awaiting task's child");
                let ps = &st.spans[&p];
                assert_eq!(ps.fields["kind"], "task", "{ps:#?}");
                assert_eq!(s.enters.len(), 1, "{method}: entered once, for the run");
                assert_eq!(s.exits, 1);
                let on = s.enters[0];
                match method {
                    "detach" => assert_ne!(on, home, "a detached job runs on a worker"),
                    "none" | "switch" => assert_eq!(on, home, "{method} runs on the loop"),
                    m => panic!("unknown job.method {m}"),
                }
                assert!(s.closed);
            }
        }
    });
}

#[test]
fn wakes_are_reported_with_the_woken_tasks_span_id() {
    let (_turn, rec) = recorder();
    util::for_each_backend(|kind| {
        let rec = rec.clone();
        async move {
            reset(&rec);
            let (sleeper, sleeper_loc) = spawn_here(async {
                lwt::sleep(Duration::from_millis(2)).await.unwrap();
            });
            let (yielder, yielder_loc) = spawn_here(async {
                for _ in 0..3 {
                    lwt::yield_now().await;
                }
            });
            sleeper.await.unwrap();
            yielder.await.unwrap();
            let tasks = spans_of(&rec, "task");
            let sleeper = at(&tasks, sleeper_loc)[0].0;
            let yielder = at(&tasks, yielder_loc)[0].0;
            let st = lock(&rec.state);
            let ops = |id: u64, op: &str| {
                st.events
                    .iter()
                    .filter(|e| {
                        e.target == "runtime::waker"
                            && e.fields.get("op").map(String::as_str) == Some(op)
                            && e.fields.get("task.id") == Some(&id.to_string())
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let n = |id, op| ops(id, op).len();
            let wakes: Vec<_> = [
                ops(sleeper, "waker.wake"),
                ops(sleeper, "waker.wake_by_ref"),
            ]
            .concat();
            assert_eq!(
                wakes.len(),
                1,
                "{}: the timer woke the sleeper once",
                kind.name()
            );
            assert_ne!(
                wakes[0].current,
                Some(sleeper),
                "woken from outside its own poll"
            );
            assert!(
                n(sleeper, "waker.clone") >= 1,
                "the timer kept a clone of the waker"
            );
            assert_eq!(
                n(sleeper, "waker.clone"),
                n(sleeper, "waker.drop") + n(sleeper, "waker.wake"),
                "every clone was dropped or woken by value"
            );
            let yields = ops(yielder, "waker.wake_by_ref");
            assert_eq!(yields.len(), 3, "each yield is a wake");
            assert!(
                yields.iter().all(|e| e.current == Some(yielder)),
                "a yield wakes the task from inside its own span (a self-wake)"
            );
            assert_eq!(n(yielder, "waker.wake") + n(yielder, "waker.clone"), 0);
        }
    });
}

#[test]
fn a_canceled_or_dropped_tasks_span_closes() {
    let (_turn, rec) = recorder();
    let _deadline = util::deadline("spans of dropped tasks", util::DEADLINE);
    let rt = lwt::Builder::new().build().unwrap();
    let (canceled, left) = rt.block_on(async {
        let (c, canceled) = spawn_here(lwt::sleep(Duration::from_secs(60)));
        let (l, left) = spawn_here(lwt::sleep(Duration::from_secs(60)));
        lwt::yield_now().await;
        assert!(c.cancel().await.is_none());
        drop(l);
        (canceled, left)
    });
    let tasks = spans_of(&rec, "task");
    let c = &at(&tasks, canceled)[0].1;
    assert!(c.closed, "JoinHandle::cancel closes the span: {c:#?}");
    assert!(
        !at(&tasks, left)[0].1.closed,
        "a detached task is still alive"
    );
    drop(rt);
    let tasks = spans_of(&rec, "task");
    assert!(
        at(&tasks, left)[0].1.closed,
        "dropping the runtime drops the task, and its span closes"
    );
}
