//! The worker pool: its size limit, synchronous jobs at pool size 0, worker threads' names and
//! signal masks, panics and canceled waiters.
#![cfg(unix)]
mod util;

use lwt::unix::{
    jobs_run_inline, pool_size, run_job, set_pool_size, thread_count, wait_for_jobs, AsyncMethod,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The pool is global to the process: tests that change its size take this lock.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

struct RestoreSize(usize);
impl Drop for RestoreSize {
    fn drop(&mut self) {
        set_pool_size(self.0);
    }
}

#[test]
fn pool_size_zero_still_completes_jobs_synchronously() {
    let _g = serial();
    let _restore = RestoreSize(pool_size());
    util::for_each_backend(|_kind| async {
        set_pool_size(0);
        assert_eq!(pool_size(), 0);
        let me = std::thread::current().id();
        let before = jobs_run_inline();
        for i in 0..20u32 {
            let (v, on) = run_job(Some(AsyncMethod::Detach), move || {
                (i + 1, std::thread::current().id())
            })
            .await
            .unwrap();
            assert_eq!(v, i + 1);
            assert_eq!(
                on, me,
                "with no pool, a detached job runs on the caller's thread"
            );
        }
        assert!(jobs_run_inline() >= before + 20);
        set_pool_size(4);
        assert_eq!(run_job(Some(AsyncMethod::Detach), || 5).await.unwrap(), 5);
    });
}

#[test]
fn thread_count_never_exceeds_pool_size() {
    let _g = serial();
    let _restore = RestoreSize(pool_size());
    util::for_each_backend(|_kind| async {
        wait_for_jobs().await;
        set_pool_size(2);
        // Let workers beyond the new size notice it.
        lwt::sleep(Duration::from_millis(20)).await;
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (max_seen, stop) = (max_seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    max_seen.fetch_max(thread_count(), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let running = running.clone();
                lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
                    running.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(15));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        sampler.join().unwrap();
        assert!(
            max_seen.load(Ordering::SeqCst) <= 2,
            "{} workers with pool_size 2",
            max_seen.load(Ordering::SeqCst)
        );
        assert!(thread_count() <= 2);
    });
}

#[test]
fn workers_are_named_and_block_signals() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        let (name, sigblk) = run_job(Some(AsyncMethod::Detach), || {
            let name = std::thread::current().name().map(str::to_owned);
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
            let sigblk = status
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .map(|v| v.trim().to_owned());
            (name, sigblk)
        })
        .await
        .unwrap();
        let name = name.expect("worker threads have names");
        assert!(name.starts_with("lwt-job-"), "worker named {name:?}");
        if let Some(mask) = sigblk {
            // Every signal the kernel lets a thread block is blocked (SIGKILL/SIGSTOP cannot be).
            let bits = u64::from_str_radix(&mask, 16).unwrap();
            assert!(
                bits & (1 << (libc::SIGINT - 1)) != 0,
                "SIGINT not blocked: {mask}"
            );
            assert!(
                bits & (1 << (libc::SIGTERM - 1)) != 0,
                "SIGTERM not blocked: {mask}"
            );
            assert!(
                bits & (1 << (libc::SIGCHLD - 1)) != 0,
                "SIGCHLD not blocked: {mask}"
            );
        }
    });
}

#[test]
fn a_panicking_job_reaches_its_task_and_the_pool_survives() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            let t = lwt::spawn(run_job(Some(m), || -> u32 { panic!("job boom") }));
            let r = std::panic::AssertUnwindSafe(t);
            let caught = futures_catch(r).await;
            let msg = caught.expect_err("the panic reaches the awaiting task");
            let msg = msg
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| msg.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert!(msg.contains("job boom"), "{m:?}: payload {msg:?}");
            // The pool still works, on as many threads as before.
            assert_eq!(run_job(Some(m), || 3).await.unwrap(), 3);
        }
        let tasks: Vec<_> = (0..8)
            .map(|i| lwt::spawn(run_job(Some(AsyncMethod::Detach), move || i)))
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i);
        }
    });
}

/// Awaits `fut`, catching a panic raised while polling it.
async fn futures_catch<F: std::future::Future>(
    fut: std::panic::AssertUnwindSafe<F>,
) -> std::thread::Result<F::Output> {
    let mut fut = Box::pin(fut.0);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(p)),
        }
    })
    .await
}

