//! Notifications: callbacks run in the loop, sent from any thread.
#![cfg(unix)]
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn wait_for(c: &AtomicUsize, n: usize) {
    for _ in 0..5000 {
        if c.load(Ordering::SeqCst) >= n {
            return;
        }
        lwt::sleep(Duration::from_millis(1)).await.unwrap();
    }
    panic!("count stayed at {}", c.load(Ordering::SeqCst));
}

#[test]
fn sent_from_other_threads_they_run_on_the_loop_thread() {
    util::for_each_backend(|_| async {
        let loop_thread = std::thread::current().id();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let id = lwt::make_notification(false, move || {
            assert_eq!(std::thread::current().id(), loop_thread);
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let senders: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        lwt::send_notification(id).unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        wait_for(&hits, 1000).await;
        lwt::stop_notification(id);
        assert!(lwt::send_notification(id).is_err());
    });
}

#[test]
fn once_set_and_call() {
    util::for_each_backend(|_| async {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let id = lwt::make_notification(true, move || {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        lwt::send_notification(id).unwrap();
        wait_for(&hits, 1).await;
        // A once notification is gone after its first delivery.
        assert!(matches!(
            lwt::send_notification(id),
            Err(lwt::Error::NotFound { .. })
        ));

        let h = hits.clone();
        let id = lwt::make_notification(false, || {}).unwrap();
        lwt::set_notification(id, move || {
            h.fetch_add(10, Ordering::SeqCst);
        })
        .unwrap();
        lwt::call_notification(id).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 11);
        lwt::stop_notification(id);
        assert!(lwt::call_notification(id).is_err());
        assert!(lwt::set_notification(id, || {}).is_err());
    });
}

#[test]
fn outside_a_runtime_is_an_error() {
    assert!(matches!(
        lwt::make_notification(false, || {}),
        Err(lwt::Error::InvalidArgument { .. })
    ));
}
