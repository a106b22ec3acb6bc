//! The Rust-shaped timers and combinators (issue 12): `sleep` ends with `()`, `with_timeout`
//! takes any future and fails with `lwt::Timeout`, `interval` is a `Stream` that skips missed
//! ticks, and `join!`/`pick!` take futures of different types. Each runs on every backend.
use futures_lite::StreamExt;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Sets its flag when dropped: shows that a future holding it was dropped (canceled).
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[lwt::test]
async fn sleep_ends_with_unit_after_its_duration() {
    let start = Instant::now();
    let () = lwt::sleep(Duration::from_millis(10)).await;
    assert!(start.elapsed() >= Duration::from_millis(10));
    let at = Instant::now() + Duration::from_millis(5);
    let () = lwt::sleep_until(at).await;
    assert!(Instant::now() >= at);
    // The Lwt-shaped name is the same sleep.
    let () = lwt::unix::sleep(Duration::ZERO).await;
}

#[lwt::test]
async fn a_sleep_says_its_deadline_and_one_already_due_arms_no_timer() {
    let before = Instant::now();
    let s = lwt::sleep(Duration::from_millis(250));
    let at = s.deadline().expect("a sleep of 250 ms ends");
    assert!(
        at >= before + Duration::from_millis(250)
            && at <= Instant::now() + Duration::from_millis(250)
    );
    let shown = format!("{s:?}");
    assert!(
        shown.contains("Sleep") && shown.contains("armed: false"),
        "{shown}"
    );
    drop(s);
    // Due at once: ready on its first poll, without a timer (and so without a turn).
    let armed = lwt::Handle::current().metrics().timers_armed;
    let mut zero = std::pin::pin!(lwt::sleep(Duration::ZERO));
    assert_eq!(
        futures_lite::future::poll_once(zero.as_mut()).await,
        Some(())
    );
    let mut past = std::pin::pin!(lwt::sleep_until(before));
    assert_eq!(
        futures_lite::future::poll_once(past.as_mut()).await,
        Some(())
    );
    assert_eq!(lwt::Handle::current().metrics().timers_armed, armed);
    // An armed one says so, and dropping it disarms its timer.
    let mut long = Box::pin(lwt::sleep(Duration::from_secs(3600)));
    assert_eq!(futures_lite::future::poll_once(long.as_mut()).await, None);
    assert!(format!("{long:?}").contains("armed: true"));
    assert_eq!(lwt::Handle::current().metrics().timers_armed, armed + 1);
    drop(long);
    assert_eq!(lwt::Handle::current().metrics().timers_armed, armed);
    assert_eq!(lwt::Timeout.to_string(), "deadline has elapsed");
}

#[lwt::test]
async fn a_reset_sleep_waits_for_its_new_deadline() {
    // Brought forward: an hour's sleep ends in 10 ms.
    let mut s = Box::pin(lwt::sleep(Duration::from_secs(3600)));
    assert_eq!(futures_lite::future::poll_once(s.as_mut()).await, None);
    let soon = Instant::now() + Duration::from_millis(10);
    s.as_mut().reset(soon);
    assert_eq!(s.deadline(), Some(soon));
    let start = Instant::now();
    s.as_mut().await;
    assert!(Instant::now() >= soon);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the old deadline was kept"
    );
    // Reset after it ended: it waits again, for the new deadline.
    let later = Instant::now() + Duration::from_millis(10);
    s.as_mut().reset(later);
    s.as_mut().await;
    assert!(Instant::now() >= later);
}

#[test]
fn sleep_polled_outside_a_runtime_panics_with_a_clear_message() {
    use std::future::Future;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    // Already due: completes anywhere, no timer needed.
    let due = std::pin::pin!(lwt::sleep(Duration::ZERO)).poll(&mut cx);
    assert!(due.is_ready());
    let err = std::panic::catch_unwind(|| {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = std::pin::pin!(lwt::sleep(Duration::from_secs(1))).poll(&mut cx);
    })
    .expect_err("a sleep with no runtime must panic");
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("there is no lwt runtime running"), "{msg}");
}

