//! `#[lwt::test]`: one run per backend (restricted by `LWT_BACKEND`), each on its own runtime
//! and thread with a deadline; failures name their backend; `backend = "..."` pins one (and
//! skips when this OS lacks it); `#[should_panic]`, `#[ignore]` and `Result` bodies work.
//! The runner behind the macro (`lwt::__private::run_test`) is called directly where a test
//! must watch a failure happen.
mod util;

use lwt::__private::{run_test, TestSpec};
use lwt::{BackendKind, Handle};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "LWT_MACROS_TEST_CHILD";

fn spec(name: &'static str) -> TestSpec {
    TestSpec {
        name,
        backend: None,
        timeout_secs: Some(30),
        should_panic: false,
    }
}

/// The message of the panic of `f`, which must panic.
fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let p = std::panic::catch_unwind(f).expect_err("it did not panic");
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap()
    }
}

fn names(kinds: &[BackendKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.name()).collect()
}

#[lwt::test]
async fn the_body_runs_on_its_backend_thread() {
    let backend = Handle::current().backend_name();
    assert!(names(&util::backends()).contains(&backend), "{backend}");
    let thread = std::thread::current();
    assert_eq!(thread.name(), Some(format!("lwt-test-{backend}").as_str()));
    // The loop runs: timers fire, tasks run.
    let _ = lwt::sleep(Duration::from_millis(1)).await;
    assert_eq!(lwt::spawn(async { 6 * 7 }).await.unwrap(), 42);
}

#[cfg(unix)]
#[lwt::test]
async fn a_result_body_may_use_the_question_mark() -> Result<(), lwt::Error> {
    let (r, w) = lwt::unix::pipe()?;
    lwt::unix::write(&w, b"ok").await?;
    let mut b = [0u8; 2];
    assert_eq!(lwt::unix::read(&r, &mut b).await?, 2);
    Ok(())
}

#[lwt::test]
#[should_panic(expected = "panics on every backend")]
async fn should_panic_passes_through() {
    panic!("panics on every backend");
}

#[lwt::test]
#[ignore = "checks that #[ignore] passes through: it must never run"]
async fn ignore_passes_through() {
    panic!("an ignored test ran");
}

#[lwt::test(timeout_secs = 5)]
async fn a_body_need_not_be_send() {
    let local = std::rc::Rc::new(5);
    let _ = lwt::sleep(Duration::from_millis(1)).await;
    assert_eq!(*local, 5);
}

// One pinned test per backend name lwt knows: each must compile (the macro's list of names
// matches `BackendKind::ALL`), run on that backend where the OS has it, and skip elsewhere.
#[lwt::test(backend = "epoll")]
async fn pinned_epoll() {
    assert_eq!(Handle::current().backend_name(), "epoll");
}

#[lwt::test(backend = "poll")]
async fn pinned_poll() {
    assert_eq!(Handle::current().backend_name(), "poll");
}

#[lwt::test(backend = "kqueue")]
async fn pinned_kqueue() {
    assert_eq!(Handle::current().backend_name(), "kqueue");
}

#[lwt::test(backend = "io_uring")]
async fn pinned_io_uring() {
    assert_eq!(Handle::current().backend_name(), "io_uring");
}

#[lwt::test(backend = "iocp")]
async fn pinned_iocp() {
    assert_eq!(Handle::current().backend_name(), "iocp");
}

#[test]
fn the_macro_knows_every_backend_name() {
    // The names of macros/src/lib.rs's BACKENDS, each pinned by a test above.
    let known = ["epoll", "poll", "kqueue", "iocp", "io_uring"];
    let mut all: Vec<_> = BackendKind::ALL.iter().map(|k| k.name()).collect();
    all.sort_unstable();
    let mut known = known.to_vec();
    known.sort_unstable();
    assert_eq!(
        all, known,
        "update BACKENDS in macros/src/lib.rs and the pinned tests"
    );
}

static VISITED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[test]
fn runs_once_on_each_backend_in_turn() {
    async fn body() {
        VISITED
            .lock()
            .unwrap()
            .push(Handle::current().backend_name());
    }
    run_test(spec("runs_once_on_each_backend_in_turn"), body);
    assert_eq!(*VISITED.lock().unwrap(), names(&util::backends()));
}

static PINNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[test]
fn a_pinned_backend_runs_alone_or_skips() {
    async fn body() {
        PINNED
            .lock()
            .unwrap()
            .push(Handle::current().backend_name());
    }
    for kind in BackendKind::ALL {
        run_test(
            TestSpec {
                backend: Some(kind.name()),
                ..spec("a_pinned_backend_runs_alone_or_skips")
            },
            body,
        );
    }
    // Every available backend ran once (whatever LWT_BACKEND says); the others skipped.
    let mut available = names(&BackendKind::available());
    available.sort_unstable();
    let mut ran = PINNED.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, available);
}

static FAILING: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[test]
fn a_failure_names_its_backend_and_the_others_still_run() {
    let backends = util::backends();
    let first = backends[0].name();
    async fn body() {
        let name = Handle::current().backend_name();
        FAILING.lock().unwrap().push(name);
        if name == util::backends()[0].name() {
            panic!("boom on {name}");
        }
    }
    let msg = panic_of(|| run_test(spec("t"), body));
    assert!(
        msg.starts_with(&format!(
            "lwt::test: t failed on backend {first}: panicked: boom on {first}"
        )),
        "{msg}"
    );
    for other in &backends[1..] {
        assert!(!msg.contains(&format!("backend {other}")), "{msg}");
    }
    assert_eq!(
        *FAILING.lock().unwrap(),
        names(&backends),
        "every backend ran"
    );
}

#[test]
fn an_err_result_fails_with_the_error() {
    async fn body() -> Result<(), String> {
        Err("no such thing".into())
    }
    let msg = panic_of(|| run_test(spec("t"), body));
    for kind in util::backends() {
        assert!(
            msg.contains(&format!(
                "on backend {kind}: the test returned Err(\"no such thing\")"
            )),
            "{msg}"
        );
    }
}

#[test]
fn a_hung_body_fails_at_its_deadline() {
    async fn body() {
        let _ = lwt::sleep(Duration::from_secs(3600)).await;
    }
    let start = Instant::now();
    let msg = panic_of(|| {
        run_test(
            TestSpec {
                timeout_secs: Some(1),
                ..spec("t")
            },
            body,
        )
    });
    let n = util::backends().len() as u64;
    assert!(
        start.elapsed() >= Duration::from_secs(n),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    for kind in util::backends() {
        assert!(
            msg.contains(&format!("on backend {kind}: did not finish within 1s")),
            "{msg}"
        );
    }
}

#[test]
fn should_panic_needs_a_panic_on_every_backend() {
    async fn everywhere() {
        panic!("everywhere");
    }
    let sp = TestSpec {
        should_panic: true,
        ..spec("t")
    };
    let msg = panic_of(|| run_test(sp, everywhere));
    assert!(msg.contains("panicked: everywhere"), "{msg}");

    // Panicking on one backend only is not enough: the runner returns, and the harness
    // reports "did not panic" for a #[should_panic] test. (With one backend, it panics.)
    async fn first_only() {
        if Handle::current().backend_name() == util::backends()[0].name() {
            panic!("first only");
        }
    }
    if util::backends().len() > 1 {
        run_test(sp, first_only);
    }
    async fn nowhere() {}
    run_test(sp, nowhere);
}

/// Runs this test binary with `args` and `envs`, at most 60 s.
fn run_self(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(args).env(CHILD_ENV, "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the test binary {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn lwt_backend_restricts_the_backends() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // the child runs the tests named below, not this one
    }
    for kind in BackendKind::available() {
        let out = run_self(
            &[
                "--exact",
                "runs_once_on_each_backend_in_turn",
                "--test-threads=1",
            ],
            &[("LWT_BACKEND", kind.name())],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{kind}: {stdout}"
        );
    }
    // An LWT_BACKEND this OS lacks fails the test, saying what the OS has.
    let out = run_self(
        &[
            "--exact",
            "the_body_runs_on_its_backend_thread",
            "--test-threads=1",
        ],
        &[("LWT_BACKEND", "nonsense")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("lwt::test:") && text.contains("unknown backend \"nonsense\""),
        "{text}"
    );
}

#[test]
fn ignored_tests_are_listed_as_ignored() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let out = run_self(&["--list", "--ignored"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ignore_passes_through: test"), "{text}");
    assert!(!text.contains("should_panic_passes_through"), "{text}");
}
