//! Under `switch`, a fast job runs on the loop's own thread and a blocking one hands the loop
//! to another thread, so spawned tasks keep running.
mod util;

use lwt::unix::{run_job, AsyncMethod};
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
                lwt::sleep(Duration::from_millis(1)).await.unwrap();
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        lwt::sleep(Duration::from_millis(5)).await.unwrap();
        let me = std::thread::current().id();
        let start = Instant::now();
        let (before, after, ran_on) = run_job(Some(AsyncMethod::Switch), {
            let ticks = ticks.clone();
            move || {
                let before = ticks.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                (
                    before,
                    ticks.load(Ordering::SeqCst),
                    std::thread::current().id(),
                )
            }
        })
        .await
        .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            ran_on, me,
            "a switch job starts, and stays, on the loop's thread"
        );
        assert!(
            after - before >= 30,
            "the ticker ticked {} times during a 300 ms switch job",
            after - before
        );
        // The loop is back home and works as before.
        let n = ticks.load(Ordering::SeqCst);
        lwt::sleep(Duration::from_millis(20)).await.unwrap();
        assert!(ticks.load(Ordering::SeqCst) > n);
        assert!(ticker.cancel().await.is_none());
    });
}
