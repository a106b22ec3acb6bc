//! `lwt::process::Command`: many children with piped output while the loop keeps ticking,
//! exit codes and outputs, `kill`, `output()` of large interleaved outputs, stdin and stdout
//! as lwt streams, default signal dispositions in the child, and children lwt did not spawn
//! left alone. Every test runs on every backend (`#[lwt::test]`) and, on Linux, on both exit
//! paths: the pidfd and `SIGCHLD`.
#![cfg(unix)]
mod util;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lwt::process::{Command, Stdio};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The exit paths this OS has: the pidfd (Linux) and SIGCHLD (everywhere).
fn paths() -> &'static [bool] {
    if cfg!(target_os = "linux") {
        &[false, true]
    } else {
        &[true]
    }
}

/// A command waited for by `SIGCHLD` when `sigchld`, else by the best this OS has.
fn command(program: &str, sigchld: bool) -> Command {
    let mut c = Command::new(program);
    if sigchld {
        c.wait_by_sigchld();
    }
    c
}

fn sh(script: &str, sigchld: bool) -> Command {
    let mut c = command("sh", sigchld);
    c.arg("-c").arg(script);
    c
}

#[lwt::test(timeout_secs = 120)]
async fn fifty_children_run_while_a_ticker_ticks() {
    const CHILDREN: usize = 50;
    for &sigchld in paths() {
        // The ticker records the longest gap between two of its 1 ms sleeps.
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(Mutex::new((Duration::ZERO, 0u64)));
        let ticker = {
            let (stop, worst) = (stop.clone(), worst.clone());
            lwt::spawn(async move {
                let mut last = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let _ = lwt::sleep(Duration::from_millis(1)).await;
                    let now = Instant::now();
                    let mut w = worst.lock().unwrap();
                    w.0 = w.0.max(now - last);
                    w.1 += 1;
                    last = now;
                }
            })
        };
        let probe = util::StallProbe::start();
        let start = Instant::now();
        // Each child lives 1 s: a wait that blocked the loop would stall the ticker about
        // that long, well past the bound below. Spawning itself takes a fork/exec on the
        // loop's thread (as std's does), so the spawns are spread 1 ms apart rather than made
        // 50 in a row in one turn of the loop.
        let children: Vec<_> = (0..CHILDREN)
            .map(|i| {
                lwt::spawn(async move {
                    let _ = lwt::sleep(Duration::from_millis(i as u64)).await;
                    let out = sh(
                        "printf 'child %s\\n' \"$0\"; sleep 1; exit $(($0 % 7))",
                        sigchld,
                    )
                    .arg(i.to_string())
                    .output()
                    .await
                    .unwrap();
                    (i, out)
                })
            })
            .collect();
        for (i, out) in lwt::join(children).await.into_iter().map(Result::unwrap) {
            assert_eq!(out.status.code(), Some((i % 7) as i32), "child {i}");
            assert_eq!(out.stdout, format!("child {i}\n").as_bytes(), "child {i}");
            assert!(out.stderr.is_empty(), "child {i}: {:?}", out.stderr);
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::SeqCst);
        ticker.await.unwrap();
        let machine = probe.finish();
        let (gap, ticks) = *worst.lock().unwrap();
        let bound = util::StallProbe::bound(Duration::from_millis(500), machine);
        assert!(
            gap < bound,
            "sigchld={sigchld}: the loop stalled {gap:?} (bound {bound:?}; the machine stalled \
             an idle thread {machine:?})"
        );
        assert!(
            ticks >= 20,
            "sigchld={sigchld}: only {ticks} ticks in {elapsed:?}"
        );
        // One after another they would take 50 s.
        assert!(
            elapsed < Duration::from_secs(25),
            "sigchld={sigchld}: the children did not run concurrently ({elapsed:?})"
        );
    }
}

#[lwt::test]
async fn kill_ends_a_running_child() {
    for &sigchld in paths() {
        let mut child = command("sleep", sigchld).arg("30").spawn().unwrap();
        assert!(child.id() > 0);
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "sigchld={sigchld}");
        assert!(!status.success());
        // Exited: kill is Ok (std's rule), and the status is kept.
        child.kill().unwrap();
        assert_eq!(child.try_wait().unwrap(), Some(status));
        assert_eq!(child.wait().await.unwrap(), status);
    }
}

#[lwt::test]
async fn a_child_that_exited_before_the_wait_is_reaped() {
    for &sigchld in paths() {
        let mut child = sh("exit 5", sigchld).spawn().unwrap();
        // Let it exit (and its SIGCHLD pass) before anyone waits.
        let _ = lwt::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            child.wait().await.unwrap().code(),
            Some(5),
            "sigchld={sigchld}"
        );
    }
}

#[lwt::test(timeout_secs = 120)]
async fn output_reads_4_mib_of_stdout_and_stderr_concurrently() {
    const LEN: usize = 4 << 20;
    // Both writers run at once and each holds both pipes: a parent that read one to its end
    // before the other would deadlock as soon as the other pipe filled up.
    let script =
        format!("(yes abcdefg | head -c {LEN}) & (yes 1234567 | head -c {LEN} >&2) & wait");
    for &sigchld in paths() {
        let out = sh(&script, sigchld).output().await.unwrap();
        assert!(out.status.success(), "sigchld={sigchld}: {:?}", out.status);
        assert_eq!(out.stdout.len(), LEN);
        assert_eq!(out.stderr.len(), LEN);
        assert!(
            out.stdout.chunks(8).all(|c| c == b"abcdefg\n"),
            "stdout garbled"
        );
        assert!(
            out.stderr.chunks(8).all(|c| c == b"1234567\n"),
            "stderr garbled"
        );
    }
}

