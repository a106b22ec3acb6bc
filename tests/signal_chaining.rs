//! lwt shares signals with other libraries (issue 11, item 3b): once lwt's last handler of a
//! signal is gone, a library that registered for it through `signal-hook-registry` (after
//! lwt's removal, or while lwt still handled it) gets the signal, and lwt never performs a
//! default action over it. Runs in a child process, since a wrong disposition kills.
#![cfg(unix)]
mod util;

use lwt::unix::{disable_signal_handler, on_signal};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

static OTHER_HITS: AtomicUsize = AtomicUsize::new(0);

fn kill_self(sig: i32) {
    // SAFETY: sends `sig` to this process, which has a handler for it.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
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

/// Another library's handler: counts, through `signal-hook-registry`.
fn register_other(sig: i32) -> signal_hook_registry::SigId {
    // SAFETY: the action only increments an atomic (async-signal-safe).
    unsafe {
        signal_hook_registry::register(sig, || {
            OTHER_HITS.fetch_add(1, Ordering::SeqCst);
        })
    }
    .unwrap()
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_other_library_gets_the_signal() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        let hits = Arc::new(AtomicUsize::new(0));

        // lwt handles SIGUSR1 for a while, then its last handler goes; another library
        // registers for SIGUSR1 after that: it gets the signal, and the process lives on.
        let h = hits.clone();
        let id = on_signal(libc::SIGUSR1, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        kill_self(libc::SIGUSR1);
        until("lwt's handler", || hits.load(Ordering::SeqCst) == 1).await;
        disable_signal_handler(id);
        let other = register_other(libc::SIGUSR1);
        let before = OTHER_HITS.load(Ordering::SeqCst);
        kill_self(libc::SIGUSR1);
        until("the other library's handler", || {
            OTHER_HITS.load(Ordering::SeqCst) > before
        })
        .await;
        signal_hook_registry::unregister(other);

        // The other library registers while lwt handles SIGUSR2: both run; then lwt's last
        // handler goes, and the other library alone gets the signal.
        let h = hits.clone();
        let id = on_signal(libc::SIGUSR2, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let other = register_other(libc::SIGUSR2);
        let (lwt_before, other_before) = (
            hits.load(Ordering::SeqCst),
            OTHER_HITS.load(Ordering::SeqCst),
        );
        kill_self(libc::SIGUSR2);
        until("both handlers", || {
            hits.load(Ordering::SeqCst) > lwt_before
                && OTHER_HITS.load(Ordering::SeqCst) > other_before
        })
        .await;
        disable_signal_handler(id);
        let other_before = OTHER_HITS.load(Ordering::SeqCst);
        kill_self(libc::SIGUSR2);
        until("the other library's handler alone", || {
            OTHER_HITS.load(Ordering::SeqCst) > other_before
        })
        .await;
        signal_hook_registry::unregister(other);
        eprintln!("{kind}: ok");
    });
}

#[test]
fn another_librarys_handler_gets_the_signal_after_lwts_last_one_is_removed() {
    let (status, text) = util::run_child(
        "child_other_library_gets_the_signal",
        &[],
        Duration::from_secs(60),
    );
    assert!(
        status.success() && text.contains("1 passed"),
        "{status:?}: {text}"
    );
}
