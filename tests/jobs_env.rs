//! `LWT_ASYNC_METHOD` and `LWT_POOL_SIZE`, checked in child processes (the settings are read
//! once per process): each parent test re-runs this test binary on one `#[ignore]`d child
//! test with the variable set.
#![cfg(unix)]
mod util;

use lwt::unix::{default_async_method, pool_size, run_job, AsyncMethod};
use std::process::Command;

/// Runs the ignored test `name` of this binary in a child process with `vars` set; returns
/// (success, stdout + stderr).
fn child(name: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        name,
    ]);
    cmd.env_remove("LWT_ASYNC_METHOD")
        .env_remove("LWT_POOL_SIZE");
    cmd.env(CHILD, "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("re-run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 passed") || !out.status.success(),
        "child {name} did not run: {text}"
    );
    (out.status.success(), text)
}

/// The documented default pool size: 8 per CPU, between 8 and 128.
fn default_pool_size() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 8).clamp(8, 128)
}

/// Set in the child processes only; a child test run by hand (`--include-ignored`) without
/// it has nothing to check and returns.
const CHILD: &str = "LWT_JOBS_TEST_CHILD";

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn expect_method() -> Option<AsyncMethod> {
    std::env::var("EXPECT_METHOD")
        .ok()
        .map(|v| v.parse().unwrap())
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_method_from_env() {
    if !in_child() {
        return;
    }
    let want = expect_method().expect("EXPECT_METHOD");
    // A valid value, or an empty one (which means unset), is not an error.
    let set = std::env::var("LWT_ASYNC_METHOD").unwrap_or_default();
    let from_env = lwt::unix::async_method_from_env().expect("a valid or empty value");
    assert_eq!(
        from_env,
        (!set.is_empty()).then_some(want),
        "LWT_ASYNC_METHOD={set:?}"
    );
    assert_eq!(default_async_method(), want);
    util::for_each_backend(|_kind| async move {
        assert_eq!(lwt::unix::async_method(), want);
        let me = std::thread::current().id();
        let on = run_job(None, || std::thread::current().id()).await.unwrap();
        match want {
            AsyncMethod::Detach => assert_ne!(on, me),
            AsyncMethod::None | AsyncMethod::Switch => assert_eq!(on, me),
        }
    });
}

#[test]
fn lwt_async_method_is_honoured() {
    for (value, want) in [
        ("none", "none"),
        ("detach", "detach"),
        ("switch", "switch"),
        ("SWITCH", "switch"),
        ("", "detach"),
    ] {
        let (ok, text) = child(
            "child_method_from_env",
            &[("LWT_ASYNC_METHOD", value), ("EXPECT_METHOD", want)],
        );
        assert!(ok, "LWT_ASYNC_METHOD={value:?}: {text}");
        assert!(!text.contains("unknown async method"), "warned: {text}");
    }
    let (ok, text) = child("child_method_from_env", &[("EXPECT_METHOD", "detach")]);
    assert!(ok, "unset: {text}");
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_bad_method() {
    if !in_child() {
        return;
    }
    // The jobs layer warns once and keeps detach...
    assert_eq!(default_async_method(), AsyncMethod::Detach);
    assert_eq!(default_async_method(), AsyncMethod::Detach);
    // ...while building a runtime from the environment refuses to start.
    let err = lwt::Builder::from_env()
        .build()
        .expect_err("a bad LWT_ASYNC_METHOD is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("fast") && msg.contains("none, detach, switch"),
        "{msg}"
    );
    // A runtime built in code still works, with detach.
    util::for_each_backend(|_kind| async {
        let on = run_job(None, || std::thread::current().id()).await.unwrap();
        assert_ne!(on, std::thread::current().id());
    });
}

#[test]
fn a_bad_lwt_async_method_is_reported() {
    let (ok, text) = child("child_bad_method", &[("LWT_ASYNC_METHOD", "fast")]);
    assert!(ok, "{text}");
    assert_eq!(
        text.matches("unknown async method \"fast\"").count(),
        1,
        "warned once, naming the value: {text}"
    );
    assert!(text.contains("using detach"), "{text}");
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_pool_size_from_env() {
    if !in_child() {
        return;
    }
    let want: usize = std::env::var("EXPECT_POOL").unwrap().parse().unwrap();
    assert_eq!(pool_size(), want);
    util::for_each_backend(|_kind| async move {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    lwt::unix::thread_count()
                }))
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap() <= want);
        }
        assert!(lwt::unix::thread_count() <= want);
    });
}

#[test]
fn lwt_pool_size_is_honoured() {
    for n in ["0", "1", "3"] {
        let (ok, text) = child(
            "child_pool_size_from_env",
            &[("LWT_POOL_SIZE", n), ("EXPECT_POOL", n)],
        );
        assert!(ok, "LWT_POOL_SIZE={n}: {text}");
    }
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_bad_pool_size() {
    if !in_child() {
        return;
    }
    assert_eq!(
        pool_size(),
        default_pool_size(),
        "the default: 8 per CPU, 8 to 128"
    );
    let err = lwt::Builder::from_env()
        .build()
        .expect_err("a bad LWT_POOL_SIZE is refused");
    assert!(err.to_string().contains("lots"), "{err}");
}

#[test]
fn a_bad_lwt_pool_size_is_reported() {
    let (ok, text) = child("child_bad_pool_size", &[("LWT_POOL_SIZE", "lots")]);
    assert!(ok, "{text}");
    assert!(
        text.contains("LWT_POOL_SIZE") && text.contains("\"lots\""),
        "{text}"
    );
}

/// A value that is not UTF-8 (the bytes `4`, `0xff`).
fn not_utf8() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"4\xff")
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_setting_not_utf8() {
    if !in_child() {
        return;
    }
    let var = std::env::var("EXPECT_BAD_VAR").unwrap();
    // The jobs layer warns and keeps its default...
    match var.as_str() {
        "LWT_POOL_SIZE" => assert!((8..=128).contains(&pool_size()), "{}", pool_size()),
        _ => assert_eq!(default_async_method(), AsyncMethod::Detach),
    }
    // ...and building a runtime from the environment refuses it, naming the variable.
    let err = lwt::Builder::from_env()
        .build()
        .expect_err("a setting that is not UTF-8 is refused");
    let msg = err.to_string();
    assert!(msg.contains(&var) && msg.contains("UTF-8"), "{msg}");
}