#[lwt::test(timeout_secs = 120)]
async fn stdin_and_stdout_are_streams() {
    const LEN: usize = 1 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    for &sigchld in paths() {
        let mut child = command("cat", sigchld)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        // Written and read at once: more than a pipe holds goes through cat both ways.
        let input = data.clone();
        let writer = lwt::spawn(async move {
            stdin.write_all(&input).await.unwrap();
            stdin.close().await.unwrap();
            stdin.close().await.unwrap(); // closing twice is fine
        });
        let mut echoed = Vec::new();
        stdout.read_to_end(&mut echoed).await.unwrap();
        writer.await.unwrap();
        assert!(
            echoed == data,
            "sigchld={sigchld}: cat echoed {} bytes, not the same",
            echoed.len()
        );
        assert!(child.wait().await.unwrap().success());
    }
}

#[lwt::test]
async fn writing_to_a_child_that_is_gone_is_epipe() {
    for &sigchld in paths() {
        let mut child = command("true", sigchld)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        assert!(child.wait().await.unwrap().success());
        // A child spawned meanwhile by another test may hold a copy of the read end between
        // its fork and its exec, so the first writes may still fit in the pipe; once that
        // copy is gone, the write fails (a full pipe waits for it).
        let chunk = [0u8; 4096];
        let mut e = None;
        for _ in 0..10_000 {
            if let Err(err) = stdin.write(&chunk).await {
                e = Some(err);
                break;
            }
        }
        let e = e.expect("writes to a child that exited kept succeeding");
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
}

#[lwt::test]
async fn status_spawn_errors_and_defaults() {
    for &sigchld in paths() {
        assert_eq!(
            command("false", sigchld).status().await.unwrap().code(),
            Some(1)
        );
        let e = command("/nonexistent/lwt-program", sigchld)
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        // output(): stdin is empty (not the parent's), unless set.
        let out = command("cat", sigchld).output().await.unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        // A stream that is not piped is not captured, and its field is None.
        let mut child = command("true", sigchld).spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
        child.wait().await.unwrap();
        // A command can be spawned again, with the defaults of each method.
        let mut cmd = sh("echo again", sigchld);
        assert_eq!(cmd.output().await.unwrap().stdout, b"again\n");
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut s = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .await
            .unwrap();
        assert_eq!(s, "again\n");
        child.wait().await.unwrap();
    }
}

#[lwt::test]
async fn the_child_gets_default_signal_dispositions() {
    // The parent handles SIGINT and SIGTERM through lwt, ignores SIGPIPE (as lwt does on its
    // first write), and this thread blocks SIGUSR1: none of it may reach the child.
    let int = lwt::unix::on_signal(libc::SIGINT, |_| {}).unwrap();
    let term = lwt::unix::on_signal(libc::SIGTERM, |_| {}).unwrap();
    let (_r, w) = lwt::unix::pipe().unwrap();
    lwt::unix::write(&w, b"x").await.unwrap();
    // SAFETY: only this thread's signal mask changes, for the time of the test body.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
            0
        );
    }
    for &sigchld in paths() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGPIPE, libc::SIGUSR1] {
            // `sh` survives a signal it inherited as ignored (or blocked): "survived".
            // On Linux the child also prints its signal masks, for the failure message.
            let script =
                format!("grep Sig /proc/self/status 2>/dev/null; kill -{sig} $$; echo survived");
            let out = sh(&script, sigchld).output().await.unwrap();
            assert_eq!(
                out.status.signal(),
                Some(sig),
                "sigchld={sigchld}: signal {sig}: {:?} {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    // SAFETY: as above, undoing the block.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()),
            0
        );
    }
    lwt::unix::disable_signal_handler(int);
    lwt::unix::disable_signal_handler(term);
}

#[lwt::test(timeout_secs = 120)]
async fn a_child_lwt_did_not_spawn_is_not_reaped() {
    for &sigchld in paths() {
        // std's child exits first, while lwt children are being waited for (each SIGCHLD then
        // wakes lwt's waits, which must ask only for their own pids).
        let mut foreign = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let waits: Vec<_> = (0..5)
            .map(|i| {
                lwt::spawn(async move {
                    let d = format!("0.{}", 2 + i);
                    command("sleep", sigchld).arg(d).status().await.unwrap()
                })
            })
            .collect();
        for st in lwt::join(waits).await {
            assert!(st.unwrap().success());
        }
        // Still ours to reap: std sees its status (a reaped child would be ECHILD here).
        let st = foreign.wait().unwrap();
        assert_eq!(st.code(), Some(7), "sigchld={sigchld}");
    }
}

#[lwt::test]
async fn pipes_are_lwt_descriptors() {
    for &sigchld in paths() {
        let mut child = sh("read line; echo \"got $line\"", sigchld)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        assert!(!lwt::unix::blocking(stdin.as_file_descr()));
        lwt::unix::write(stdin.as_file_descr(), b"hello\n")
            .await
            .unwrap();
        let stdout = child.stdout.take().unwrap().into_file_descr();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        loop {
            let n = lwt::unix::read(&stdout, &mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"got hello\n");
        assert!(child.wait().await.unwrap().success());
        assert!(format!("{child:?}").contains("Child"));
    }
}
