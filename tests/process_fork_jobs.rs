//! A job that had its outcome before a `fork` gives that outcome in the child too: its result,
//! its panic, or the error of an `abort_jobs` that rejected it (a job still running at the fork
//! gives `Canceled` there, see `process_fork.rs`; it runs on in the parent). One test per file:
//! it forks, and its `abort_jobs` rejects every job of the process.
#![cfg(unix)]
mod util;

use futures_lite::future::{poll_once, FutureExt};
use lwt::unix::{abort_jobs, fork, run_job, wait_for_jobs, waitpid, AsyncMethod};
use lwt::unix::{ProcessStatus, WaitFlags};
use lwt::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Ends a forked child at once, without the parent's destructors or at-exit handlers.
fn child_exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

#[test]
fn a_jobs_outcome_reached_before_a_fork_is_the_childs_too() {
    util::for_each_backend(|kind| async move {
        // Each is polled once (submitted) and not again before the fork.
        // Long enough (5 ms) that the first poll does not see them finish.
        let mut done = Box::pin(run_job(Some(AsyncMethod::Detach), || {
            std::thread::sleep(Duration::from_millis(5));
            5u32
        }));
        let mut panicked = Box::pin(run_job(Some(AsyncMethod::Detach), || -> u32 {
            std::thread::sleep(Duration::from_millis(5));
            panic!("a job's panic")
        }));
        let release = Arc::new(AtomicBool::new(false));
        let held = release.clone();
        let mut rejected = Box::pin(run_job(Some(AsyncMethod::Detach), move || {
            while !held.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            6u32
        }));
        assert!(poll_once(done.as_mut()).await.is_none());
        assert!(poll_once(panicked.as_mut()).await.is_none());
        // The first two finish on their workers (a panic takes its time to print)...
        wait_for_jobs().await;
        // ...and the third is rejected while it blocks.
        assert!(poll_once(rejected.as_mut()).await.is_none());
        abort_jobs(Error::Timeout);
        let pid = fork().unwrap();
        if pid == 0 {
            let outcomes = async move {
                match done.await {
                    Ok(5) => match std::panic::AssertUnwindSafe(panicked).catch_unwind().await {
                        Err(_) => match rejected.await {
                            Err(Error::Timeout) => 0,
                            _ => 3,
                        },
                        // No printing in the child: a thread of the parent may have held the
                        // standard error's lock at the fork (the panicking job's worker prints).
                        Ok(Ok(_)) => 2,
                        Ok(Err(Error::Canceled)) => 4,
                        Ok(Err(_)) => 5,
                    },
                    _ => 1,
                }
            };
            // A panic must not unwind into the test harness's copy in the child.
            let code = std::panic::AssertUnwindSafe(outcomes)
                .catch_unwind()
                .await
                .unwrap_or(9);
            child_exit(code);
        }
        let (_, st) = waitpid(WaitFlags::empty(), pid).await.unwrap();
        match st {
            ProcessStatus::Exited(0) => {}
            ProcessStatus::Exited(1) => panic!("{kind}: a finished job's result was lost"),
            ProcessStatus::Exited(2) => panic!("{kind}: a job's panic was lost"),
            ProcessStatus::Exited(3) => panic!("{kind}: a rejected job's error was lost"),
            ProcessStatus::Exited(4) => panic!("{kind}: a job's panic became Canceled"),
            ProcessStatus::Exited(5) => panic!("{kind}: a job's panic became another error"),
            ProcessStatus::Exited(9) => panic!("{kind}: the child panicked"),
            other => panic!("{kind}: the child failed: {other:?}"),
        }
        release.store(true, Ordering::SeqCst);
        wait_for_jobs().await;
    });
}
