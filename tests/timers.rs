//! Timers: one armed from another thread wakes a loop asleep on a later one; timeouts finer
//! than a millisecond are honoured on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_timer_armed_from_another_thread_wakes_a_loop_asleep_on_a_later_one() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = Arc::new(util::runtime(kind));
        let stop = Arc::new(AtomicBool::new(false));
        let driver = {
            let (rt, stop) = (rt.clone(), stop.clone());
            std::thread::spawn(move || {
                rt.block_on(async move {
                    // The loop sleeps on a far timer, waking only for what others give it.
                    while !stop.load(Ordering::SeqCst) {
                        lwt::sleep(Duration::from_secs(2)).await;
                    }
                })
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        // This thread is in the runtime without its loop (another thread drives it): each
        // sleep arms a timer in that loop's driver from here, racing the loop going to sleep.
        // A lost wake-up would leave it to the loop's own 2 s timer.
        for i in 0..300 {
            let started = Instant::now();
            rt.block_on(async { lwt::sleep(Duration::from_micros(300)).await });
            let took = started.elapsed();
            assert!(took < Duration::from_secs(1), "sleep {i} took {took:?}");
        }
        stop.store(true, Ordering::SeqCst);
        driver.join().unwrap();
    }
}

#[test]
fn sub_millisecond_timeouts_are_honoured_and_cancelled_reads_consume_nothing() {
    util::for_each_backend(|kind| async move {
        let (r, w) = pipe().unwrap();
        const N: u32 = 2000;
        let started = Instant::now();
        for _ in 0..N {
            let mut buf = [0u8; 1];
            let got = lwt::unix::with_timeout(Duration::from_micros(20), read(&r, &mut buf)).await;
            assert!(matches!(got, Err(lwt::Error::Timeout)), "{got:?}");
        }
        let took = started.elapsed();
        // Rounded up to the millisecond, 2000 timeouts take at least 2 s; honoured, about
        // 0.1-0.2 s here. The bound leaves room for a loaded machine.
        assert!(
            took < Duration::from_millis(1200),
            "{N} timeouts of 20 us took {took:?} on {}",
            kind.name()
        );
        // None of the cancelled reads took a byte.
        write(&w, b"z").await.unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(read(&r, &mut buf).await.unwrap(), 1);
        assert_eq!(buf[0], b'z');
    });
}
