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
        lwt::sleep(Duration::from_millis(1)).await;
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

#[test]
fn a_handler_may_call_every_notification_function_on_itself() {
    util::for_each_backend(|_| async {
        let first = Arc::new(AtomicUsize::new(0));
        let second = Arc::new(AtomicUsize::new(0));
        let me = Arc::new(std::sync::OnceLock::new());
        let (f, s, m) = (first.clone(), second.clone(), me.clone());
        let id = lwt::make_notification(false, move || {
            let id = *m.get().unwrap();
            if f.fetch_add(1, Ordering::SeqCst) == 0 {
                // Replace itself, run itself again, and send itself: none may deadlock.
                let s = s.clone();
                lwt::set_notification(id, move || {
                    s.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
                lwt::call_notification(id).unwrap();
                lwt::send_notification(id).unwrap();
            }
        })
        .unwrap();
        me.set(id).unwrap();
        lwt::send_notification(id).unwrap();
        // The new handler ran for the call (right after the first one returned) and the send.
        wait_for(&second, 2).await;
        assert_eq!(first.load(Ordering::SeqCst), 1);
        // Stopping itself from inside: later sends fail.
        let stopped = Arc::new(AtomicUsize::new(0));
        let st = stopped.clone();
        let me2 = Arc::new(std::sync::OnceLock::new());
        let m2 = me2.clone();
        let id2 = lwt::make_notification(false, move || {
            lwt::stop_notification(*m2.get().unwrap());
            st.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        me2.set(id2).unwrap();
        lwt::send_notification(id2).unwrap();
        wait_for(&stopped, 1).await;
        assert!(lwt::send_notification(id2).is_err());
        lwt::stop_notification(id);
    });
}

#[test]
fn a_panicking_handler_is_contained_and_the_notification_keeps_working() {
    util::for_each_backend(|_| async {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let before = lwt::core::notification::handler_panics();
        let id = lwt::make_notification(false, move || {
            if r.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("handler panic (expected by the test)");
            }
        })
        .unwrap();
        lwt::send_notification(id).unwrap();
        wait_for(&runs, 1).await;
        // The loop (and this future) survived; the handler is still registered.
        assert!(lwt::core::notification::handler_panics() > before);
        lwt::send_notification(id).unwrap();
        wait_for(&runs, 2).await;
        lwt::stop_notification(id);
    });
}

#[test]
fn a_panicking_signal_handler_is_contained() {
    util::for_each_backend(|_| async {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let h = lwt::unix::on_signal(libc::SIGUSR2, move |_| {
            if r.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("signal handler panic (expected by the test)");
            }
        })
        .unwrap();
        // SAFETY: raising a signal this process handles (lwt's handler is installed).
        unsafe { libc::raise(libc::SIGUSR2) };
        wait_for(&runs, 1).await;
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGUSR2) };
        wait_for(&runs, 2).await;
        lwt::unix::disable_signal_handler(h);
    });
}
