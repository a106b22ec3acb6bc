//! `fork` while other threads are in the middle of handing the loop work: a thread spawning
//! into the runtime without pause (each spawn a push onto the runtime's injector and a wake of
//! the loop) and jobs finishing on pool workers (each a push and a wake). `fork(2)` copies only
//! the forking thread: a push it cuts in half must not leave the child's loop waiting forever
//! for a thread it does not have. Each child runs its loop for a few turns (yields, a timer, a
//! spawned task) and exits; the parent kills a child that hangs and fails.
//!
//! One test per file: it forks and reaps its children, so nothing else may run beside it.
#![cfg(unix)]
mod util;

use lwt::unix::{fork, run_job, waitpid, AsyncMethod, ProcessStatus, WaitFlags};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many children.
const FORKS: usize = 40;
/// How long a child may take before it counts as hung.
const CHILD_LIMIT: Duration = Duration::from_secs(10);

/// Ends the forked child at once, without the parent's destructors or at-exit handlers.
fn child_exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

/// The child's loop at work: yields, a timer, a spawned task. Exit code 0 if all went.
async fn child_turns() -> i32 {
    for _ in 0..10 {
        lwt::yield_now().await;
    }
    if lwt::sleep(Duration::from_millis(1)).await.is_err() {
        return 2;
    }
    match lwt::spawn(async { 7 }).await {
        Ok(7) => 0,
        _ => 3,
    }
}

#[test]
fn a_fork_during_other_threads_pushes_leaves_the_child_a_working_loop() {
    let _deadline = util::deadline("fork during pushes", Duration::from_secs(300));
    for kind in util::backends() {
        let rt = util::runtime(kind);
        let stop = Arc::new(AtomicBool::new(false));
        let spawned = Arc::new(AtomicUsize::new(0));
        // Another thread spawning into the runtime without pause.
        let spawner = {
            let (handle, stop, spawned) = (rt.handle(), stop.clone(), spawned.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    drop(handle.spawn(async {}));
                    spawned.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        rt.block_on(async {
            // Jobs finishing on the pool all the time.
            let jobs: Vec<_> = (0..2)
                .map(|_| {
                    let stop = stop.clone();
                    lwt::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let _ = run_job(Some(AsyncMethod::Detach), || ()).await;
                        }
                    })
                })
                .collect();
            while spawned.load(Ordering::Relaxed) < 1000 {
                lwt::yield_now().await;
            }
            for round in 0..FORKS {
                let pid = fork().unwrap();
                if pid == 0 {
                    let code = lwt::with_timeout(CHILD_LIMIT, async { Ok(child_turns().await) })
                        .await
                        .unwrap_or(4);
                    child_exit(code);
                }
                let st =
                    match lwt::with_timeout(CHILD_LIMIT, waitpid(WaitFlags::empty(), pid)).await {
                        Ok((_, st)) => st,
                        Err(lwt::Error::Timeout) => {
                            // SAFETY: `kill` only sends a signal to our own child.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            let _ = waitpid(WaitFlags::empty(), pid).await;
                            panic!(
                            "{kind}: child {round} of {FORKS} hung (killed after {CHILD_LIMIT:?})"
                        );
                        }
                        Err(e) => panic!("{kind}: waitpid: {e}"),
                    };
                assert_eq!(st, ProcessStatus::Exited(0), "{kind}: child {round}");
            }
            stop.store(true, Ordering::SeqCst);
            for j in jobs {
                j.await.unwrap();
            }
        });
        stop.store(true, Ordering::SeqCst);
        spawner.join().unwrap();
    }
}
