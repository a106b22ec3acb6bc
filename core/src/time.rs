//! Sleeping and timeouts on the loop's monotonic clock.
//!
//! A [`Sleep`] arms a timer in the driver of the runtime it is first polled in (see
//! `crate::driver`); dropping it cancels the timer. A duration too large for the clock (such as
//! `Duration::MAX`) means "never": such a sleep stays pending without arming anything, so
//! `with_timeout(Duration::MAX, f)` is just `f`.
//!
//! A sleep cannot fail: it ends with `()`. The only thing that can go wrong is polling one with
//! no lwt runtime to keep its timer, which is a bug of the caller and panics (see [`sleep`]).
//! What can be bad is input, where it is given in a form that can be bad: [`sleep_secs`] takes
//! seconds as an `f64` and returns a `Result`.

use crate::context;
use crate::driver::timers::TimerId;
use crate::driver::Driver;
use crate::{Error, Result};
use futures_core::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The future of [`sleep`] and [`sleep_until`]; it ends with `()`.
///
/// Dropping it before it fires cancels the timer (in `O(1)`). It is `Unpin`, `Send` and
/// `Sync`, so it can be kept in a struct and polled through `&mut`.
///
/// # Panics
///
/// When it is polled, before its deadline, outside of an lwt runtime (see [`sleep`]).
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

    /// Moves the deadline to `deadline` (tokio's `Sleep::reset`), whether the sleep has ended
    /// or not: its timer, if armed, is canceled, and the next poll waits for the new deadline
    /// (a deadline already past ends it at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// lwt::run(async {
    ///     let mut s = lwt::sleep(Duration::from_secs(3600));
    ///     let soon = Instant::now() + Duration::from_millis(5);
    ///     s.reset(soon);
    ///     (&mut s).await;
    ///     assert!(Instant::now() >= soon);
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.reset_to(Some(deadline));
    }

    /// [`Sleep::reset`] to `deadline`, or to never for `None`.
    fn reset_to(&mut self, deadline: Option<Instant>) {
        if let Some((driver, id)) = self.timer.take() {
            driver.cancel_timer(id);
        }
        self.deadline = deadline;
        self.start = Instant::now();
    }
}

/// The message of the panic of a sleep polled outside of a runtime (tokio's "there is no
/// reactor running").
const NO_RUNTIME: &str = "there is no lwt runtime running: a sleep, interval or timeout must be \
     polled inside `lwt::run`, `Runtime::block_on` or a task they run";

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.timer.is_some())
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // No clock read here: the loop's timers fire only once their deadline has passed on
        // the monotonic clock, so "the timer is gone" means "the deadline has passed". (The
        // clock is read once per sleep, when it is created.)
        if let Some((driver, id)) = &self.timer {
            if driver.update_timer(*id, cx.waker()) {
                return Poll::Pending;
            }
            self.timer = None;
            return Poll::Ready(());
        }
        let deadline = match self.deadline {
            // Never: nothing will wake it, so no waker is kept.
            None => return Poll::Pending,
            Some(d) if d <= self.start => return Poll::Ready(()),
            Some(d) => d,
        };
        let Some(driver) = context::current_driver() else {
            panic!("{NO_RUNTIME}");
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

/// Suspends the current task for `d`, on the monotonic clock, and ends with `()` (tokio's
/// `tokio::time::sleep`, and Lwt's `sleep : float -> unit Lwt.t`, which cannot fail either).
/// The time is counted from this call. A duration too large for the clock (`Duration::MAX`)
/// never ends. See [`sleep_secs`] for a duration given in (possibly negative or NaN) seconds.
///
/// The sleep's timer belongs to the runtime that first polls it, on whichever of its threads.
///
/// # Panics
///
/// When the sleep is polled before its deadline outside of an lwt runtime (a thread that is
/// neither in [`Runtime::block_on`](crate::Runtime::block_on) nor running one of its tasks),
/// where no timer could ever wake it: "there is no lwt runtime running: ...". A sleep that is
/// already due (`Duration::ZERO`) completes anywhere.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let t = std::time::Instant::now();
///     lwt::sleep(std::time::Duration::from_millis(20)).await;
///     assert!(t.elapsed() >= std::time::Duration::from_millis(20));
/// });
/// ```
///
/// ```should_panic
/// use std::future::Future;
/// // No runtime: the first poll panics instead of waiting forever.
/// let fut = lwt::sleep(std::time::Duration::from_millis(1));
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// let _ = std::pin::pin!(fut).poll(&mut cx);
/// ```
pub fn sleep(d: Duration) -> Sleep {
    let start = Instant::now();
    Sleep {
        deadline: start.checked_add(d),
        start,
        timer: None,
    }
}

/// Suspends the current task until `deadline` (tokio's `sleep_until`); as [`sleep`].
///
/// # Panics
///
/// As [`sleep`]: when polled before `deadline` outside of an lwt runtime.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let at = std::time::Instant::now() + std::time::Duration::from_millis(5);
///     lwt::sleep_until(at).await;
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

/// [`sleep`] for a duration in seconds, as the seed's `sleep : float -> unit Lwt.t`: the one
/// sleep that returns a `Result`, because an `f64` can be a bad duration.
///
/// # Errors
///
/// `InvalidArgument` for a negative, NaN or infinite number of seconds.
///
/// # Panics
///
/// As [`sleep`]: when it must wait outside of an lwt runtime.
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
    sleep(duration_of_secs("sleep", secs)?).await;
    Ok(())
}

