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
    // Every kind of task a runtime can hold when it drops: parked on a timer, on I/O, on a job,
    // on another task's handle; woken but not run again; never polled (spawned by the loop just
    // before `block_on` returned, spawned from outside while no thread drives the loop). Each
    // future is dropped with the runtime, and each handle then says `Canceled`.
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = util::runtime(kind);
        let (d, r) = (dropped.clone(), ran.clone());
        // The block returns the tasks' handles on purpose: they are awaited after the drop.
        #[allow(clippy::async_yields_async)]
        let (mut handles, peer) = rt.block_on(async move {
            let flag = || Flag(d.clone());
            let mut hs = Vec::new();
            let f = flag();
            hs.push(lwt::spawn(async move {
                let _f = f;
                lwt::sleep(Duration::from_secs(60)).await;
            }));
            let (a, peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let a = lwt::unix::of_unix_file_descr(a.into(), None, true).unwrap();
            let f = flag();
            hs.push(lwt::spawn(async move {
                let _f = f;
                let mut b = [0u8; 1];
                let _ = lwt::unix::read(&a, &mut b).await;
            }));
            let f = flag();
            hs.push(lwt::spawn(async move {
                let _f = f;
                let _ = lwt::unix::run_job(Some(lwt::unix::AsyncMethod::Detach), || {
                    std::thread::sleep(Duration::from_millis(50))
                })
                .await;
            }));
            let long = lwt::spawn(lwt::sleep(Duration::from_secs(60)));
            let f = flag();
            hs.push(lwt::spawn(async move {
                let _f = f;
                let _ = long.await;
            }));
            // Woken again (by itself) and queued when the loop stops.
            let f = flag();
            hs.push(lwt::spawn(async move {
                let _f = f;
                loop {
                    lwt::yield_now().await;
                }
            }));
            for _ in 0..3 {
                lwt::yield_now().await; // the tasks above start and park
            }
            // Never polled: still in the run queue when `block_on` returns.
            let f = flag();
            let r3 = r.clone();
            hs.push(lwt::spawn(async move {
                let _f = f;
                r3.fetch_add(1, Ordering::SeqCst);
            }));
            (hs, peer)
        });
        // Never polled: spawned while no thread drives the loop, through a handle that
        // outlives the runtime (so only the runtime's drop can drop the task).
        let handle = rt.handle();
        let f = Flag(dropped.clone());
        let r4 = ran.clone();
        handles.push(handle.spawn(async move {
            let _f = f;
            r4.fetch_add(1, Ordering::SeqCst);
        }));
        let n = handles.len();
        drop(rt);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            n,
            "a task outlived its runtime"
        );
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a task ran after its runtime stopped"
        );
        drop((peer, handle));
        let rt2 = util::runtime(kind);
        for (i, h) in handles.into_iter().enumerate() {
            assert!(
                matches!(rt2.block_on(h), Err(lwt::Error::Canceled)),
                "task {i} was not canceled"
            );
        }
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

/// Spawns a task that reads a pipe another thread writes only later (so the read waits for
/// readiness) and one that sleeps; returns their handles and the writer thread.
fn spawn_io_and_timer_waiters() -> (
    lwt::JoinHandle<Vec<u8>>,
    lwt::JoinHandle<()>,
    std::thread::JoinHandle<()>,
) {
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let r = lwt::unix::of_unix_file_descr(r.into(), None, true).unwrap();
    let reader = lwt::spawn(async move {
        let mut b = [0u8; 2];
        let n = lwt::unix::read(&r, &mut b).await.unwrap();
        b[..n].to_vec()
    });
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        std::thread::sleep(Duration::from_millis(20));
        (&w).write_all(b"io").unwrap();
        std::thread::sleep(Duration::from_millis(200)); // keeps the peer open
    });
    let sleeper = lwt::spawn(async {
        let start = Instant::now();
        lwt::sleep(Duration::from_millis(10)).await;
        assert!(start.elapsed() >= Duration::from_millis(10));
    });
    (reader, sleeper, writer)
}

