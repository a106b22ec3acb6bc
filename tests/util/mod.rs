//! Helpers shared by the behaviour tests.
#![allow(dead_code)] // each test binary uses a different subset

#[cfg(unix)]
pub mod parked;

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

/// How long a test waits for something that only a thread of lwt's own can make happen (a
/// switch call handed off, a stand-in running the loop, a job started on a worker) before it
/// fails. On an idle machine a blocked switch call is handed off within about a millisecond,
/// but each thread a hand-off needs (the watchdog at two of its samples, the new stand-in, the
/// stand-in again when a timer is due) can wait for a CPU: with a loaded core, over 100 ms
/// went by before the steal. So a test blocks until what it checks has happened, up to this
/// limit, instead of for a fixed time that only an idle machine keeps to.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// A plain thread that sleeps 1 ms at a time and records its longest gap: how long the
/// machine itself kept a thread that asks for almost nothing from running. A test that bounds
/// how long the loop may stall (a ticker's worst gap) runs one beside it and allows what the
/// machine took from the idle thread on top of its own bound ([`StallProbe::bound`]): on an
/// idle machine the probe's worst gap is a millisecond or two and the bound is the test's own;
/// on one loaded by other builds (a load average of 12 on 2 cores stalled threads 500 ms) a
/// stall that the machine caused does not fail the test, while a loop blocked for a second by
/// lwt still does, unless the machine stalled an idle thread nearly as long.
pub struct StallProbe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Duration>>,
}

impl StallProbe {
    /// Starts the probe's thread.
    pub fn start() -> StallProbe {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stall-probe".into())
            .spawn(move || {
                let mut worst = Duration::ZERO;
                let mut last = std::time::Instant::now();
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                    let now = std::time::Instant::now();
                    worst = worst.max(now - last);
                    last = now;
                }
                worst
            })
            .expect("the stall probe's thread");
        StallProbe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the probe; the longest gap its thread saw.
    pub fn finish(mut self) -> Duration {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }

    /// The bound a stall is held to: the test's own `limit`, plus twice the machine's stall
    /// `machine` (as [`StallProbe::finish`] measured it).
    pub fn bound(limit: Duration, machine: Duration) -> Duration {
        limit + machine * 2
    }
}

impl Drop for StallProbe {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
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

/// [`eventually`] for a task: waits (up to `limit`) until `cond` holds, sleeping a millisecond
/// on the loop between two looks; whether it did.
pub async fn eventually_async(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        lwt::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// Set in the environment of the child processes started by [`run_child_test`]; a child test
/// run by hand without it has nothing to check and returns (see [`in_child`]).
pub const CHILD_ENV: &str = "LWT_TEST_CHILD";

/// Whether this process is a child started by [`run_child_test`].
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Re-runs this test binary on its one `#[ignore]`d test `name`, in a child process with
/// `vars` set (and `LWT_ASYNC_METHOD`/`LWT_POOL_SIZE` removed unless given), for settings that
/// are read once per process or dispositions that could kill the test runner. The child is
/// killed if it has not ended after `limit`, and the test then fails: a hang never stalls the
/// suite. Returns whether the child succeeded, and its standard output and error.
pub fn run_child_test(
    name: &str,
    vars: &[(&str, &str)],
    limit: std::time::Duration,
) -> (bool, String) {
    let vars: Vec<(&str, &std::ffi::OsStr)> = vars.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    let (status, text) = run_child(name, &vars, limit);
    assert!(
        text.contains("1 passed") || !status.success(),
        "child test {name} did not run: {text}"
    );
    (status.success(), text)
}

/// [`run_child_test`], giving the child's exit status itself (e.g. to see the signal that
/// ended it), with values that need not be UTF-8.
pub fn run_child(
    name: &str,
    vars: &[(&str, &std::ffi::OsStr)],
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        name,
    ]);
    cmd.env_remove("LWT_ASYNC_METHOD")
        .env_remove("LWT_POOL_SIZE")
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("re-run the test binary");
    let mut readers = Vec::new();
    let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped stdout"));
    let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped stderr"));
    for mut pipe in [out, err] {
        readers.push(std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = pipe.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        }));
    }
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break Some(status),
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    };
    let text: String = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();
    match status {
        Some(s) => (s, text),
        None => panic!("child test {name} did not end within {limit:?}: {text}"),
    }
}

/// Runs `body` on its own thread and waits at most `limit` for it: a body that hangs fails
/// the test (its thread is left behind; the test binary exits when the tests end) instead of
/// stalling the suite. A panic in `body` is re-raised here.
pub fn with_deadline<T: Send + 'static>(
    limit: std::time::Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            let _ = t.join();
            v
        }
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the test body did not end within {limit:?}"),
    }
}

/// Runs `f` with a `tracing` subscriber on this thread that records the message of every
/// warning; returns `f`'s result and the warnings.
pub fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = tracing::subscriber::with_default(Warnings(seen.clone(), false), f);
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

/// Records, for the rest of the process, the message of every warning of every thread; returns
/// where they go. For a child process (a process has one global subscriber).
pub fn capture_warnings_globally() -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Warnings(seen.clone(), false))
        .expect("no global subscriber yet");
    seen
}

/// [`capture_warnings`], but errors too: the message of every warning and error this thread
/// logs while `f` runs.
pub fn capture_reports<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = tracing::subscriber::with_default(Warnings(seen.clone(), true), f);
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

/// Records warnings (and errors, with `.1` set).
struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>, bool);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let level = *e.metadata().level();
        if level == tracing::Level::WARN || (self.1 && level == tracing::Level::ERROR) {
            let mut m = Message(String::new());
            e.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// `n` jobs that block until `release` is set, then count themselves done; returned once every
/// one of them has been submitted to the jobs layer (so an `abort_jobs` or `cancel_jobs` that
/// follows sees them all). Waiting a fixed time instead was not enough under
/// ThreadSanitizer: starting the pool's threads there took longer than the 10 ms the tests
/// slept, the abort came before the last jobs were submitted, and those then waited for ever
/// behind the held workers.
pub async fn held_jobs(
    n: usize,
    release: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<lwt::JoinHandle<lwt::Result<u32>>> {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let submitted = std::sync::Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let (release, done, submitted) = (release.clone(), done.clone(), submitted.clone());
            lwt::spawn(async move {
                let job = lwt::unix::run_job(Some(lwt::unix::AsyncMethod::Detach), move || {
                    while !release.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    done.fetch_add(1, SeqCst);
                    7u32
                });
                // A job is submitted on its first poll; the loop polls one task at a time, so
                // once the main future sees this count at `n`, every first poll has returned.
                let mut job = std::pin::pin!(job);
                let first = futures_lite::future::poll_once(job.as_mut()).await;
                submitted.fetch_add(1, SeqCst);
                match first {
                    Some(r) => r,
                    None => job.await,
                }
            })
        })
        .collect();
    while submitted.load(SeqCst) < n {
        lwt::sleep(Duration::from_millis(1)).await;
    }
    jobs
}
