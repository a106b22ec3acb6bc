//! Under `switch`, a fast job runs on the loop's own thread and a blocking one hands the loop
//! to another thread, so spawned tasks keep running.
//!
//! A blocking job here blocks until the loop has done what the test expects of it (so many
//! ticks, so many bytes echoed), up to `util::WAIT_LIMIT`, not for a fixed time: how soon the
//! watchdog, the stand-in and the timers get a CPU is up to the machine's load.
#![cfg(unix)]
mod util;

use lwt::unix::{run_job, AsyncMethod};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn fast_switch_job_runs_on_the_loop_thread() {
    util::for_each_backend(|_kind| async {
        let me = std::thread::current().id();
        for _ in 0..100 {
            let ran_on = run_job(Some(AsyncMethod::Switch), || std::thread::current().id())
                .await
                .unwrap();
            assert_eq!(ran_on, me);
        }
    });
}

#[test]
fn blocking_switch_job_does_not_stop_a_ticker() {
    util::for_each_backend(|_kind| async {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = lwt::spawn(async move {
            loop {
                lwt::sleep(Duration::from_millis(1)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        lwt::sleep(Duration::from_millis(5)).await;
        let me = std::thread::current().id();
        let start = Instant::now();
        let (before, after, ran_on) = run_job(Some(AsyncMethod::Switch), {
            let ticks = ticks.clone();
            move || {
                let before = ticks.load(Ordering::SeqCst);
                util::eventually(util::WAIT_LIMIT, || {
                    ticks.load(Ordering::SeqCst) - before >= 30
                });
                (
                    before,
                    ticks.load(Ordering::SeqCst),
                    std::thread::current().id(),
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(
            ran_on, me,
            "a switch job starts, and stays, on the loop's thread"
        );
        assert!(
            after - before >= 30,
            "the ticker ticked {} times during a switch job blocked for {:?}",
            after - before,
            start.elapsed()
        );
        // The loop is back home and works as before.
        let n = ticks.load(Ordering::SeqCst);
        assert!(
            util::eventually_async(util::WAIT_LIMIT, || ticks.load(Ordering::SeqCst) > n).await,
            "the ticker stopped after the switch job"
        );
        assert!(ticker.cancel().await.is_none());
    });
}

#[test]
fn io_keeps_working_during_a_steal_and_steals_repeat() {
    util::for_each_backend(|_kind| async {
        let (r, w) = lwt::unix::pipe().unwrap();
        let echoes = Arc::new(AtomicUsize::new(0));
        let e = echoes.clone();
        // Two spawned tasks talk through a pipe, waiting for readiness on the loop.
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 1];
            loop {
                if lwt::unix::read(&r, &mut buf).await.unwrap() == 0 {
                    break;
                }
                e.fetch_add(1, Ordering::SeqCst);
            }
        });
        let writer = lwt::spawn(async move {
            loop {
                lwt::unix::write(&w, b"x").await.unwrap();
                lwt::sleep(Duration::from_micros(500)).await;
            }
        });
        for round in 0..3 {
            let e = echoes.clone();
            let during = run_job(Some(AsyncMethod::Switch), move || {
                let before = e.load(Ordering::SeqCst);
                util::eventually(util::WAIT_LIMIT, || e.load(Ordering::SeqCst) - before >= 10);
                e.load(Ordering::SeqCst) - before
            })
            .await
            .unwrap();
            assert!(
                during >= 10,
                "round {round}: {during} bytes echoed during the job"
            );
            // Between the blocking jobs, fast ones stay on this thread.
            let me = std::thread::current().id();
            let on = run_job(Some(AsyncMethod::Switch), || std::thread::current().id())
                .await
                .unwrap();
            assert_eq!(on, me);
        }
        assert!(writer.cancel().await.is_none());
        assert!(reader.cancel().await.is_none());
    });
}

#[test]
fn home_bound_tasks_wait_during_a_steal() {
    // The documented limit of switch: `spawn_local` tasks (and the main future) only run on
    // the home thread, so they wait while it is blocked; `spawn`ed tasks keep running.
    util::for_each_backend(|_kind| async {
        let local_ticks = Arc::new(AtomicUsize::new(0));
        let send_ticks = Arc::new(AtomicUsize::new(0));
        let (l, s) = (local_ticks.clone(), send_ticks.clone());
        let local = lwt::spawn_local(async move {
            loop {
                lwt::sleep(Duration::from_millis(1)).await;
                l.fetch_add(1, Ordering::SeqCst);
            }
        });
        let sent = lwt::spawn(async move {
            loop {
                lwt::sleep(Duration::from_millis(1)).await;
                s.fetch_add(1, Ordering::SeqCst);
            }
        });
        lwt::sleep(Duration::from_millis(5)).await;
        let (l, s) = (local_ticks.clone(), send_ticks.clone());
        let (dl, ds) = run_job(Some(AsyncMethod::Switch), move || {
            let (l0, s0) = (l.load(Ordering::SeqCst), s.load(Ordering::SeqCst));
            // At least 100 ms, so a local task had every chance to run by mistake.
            let start = Instant::now();
            util::eventually(util::WAIT_LIMIT, || {
                start.elapsed() >= Duration::from_millis(100) && s.load(Ordering::SeqCst) - s0 >= 10
            });
            (l.load(Ordering::SeqCst) - l0, s.load(Ordering::SeqCst) - s0)
        })
        .await
        .unwrap();
        assert_eq!(
            dl, 0,
            "a spawn_local task ran while its home thread was blocked"
        );
        assert!(ds >= 10, "the Send task ticked only {ds} times");
        // Afterwards the local task runs again.
        let n = local_ticks.load(Ordering::SeqCst);
        assert!(
            util::eventually_async(util::WAIT_LIMIT, || local_ticks.load(Ordering::SeqCst) > n)
                .await,
            "the spawn_local task did not run again after the switch job"
        );
        assert!(local.cancel().await.is_none());
        assert!(sent.cancel().await.is_none());
    });
}

#[test]
fn a_panicking_blocking_switch_job_gives_the_loop_back() {
    util::for_each_backend(|_kind| async {
        let t = lwt::spawn(run_job(Some(AsyncMethod::Switch), || {
            std::thread::sleep(Duration::from_millis(20));
            panic!("blocked, then boom")
        }));
        // The task may run on the home thread (switch) or not (detach); either way the
        // panic itself reaches its handle (not an error that hides it) and the loop goes on.
        let mut t = Box::pin(t);
        let outcome = std::future::poll_fn(move |cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.as_mut().poll(cx))) {
                Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Err(panic) => std::task::Poll::Ready(Err(panic)),
            }
        })
        .await;
        match outcome {
            Err(panic) => assert_eq!(
                panic.downcast_ref::<&str>(),
                Some(&"blocked, then boom"),
                "another panic than the job's"
            ),
            Ok(v) => panic!("the job's panic was lost: its handle gave {v:?}"),
        }
        let me = std::thread::current().id();
        let on = run_job(Some(AsyncMethod::Switch), || std::thread::current().id())
            .await
            .unwrap();
        assert_eq!(on, me);
        lwt::sleep(Duration::from_millis(2)).await;
    });
}

#[test]
fn a_yielding_task_does_not_starve_io_while_a_switch_job_blocks() {
    // The stand-in that drives the loop during the job turns the driver between tasks as the
    // home thread does: a task that never stops yielding must not keep I/O from the others.
    util::for_each_backend(|_kind| async {
        let stop = Arc::new(AtomicUsize::new(0));
        let s = stop.clone();
        let spinner = lwt::spawn(async move {
            while s.load(Ordering::SeqCst) == 0 {
                lwt::yield_now().await;
            }
        });
        let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
        let r = lwt::unix::of_unix_file_descr(r.into(), None, true).unwrap();
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let reader = lwt::spawn(async move {
            let mut b = [0u8; 1];
            let n = lwt::unix::read(&r, &mut b).await.unwrap();
            g.store(n, Ordering::SeqCst);
        });
        lwt::yield_now().await; // both have run once; the reader waits for its byte
        let g = got.clone();
        let read_during_job = run_job(Some(AsyncMethod::Switch), move || {
            use std::io::Write;
            (&w).write_all(b"x").unwrap();
            let read = util::eventually(util::WAIT_LIMIT, || g.load(Ordering::SeqCst) == 1);
            (read, w)
        })
        .await
        .unwrap()
        .0;
        stop.store(1, Ordering::SeqCst);
        assert!(
            read_during_job,
            "a read starved behind a yielding task while a switch job blocked the home thread"
        );
        reader.await.unwrap();
        spinner.await.unwrap();
    });
}

#[test]
fn wait_for_jobs_waits_for_a_switch_job_whose_loop_is_handed_off() {
    util::for_each_backend(|_kind| async {
        let waiting = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let (s, w, d) = (started.clone(), waiting.clone(), done.clone());
        // The job blocks the home thread until the waiter below, run by the stand-in, is in
        // wait_for_jobs, then a little longer.
        let job = lwt::spawn(run_job(Some(AsyncMethod::Switch), move || {
            s.store(1, Ordering::SeqCst);
            let saw = util::eventually(util::WAIT_LIMIT, || w.load(Ordering::SeqCst) == 1);
            std::thread::sleep(Duration::from_millis(50));
            d.store(1, Ordering::SeqCst);
            saw
        }));
        let (w, d) = (waiting.clone(), done.clone());
        let waiter = lwt::spawn(async move {
            while started.load(Ordering::SeqCst) == 0 {
                lwt::yield_now().await;
            }
            w.store(1, Ordering::SeqCst);
            lwt::unix::wait_for_jobs().await;
            d.load(Ordering::SeqCst) == 1
        });
        let finished = waiter.await.unwrap();
        assert!(
            job.await.unwrap().unwrap(),
            "no task ran while the switch job blocked the home thread"
        );
        assert!(
            finished,
            "wait_for_jobs returned while a handed-off switch job was still running"
        );
    });
}

#[test]
fn switch_is_available_on_a_loops_home_thread_only() {
    assert!(!lwt::core::switch::available(), "outside any runtime");
    util::for_each_backend(|_kind| async {
        assert!(
            lwt::core::switch::available(),
            "in block_on, on the thread holding the loop"
        );
        let on_pool = run_job(Some(AsyncMethod::Detach), lwt::core::switch::available)
            .await
            .unwrap();
        assert!(!on_pool, "on a pool thread");
    });
}
