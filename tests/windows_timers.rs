//! The Windows subset, on every OS: sleeps end in deadline order and not early; timeouts fire.
mod util;

use std::time::{Duration, Instant};

#[test]
fn sleeps_wake_in_order_and_not_early() {
    util::for_each_backend(|_| async {
        let start = Instant::now();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                lwt::spawn(async move {
                    lwt::sleep(Duration::from_millis(ms)).await;
                    assert!(start.elapsed() >= Duration::from_millis(ms));
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![10, 20, 30]);
    });
}

#[test]
fn with_timeout_expires_and_passes() {
    util::for_each_backend(|_| async {
        let slow = lwt::unix::with_timeout(Duration::from_millis(10), async {
            lwt::sleep(Duration::from_secs(10)).await;
            Ok(1)
        });
        assert!(matches!(slow.await, Err(lwt::Error::Timeout)));
        let fast = lwt::unix::with_timeout(Duration::from_secs(10), async { Ok(2) });
        assert_eq!(fast.await.unwrap(), 2);
    });
}
