//! Helpers shared by the behaviour tests.
#![allow(dead_code)] // each test binary uses a different subset

use lwt::{BackendKind, Builder, Runtime};
use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

/// How long one test body may run on one backend before the test binary is stopped (a hang
/// must fail the test, never stall the suite). `LWT_TEST_DEADLINE_SECS` overrides it.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The backends this OS has, restricted to `LWT_BACKEND` when it is set (so `.ci/run` can
/// run the suite once per backend through the environment path).
pub fn backends() -> Vec<BackendKind> {
    match BackendKind::from_env() {
        Ok(Some(k)) => vec![k],
        Ok(None) => BackendKind::available(),
        Err(e) => panic!("{e}"),
    }
}

/// A runtime on `kind`.
pub fn runtime(kind: BackendKind) -> Runtime {
    Builder::new().backend(kind).build().expect("runtime")
}

/// Stops the whole test process if it is still running after `limit`, naming `what`: a hung
/// test then fails (its binary exits with an error) instead of stalling the suite. Dropping
/// the guard (also by a panic) disarms it.
pub struct Deadline {
    done: Option<mpsc::Sender<()>>,
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

/// Arms a [`Deadline`] of `limit` (or `LWT_TEST_DEADLINE_SECS`) for `what`.
pub fn deadline(what: impl Into<String>, limit: Duration) -> Deadline {
    let limit = std::env::var("LWT_TEST_DEADLINE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(limit, Duration::from_secs);
    let what = what.into();
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("test-deadline".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // Straight to the descriptor: the test harness captures `eprintln!`.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** {what}: still running after {limit:?}: a hang; stopping the test binary"
                );
                std::process::exit(101);
            }
        })
        .expect("deadline thread");
    Deadline { done: Some(tx) }
}

/// The name of the running test (the test harness names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

/// Runs the test body, a future, on every available backend in turn, each within
/// [`DEADLINE`].
pub fn for_each_backend<F, Fut>(body: F)
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = ()>,
{
    for_each_backend_within(DEADLINE, body)
}

/// [`for_each_backend`] with a deadline of `limit` per backend.
pub fn for_each_backend_within<F, Fut>(limit: Duration, body: F)
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = ()>,
{
    for kind in backends() {
        let _deadline = deadline(format!("{} on {}", test_name(), kind.name()), limit);
        let rt = runtime(kind);
        assert_eq!(rt.backend_name(), kind.name());
        rt.block_on(body(kind));
    }
}

/// The number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The number of threads of this process.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (up to `limit`) until `cond` holds, polling every millisecond; whether it did.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}
