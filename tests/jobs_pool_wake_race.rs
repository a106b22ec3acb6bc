//! Right after `set_keep_alive` or `set_pool_size` wakes the parked workers, a job submitted
//! at once goes to one of them: it neither runs on the loop's thread nor waits as if the pool
//! were full (issue 11, item 1: the idle stack used to be emptied by the wake-up, so such a
//! job ran inline while a worker was idle). One test per file: it changes the process-wide
//! pool.
#![cfg(unix)]
mod util;

use lwt::unix::{
    jobs_queued_at_limit, jobs_run_inline, keep_alive, pool_size, run_job, set_keep_alive,
    set_pool_size, thread_count, thread_waiting_count, AsyncMethod,
};
use std::time::{Duration, Instant};

/// Makes sure two workers exist and both are parked (idle past their spin).
async fn two_parked_workers() {
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
                std::thread::sleep(Duration::from_millis(5))
            }))
        })
        .collect();
    for j in jobs {
        j.await.unwrap().unwrap();
    }
    let start = Instant::now();
    while thread_waiting_count() < thread_count() || thread_count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "workers never became idle: {} of {} waiting",
            thread_waiting_count(),
            thread_count()
        );
        lwt::sleep(Duration::from_millis(1)).await;
    }
    // Well past their spin (tens of microseconds): parked on the idle stack.
    lwt::sleep(Duration::from_millis(5)).await;
}

#[test]
fn a_job_submitted_right_after_waking_the_workers_goes_to_an_idle_worker() {
    let size = pool_size();
    util::for_each_backend(|kind| async move {
        let me = std::thread::current().id();
        let mut misses = Vec::new();
        for i in 0..30 {
            set_pool_size(2);
            two_parked_workers().await;
            let (inline, queued) = (jobs_run_inline(), jobs_queued_at_limit());
            let what = if i % 2 == 0 {
                set_keep_alive(keep_alive()); // wakes every parked worker
                "set_keep_alive"
            } else {
                set_pool_size(1); // wakes them too; one of the two exits
                "set_pool_size"
            };
            let on = run_job(Some(AsyncMethod::Detach), || std::thread::current().id())
                .await
                .unwrap();
            if on == me || jobs_run_inline() != inline || jobs_queued_at_limit() != queued {
                misses.push((
                    what,
                    on == me,
                    jobs_run_inline() - inline,
                    jobs_queued_at_limit() - queued,
                ));
            }
        }
        assert!(
            misses.is_empty(),
            "{kind}: jobs that did not go to an idle worker (after, on the loop, inline, queued): {misses:?}"
        );
    });
    set_pool_size(size);
}
