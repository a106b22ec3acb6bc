//! Sleeping and timeouts on the loop's monotonic clock.
//!
//! A [`Sleep`] arms a timer in the driver of the runtime it is first polled in (see
//! `crate::driver`); dropping it cancels the timer. A duration too large for the clock (such as
//! `Duration::MAX`) means "never": such a sleep stays pending without arming anything, so
//! `with_timeout(Duration::MAX, f)` is just `f`.

use crate::context;
use crate::driver::timers::TimerId;
use crate::driver::Driver;
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
    /// `None`: never.
    deadline: Option<Instant>,
    /// When the sleep was created: a deadline not after it is due at once, without a timer.
    start: Instant,
    timer: Option<(Arc<Driver>, TimerId)>,
}

impl Sleep {
    /// The instant at which the sleep ends; `None` for a sleep that never ends (a duration
    /// too large for the clock).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.timer.is_some())
            .finish()
    }
}

impl Future for Sleep {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        // No clock read here: the loop's timers fire only once their deadline has passed on
        // the monotonic clock, so "the timer is gone" means "the deadline has passed". (The
        // clock is read once per sleep, when it is created.)
        if let Some((driver, id)) = &self.timer {
            if driver.update_timer(*id, cx.waker()) {
                return Poll::Pending;
            }
            self.timer = None;
            return Poll::Ready(Ok(()));
        }
        let deadline = match self.deadline {
            // Never: nothing will wake it, so no waker is kept.
            None => return Poll::Pending,
            Some(d) if d <= self.start => return Poll::Ready(Ok(())),
            Some(d) => d,
        };
        let Some(driver) = context::current_driver() else {
            return Poll::Ready(Err(Error::invalid(
                "sleep",
                "not inside an lwt runtime".to_string(),
            )));
        };
        let id = driver.insert_timer(deadline, cx.waker().clone());
        if !context::holds_driver(&driver) {
            // A loop blocked with an older, later deadline must recompute it.
            driver.wake();
        }
        self.timer = Some((driver, id));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((driver, id)) = self.timer.take() {
            driver.cancel_timer(id);
        }
    }
}

/// Suspends the current task for `d` (Lwt's `sleep`), on the monotonic clock. A duration too
/// large for the clock (`Duration::MAX`) never ends.
///
/// # Errors
///
/// `InvalidArgument` outside of a runtime. See [`sleep_secs`] for a duration given in
/// (possibly negative or NaN) seconds.
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
    Sleep {
        deadline: start.checked_add(d),
        start,
        timer: None,
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
        deadline: Some(deadline),
        start: Instant::now(),
        timer: None,
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