/// A future that fails with [`Error::Timeout`] after `d` (Lwt's `timeout`); it never
/// succeeds. Use it with [`crate::pick`] (Lwt's `pick [timeout d; ...]`), or use
/// [`with_timeout`].
///
/// # Panics
///
/// As [`sleep`]: when it must wait outside of an lwt runtime.
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
    sleep(d).await;
    Err(Error::Timeout)
}

/// The error of [`with_timeout`]: the time ran out before the future completed (tokio's
/// `Elapsed`).
///
/// It converts into [`Error::Timeout`] (Lwt's `Timeout` exception), so `?` works in a function
/// returning lwt's [`Result`], and into an [`std::io::Error`] of kind `TimedOut`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// async fn answer() -> lwt::Result<u32> {
///     let slow = async {
///         lwt::sleep(Duration::from_secs(60)).await;
///         42
///     };
///     let v = lwt::with_timeout(Duration::from_millis(1), slow).await?; // Timeout -> Error
///     Ok(v)
/// }
///
/// lwt::run(async {
///     assert!(matches!(answer().await, Err(lwt::Error::Timeout)));
///     assert_eq!(lwt::Timeout.to_string(), "deadline has elapsed");
///     let io: std::io::Error = lwt::Timeout.into();
///     assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for Error {
    fn from(_: Timeout) -> Error {
        Error::Timeout
    }
}

impl From<Timeout> for std::io::Error {
    fn from(_: Timeout) -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::TimedOut)
    }
}

/// Runs `fut` (any future) for at most `d`: its output in `Ok`, or `Err(`[`Timeout`]`)` when
/// the time ran out first (tokio's `tokio::time::timeout`). The time is counted from this call.
/// When the time runs out, `fut` is dropped: canceled at its current await point.
///
/// `fut` is polled before the timer, so a future that completes in the same poll as the
/// deadline passes wins. With `Duration::MAX` (or any duration too large for the clock) it is
/// `fut`, wrapped in `Ok`.
///
/// Lwt's own `with_timeout`, whose future fails with `Timeout` like any other error, is
/// `lwt::unix::with_timeout`.
///
/// # Panics
///
/// As [`sleep`]: when it must wait outside of an lwt runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let slow = lwt::with_timeout(Duration::from_millis(5), lwt::sleep(Duration::from_secs(60)));
///     assert_eq!(slow.await, Err(lwt::Timeout));
///     let fast = lwt::with_timeout(Duration::from_secs(60), async { 7 });
///     assert_eq!(fast.await, Ok(7));
/// });
/// ```
pub fn with_timeout<F: Future>(
    d: Duration,
    fut: F,
) -> impl Future<Output = std::result::Result<F::Output, Timeout>> {
    let mut timer = sleep(d);
    async move {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            Pin::new(&mut timer).poll(cx).map(|()| Err(Timeout))
        })
        .await
    }
}

/// Ticks every `period` (tokio's `tokio::time::interval`): a [`Stream`] of the instants the
/// ticks were due, also [`Interval::tick`]. The first tick is due at once.
///
/// **Missed ticks are skipped** (tokio's `MissedTickBehavior::Skip`): ticks are due at
/// `start + k × period`. When a tick is late by more than a period (the loop was blocked, or
/// the interval was not polled), it is delivered once, at once, the ticks missed meanwhile are
/// dropped, and the next one is due at the next instant of the same grid. So ticks never come
/// in a burst and never drift; count them to measure time only where the loop is never late.
///
/// # Panics
///
/// If `period` is zero. When a tick is polled outside of an lwt runtime, as [`sleep`].
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use std::time::{Duration, Instant};
/// lwt::run(async {
///     let start = Instant::now();
///     let mut every = lwt::interval(Duration::from_millis(2));
///     let first = every.tick().await; // at once
///     let second = every.next().await.unwrap(); // as a Stream
///     assert_eq!(second - first, Duration::from_millis(2));
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "lwt::interval: the period must be non-zero"
    );
    Interval {
        sleep: sleep_until(Instant::now()),
        period,
    }
}

/// The ticks of [`interval`]: a `futures_core::`[`Stream`] that never ends, of the instants
/// the ticks were due. Dropping it cancels its timer.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct Interval {
    /// Waits for the next tick; its deadline is that tick's instant.
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was due (not when it was delivered,
    /// which is later, by the loop's delay).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut i = lwt::interval(std::time::Duration::from_millis(1));
    ///     let a = i.tick().await;
    ///     let b = i.tick().await;
    ///     assert!(b > a);
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick ([`Interval::tick`] for hand-written futures): `Ready` with the
    /// instant it was due, and then the next tick is armed.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut i = lwt::interval(std::time::Duration::from_secs(1));
    ///     let first = std::future::poll_fn(|cx| i.poll_tick(cx)).await; // due at once
    ///     assert!(first <= std::time::Instant::now());
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        // `None`: the next tick is past the clock's range (a huge period), so never.
        let Some(due) = self.sleep.deadline else {
            return Poll::Pending;
        };
        std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
        let next = due.checked_add(self.period).map(|next| {
            let now = Instant::now();
            if next > now {
                return next;
            }
            // Late by a period or more: the next instant of the grid `due + k × period` after
            // now. The remainder is below the lateness, which fits in a u64 of nanoseconds.
            let late = now.duration_since(due).as_nanos() % self.period.as_nanos();
            now + (self.period - Duration::from_nanos(late as u64))
        });
        self.sleep.reset_to(next);
        Poll::Ready(due)
    }

    /// The period given to [`interval`].
    ///
    /// # Examples
    ///
    /// ```
    /// let d = std::time::Duration::from_millis(10);
    /// assert_eq!(lwt::interval(d).period(), d);
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.poll_tick(cx).map(Some)
    }
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