#[test]
fn settings_that_are_not_utf8_are_reported() {
    for var in ["LWT_POOL_SIZE", "LWT_ASYNC_METHOD"] {
        let (status, text) = util::run_child(
            "child_setting_not_utf8",
            &[
                (var, not_utf8()),
                ("EXPECT_BAD_VAR", std::ffi::OsStr::new(var)),
                (CHILD, std::ffi::OsStr::new("1")),
            ],
            std::time::Duration::from_secs(60),
        );
        assert!(
            status.success() && text.contains("1 passed"),
            "{var}: {text}"
        );
        assert!(
            text.contains(&format!("lwt: {var}")) && text.contains("UTF-8"),
            "{var}: the jobs layer did not warn: {text}"
        );
    }
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_pool_size_cap() {
    if !in_child() {
        return;
    }
    use lwt::unix::{set_pool_size, MAX_POOL_SIZE};
    // LWT_POOL_SIZE above the cap: warned and ignored by the jobs layer, refused by the
    // builder, with the same message naming the cap.
    assert_eq!(pool_size(), default_pool_size());
    let err = lwt::Builder::from_env()
        .build()
        .expect_err("LWT_POOL_SIZE above the cap is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("99999999999") && msg.contains(&MAX_POOL_SIZE.to_string()),
        "{msg}"
    );
    // In code: the builder refuses a size above the cap; set_pool_size caps it.
    let err = lwt::Builder::new()
        .pool_size(MAX_POOL_SIZE + 1)
        .build()
        .expect_err("a pool size above the cap is refused");
    assert!(
        err.to_string().contains(&MAX_POOL_SIZE.to_string()),
        "{err}"
    );
    assert!(matches!(err, lwt::Error::InvalidArgument { .. }), "{err:?}");
    // Capped with one warning naming the cap; at the cap, no warning.
    let ((), warned) = util::capture_warnings(|| set_pool_size(usize::MAX));
    assert_eq!(pool_size(), MAX_POOL_SIZE);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("capped at MAX_POOL_SIZE"), "{warned:?}");
    let ((), warned) = util::capture_warnings(|| set_pool_size(MAX_POOL_SIZE + 1));
    assert_eq!(
        (pool_size(), warned.len()),
        (MAX_POOL_SIZE, 1),
        "{warned:?}"
    );
    for n in [MAX_POOL_SIZE, MAX_POOL_SIZE - 1, 3] {
        let ((), warned) = util::capture_warnings(|| set_pool_size(n));
        assert_eq!(pool_size(), n);
        assert!(warned.is_empty(), "set_pool_size({n}) warned: {warned:?}");
    }
    set_pool_size(MAX_POOL_SIZE);
    let rt = lwt::Builder::new()
        .pool_size(MAX_POOL_SIZE)
        .build()
        .unwrap();
    assert_eq!(pool_size(), MAX_POOL_SIZE);
    // The runtime works, and a job still runs on a worker.
    let me = std::thread::current().id();
    let on = rt.block_on(run_job(Some(AsyncMethod::Detach), || {
        std::thread::current().id()
    }));
    assert_ne!(on.unwrap(), me);
}

#[test]
fn the_pool_size_is_capped() {
    let (ok, text) = child("child_pool_size_cap", &[("LWT_POOL_SIZE", "99999999999")]);
    assert!(ok, "{text}");
    assert!(
        text.contains("lwt: LWT_POOL_SIZE") && text.contains("99999999999"),
        "the jobs layer did not warn: {text}"
    );
    // At the cap itself, the setting is taken.
    let max = lwt::unix::MAX_POOL_SIZE.to_string();
    let (ok, text) = child(
        "child_pool_size_from_env",
        &[("LWT_POOL_SIZE", &max), ("EXPECT_POOL", &max)],
    );
    assert!(ok, "{text}");
}

#[test]
#[ignore = "run by the parent tests in a child process"]
fn child_workers_start_quietly() {
    if !in_child() {
        return;
    }
    let warnings = util::capture_warnings_globally();
    lwt::unix::set_pool_size(3);
    util::for_each_backend(|_kind| async {
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }))
            })
            .collect();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
    });
    assert!(lwt::unix::thread_count() > 0, "the jobs started workers");
    // The workers' own warnings only: under the fault-injecting backend the loop warns of
    // the failures it injects.
    let seen = warnings.lock().unwrap().clone();
    let workers: Vec<_> = seen.iter().filter(|m| m.contains("job worker")).collect();
    assert!(
        workers.is_empty(),
        "workers warned as they started: {workers:?}"
    );
}

/// Workers block every signal as they start, without a word (a warning says only that one
/// could not).
#[test]
fn workers_start_without_warnings() {
    let (ok, text) = child("child_workers_start_quietly", &[]);
    assert!(ok, "{text}");
}
