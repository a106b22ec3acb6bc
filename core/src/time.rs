//! Sleeping and timeouts on the loop's monotonic clock.

use crate::runtime::{current_inner, lock, Inner};
use crate::timer::TimerId;
use crate::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The future of [`sleep`] and [`sleep_until`].
///
/// Dropping it before it fires cancels the timer (in `O(1)`).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// When the sleep was created: a deadline not after it is due at once, without a timer.
    start: Instant,
    timer: Option<(Arc<Inner>, TimerId)>,
    invalid: Option<Error>,
}

impl Sleep {
    /// The instant at which the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(e) = self.invalid.take() {
            return Poll::Ready(Err(e));
        }
        // No clock read here: the loop's timers fire only once their deadline has passed on
        // the monotonic clock, so "the timer is gone" means "the deadline has passed". (The
        // clock is read once per sleep, when it is created; reading it on every poll was a
        // third of the cost of a timer armed then cancelled.)
        match &self.timer {
            Some((rt, id)) => {
                if lock(&rt.timers).update_waker(*id, cx.waker()) {
                    return Poll::Pending;
                }
                self.timer = None;
                Poll::Ready(Ok(()))
            }
            None if self.deadline <= self.start => Poll::Ready(Ok(())),
            None => {
                let rt = match current_inner("sleep") {
                    Ok(rt) => rt,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                let id = lock(&rt.timers).insert(self.deadline, cx.waker().clone());
                let owner = crate::runtime::is_owner_of(&rt);
                let rt2 = rt.clone();
                self.timer = Some((rt, id));
                if !owner {
                    // A loop blocked with an older, later deadline must recompute it.
                    rt2.wake_loop();
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((rt, id)) = self.timer.take() {
            lock(&rt.timers).cancel(id);
        }
    }
}

/// Suspends the current task for `d` (Lwt's `sleep`), on the monotonic clock.
///
/// # Errors
///
/// `InvalidArgument` for a duration too large to add to the clock, or outside of a runtime.
/// See [`sleep_secs`] for a duration given in (possibly negative or NaN) seconds.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let t = std::time::Instant::now();
///     lwt::sleep(std::time::Duration::from_millis(20)).await.unwrap();
///     assert!(t.elapsed() >= std::time::Duration::from_millis(20));
/// });
/// ```
pub fn sleep(d: Duration) -> Sleep {
    let start = Instant::now();
    match start.checked_add(d) {
        Some(deadline) => Sleep {
            deadline,
            start,
            timer: None,
            invalid: None,
        },
        // Instant + Duration overflows for absurd durations: reject instead of panicking.
        None => Sleep {
            deadline: start,
            start,
            timer: None,
            invalid: Some(Error::invalid(
                "sleep",
                format!("duration {d:?} is out of range"),
            )),
        },
    }
}

/// Suspends the current task until `deadline`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let at = std::time::Instant::now() + std::time::Duration::from_millis(5);
///     lwt::sleep_until(at).await.unwrap();
///     assert!(std::time::Instant::now() >= at);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        start: Instant::now(),
        timer: None,
        invalid: None,
    }
}

/// Converts seconds given as a float (the seed's `float` durations) into a `Duration`.
///
/// # Errors
///
/// `InvalidArgument` naming `call` if `secs` is negative, NaN or infinite.
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::duration_of_secs("sleep", 0.5).unwrap(), std::time::Duration::from_millis(500));
/// assert!(lwt::duration_of_secs("sleep", -1.0).is_err());
/// assert!(lwt::duration_of_secs("sleep", f64::NAN).is_err());
/// ```
pub fn duration_of_secs(call: &'static str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Error::invalid(call, format!("{secs} is not a valid number of seconds")))
}

/// [`sleep`] for a duration in seconds, as the seed's `sleep : float -> unit Lwt.t`.
///
/// # Errors
///
/// `InvalidArgument` for a negative, NaN or infinite number of seconds.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     lwt::sleep_secs(0.001).await.unwrap();
///     assert!(lwt::sleep_secs(-1.0).await.is_err());
/// });
/// ```
pub async fn sleep_secs(secs: f64) -> Result<()> {
    sleep(duration_of_secs("sleep", secs)?).await
}

/// A future that fails with [`Error::Timeout`] after `d` (Lwt's `timeout`); it never
/// succeeds. Use it with [`crate::pick`], or use [`with_timeout`].
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let r: Result<(), lwt::Error> = lwt::timeout(std::time::Duration::from_millis(1)).await;
///     assert!(matches!(r, Err(lwt::Error::Timeout)));
/// });
/// ```
pub async fn timeout<T>(d: Duration) -> Result<T> {
    sleep(d).await?;
    Err(Error::Timeout)
}

/// Runs `fut`, failing with [`Error::Timeout`] if it takes longer than `d` (Lwt's
/// `with_timeout d f = pick [timeout d; f ()]`). When the time runs out, `fut` is dropped:
/// canceled at its current await point.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let slow = lwt::with_timeout(Duration::from_millis(5), lwt::sleep(Duration::from_secs(60)));
///     assert!(matches!(slow.await, Err(lwt::Error::Timeout)));
///     let fast = lwt::with_timeout(Duration::from_secs(60), async { Ok(7) });
///     assert_eq!(fast.await.unwrap(), 7);
/// });
/// ```
pub async fn with_timeout<T>(d: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    let timer = sleep(d);
    let mut timer = std::pin::pin!(timer);
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Err(Error::Timeout)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Suspends the current task and resumes it as soon as possible, after the tasks already
/// runnable (Lwt's `yield`, renamed because `yield` is a Rust keyword).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let t = lwt::spawn(async { 1 });
///     lwt::yield_now().await; // lets the spawned task run
///     assert!(t.is_finished());
/// });
/// ```
#[doc(alias = "yield")]
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Lwt's `auto_yield`: a function that yields only if `period` has passed since it last did.
///
/// Call [`AutoYield::tick`] in a long loop to stay cooperative without paying for a yield
/// each iteration.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let mut y = lwt::auto_yield(std::time::Duration::from_millis(1));
///     for _ in 0..1000 {
///         y.tick().await;
///     }
/// });
/// ```
pub fn auto_yield(period: Duration) -> AutoYield {
    AutoYield {
        period,
        last: Instant::now(),
    }
}

/// The state of [`auto_yield`].
#[derive(Debug, Clone)]
pub struct AutoYield {
    period: Duration,
    last: Instant,
}

impl AutoYield {
    /// Yields if the period has passed since the last yield, else returns at once.
    pub async fn tick(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last) >= self.period {
            self.last = now;
            yield_now().await;
        }
    }
}
