//! Who drives the loop: descriptors closed, aborted or dropped on other threads while the loop
//! dispatches them; a panic in the loop's own work on a switch stand-in; nested and concurrent
//! `block_on`.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use lwt::Error;
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

/// 128 pairs: a reader task on one end of each, a plain thread writing to the other ends.
fn pairs(n: usize) -> (Vec<FileDescr>, Vec<UnixStream>) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..n {
        let (a, b) = UnixStream::pair().unwrap();
        ours.push(of_unix_file_descr(a.into(), None, true).unwrap());
        b.set_nonblocking(true).unwrap();
        theirs.push(b);
    }
    (ours, theirs)
}

fn reader(fd: FileDescr) -> lwt::JoinHandle<Option<Error>> {
    lwt::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            match read(&fd, &mut buf).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(e),
            }
        }
    })
}

#[test]
fn aborting_and_dropping_descriptors_on_a_job_thread_while_the_loop_dispatches_them_does_not_deadlock(
) {
    util::for_each_backend_within(Duration::from_secs(60), |_| async {
        for _round in 0..10 {
            let (ours, mut theirs) = pairs(128);
            let readers: Vec<_> = ours.iter().cloned().map(reader).collect();
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            // Keeps every reader's descriptor busy, so the loop is dispatching them when the
            // job aborts them.
            let writer = std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    for w in &mut theirs {
                        let _ = w.write(b"x");
                    }
                }
                theirs
            });
            lwt::sleep(Duration::from_millis(2)).await;
            run_job(Some(AsyncMethod::Detach), move || {
                for fd in &ours {
                    abort(fd, Error::Canceled);
                }
                drop(ours); // the last clones (with the readers' ones) go on other threads
            })
            .await
            .unwrap();
            for r in readers {
                let e = r.await.unwrap().expect("an aborted read fails");
                assert!(
                    matches!(&e, Error::Aborted(c) if matches!(**c, Error::Canceled)),
                    "{e:?}"
                );
            }
            stop.store(true, Ordering::Relaxed);
            drop(writer.join().unwrap());
        }
    });
}

#[test]
fn closing_descriptors_on_another_thread_while_the_loop_polls_them_does_not_deadlock() {
    util::for_each_backend_within(Duration::from_secs(60), |_| async {
        for _round in 0..10 {
            let (ours, theirs) = pairs(64);
            let readers: Vec<_> = ours.iter().cloned().map(reader).collect();
            lwt::sleep(Duration::from_millis(1)).await;
            // Another thread runs its own small runtime to close them (close is async).
            let closer = std::thread::spawn(move || {
                lwt::run(async move {
                    for fd in &ours {
                        close(fd).await.unwrap();
                    }
                })
            });
            for r in readers {
                let e = r.await.unwrap().expect("a closed read fails");
                assert!(matches!(e, Error::Closed), "{e:?}");
            }
            closer.join().unwrap();
            drop(theirs);
        }
    });
}

/// A waker that panics when woken: the loop's own work (waking it) panics where it runs.
struct PanicWaker;
impl Wake for PanicWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker panicked in the loop");
    }
}

#[test]
fn a_panic_in_the_loops_work_on_a_switch_stand_in_reaches_block_on() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let r = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                // A timer whose waker panics, due while the home thread is blocked in a switch
                // call: the stand-in fires it.
                let armed = Arc::new(Mutex::new(None));
                let keep = armed.clone();
                let mut sleep = Box::pin(lwt::sleep(Duration::from_millis(5)));
                let w = Waker::from(Arc::new(PanicWaker));
                assert!(sleep
                    .as_mut()
                    .poll(&mut Context::from_waker(&w))
                    .is_pending());
                *keep.lock().unwrap() = Some(sleep);
                run_job(Some(AsyncMethod::Switch), || {
                    std::thread::sleep(Duration::from_millis(200))
                })
                .await
                .unwrap();
                lwt::sleep(Duration::from_millis(50)).await;
                drop(armed);
            })
        }));
        let payload = r.expect_err("the stand-in's panic is re-raised by block_on");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"a waker panicked in the loop")
        );
        // The runtime still works afterwards.
        assert_eq!(
            rt.block_on(async { lwt::spawn(async { 4 }).await.unwrap() }),
            4
        );
    }
}

