//! SIGPIPE (issue 11, item 3a): lwt never changes SIGPIPE's disposition. A write to a broken
//! pipe or socket fails with `EPIPE` and raises no SIGPIPE that anyone can see (sockets send
//! with `MSG_NOSIGNAL`; other writes block SIGPIPE in the writing thread and consume the one
//! they raised), so a user's `on_signal(SIGPIPE)` handler survives them and still runs for a
//! SIGPIPE sent with `kill`, and a process whose SIGPIPE is at its default is not killed.
//!
//! Runs in a child process with SIGPIPE at its default disposition (the test harness, like
//! every Rust `main`, starts with it ignored), so a write that let SIGPIPE through would kill
//! the child and fail the parent.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::io::IoSlice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: a query (null new action) into a zeroed, valid out-parameter.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

/// Whether SIGPIPE is pending for this thread (or the process).
fn sigpipe_pending() -> bool {
    // SAFETY: `sigpending` fills the set it is given; `sigismember` reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        assert_eq!(libc::sigpending(&mut set), 0);
        libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

fn is_epipe(r: lwt::Result<usize>) -> bool {
    matches!(r, Err(e) if e.errno() == Some(libc::EPIPE))
}

/// Every write path of lwt, on a pipe and a socket whose reader is gone: each fails with
/// EPIPE.
async fn write_everywhere_to_broken_peers(kind: lwt::BackendKind) {
    let (r, w) = pipe().unwrap();
    close(&r).await.unwrap();
    assert!(is_epipe(write(&w, b"x").await), "{kind}: pipe write");
    assert!(
        is_epipe(write_string(&w, "x").await),
        "{kind}: write_string"
    );
    let mut vs = IoVectors::new();
    vs.append_slice(b"xy", 0, 2);
    assert!(is_epipe(writev(&w, &vs).await), "{kind}: writev");
    // A pipe in blocking mode: the write runs as a job, by every async method.
    set_blocking(&w, true, true).unwrap();
    assert!(
        is_epipe(with_async_detach(write(&w, b"x")).await),
        "{kind}: detach"
    );
    assert!(
        is_epipe(with_async_switch(write(&w, b"x")).await),
        "{kind}: switch"
    );
    assert!(
        is_epipe(with_async_none(write(&w, b"x")).await),
        "{kind}: none"
    );

    let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
    close(&b).await.unwrap();
    // write(2) on a socket raises SIGPIPE like a pipe (no MSG_NOSIGNAL there).
    assert!(is_epipe(write(&a, b"x").await), "{kind}: socket write");
    assert!(
        is_epipe(send(&a, b"x", MsgFlags::empty()).await),
        "{kind}: send"
    );
    assert!(
        is_epipe(send_msg(&a, &[IoSlice::new(b"x")], &[]).await),
        "{kind}: send_msg"
    );
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_sigpipe() {
    if !util::in_child() {
        return;
    }
    // SAFETY: puts SIGPIPE back to its default action (terminate) for this child.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    util::for_each_backend(|kind| async move {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let id = on_signal(libc::SIGPIPE, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        write_everywhere_to_broken_peers(kind).await;
        // No SIGPIPE of lwt's writes reached anyone, nor is one left pending.
        lwt::sleep(Duration::from_millis(50)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{kind}");
        assert!(!sigpipe_pending(), "{kind}: a SIGPIPE was left pending");
        // The user's handler survived them: a SIGPIPE sent to the process runs it.
        // SAFETY: sends SIGPIPE to this process, which handles it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGPIPE) }, 0);
        for _ in 0..5000 {
            if hits.load(Ordering::SeqCst) > 0 {
                break;
            }
            lwt::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "{kind}: the handler did not run"
        );
        disable_signal_handler(id);
        // No lwt handler left and SIGPIPE at its default: an EPIPE write still does not kill.
        write_everywhere_to_broken_peers(kind).await;
        assert!(!sigpipe_pending(), "{kind}: a SIGPIPE was left pending");
    });
    assert_eq!(
        disposition(libc::SIGPIPE),
        libc::SIG_DFL,
        "lwt changed SIGPIPE's disposition"
    );
}

#[test]
fn a_sigpipe_handler_survives_writes_to_broken_pipes_and_sockets() {
    let (status, text) = util::run_child("child_sigpipe", &[], Duration::from_secs(60));
    assert!(
        status.success() && text.contains("1 passed"),
        "{status:?}: {text}"
    );
}
