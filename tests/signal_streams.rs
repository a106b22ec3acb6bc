//! `lwt::signal`: `signal(n)` streams yield arrivals, two streams of one signal both see it,
//! dropping the last stream gives the signal back its default action, and `ctrl_c` resolves
//! at the next `SIGINT` (not before). Signals are raised with `kill(getpid())`. A test whose
//! signal would end the process if lwt got the disposition wrong runs in a child process (this
//! binary again, one child per backend, with a deadline), never in the test runner itself.
#![cfg(unix)]
mod util;

use futures_lite::StreamExt;
use lwt::signal::{ctrl_c, signal, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use lwt::BackendKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "LWT_SIGNAL_STREAMS_CHILD";

fn raise(sig: i32) {
    // SAFETY: sends a signal to this process; the tests below handle it (or expect to die).
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

/// The backend this process is a child for, if it is one.
fn child_backend() -> Option<BackendKind> {
    std::env::var(CHILD_ENV).ok().map(|v| v.parse().unwrap())
}

/// Runs test `name` of this binary alone in a child per backend, each within 60 s.
fn in_children(name: &str) -> Vec<(BackendKind, Output)> {
    util::backends()
        .into_iter()
        .map(|kind| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1", "--nocapture"])
                .env(CHILD_ENV, kind.name())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    child.kill().unwrap();
                    panic!("{name} on {kind}: the child did not finish within 60 s");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (kind, child.wait_with_output().unwrap())
        })
        .collect()
}

/// Checks that every child passed test `name`.
fn passed_in_children(name: &str) {
    for (kind, out) in in_children(name) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{name} on {kind}: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `body` on the child's backend, if this is a child; `false` in the test runner.
fn as_child<F: std::future::Future<Output = ()>>(body: impl FnOnce() -> F) -> bool {
    match child_backend() {
        Some(kind) => {
            util::runtime(kind).block_on(body());
            true
        }
        None => false,
    }
}

#[test]
fn a_stream_yields_each_arrival() {
    if as_child(|| async {
        let mut s = signal(SIGUSR1).unwrap();
        assert_eq!(s.signum(), SIGUSR1);
        for _ in 0..3 {
            raise(SIGUSR1);
            assert_eq!(s.next().await, Some(SIGUSR1));
        }
        // A burst may be coalesced, never multiplied: between 1 and 5 items.
        for _ in 0..5 {
            raise(SIGUSR1);
        }
        assert_eq!(s.recv().await, SIGUSR1);
        let mut extra = 0;
        lwt::sleep(Duration::from_millis(100)).await;
        while futures_lite::future::poll_once(s.next()).await.is_some() {
            extra += 1;
        }
        assert!(extra <= 4, "{extra} more items than signals");
    }) {
        return;
    }
    passed_in_children("a_stream_yields_each_arrival");
}

#[test]
fn two_streams_of_one_signal_both_see_it() {
    if as_child(|| async {
        let mut a = signal(SIGUSR2).unwrap();
        let mut b = signal(SIGUSR2).unwrap();
        raise(SIGUSR2);
        assert_eq!(a.recv().await, SIGUSR2);
        assert_eq!(b.recv().await, SIGUSR2);
        // Dropping one leaves the other working (the signal stays handled).
        drop(a);
        raise(SIGUSR2);
        assert_eq!(b.recv().await, SIGUSR2);
        // A stream polled by another task is woken there.
        let waiter = lwt::spawn(async move { b.recv().await });
        lwt::sleep(Duration::from_millis(20)).await;
        raise(SIGUSR2);
        assert_eq!(waiter.await.unwrap(), SIGUSR2);
    }) {
        return;
    }
    passed_in_children("two_streams_of_one_signal_both_see_it");
}

#[test]
fn dropping_the_last_stream_restores_the_default_action() {
    if as_child(|| async {
        let mut s = signal(SIGTERM).unwrap();
        raise(SIGTERM);
        assert_eq!(s.recv().await, SIGTERM);
        drop(s);
        // Now SIGTERM ends the process, as it did before the stream.
        raise(SIGTERM);
        lwt::sleep(Duration::from_secs(10)).await;
        println!("still alive after SIGTERM");
    }) {
        std::process::exit(3);
    }
    for (kind, out) in in_children("dropping_the_last_stream_restores_the_default_action") {
        assert_eq!(
            out.status.signal(),
            Some(SIGTERM),
            "{kind}: {:?}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ctrl_c_resolves_at_the_next_sigint() {
    if as_child(|| async {
        // A SIGINT before the first poll is not "the next one": it would end the process,
        // so only the one after the handler exists is sent.
        let before = lwt::unix::signal_count();
        let waiting = lwt::spawn(ctrl_c());
        while lwt::unix::signal_count() == before {
            lwt::yield_now().await;
        }
        lwt::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "ctrl_c resolved without a SIGINT");
        raise(SIGINT);
        waiting.await.unwrap().unwrap();
        // Its handler is gone once it resolved.
        assert_eq!(lwt::unix::signal_count(), before);
        // Again, under a timeout that fires first: dropping it disables its handler too.
        let timed_out = futures_lite::future::or(
            async {
                ctrl_c().await.unwrap();
                false
            },
            async {
                lwt::sleep(Duration::from_millis(20)).await;
                true
            },
        )
        .await;
        assert!(timed_out);
        assert_eq!(lwt::unix::signal_count(), before);
    }) {
        return;
    }
    passed_in_children("ctrl_c_resolves_at_the_next_sigint");
}

#[lwt::test]
async fn bad_signals_are_clear_errors() {
    for bad in [0, -1, 1000, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
        let e = signal(bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}: {e}");
    }
    // A stream that is made and dropped without a signal changes nothing.
    let before = lwt::unix::signal_count();
    let s = signal(SIGHUP).unwrap();
    assert_eq!(lwt::unix::signal_count(), before + 1);
    assert!(format!("{s:?}").contains("Signals"));
    drop(s);
    assert_eq!(lwt::unix::signal_count(), before);
}

#[test]
fn outside_a_runtime_is_an_error() {
    let e = signal(SIGUSR1).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}
