//! Behaviour of the runtime: tasks, cancellation, timers, yields, keys, combinators.
#![cfg(unix)]
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn spawn_join_and_spawn_local() {
    util::for_each_backend(|_| async {
        let handles: Vec<_> = (0..100).map(|i| lwt::spawn(async move { i * 2 })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 9900);
        let rc = std::rc::Rc::new(std::cell::Cell::new(0));
        let r2 = rc.clone();
        lwt::spawn_local(async move { r2.set(5) }).await.unwrap();
        assert_eq!(rc.get(), 5);
    });
}

#[test]
fn cancel_drops_the_task_at_its_await_point() {
    util::for_each_backend(|_| async {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let reached = Arc::new(AtomicUsize::new(0));
        let (d, r) = (dropped.clone(), reached.clone());
        let t = lwt::spawn(async move {
            let _f = Flag(d);
            lwt::sleep(Duration::from_secs(60)).await;
            r.fetch_add(1, Ordering::SeqCst);
        });
        lwt::sleep(Duration::from_millis(2)).await;
        assert_eq!(t.cancel().await, None);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(reached.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn dropping_a_handle_detaches() {
    util::for_each_backend(|_| async {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        drop(lwt::spawn(async move {
            lwt::sleep(Duration::from_millis(1)).await;
            h.fetch_add(1, Ordering::SeqCst);
        }));
        lwt::sleep(Duration::from_millis(20)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    });
}

/// Polls a future inside `catch_unwind`, to observe a re-raised panic.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);
impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let f = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(p)),
        }
    }
}

#[test]
fn a_task_panic_reaches_its_awaiter_and_the_runtime_survives() {
    util::for_each_backend(|_| async {
        let t = lwt::spawn(async { panic!("boom") });
        let r = CatchUnwind(Box::pin(t)).await;
        let payload = r.expect_err("the panic is re-raised where the handle is awaited");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(lwt::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn dropping_the_runtime_cancels_its_tasks() {
    for kind in util::backends() {
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let rt = util::runtime(kind);
        let d = dropped.clone();
        // The block returns the task's handle on purpose: it is awaited after the drop.
        #[allow(clippy::async_yields_async)]
        let handle = rt.block_on(async move {
            let h = lwt::spawn(async move {
                let _f = Flag(d);
                lwt::sleep(Duration::from_secs(60)).await;
            });
            lwt::yield_now().await; // the task starts and parks on its timer
            h
        });
        drop(rt);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let rt2 = util::runtime(kind);
        assert!(matches!(rt2.block_on(handle), Err(lwt::Error::Canceled)));
    }
}

#[test]
fn timers_fire_in_order_and_not_early() {
    util::for_each_backend(|_| async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let hs: Vec<_> = [30u64, 10, 20, 0]
            .into_iter()
            .map(|ms| {
                let o = order.clone();
                lwt::spawn(async move {
                    lwt::sleep(Duration::from_millis(ms)).await;
                    assert!(start.elapsed() >= Duration::from_millis(ms));
                    o.lock().unwrap().push(ms);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 10, 20, 30]);
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn bad_durations_are_clear_errors() {
    util::for_each_backend(|_| async {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let e = lwt::sleep_secs(bad).await.unwrap_err();
            assert!(
                matches!(e, lwt::Error::InvalidArgument { call: "sleep", .. }),
                "{e}"
            );
        }
        lwt::sleep_secs(0.0).await.unwrap(); // still usable
    });
}

#[test]
fn a_duration_too_large_for_the_clock_means_never() {
    util::for_each_backend(|_| async {
        // `Duration::MAX` used to fail at once; it means "never" (tokio's and Lwt's reading).
        let r = lwt::with_timeout(Duration::from_millis(20), lwt::sleep(Duration::MAX)).await;
        assert_eq!(r, Err(lwt::Timeout));
        let r: lwt::Result<()> = lwt::pick([
            Box::pin(lwt::timeout(Duration::MAX))
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(async {
                lwt::sleep(Duration::from_millis(5)).await;
                Ok(())
            }),
        ])
        .await;
        assert!(r.is_ok(), "{r:?}");
        // with_timeout(Duration::MAX, f) is f.
        let v = lwt::unix::with_timeout(Duration::MAX, async {
            lwt::sleep(Duration::from_millis(5)).await;
            Ok(3)
        })
        .await;
        assert_eq!(v.unwrap(), 3);
        let s = lwt::sleep(Duration::MAX);
        assert_eq!(s.deadline(), None);
    });
}

#[test]
fn timeout_and_with_timeout() {
    util::for_each_backend(|_| async {
        let r = lwt::unix::with_timeout(Duration::from_millis(10), async {
            lwt::sleep(Duration::from_secs(60)).await;
            Ok(1)
        })
        .await;
        assert!(matches!(r, Err(lwt::Error::Timeout)));
        let r = lwt::unix::with_timeout(Duration::from_secs(60), async { Ok(2) }).await;
        assert_eq!(r.unwrap(), 2);
        let r: lwt::Result<()> = lwt::timeout(Duration::from_millis(1)).await;
        assert!(matches!(r, Err(lwt::Error::Timeout)));
    });
}

#[test]
fn yield_lets_other_tasks_run_first() {
    util::for_each_backend(|_| async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let t = lwt::spawn(async move { l.lock().unwrap().push("task") });
        log.lock().unwrap().push("before");
        lwt::yield_now().await;
        log.lock().unwrap().push("after");
        t.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["before", "task", "after"]);
    });
}

#[test]
fn a_yielding_task_does_not_starve_io_or_timers() {
    util::for_each_backend(|_| async {
        let stop = Arc::new(AtomicUsize::new(0));
        let s = stop.clone();
        let spinner = lwt::spawn(async move {
            let mut n = 0u64;
            while s.load(Ordering::SeqCst) == 0 {
                lwt::yield_now().await;
                n += 1;
            }
            n
        });
        let (r, w) = lwt::unix::pipe().unwrap();
        lwt::unix::write(&w, b"x").await.unwrap();
        let mut b = [0u8; 1];
        lwt::unix::read(&r, &mut b).await.unwrap();
        lwt::sleep(Duration::from_millis(5)).await;
        stop.store(1, Ordering::SeqCst);
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
fn auto_yield_yields_only_after_its_period() {
    util::for_each_backend(|_| async {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let t = lwt::spawn(async move { r.fetch_add(1, Ordering::SeqCst) });
        let mut y = lwt::auto_yield(Duration::from_secs(3600));
        y.tick().await; // period not over: no yield, the task has not run
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let mut y = lwt::auto_yield(Duration::ZERO);
        y.tick().await; // period over: yields, the task runs
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        t.await.unwrap();
    });
}

static KEY: lwt::Key<u32> = lwt::Key::new();

#[test]
fn keys_are_scoped_to_their_future_and_not_inherited() {
    util::for_each_backend(|_| async {
        assert_eq!(KEY.get(), None);
        let inner = KEY.with_value(Some(7), async {
            assert_eq!(KEY.get(), Some(7));
            lwt::sleep(Duration::from_millis(1)).await; // survives suspension
            assert_eq!(KEY.get(), Some(7));
            let child = lwt::spawn(async { KEY.get() });
            child.await.unwrap()
        });
        assert_eq!(inner.await, None);
        assert_eq!(KEY.get(), None);
    });
}

#[test]
fn choose_leaves_the_others_pending_and_join_collects() {
    util::for_each_backend(|_| async {
        let futs = vec![
            lwt::sleep(Duration::from_millis(30)),
            lwt::sleep(Duration::from_millis(1)),
        ];
        let ((), i, rest) = lwt::choose(futs).await;
        assert_eq!(i, 1);
        let ((), _, rest) = lwt::choose(rest).await;
        assert!(rest.is_empty());
        let v = lwt::join((0..5).map(|i| async move {
            lwt::sleep(Duration::from_millis(5 - i)).await;
            i
        }))
        .await;
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
    });
}

#[test]
fn spawn_from_another_thread_wakes_a_sleeping_loop() {
    util::for_each_backend(|_| async {
        let h = lwt::Handle::current();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            h.spawn(async { 99 })
        });
        // The loop is asleep (nothing else to do) when the other thread spawns.
        let handle = lwt::unix::run_job(None, move || t.join().unwrap())
            .await
            .unwrap();
        assert_eq!(handle.await.unwrap(), 99);
    });
}

#[test]
#[should_panic(expected = "nested")]
fn nested_block_on_of_one_runtime_panics() {
    let rt = Arc::new(util::runtime(util::backends()[0]));
    let rt2 = rt.clone();
    rt.block_on(async move { rt2.block_on(async {}) });
}
