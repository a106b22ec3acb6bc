//! `#[lwt::main]` as the `main` of this test binary (`harness = false`): the runtime comes
//! from the environment, a `Result` main reports its error and exits with status 1, and a bad
//! `LWT_BACKEND` stops it with `lwt::run`'s message. The binary runs itself in each mode.
use lwt::BackendKind;
use std::time::Duration;

const MODE: &str = "LWT_MACRO_MAIN_MODE";

#[lwt::main]
async fn main() -> Result<(), String> {
    match std::env::var(MODE).as_deref() {
        Ok("ok") => {
            let want = std::env::var("LWT_BACKEND").unwrap();
            assert_eq!(lwt::Handle::current().backend_name(), want);
            lwt::sleep(Duration::from_millis(1)).await;
            return Ok(());
        }
        Ok("err") => return Err("asked to fail".into()),
        Ok(other) => panic!("unknown mode {other:?}"),
        Err(_) => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo test -- --list`: nothing to list in a harness-less test
    }
    for kind in BackendKind::available() {
        let out = run_self("ok", Some(kind.name())).await;
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run_self("err", None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Error: \"asked to fail\""), "{stderr}");

    let out = run_self("ok", Some("nonsense")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("lwt::run: cannot start the runtime: "),
        "{stderr}"
    );
    assert!(stderr.contains("unknown backend \"nonsense\""), "{stderr}");
    println!("macro_main: #[lwt::main] ok");
    Ok(())
}

/// Runs this binary in `mode`, with `LWT_BACKEND` set to `backend` (unset for `None`), and
/// fails if it has not finished within 60 s. With std's blocking calls, on the loop's thread:
/// this harness-less test has nothing else to run meanwhile.
async fn run_self(mode: &str, backend: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.env(MODE, mode);
    match backend {
        Some(b) => cmd.env("LWT_BACKEND", b),
        None => cmd.env_remove("LWT_BACKEND"),
    };
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{mode}: the child did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}
