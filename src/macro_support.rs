//! What the code of `#[lwt::test]` calls at run time (hidden: not part of the API).
//!
//! Each backend's run owns its own thread and runtime: the thread builds the runtime, drives
//! the test body to completion and sends back only the outcome (`Ok` or a message), so the
//! body's future and output need not be `Send`. The calling thread (the test harness's) owns
//! nothing but the deadline: it waits for the outcome, and on a timeout leaves the runaway
//! thread behind (it ends with the test process) and reports the failure.

use crate::{BackendKind, Builder};
use std::fmt::Debug;
use std::sync::mpsc;
use std::time::Duration;

/// The deadline of each backend's run when `timeout_secs` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `#[lwt::test(...)]` was given, and what it saw of the function.
#[derive(Clone, Copy, Debug)]
pub struct TestSpec {
    /// The test's path (`module_path!()::name`), for the messages.
    pub name: &'static str,
    /// `backend = "..."`: this backend only (a name the macro checked against the known ones).
    pub backend: Option<&'static str>,
    /// `timeout_secs = N`: the deadline of each backend's run.
    pub timeout_secs: Option<u64>,
    /// The function also has `#[should_panic]`: the body must panic on every backend.
    pub should_panic: bool,
}

/// What an `#[lwt::test]` body may return: `()`, or `Result<(), E>` with `E: Debug` (an `Err`
/// fails the test, showing the error).
#[diagnostic::on_unimplemented(
    message = "an `#[lwt::test]` function must return `()` or `Result<(), E>` where `E: Debug`, not `{Self}`",
    label = "this return type"
)]
pub trait TestResult {
    /// `Ok`, or the failure's message.
    fn into_outcome(self) -> Result<(), String>;
}

impl TestResult for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Debug> TestResult for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| format!("the test returned Err({e:?})"))
    }
}

/// How one backend's run ended.
enum Outcome {
    Passed,
    Returned(String),
    Panicked(String),
    TimedOut(Duration),
}

/// The backends to run on: the pinned one (`None` when this OS lacks it), else every backend
/// this OS has, restricted to `LWT_BACKEND` when it is set.
///
/// # Panics
///
/// If `LWT_BACKEND` is set to something this OS does not have (the message says what it
/// has), or if `pinned` is a name lwt does not know (the macro and lwt disagree).
fn backends(pinned: Option<&str>) -> Option<Vec<BackendKind>> {
    if let Some(name) = pinned {
        let kind = BackendKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .unwrap_or_else(|| panic!("lwt::test: lwt has no backend named {name:?}"));
        return kind.is_available().then(|| vec![kind]);
    }
    Some(match BackendKind::from_env() {
        Ok(Some(k)) => vec![k],
        Ok(None) => BackendKind::available(),
        Err(e) => panic!("lwt::test: {e}"),
    })
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Runs `body` on `kind` in a thread of its own, waiting at most `timeout`.
fn run_one<F, Fut>(kind: BackendKind, timeout: Duration, body: F) -> Outcome
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: TestResult,
{
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("lwt-test-{}", kind.name()))
        .spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = Builder::new()
                    .backend(kind)
                    .build()
                    .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
                assert_eq!(rt.backend_name(), kind.name());
                rt.block_on(body()).into_outcome()
            }));
            let outcome = match run {
                Ok(Ok(())) => Outcome::Passed,
                Ok(Err(msg)) => Outcome::Returned(msg),
                Err(p) => Outcome::Panicked(panic_message(&*p)),
            };
            // The receiver is gone only after a timeout; nobody is left to tell.
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        return Outcome::Panicked(format!("cannot start the test thread: {e}"));
    }
    match rx.recv_timeout(timeout) {
        Ok(o) => o,
        Err(_) => Outcome::TimedOut(timeout),
    }
}

/// Runs an `#[lwt::test]` body once per backend (see `lwt::test` for the rules), each on a
/// fresh runtime in a thread of its own with a deadline, and fails with a message naming
/// every backend that failed.
///
/// # Panics
///
/// When the test fails on some backend (or, with `should_panic`, when it panicked on every
/// one: the message then carries each panic's message).
pub fn run_test<F, Fut>(spec: TestSpec, body: F)
where
    F: FnOnce() -> Fut + Send + Copy + 'static,
    Fut: Future,
    Fut::Output: TestResult,
{
    let Some(kinds) = backends(spec.backend) else {
        let has: Vec<_> = BackendKind::available().iter().map(|k| k.name()).collect();
        eprintln!(
            "lwt::test: {} skipped: backend {:?} is not available on this OS (it has: {})",
            spec.name,
            spec.backend.unwrap_or_default(),
            has.join(", ")
        );
        return;
    };
    let timeout = spec
        .timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let mut failures = Vec::new();
    let mut not_panicked = Vec::new();
    for kind in kinds {
        match run_one(kind, timeout, body) {
            Outcome::Passed => not_panicked.push(kind.name()),
            Outcome::Returned(msg) => {
                not_panicked.push(kind.name());
                failures.push(format!("on backend {kind}: {msg}"));
            }
            Outcome::Panicked(msg) => failures.push(format!("on backend {kind}: panicked: {msg}")),
            Outcome::TimedOut(t) => {
                not_panicked.push(kind.name());
                failures.push(format!("on backend {kind}: did not finish within {t:?}"));
            }
        }
    }
    if spec.should_panic && !not_panicked.is_empty() {
        // Returning makes the harness report "did not panic"; say where.
        eprintln!(
            "lwt::test: {} did not panic on backend(s) {}",
            spec.name,
            not_panicked.join(", ")
        );
        for f in &failures {
            eprintln!("lwt::test: {}: {f}", spec.name);
        }
        return;
    }
    if !failures.is_empty() {
        panic!("lwt::test: {} failed {}", spec.name, failures.join("; "));
    }
}

// What `lwt::join!` and `lwt::pick!` expand to, by paths the caller cannot shadow.
pub use std::future::{poll_fn, Future};
pub use std::option::Option;
pub use std::pin::pin;
pub use std::task::Poll;
