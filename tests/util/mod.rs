//! Helpers shared by the behaviour tests.
#![allow(dead_code)] // each test binary uses a different subset

use lwt::{BackendKind, Builder, Runtime};
use std::future::Future;

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

/// Runs the test body, a future, on every available backend in turn.
pub fn for_each_backend<F, Fut>(body: F)
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = ()>,
{
    for kind in backends() {
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
