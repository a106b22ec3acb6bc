//! `abort_jobs` rejects every pending job however many there are: more than the jobs registry
//! holds before it first sweeps out finished entries (64), and more than the pool has workers
//! (most wait in the queue). Its own binary: aborting is global to the process.
#![cfg(unix)]
mod util;

use lwt::unix::{abort_jobs, wait_for_jobs};
use lwt::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn abort_jobs_rejects_every_one_of_200_pending_jobs() {
    util::for_each_backend(|_kind| async {
        let done = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let jobs = util::held_jobs(200, &release, &done).await;
        abort_jobs(Error::Timeout);
        let mut rejected = 0;
        for j in jobs {
            rejected += usize::from(matches!(j.await.unwrap(), Err(Error::Timeout)));
        }
        assert_eq!(rejected, 200, "abort_jobs missed some of 200 pending jobs");
        release.store(true, Ordering::SeqCst);
        wait_for_jobs().await;
        assert_eq!(done.load(Ordering::SeqCst), 200);
    });
}
