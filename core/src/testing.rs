//! A backend with no kernel object, and the runtime's unit tests on it: tasks, timers, keys,
//! the registry of live tasks and the switch hand-off, with no system call in the way. They
//! run in `cargo test` and under Miri (`cargo +nightly miri test -p lwt-core --lib`, as
//! `.ci/run` does), which cannot make the epoll or poll system calls but checks every unsafe
//! block these paths go through (`AtomicCell`, the token casts, `Tracked`'s pinning, the
//! keys' slots) for undefined behaviour.

use crate::backend::{Backend, BorrowedSource, Events, Interest};
use crate::Runtime;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `wait` sleeps on a condition variable until its timeout or a `notify`; no source can be
/// registered.
#[derive(Default)]
pub(crate) struct UserBackend {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Backend for UserBackend {
    fn name(&self) -> &'static str {
        "user"
    }
    fn register(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the user-space test backend watches no descriptor",
        ))
    }
    fn arm(&self, _: BorrowedSource<'_>, _: usize, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn deregister(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn wait(&self, _: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let start = Instant::now();
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        while !*notified {
            let left = match timeout {
                Some(t) => match t.checked_sub(start.elapsed()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break,
                },
                None => None,
            };
            notified = match left {
                Some(left) => {
                    self.cv
                        .wait_timeout(notified, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.cv.wait(notified).unwrap_or_else(|e| e.into_inner()),
            };
        }
        *notified = false;
        Ok(())
    }
    fn notify(&self) -> io::Result<()> {
        *self.notified.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_one();
        Ok(())
    }
}

pub(crate) fn runtime() -> Runtime {
    Runtime::new(Box::new(UserBackend::default()))
}

#[test]
fn tasks_run_and_their_results_come_back() {
    let rt = runtime();
    let v = rt.block_on(async {
        let a = crate::spawn(async { 20 });
        let b = crate::spawn(async {
            crate::yield_now().await;
            22
        });
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(v, 42);
    let m = rt.metrics();
    assert_eq!((m.tasks_spawned, m.num_alive_tasks), (2, 0));
}

#[test]
fn a_task_woken_from_another_thread_runs() {
    let rt = runtime();
    let handle = rt.handle();
    let v = rt.block_on(async move {
        let t = std::thread::spawn(move || handle.spawn(async { 7 }));
        t.join().unwrap().await.unwrap()
    });
    assert_eq!(v, 7);
}

#[test]
fn timers_fire_in_deadline_order() {
    let rt = runtime();
    let order = rt.block_on(async {
        // One instant for all, far enough ahead to be in the future when each task first
        // runs: under Miri, whose clock counts the instructions run, that takes milliseconds.
        let base = Instant::now() + Duration::from_millis(200);
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = [3u64, 1, 2]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                crate::spawn(async move {
                    let _ = crate::sleep_until(base + Duration::from_millis(ms)).await;
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        order
    });
    let order = order.lock().unwrap().clone();
    assert_eq!(order, [1, 2, 3]);
}

#[test]
fn a_key_is_seen_only_inside_its_future() {
    static USER: crate::Key<u32> = crate::Key::new();
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(USER.get(), None);
        USER.with_value(Some(1), async {
            assert_eq!(USER.get(), Some(1));
            crate::yield_now().await;
            USER.with_value(None, async { assert_eq!(USER.get(), None) })
                .await;
            assert_eq!(USER.get(), Some(1));
            let inner = crate::spawn(async { USER.get() });
            assert_eq!(
                inner.await.unwrap(),
                None,
                "a spawned task does not inherit it"
            );
        })
        .await;
        assert_eq!(USER.get(), None);
    });
}

#[test]
fn two_keys_hold_their_own_values_and_a_sync_binding_ends_with_its_closure() {
    static A: crate::Key<u32> = crate::Key::new();
    static B: crate::Key<u32> = crate::Key::new();
    let rt = runtime();
    rt.block_on(async {
        A.with_value(Some(1), async {
            assert_eq!(B.get(), None, "binding one key bound another");
            B.with_value(Some(2), async {
                assert_eq!((A.get(), B.get()), (Some(1), Some(2)));
            })
            .await;
            assert_eq!((A.get(), B.get()), (Some(1), None));
        })
        .await;
    });
    assert_eq!(
        A.with_value_sync(Some(5), || (A.get(), B.get())),
        (Some(5), None)
    );
    assert_eq!(A.get(), None, "a sync binding outlived its closure");
    let nested = A.with_value_sync(Some(6), || {
        let inner = A.with_value_sync(Some(7), || A.get());
        (inner, A.get())
    });
    assert_eq!(nested, (Some(7), Some(6)));
}

#[test]
fn join2_waits_for_both_whichever_ends_first() {
    let rt = runtime();
    rt.block_on(async {
        let slow_first = crate::combine::join2(
            async {
                crate::sleep(Duration::from_millis(5)).await;
                1
            },
            async { 2 },
        );
        assert_eq!(slow_first.await, (1, 2));
        let slow_second = crate::combine::join2(async { 3 }, async {
            crate::yield_now().await;
            4
        });
        assert_eq!(slow_second.await, (3, 4));
    });
}

/// Counts its drops: a task's future dropped by the runtime's shutdown.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_drops_every_parked_task() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = runtime();
    rt.block_on(async {
        for i in 0..4u64 {
            let guard = Dropped(dropped.clone());
            drop(crate::spawn(async move {
                let _guard = guard;
                // Parked on a timer (two of them) or forever (the others).
                if i % 2 == 0 {
                    let _ = crate::sleep(Duration::from_secs(3600)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            }));
        }
        crate::yield_now().await;
        crate::yield_now().await;
    });
    assert_eq!(rt.metrics().num_alive_tasks, 4);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 4);
}

#[test]
fn a_blocking_switch_call_hands_the_loop_to_a_stand_in_and_back() {
    let rt = runtime();
    rt.block_on(async {
        let home = std::thread::current().id();
        let steals = crate::switch::steals();
        // A task that only the loop can run: while the home thread is blocked in the call
        // below, only a stand-in can. The call waits for it (for at most 10 s).
        let ran = Arc::new(Mutex::new(None));
        let task = {
            let ran = ran.clone();
            crate::spawn(async move {
                *ran.lock().unwrap() = Some(std::thread::current().id());
            })
        };
        let ran_on = crate::switch::switch_call(|| {
            let start = Instant::now();
            while ran.lock().unwrap().is_none() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::current().id()
        });
        assert_eq!(ran_on, home, "the call runs on the home thread");
        let ran = ran
            .lock()
            .unwrap()
            .expect("the loop did not run while the call blocked");
        assert_ne!(ran, home, "the task ran on a stand-in");
        assert!(crate::switch::steals() > steals, "the loop was handed off");
        task.await.unwrap();
        assert!(
            crate::switch::available(),
            "the home thread holds its loop again"
        );
        assert_eq!(crate::switch::calls_handed_off(), 0);
    });
}

/// [`UserBackend`], but `register` accepts every source (and watches none), or fails with
/// the errno `refuse`.
#[cfg(unix)]
#[derive(Default)]
struct RegisteringBackend {
    user: UserBackend,
    refuse: Option<i32>,
}

#[cfg(unix)]
impl Backend for RegisteringBackend {
    fn name(&self) -> &'static str {
        "user-registering"
    }
    fn register(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        match self.refuse {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }
    fn arm(&self, _: BorrowedSource<'_>, _: usize, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn deregister(&self, _: BorrowedSource<'_>, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.user.wait(events, timeout)
    }
    fn notify(&self) -> io::Result<()> {
        self.user.notify()
    }
}

/// Polls `fut` once, with a waker that does nothing.
#[cfg(unix)]
fn poll_once<F: std::future::Future>(fut: F) -> std::task::Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    fut.as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// An operation on `src` that always would block.
#[cfg(unix)]
fn blocked_read(
    src: &crate::reactor::Source,
) -> impl std::future::Future<Output = crate::Result<()>> + '_ {
    src.op(crate::reactor::Direction::Read, || Err(crate::Error::Retry))
}

#[cfg(unix)]
#[test]
fn a_deregistered_source_is_freed_by_the_next_turn_of_the_loop() {
    let rt = Runtime::new(Box::new(RegisteringBackend::default()));
    rt.block_on(async {
        let driver = crate::context::current_driver().unwrap();
        // Standard input's number: the backend never touches the descriptor.
        let src = crate::reactor::Source::new(std::os::fd::AsFd::as_fd(&std::io::stdin()));
        assert!(poll_once(blocked_read(&src)).is_pending());
        assert!(src.is_registered_here());
        assert_eq!(driver.io.len(), 1);
        src.deregister();
        assert_eq!(driver.io.len(), 0);
        // Kept until the loop's next turn: an event collected before the deregistration may
        // still carry its address.
        assert_eq!(driver.io.pending_len(), 1, "freed before the next turn");
        crate::yield_now().await;
        crate::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            driver.io.pending_len(),
            0,
            "a deregistered source was kept after the loop turned"
        );
    });
}

#[cfg(unix)]
#[test]
fn a_registration_the_backend_refuses_fails_the_operation_unless_unwatchable() {
    // ENOSPC (epoll's `max_user_watches`): the operation fails with the backend's error.
    let rt = Runtime::new(Box::new(RegisteringBackend {
        refuse: Some(libc::ENOSPC),
        ..Default::default()
    }));
    rt.block_on(async {
        let src = crate::reactor::Source::new(std::os::fd::AsFd::as_fd(&std::io::stdin()));
        match poll_once(blocked_read(&src)) {
            std::task::Poll::Ready(Err(e)) => {
                assert_eq!(e.errno(), Some(libc::ENOSPC), "{e}");
                assert_eq!(e.call(), Some("register"), "{e}");
            }
            other => panic!("a refused registration did not fail the operation: {other:?}"),
        }
        assert!(!src.is_registered_here());
    });
    // EPERM (epoll and a regular file): the descriptor is always ready, so the operation is
    // tried again on every turn instead of failing.
    let rt = Runtime::new(Box::new(RegisteringBackend {
        refuse: Some(libc::EPERM),
        ..Default::default()
    }));
    rt.block_on(async {
        let src = crate::reactor::Source::new(std::os::fd::AsFd::as_fd(&std::io::stdin()));
        let mut tries = 0;
        let op = src.op(crate::reactor::Direction::Read, || {
            tries += 1;
            if tries < 3 {
                Err(crate::Error::Retry)
            } else {
                Ok(tries)
            }
        });
        assert_eq!(op.await.unwrap(), 3);
    });
}