#[lwt::test]
async fn with_timeout_takes_a_future_that_is_not_a_result() {
    assert_eq!(
        lwt::with_timeout(Duration::from_secs(60), async { 7 }).await,
        Ok(7)
    );
    let dropped = Rc::new(Cell::new(false));
    let guard = DropFlag(dropped.clone());
    let slow = async move {
        let _guard = guard;
        lwt::sleep(Duration::from_secs(60)).await;
        "never"
    };
    assert_eq!(
        lwt::with_timeout(Duration::from_millis(5), slow).await,
        Err(lwt::Timeout)
    );
    assert!(dropped.get(), "the timed-out future was dropped");
    // Duration::MAX: never times out.
    let v = lwt::with_timeout(Duration::MAX, lwt::sleep(Duration::from_millis(1))).await;
    assert_eq!(v, Ok(()));
}

/// `?` turns `lwt::Timeout` into `lwt::Error::Timeout`.
async fn times_out() -> lwt::Result<u32> {
    let v = lwt::with_timeout(Duration::from_millis(1), async {
        lwt::sleep(Duration::from_secs(60)).await;
        1
    })
    .await?;
    Ok(v)
}

#[lwt::test]
async fn timeout_converts_into_lwt_error_with_the_question_mark() {
    assert!(matches!(times_out().await, Err(lwt::Error::Timeout)));
    let e: lwt::Error = lwt::Timeout.into();
    assert!(matches!(e, lwt::Error::Timeout));
    let io: std::io::Error = lwt::Timeout.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    let boxed: Box<dyn std::error::Error> = Box::new(lwt::Timeout);
    assert_eq!(boxed.to_string(), "deadline has elapsed");
}

#[lwt::test]
async fn unix_with_timeout_keeps_lwt_shape() {
    // Lwt's with_timeout: the inner future's errors and the timeout share one Result.
    let r: lwt::Result<u32> =
        lwt::unix::with_timeout(Duration::from_secs(60), async { Ok(3) }).await;
    assert_eq!(r.unwrap(), 3);
    let r: lwt::Result<u32> =
        lwt::unix::with_timeout(Duration::from_secs(60), async { Err(lwt::Error::Canceled) }).await;
    assert!(matches!(r, Err(lwt::Error::Canceled)));
    let r: lwt::Result<u32> = lwt::unix::with_timeout(Duration::from_millis(2), async {
        lwt::sleep(Duration::from_secs(60)).await;
        Ok(1)
    })
    .await;
    assert!(matches!(r, Err(lwt::Error::Timeout)));
    let r: lwt::Result<()> = lwt::unix::timeout(Duration::from_millis(1)).await;
    assert!(matches!(r, Err(lwt::Error::Timeout)));
}

