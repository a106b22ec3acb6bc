//! Tasks parked on each kind of thing a runtime's drop must drop them from (a timer, another
//! task's handle, a pending job, a channel whose sender is outside, I/O), for the tests of
//! runtime drop and churn.

use lwt::unix::{of_unix_file_descr, read, run_job, AsyncMethod};
use std::future::Future;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Counts its drops.
pub struct Flag(pub Arc<AtomicUsize>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A "channel" whose other end lives outside the runtime: the future stores its waker in
/// `slot` and waits forever (nobody sends).
pub struct Parked(pub Arc<Mutex<Option<Waker>>>);
impl Future for Parked {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Spawns one task parked on each kind of thing; returns how many it spawned.
pub async fn park_tasks(dropped: &Arc<AtomicUsize>, outside: &Arc<Mutex<Option<Waker>>>) -> usize {
    // On a timer.
    let f = Flag(dropped.clone());
    drop(lwt::spawn(async move {
        let _f = f;
        let _ = lwt::sleep(Duration::from_secs(60)).await;
    }));
    // On another task's handle.
    let long = lwt::spawn(lwt::sleep(Duration::from_secs(60)));
    let f = Flag(dropped.clone());
    drop(lwt::spawn(async move {
        let _f = f;
        let _ = long.await;
    }));
    // On a pending job.
    let f = Flag(dropped.clone());
    drop(lwt::spawn(async move {
        let _f = f;
        let _ = run_job(Some(AsyncMethod::Detach), || {
            std::thread::sleep(Duration::from_millis(100))
        })
        .await;
    }));
    // On a channel whose sender is outside the runtime.
    let f = Flag(dropped.clone());
    let slot = outside.clone();
    drop(lwt::spawn(async move {
        let _f = f;
        Parked(slot).await;
    }));
    // On I/O.
    let (a, b) = UnixStream::pair().unwrap();
    let a = of_unix_file_descr(a.into(), None, true).unwrap();
    let f = Flag(dropped.clone());
    drop(lwt::spawn(async move {
        let _f = f;
        let _keep = b;
        let mut buf = [0u8; 1];
        let _ = read(&a, &mut buf).await;
    }));
    for _ in 0..4 {
        lwt::yield_now().await; // every task starts and parks
    }
    5
}
