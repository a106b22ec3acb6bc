//! How signal handlers relate to runtimes (issue 11, item 3c): a handler belongs to the
//! runtime it was registered in. It runs whenever that runtime runs (a signal that arrives
//! between two `block_on`s of it waits for the next one), and it is removed with the runtime:
//! once the runtime is dropped the signal has its earlier disposition again (Ctrl-C kills a
//! program whose `lwt::run` that handled SIGINT has returned, instead of being swallowed).
//! Runs in child processes, since the default actions kill.
#![cfg(unix)]
mod util;

use lwt::unix::{on_signal, signal_count};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn kill_self(sig: i32) {
    // SAFETY: sends `sig` to this process.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: a query (null new action) into a zeroed, valid out-parameter.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..5000 {
        if cond() {
            return;
        }
        lwt::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_handler_goes_with_its_runtime() {
    if !util::in_child() {
        return;
    }
    // The disposition this test restores is the default: a program started in the background
    // by a non-interactive shell (`cmd &`, as under `nohup`) inherits SIGINT ignored, and lwt
    // rightly puts that back instead.
    // SAFETY: sets this child process's SIGINT action to the default before any thread uses it.
    let old = unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    lwt::run(async move {
        on_signal(libc::SIGINT, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        kill_self(libc::SIGINT);
        until("the SIGINT handler", || hits.load(Ordering::SeqCst) == 1).await;
        assert_eq!(signal_count(), 1);
    });
    // The runtime is gone, and its handler with it: SIGINT is back at its default.
    assert_eq!(signal_count(), 0);
    assert_eq!(disposition(libc::SIGINT), libc::SIG_DFL);
    // So a Ctrl-C now ends the program, as it would without lwt.
    kill_self(libc::SIGINT);
    std::thread::sleep(Duration::from_secs(5));
    eprintln!("still alive after SIGINT");
}

#[test]
fn a_handler_is_removed_with_its_runtime_and_the_default_restored() {
    let (status, text) = util::run_child(
        "child_handler_goes_with_its_runtime",
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}: {text}");
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_handler_runs_whenever_its_runtime_runs() {
    if !util::in_child() {
        return;
    }
    for kind in util::backends() {
        let rt = util::runtime(kind);
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        rt.block_on(async move {
            on_signal(libc::SIGUSR2, move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        });
        // Between two runs the runtime is alive but idle: the signal waits for it (the
        // handler stays installed, so the default action does not kill the process).
        kill_self(libc::SIGUSR2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{kind}");
        assert_eq!(signal_count(), 1, "{kind}");
        // Its next run delivers it.
        rt.block_on(until("the SIGUSR2 handler", || {
            hits.load(Ordering::SeqCst) == 1
        }));
        // A second runtime does not run the first one's handler.
        let other = util::runtime(kind);
        other.block_on(async {
            kill_self(libc::SIGUSR2);
            lwt::sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{kind}");
        rt.block_on(until("the second SIGUSR2", || {
            hits.load(Ordering::SeqCst) == 2
        }));
        drop(other);
        drop(rt);
        assert_eq!(
            signal_count(),
            0,
            "{kind}: the handler outlived its runtime"
        );
        assert_eq!(disposition(libc::SIGUSR2), libc::SIG_DFL, "{kind}");
    }
}

#[test]
fn a_handler_runs_whenever_its_runtime_runs() {
    let (status, text) = util::run_child(
        "child_handler_runs_whenever_its_runtime_runs",
        &[],
        Duration::from_secs(60),
    );
    assert!(
        status.success() && text.contains("1 passed"),
        "{status:?}: {text}"
    );
}
