// The grouped guide is written for the Unix surface; on Windows only the loop, time and jobs
// are here (docs/portable.md).
#![cfg_attr(unix, doc = include_str!("unix.md"))]
#![cfg_attr(
    not(unix),
    doc = "`Lwt_unix` for Rust: on Windows, the loop, time, notifications and jobs (`run_job`, \
           the pool); the rest of Lwt_unix is Unix-only (see `lwt::net` for sockets)."
)]

pub use lwt_core::{
    auto_yield, call_notification, handle_unix_error, make_notification, send_notification,
    set_notification, sleep, sleep_secs, stop_notification, timeout, yield_now, Error,
    NotificationId,
};
pub use lwt_jobs::*;
#[cfg(unix)] // the Unix surface; absent on Windows (docs/portable.md)
pub use lwt_syscalls::*;

use lwt_core::Result;
use std::future::Future;
use std::time::Duration;

/// Lwt's `with_timeout d f`, "a short-hand for `Lwt.pick [Lwt_unix.timeout d; f ()]`": runs
/// `fut`, an operation that may fail, and fails with [`Error::Timeout`] if it takes longer
/// than `d`; the timeout is one more error of the same `Result`. When the time runs out, `fut`
/// is dropped: canceled at its current await point, as Lwt cancels the loser of its `pick`.
///
/// The Rust-shaped [`crate::with_timeout`] takes any future and keeps its output apart:
/// `Result<F::Output, Timeout>`.
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
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     let mut buf = [0u8; 1];
///     let read = lwt::unix::read(&r, &mut buf); // nothing is ever written
///     let got = lwt::unix::with_timeout(Duration::from_millis(5), read).await;
///     assert!(matches!(got, Err(lwt::Error::Timeout)));
/// });
/// ```
pub async fn with_timeout<T>(d: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    crate::with_timeout(d, fut).await?
}