/// How long a task may wait behind a yielding one (the loop answers in microseconds; this
/// only bounds a starved task).
const STARVE_PATIENCE: Duration = Duration::from_secs(5);

#[test]
fn a_yielding_task_does_not_starve_io_or_timers() {
    // The yielder is a spawned task, and so are the tasks waiting for I/O and a timer: they
    // share the run queue with it.
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
        lwt::yield_now().await; // the spinner runs
        let (reader, sleeper, writer) = spawn_io_and_timer_waiters();
        let waited = lwt::unix::with_timeout(STARVE_PATIENCE, async {
            let got = reader.await?;
            sleeper.await?;
            Ok(got)
        })
        .await;
        stop.store(1, Ordering::SeqCst);
        writer.join().unwrap();
        assert_eq!(
            waited.expect("a task waiting for I/O or a timer starved behind a yielding task"),
            b"io"
        );
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
fn a_yielding_main_future_does_not_starve_io_or_timer_tasks() {
    util::for_each_backend(|_| async {
        let (reader, sleeper, writer) = spawn_io_and_timer_waiters();
        let start = Instant::now();
        let mut yields = 0u64;
        while !(reader.is_finished() && sleeper.is_finished()) {
            assert!(
                start.elapsed() < STARVE_PATIENCE,
                "tasks waiting for I/O or a timer starved behind the yielding main future \
                 ({yields} yields)"
            );
            lwt::yield_now().await;
            yields += 1;
        }
        assert_eq!(reader.await.unwrap(), b"io");
        sleeper.await.unwrap();
        writer.join().unwrap();
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

/// A one-shot flag a future can wait for: set from anywhere, it wakes the waiter.
#[derive(Default)]
struct Signal(Mutex<(bool, Option<std::task::Waker>)>);

impl Signal {
    fn set(&self) {
        let mut g = self.0.lock().unwrap();
        g.0 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                std::task::Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// Waits (from another thread) until the loop of `h` is parked in its backend.
fn until_parked(h: &lwt::Handle) {
    assert!(
        util::eventually(Duration::from_secs(20), || {
            h.metrics().worker_park_unpark_count % 2 == 1
        }),
        "the loop never parked"
    );
}

/// How long a parked loop may take to answer a wake-up from another thread (it is expected to
/// answer in microseconds; this only bounds a loop that is never woken).
const WAKE_PATIENCE: Duration = Duration::from_secs(5);

#[test]
fn spawn_from_another_thread_wakes_a_sleeping_loop() {
    util::for_each_backend(|_| async {
        let h = lwt::Handle::current();
        let ran = Arc::new(Signal::default());
        let r = ran.clone();
        let t = std::thread::spawn(move || {
            until_parked(&h);
            // Nothing else is pending but the timeout below: only this spawn can wake the loop.
            drop(h.spawn(async move { r.set() }));
        });
        let woke = lwt::unix::with_timeout(WAKE_PATIENCE, async {
            ran.wait().await;
            Ok(())
        })
        .await;
        t.join().unwrap();
        assert!(
            woke.is_ok(),
            "a task spawned from another thread did not wake the parked loop: {woke:?}"
        );
    });
}

#[test]
fn waking_the_main_future_from_another_thread_wakes_a_sleeping_loop() {
    util::for_each_backend(|_| async {
        let h = lwt::Handle::current();
        let flag = Arc::new(Signal::default());
        let f = flag.clone();
        let t = std::thread::spawn(move || {
            until_parked(&h);
            f.set(); // wakes the `block_on` future's waker on this thread
        });
        let woke = lwt::unix::with_timeout(WAKE_PATIENCE, async {
            flag.wait().await;
            Ok(())
        })
        .await;
        t.join().unwrap();
        assert!(
            woke.is_ok(),
            "waking the main future from another thread did not wake the parked loop: {woke:?}"
        );
    });
}

#[test]
#[should_panic(expected = "nested")]
fn nested_block_on_of_one_runtime_panics() {
    let rt = Arc::new(util::runtime(util::backends()[0]));
    let rt2 = rt.clone();
    rt.block_on(async move { rt2.block_on(async {}) });
}