#[test]
fn a_job_whose_task_was_canceled_is_dropped_safely() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let finished = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let (f, d) = (finished.clone(), dropped.clone());
        let t = lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
            std::thread::sleep(Duration::from_millis(30));
            f.store(true, Ordering::SeqCst);
            Flag(d) // the result, dropped by nobody's task
        }));
        lwt::sleep(Duration::from_millis(5)).await;
        assert!(t.cancel().await.is_none());
        assert!(!finished.load(Ordering::SeqCst));
        wait_for_jobs().await;
        assert!(
            finished.load(Ordering::SeqCst),
            "the real call ran to its end"
        );
        // The result is dropped once the worker lets go of it.
        for _ in 0..100 {
            if dropped.load(Ordering::SeqCst) {
                break;
            }
            lwt::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "the unwanted result was dropped"
        );
        assert_eq!(run_job(Some(AsyncMethod::Detach), || 1).await.unwrap(), 1);
    });
}

/// Four detached jobs, each waiting until all four have started: they only all succeed if the
/// pool runs them at the same time (on separate workers), however they were queued.
async fn four_side_by_side() {
    let arrived = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            let arrived = arrived.clone();
            lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while arrived.load(Ordering::SeqCst) < 4 {
                    if std::time::Instant::now() > deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                true
            }))
        })
        .collect();
    for j in jobs {
        assert!(
            j.await.unwrap().unwrap(),
            "the jobs did not run side by side"
        );
    }
}

#[test]
fn detached_jobs_run_in_parallel() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        four_side_by_side().await;
        // Right after a result its worker spins for the next job, and jobs submitted then
        // count on it rather than waking others: the one it takes passes the rest on.
        for _ in 0..5 {
            run_job(Some(AsyncMethod::Detach), || ()).await.unwrap();
            four_side_by_side().await;
        }
    });
}

#[test]
fn a_result_whose_drop_panics_on_a_worker_does_not_break_the_pool() {
    let _g = serial();
    util::for_each_backend(|_kind| async {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop boom");
            }
        }
        for _ in 0..3 {
            let t = lwt::spawn(run_job(Some(AsyncMethod::Detach), || {
                std::thread::sleep(Duration::from_millis(20));
                Bomb // nobody takes it: the worker drops it, and it panics there
            }));
            lwt::sleep(Duration::from_millis(2)).await;
            assert!(t.cancel().await.is_none());
        }
        wait_for_jobs().await;
        // Every later job still runs, in parallel as before.
        let tasks: Vec<_> = (0..16u32)
            .map(|i| lwt::spawn(run_job(Some(AsyncMethod::Detach), move || i)))
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap() as usize, i);
        }
    });
}

/// A job that finds the pool full waits in the queue, and the metrics say so: the wait is in
/// `jobs.wait_time` and the job in `jobs_queued_at_limit`.
#[test]
fn a_job_waiting_for_a_full_pool_is_counted_with_its_wait() {
    let _g = serial();
    let _restore = RestoreSize(pool_size());
    set_pool_size(1);
    util::for_each_backend(|_kind| async {
        assert!(util::eventually_async(util::WAIT_LIMIT, || thread_count() <= 1).await);
        let before = lwt::Handle::current().metrics().jobs;
        let queued = lwt::unix::jobs_queued_at_limit();
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let busy = lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
            s.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(80))
        }));
        // The worker is busy with the first job: it has started it (it is no longer spinning
        // for work). The metrics' `running` gauge is not enough: it also counts a worker
        // between two jobs, which may still take this one as a spinner, and the second job
        // would then wait without being counted as queued at the limit.
        assert!(util::eventually_async(util::WAIT_LIMIT, || started.load(Ordering::SeqCst)).await);
        let waited = run_job(Some(AsyncMethod::Detach), std::time::Instant::now)
            .await
            .unwrap();
        busy.await.unwrap().unwrap();
        let after = lwt::Handle::current().metrics().jobs;
        assert!(
            lwt::unix::jobs_queued_at_limit() > queued,
            "not counted as queued"
        );
        let wait = after.wait_time - before.wait_time;
        assert!(
            wait >= Duration::from_millis(30),
            "the second job waited for the first ({:?} since it was taken), yet wait_time grew by {wait:?}",
            waited.elapsed()
        );
    });
}
