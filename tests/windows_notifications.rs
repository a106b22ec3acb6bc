//! The Windows subset, on every OS: notifications sent from other threads run their handler
//! in the loop; a stopped one is refused.
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn notifications_from_threads_reach_the_loop() {
    util::for_each_backend(|_| async {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let loop_thread = std::thread::current().id();
        let id = lwt::make_notification(false, move || {
            assert_eq!(std::thread::current().id(), loop_thread);
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let senders: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || lwt::send_notification(id).unwrap()))
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        // The loop is blocked in the backend's wait; each send must wake it.
        while hits.load(Ordering::SeqCst) < 3 {
            lwt::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        lwt::stop_notification(id);
        let e = lwt::send_notification(id).unwrap_err();
        assert!(matches!(e, lwt::Error::NotFound { .. }), "{e:?}");
    });
}

#[test]
fn a_notification_wakes_a_loop_blocked_without_timers() {
    util::for_each_backend(|_| async {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let waker_slot: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Default::default();
        let ws = waker_slot.clone();
        let id = lwt::make_notification(true, move || {
            g.fetch_add(1, Ordering::SeqCst);
            if let Some(w) = ws.lock().unwrap().take() {
                w.wake();
            }
        })
        .unwrap();
        let t = std::thread::spawn(move || {
            rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            lwt::send_notification(id).unwrap();
        });
        tx.send(()).unwrap();
        // No timer is pending: only the notification can wake the backend's wait.
        std::future::poll_fn(|cx| {
            if got.load(Ordering::SeqCst) == 1 {
                return std::task::Poll::Ready(());
            }
            *waker_slot.lock().unwrap() = Some(cx.waker().clone());
            if got.load(Ordering::SeqCst) == 1 {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        t.join().unwrap();
    });
}
