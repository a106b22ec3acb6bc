//! `abort_jobs` and `cancel_jobs` reject pending jobs; `wait_for_jobs` waits for them all.
#![cfg(unix)]
mod util;

use lwt::unix::{abort_jobs, cancel_jobs, run_job, wait_for_jobs, AsyncMethod};
use lwt::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Aborting is global to the process: these tests take turns.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn slow_jobs(n: usize, ms: u64, done: &Arc<AtomicUsize>) -> Vec<lwt::JoinHandle<lwt::Result<u32>>> {
    (0..n)
        .map(|_| {
            let done = done.clone();
            lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
                std::thread::sleep(Duration::from_millis(ms));
                done.fetch_add(1, Ordering::SeqCst);
                7u32
            }))
        })
        .collect()
}

#[test]
fn abort_jobs_rejects_pending_jobs_with_the_error() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        let done = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let jobs = util::held_jobs(3, &release, &done).await;
        abort_jobs(Error::Timeout);
        for j in jobs {
            assert!(matches!(j.await.unwrap(), Err(Error::Timeout)));
        }
        // Rejected while the calls were still blocked.
        assert_eq!(done.load(Ordering::SeqCst), 0);
        // The real calls still run to their end, and wait_for_jobs waits for them.
        release.store(true, Ordering::SeqCst);
        wait_for_jobs().await;
        assert_eq!(done.load(Ordering::SeqCst), 3);
        // Later jobs are not affected.
        assert_eq!(run_job(Some(AsyncMethod::Detach), || 1).await.unwrap(), 1);
        assert_eq!(run_job(Some(AsyncMethod::Switch), || 2).await.unwrap(), 2);
    });
}

#[test]
fn cancel_jobs_rejects_pending_jobs_with_canceled() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        let done = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let jobs = util::held_jobs(2, &release, &done).await;
        cancel_jobs();
        for j in jobs {
            assert!(matches!(j.await.unwrap(), Err(Error::Canceled)));
        }
        assert_eq!(done.load(Ordering::SeqCst), 0);
        release.store(true, Ordering::SeqCst);
        wait_for_jobs().await;
        assert_eq!(done.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_switch_job_aborted_while_it_blocks_is_rejected() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        // The loop goes on in a stand-in thread while the switch job blocks; a task there
        // aborts the jobs. The job blocks until then (up to a limit): the task can only run
        // meanwhile if the loop was handed off, however late that is.
        let aborted = Arc::new(AtomicBool::new(false));
        let a = aborted.clone();
        let aborter = lwt::spawn(async move {
            lwt::sleep(Duration::from_millis(20)).await;
            abort_jobs(Error::Timeout);
            a.store(true, Ordering::SeqCst);
        });
        let r = run_job(Some(AsyncMethod::Switch), move || {
            util::eventually(util::WAIT_LIMIT, || aborted.load(Ordering::SeqCst));
            1
        })
        .await;
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        aborter.await.unwrap();
        assert_eq!(run_job(Some(AsyncMethod::Switch), || 2).await.unwrap(), 2);
    });
}

#[test]
fn wait_for_jobs_waits_for_all_pending_jobs() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        // Nothing pending: returns at once.
        let start = Instant::now();
        wait_for_jobs().await;
        assert!(start.elapsed() < Duration::from_millis(50));
        let done = Arc::new(AtomicUsize::new(0));
        let mut jobs = slow_jobs(3, 30, &done);
        jobs.extend(slow_jobs(1, 80, &done));
        lwt::sleep(Duration::from_millis(5)).await;
        wait_for_jobs().await;
        assert_eq!(done.load(Ordering::SeqCst), 4);
        for j in jobs {
            assert_eq!(j.await.unwrap().unwrap(), 7);
        }
    });
}

#[test]
fn wait_for_jobs_waits_for_a_handed_off_switch_job() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        let finished = Arc::new(AtomicBool::new(false));
        let looked = Arc::new(AtomicBool::new(false));
        let (f, l) = (finished.clone(), looked.clone());
        // Runs in the stand-in while the switch job blocks the home thread.
        let waiter = lwt::spawn(async move {
            lwt::sleep(Duration::from_millis(20)).await;
            let handed_off = lwt::core::switch::calls_handed_off();
            l.store(true, Ordering::SeqCst);
            wait_for_jobs().await;
            (handed_off, f.load(Ordering::SeqCst))
        });
        // Blocks until the waiter has looked (it can only run meanwhile if the loop was handed
        // off, however late that is), then a little longer, so wait_for_jobs has to wait.
        run_job(Some(AsyncMethod::Switch), move || {
            util::eventually(util::WAIT_LIMIT, || looked.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(20));
            finished.store(true, Ordering::SeqCst);
        })
        .await
        .unwrap();
        let (handed_off, seen_finished) = waiter.await.unwrap();
        assert_eq!(handed_off, 1, "the blocked switch job was not handed off");
        assert!(
            seen_finished,
            "wait_for_jobs returned before the switch job finished"
        );
        assert_eq!(lwt::core::switch::calls_handed_off(), 0);
    });
}
