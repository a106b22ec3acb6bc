//! Each async method, seen from a task that ticks every millisecond, and the task-local
//! `with_async_*` scopes.
#![cfg(unix)]
mod util;

use lwt::unix::{
    async_method, default_async_method, run_job, with_async_detach, with_async_none,
    with_async_switch, AsyncMethod,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs a blocking job under `method` while a spawned task ticks every millisecond; returns how
/// many ticks happened during the job and the thread the job ran on. The job blocks until 30
/// ticks happened or `limit` went by, whichever comes first: how soon a loop that goes on gets
/// a CPU is up to the machine's load, so a test that expects ticks gives a generous limit.
async fn ticks_during_blocking_job(
    method: AsyncMethod,
    limit: Duration,
) -> (usize, std::thread::ThreadId) {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = lwt::spawn(async move {
        loop {
            lwt::sleep(Duration::from_millis(1)).await.unwrap();
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    lwt::sleep(Duration::from_millis(5)).await.unwrap();
    let (before, after, on) = run_job(Some(method), move || {
        let before = ticks.load(Ordering::SeqCst);
        util::eventually(limit, || ticks.load(Ordering::SeqCst) - before >= 30);
        (
            before,
            ticks.load(Ordering::SeqCst),
            std::thread::current().id(),
        )
    })
    .await
    .unwrap();
    assert!(ticker.cancel().await.is_none());
    (after - before, on)
}

#[test]
fn detach_keeps_the_loop_running_during_a_blocking_job() {
    util::for_each_backend(|_kind| async {
        let (ticks, on) = ticks_during_blocking_job(AsyncMethod::Detach, util::WAIT_LIMIT).await;
        assert_ne!(
            on,
            std::thread::current().id(),
            "a detached job runs on a worker"
        );
        assert!(ticks >= 30, "only {ticks} ticks during a detached job");
    });
}

#[test]
fn switch_keeps_the_loop_running_during_a_blocking_job() {
    util::for_each_backend(|_kind| async {
        let (ticks, on) = ticks_during_blocking_job(AsyncMethod::Switch, util::WAIT_LIMIT).await;
        assert_eq!(
            on,
            std::thread::current().id(),
            "a switch job runs on the loop thread"
        );
        assert!(ticks >= 30, "only {ticks} ticks during a switch job");
    });
}

#[test]
fn none_stops_the_loop_during_a_blocking_job() {
    util::for_each_backend(|_kind| async {
        // No tick can come: the job blocks the whole 300 ms.
        let (ticks, on) =
            ticks_during_blocking_job(AsyncMethod::None, Duration::from_millis(300)).await;
        assert_eq!(on, std::thread::current().id());
        assert_eq!(ticks, 0, "the loop ran during a job under none");
    });
}

#[test]
fn with_async_scopes_apply_only_inside() {
    util::for_each_backend(|_kind| async {
        let outside = async_method();
        assert_eq!(outside, default_async_method());
        let me = std::thread::current().id();
        with_async_none(async {
            assert_eq!(async_method(), AsyncMethod::None);
            // The key decides run_job's method when no argument is given.
            let on = run_job(None, || std::thread::current().id()).await.unwrap();
            assert_eq!(on, me);
            // An explicit argument beats the key.
            let on = run_job(Some(AsyncMethod::Detach), || std::thread::current().id())
                .await
                .unwrap();
            assert_ne!(on, me);
            // Scopes nest; the inner one wins inside it only.
            with_async_detach(async {
                assert_eq!(async_method(), AsyncMethod::Detach);
                let on = run_job(None, || std::thread::current().id()).await.unwrap();
                assert_ne!(on, me);
            })
            .await;
            assert_eq!(async_method(), AsyncMethod::None);
            // A task spawned inside the scope does not inherit it.
            let spawned = lwt::spawn(async { async_method() }).await.unwrap();
            assert_eq!(spawned, default_async_method());
        })
        .await;
        assert_eq!(async_method(), outside);
        with_async_switch(async {
            lwt::sleep(Duration::from_millis(1)).await.unwrap(); // survives a suspension
            assert_eq!(async_method(), AsyncMethod::Switch);
        })
        .await;
        with_async_detach(async { assert_eq!(async_method(), AsyncMethod::Detach) }).await;
        assert_eq!(async_method(), outside);
    });
}

#[test]
fn the_job_result_and_its_errors_come_back() {
    util::for_each_backend(|_kind| async {
        for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            let r = run_job(Some(m), || std::fs::metadata("/nonexistent/lwt-jobs-test"))
                .await
                .unwrap();
            assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::NotFound, "{m:?}");
            let v = run_job(Some(m), || vec![1u8; 3]).await.unwrap();
            assert_eq!(v, [1, 1, 1]);
        }
    });
}

#[test]
fn many_concurrent_detached_jobs_all_complete() {
    util::for_each_backend(|_kind| async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| lwt::spawn(run_job(Some(AsyncMethod::Detach), move || i * 2)))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap().unwrap();
        }
        assert_eq!(sum, (0..200u64).map(|i| i * 2).sum::<u64>());
    });
}

#[test]
fn no_job_is_lost_under_a_mixed_load() {
    util::for_each_backend(|_kind| async {
        // Short and longer jobs from several tasks at once, so that workers spin, park, wake
        // and start in every order; every job must complete.
        let work = async {
            let tasks: Vec<_> = (0..8u64)
                .map(|t| {
                    lwt::spawn(async move {
                        let mut sum = 0;
                        for i in 0..100u64 {
                            let us = (i * 7 + t * 13) % 5 * 50; // 0..200 us
                            sum += run_job(Some(AsyncMethod::Detach), move || {
                                if us > 0 {
                                    std::thread::sleep(Duration::from_micros(us));
                                }
                                i
                            })
                            .await
                            .unwrap();
                            if i % 10 == 0 {
                                lwt::sleep(Duration::from_micros(100)).await.unwrap();
                            }
                        }
                        sum
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            Ok(total)
        };
        let total = lwt::with_timeout(Duration::from_secs(30), work)
            .await
            .expect("jobs were lost: the load did not finish");
        assert_eq!(total, 8 * (0..100u64).sum::<u64>());
    });
}
