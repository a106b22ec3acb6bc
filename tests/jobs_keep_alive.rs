//! Idle workers exit after the keep-alive; the pool starts threads again when needed.
#![cfg(unix)]
mod util;

use lwt::unix::{
    keep_alive, run_job, set_keep_alive, thread_count, thread_waiting_count, AsyncMethod,
};
use std::time::{Duration, Instant};

/// Four detached jobs of 10 ms at once (several workers start).
async fn four_jobs_at_once() {
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
                std::thread::sleep(Duration::from_millis(10))
            }))
        })
        .collect();
    for j in jobs {
        j.await.unwrap().unwrap();
    }
}

/// Waits (up to 5 s) until no worker is left.
async fn all_workers_leave(which: &str) {
    let start = Instant::now();
    while thread_count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} workers{which} still alive long after the keep-alive",
            thread_count()
        );
        lwt::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn idle_workers_exit_after_the_keep_alive() {
    let before = keep_alive();
    set_keep_alive(Duration::from_millis(50));
    util::for_each_backend(|_kind| async {
        // Several workers at once.
        four_jobs_at_once().await;
        assert!(thread_count() >= 1);
        // Shortly after, they wait for work...
        lwt::sleep(Duration::from_millis(5)).await;
        assert!(thread_waiting_count() >= 1);
        assert!(thread_waiting_count() <= thread_count());
        // ...and after the keep-alive they are gone.
        let start = Instant::now();
        all_workers_leave("").await;
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "workers left too early"
        );
        assert_eq!(thread_waiting_count(), 0);
        // A new job starts a worker again.
        let on = run_job(Some(AsyncMethod::Detach), || std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(on, std::thread::current().id());

        // A full pool's workers (as many as its size) leave after the keep-alive too.
        let size = lwt::unix::pool_size();
        lwt::unix::set_pool_size(2);
        four_jobs_at_once().await;
        all_workers_leave(" of a full pool").await;
        lwt::unix::set_pool_size(size);
    });
    set_keep_alive(before);
    assert_eq!(keep_alive(), before);
}