#[test]
fn a_nested_run_in_a_running_loop_panics_with_a_clear_message() {
    util::for_each_backend(|kind| async move {
        let r = catch_unwind(|| lwt::run(async { 1 }));
        let msg = r.expect_err("a nested lwt::run must panic");
        let msg = msg
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap();
        assert!(msg.contains("within a running one"), "{msg}");
        let other = util::runtime(kind);
        let r = catch_unwind(AssertUnwindSafe(|| other.block_on(async { 2 })));
        assert!(
            r.is_err(),
            "a nested block_on of another runtime must panic too"
        );
        // The loop that refused is still fine.
        lwt::sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn a_second_thread_in_block_on_waits_for_the_loop_and_then_drives_it() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = Arc::new(util::runtime(kind));
        let ran = Arc::new(AtomicUsize::new(0));
        let first = {
            let (rt, ran) = (rt.clone(), ran.clone());
            std::thread::spawn(move || {
                rt.block_on(async move {
                    lwt::sleep(Duration::from_millis(100)).await;
                    ran.fetch_add(1, Ordering::SeqCst);
                })
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        // This future needs the loop (a timer): it completes once the first thread lets go.
        rt.block_on(async {
            lwt::sleep(Duration::from_millis(30)).await;
            ran.fetch_add(1, Ordering::SeqCst);
        });
        first.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        // A future that needs no loop completes while the other thread drives it.
        let (rt2, gate) = (rt.clone(), Arc::new(AtomicBool::new(false)));
        let g = gate.clone();
        let driver = std::thread::spawn(move || {
            rt2.block_on(async move {
                while !g.load(Ordering::SeqCst) {
                    lwt::sleep(Duration::from_millis(1)).await;
                }
            })
        });
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(rt.block_on(async { 5 }), 5);
        gate.store(true, Ordering::SeqCst);
        driver.join().unwrap();
    }
}

#[test]
fn a_block_on_waiting_for_the_loop_is_woken_by_the_tasks_the_other_thread_runs() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = Arc::new(util::runtime(kind));
        let (rt2, gate, holding) = (
            rt.clone(),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (g, h) = (gate.clone(), holding.clone());
        // Drives the loop until this thread is done: only a wake-up can end the futures below.
        let driver = std::thread::spawn(move || {
            rt2.block_on(async move {
                h.store(true, Ordering::SeqCst);
                while !g.load(Ordering::SeqCst) {
                    lwt::sleep(Duration::from_millis(1)).await;
                }
            })
        });
        assert!(util::eventually(Duration::from_secs(20), || holding.load(Ordering::SeqCst)));
        // Woken by value: a task's handle, the task run by the other thread.
        assert_eq!(
            rt.block_on(async { lwt::spawn(async { 7 }).await.unwrap() }),
            7
        );
        // Woken by reference, by a task run by the other thread.
        let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let mut spawned = false;
        rt.block_on(std::future::poll_fn(|cx: &mut Context<'_>| {
            if done.load(Ordering::SeqCst) {
                return std::task::Poll::Ready(());
            }
            *slot.lock().unwrap() = Some(cx.waker().clone());
            if !spawned {
                spawned = true;
                let (s, d) = (slot.clone(), done.clone());
                drop(lwt::spawn(async move {
                    d.store(true, Ordering::SeqCst);
                    if let Some(w) = s.lock().unwrap().as_ref() {
                        w.wake_by_ref();
                    }
                }));
            }
            std::task::Poll::Pending
        }));
        gate.store(true, Ordering::SeqCst);
        driver.join().unwrap();
    }
}

#[test]
fn a_timer_armed_by_a_thread_waiting_for_the_loop_wakes_the_parked_loop() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = Arc::new(util::runtime(kind));
        let gate = Arc::new((Mutex::new((false, None::<Waker>)), AtomicBool::new(false)));
        let (rt2, g) = (rt.clone(), gate.clone());
        // Parks with no timer at all until this thread opens the gate.
        let driver = std::thread::spawn(move || {
            rt2.block_on(std::future::poll_fn(|cx: &mut Context<'_>| {
                let mut s = g.0.lock().unwrap();
                if s.0 {
                    return std::task::Poll::Ready(());
                }
                s.1 = Some(cx.waker().clone());
                g.1.store(true, Ordering::SeqCst);
                std::task::Poll::Pending
            }))
        });
        assert!(util::eventually(Duration::from_secs(20), || gate
            .1
            .load(Ordering::SeqCst)));
        // The sleep's timer goes into the parked loop's driver: the loop must wake to take
        // its deadline into account, then fire it.
        rt.block_on(lwt::sleep(Duration::from_millis(20)));
        let mut s = gate.0.lock().unwrap();
        s.0 = true;
        if let Some(w) = s.1.take() {
            w.wake();
        }
        drop(s);
        driver.join().unwrap();
    }
}