#[lwt::test]
async fn interval_ticks_on_its_grid() {
    const PERIOD: Duration = Duration::from_millis(10);
    let start = Instant::now();
    let mut every = lwt::interval(PERIOD);
    assert_eq!(every.period(), PERIOD);
    let first = every.tick().await;
    assert!(
        first >= start && first <= Instant::now(),
        "the first tick is due at once"
    );
    let mut last = first;
    // As a Stream: four more ticks.
    let ticks: Vec<Instant> = (&mut every).take(4).collect().await;
    assert_eq!(ticks.len(), 4);
    for t in ticks {
        // A tick late by a period (a loaded machine) skips to a later grid point: always a
        // whole number of periods after the first.
        let since = t - first;
        assert!(t > last, "ticks increase");
        assert_eq!(
            since.as_nanos() % PERIOD.as_nanos(),
            0,
            "{since:?} is off the grid"
        );
        assert!(
            Instant::now() >= t,
            "a tick is never delivered before it is due"
        );
        last = t;
    }
    let took = start.elapsed();
    assert!(
        took >= 4 * PERIOD,
        "5 ticks take at least 4 periods: {took:?}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[lwt::test]
async fn interval_skips_the_ticks_missed_while_the_loop_was_blocked() {
    const PERIOD: Duration = Duration::from_millis(50);
    let mut every = lwt::interval(PERIOD);
    let first = every.tick().await;
    // Block the loop for 3.5 periods: the ticks due at +1, +2 and +3 periods are missed.
    std::thread::sleep(PERIOD * 7 / 2);
    let stall_end = Instant::now();
    // The late tick comes once, at once, with the instant it was due...
    let late = every.tick().await;
    assert_eq!(late, first + PERIOD);
    // ...and the next is on the same grid after now: +2 and +3 were dropped, not delivered
    // in a burst.
    let next = every.tick().await;
    assert!(
        next > stall_end,
        "a missed tick was delivered: {:?}",
        next - first
    );
    let since = next - first;
    assert_eq!(
        since.as_nanos() % PERIOD.as_nanos(),
        0,
        "{since:?} is off the grid"
    );
    assert!(since >= PERIOD * 4, "{since:?}");
    assert!(Instant::now() >= next);
}

#[test]
#[should_panic(expected = "the period must be non-zero")]
fn interval_of_zero_panics() {
    let _ = lwt::interval(Duration::ZERO);
}

#[lwt::test]
async fn join_runs_futures_of_different_types_concurrently() {
    let flag = Rc::new(Cell::new(false));
    let waits = {
        let flag = flag.clone();
        async move {
            // Only ends if the other future runs meanwhile.
            while !flag.get() {
                lwt::yield_now().await;
            }
            1u8
        }
    };
    let sets = async {
        lwt::sleep(Duration::from_millis(1)).await;
        flag.set(true);
        "set"
    };
    let (a, b, c, ()) = lwt::join!(
        waits,
        sets,
        lwt::with_timeout(Duration::from_secs(60), async { 3.5 }),
        lwt::sleep(Duration::from_millis(2)),
    );
    assert_eq!((a, b, c), (1, "set", Ok(3.5)));
    // One future, and a trailing comma.
    let (only,) = lwt::join!(async { 'x' },);
    assert_eq!(only, 'x');
}

#[lwt::test]
async fn pick_returns_the_first_and_drops_the_others() {
    let dropped = Rc::new(Cell::new(false));
    let guard = DropFlag(dropped.clone());
    let slow = async move {
        let _guard = guard;
        lwt::sleep(Duration::from_secs(60)).await;
        0u32
    };
    let fast = async {
        lwt::sleep(Duration::from_millis(2)).await;
        7u32
    };
    assert_eq!(lwt::pick!(slow, fast), 7);
    assert!(
        dropped.get(),
        "the losing branch was dropped before pick! returned"
    );
    // When several are ready in the same poll, the one written first wins.
    assert_eq!(
        lwt::pick!(async { 1 }, async { 2 }, std::future::ready(3)),
        1
    );
    // A timeout branch that wins, Lwt's `pick [timeout d; ...]`.
    let r: lwt::Result<u32> = lwt::pick!(lwt::timeout(Duration::from_millis(1)), async {
        lwt::sleep(Duration::from_secs(60)).await;
        Ok(5)
    });
    assert!(matches!(r, Err(lwt::Error::Timeout)));
}

#[lwt::test]
async fn pick_over_pinned_borrows_keeps_the_loser_as_choose_does() {
    let mut a = std::pin::pin!(async {
        lwt::sleep(Duration::from_millis(5)).await;
        "a"
    });
    let mut b = std::pin::pin!(async { "b" });
    assert_eq!(lwt::pick!(a.as_mut(), b.as_mut()), "b");
    assert_eq!(a.await, "a", "the loser was kept and completes");
}
