//! Fairness: a task that never stops yielding, or a notification handler that keeps sending
//! itself, delays nothing else for long (the loop looks at every queue and at the driver within
//! a bounded number of polls).
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long anything may wait behind the busy task (generous: the loop is expected to answer
/// within microseconds).
const PATIENCE: Duration = Duration::from_secs(2);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match lwt::with_timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(e) => panic!("{what} starved behind a yielding task: {e}"),
    }
}

#[test]
fn a_yielding_task_starves_neither_local_tasks_nor_job_results_nor_remote_spawns_nor_io() {
    util::for_each_backend(|_| async {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = lwt::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                lwt::yield_now().await;
            }
        });
        lwt::yield_now().await; // the spinner is running
        let local = lwt::spawn_local(async { 5 });
        assert_eq!(within("a spawn_local task", local).await.unwrap(), 5);
        let job = run_job(Some(AsyncMethod::Detach), || 7);
        assert_eq!(within("a job's result", job).await.unwrap(), 7);
        let h = lwt::Handle::current();
        let remote = std::thread::spawn(move || h.spawn(async { 9 }))
            .join()
            .unwrap();
        assert_eq!(
            within("a task spawned from another thread", remote)
                .await
                .unwrap(),
            9
        );
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"io").unwrap();
            b
        });
        let mut buf = [0u8; 2];
        let n = within("a read", read(&a, &mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"io");
        drop(t.join().unwrap());
        let started = Instant::now();
        within("a timer", lwt::sleep(Duration::from_millis(10))).await;
        assert!(started.elapsed() >= Duration::from_millis(10));
        stop.store(true, Ordering::Relaxed);
        spinner.await.unwrap();
    });
}

#[test]
fn a_notification_that_sends_itself_again_does_not_starve_timers() {
    util::for_each_backend(|_| async {
        const SENDS: usize = 200_000;
        let count = Arc::new(AtomicUsize::new(0));
        let id = Arc::new(std::sync::OnceLock::new());
        let (c, i) = (count.clone(), id.clone());
        let n = lwt::make_notification(false, move || {
            if c.fetch_add(1, Ordering::SeqCst) + 1 < SENDS {
                lwt::send_notification(*i.get().unwrap()).unwrap();
            }
        })
        .unwrap();
        id.set(n).unwrap();
        lwt::send_notification(n).unwrap();
        let started = Instant::now();
        lwt::sleep(Duration::from_millis(10)).await;
        let took = started.elapsed();
        let sent = count.load(Ordering::SeqCst);
        // One delivery per turn: the sleep ends after a handful of turns, long before the
        // handler has run its 200 000 times (which takes seconds).
        assert!(took < PATIENCE, "a 10 ms sleep took {took:?}");
        assert!(sent < SENDS, "the sleep waited for every re-send ({sent})");
        assert!(sent > 0, "the notification never ran");
        lwt::stop_notification(n);
    });
}

/// Spawns `n` tasks from another thread (they wait in the injector: this thread holds the
/// loop meanwhile); each counts itself in `ran` when it runs.
fn flood_from_another_thread(n: usize, ran: &Arc<AtomicUsize>) -> Vec<lwt::JoinHandle<()>> {
    let h = lwt::Handle::current();
    let ran = ran.clone();
    std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let r = ran.clone();
                h.spawn(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect()
    })
    .join()
    .unwrap()
}

#[test]
fn a_flood_of_remote_spawns_delays_a_spawn_local_task_by_a_bounded_number_of_polls() {
    util::for_each_backend(|_| async {
        // A loop that has run a while: which remote queue goes first changes with the number
        // of polls so far, and each must keep changing (a fresh loop starts with the local one).
        lwt::spawn(async {
            for _ in 0..200 {
                lwt::yield_now().await;
            }
        })
        .await
        .unwrap();
        let remote_ran = Arc::new(AtomicUsize::new(0));
        let flood = flood_from_another_thread(10_000, &remote_ran);
        let r = remote_ran.clone();
        let before = lwt::spawn_local(async move { r.load(Ordering::SeqCst) })
            .await
            .unwrap();
        // The loop alternates between its two remote queues every few dozen polls.
        assert!(
            before < 1_000,
            "{before} remote tasks ran before a spawn_local task queued after them"
        );
        for t in flood {
            t.await.unwrap();
        }
    });
}

/// A chain of `left` tasks, each spawned by the one before (on the loop's own queue);
/// the last one says how many remote tasks had run by then.
fn chain(left: usize, remote_ran: Arc<AtomicUsize>) -> lwt::JoinHandle<usize> {
    lwt::spawn(async move {
        if left == 0 {
            remote_ran.load(Ordering::SeqCst)
        } else {
            chain(left - 1, remote_ran).await.unwrap()
        }
    })
}

#[test]
fn the_loops_own_tasks_run_before_a_flood_of_remote_spawns() {
    util::for_each_backend(|_| async {
        let remote_ran = Arc::new(AtomicUsize::new(0));
        let flood = flood_from_another_thread(5_000, &remote_ran);
        // 20 tasks in turn, each spawned on the loop: the remote queue is looked at first only
        // once every few dozen polls, so few remote tasks run in between.
        let before = chain(20, remote_ran.clone()).await.unwrap();
        assert!(
            before < 200,
            "{before} remote tasks ran while a chain of 20 local tasks ran"
        );
        for t in flood {
            t.await.unwrap();
        }
    });
}
