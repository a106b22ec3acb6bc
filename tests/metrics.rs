//! `Runtime::metrics`: each counter moves by what a known workload does, on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use lwt::{BackendKind, RuntimeMetrics};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn delta(after: u64, before: u64) -> u64 {
    after - before
}

#[test]
fn each_counter_moves_by_what_a_known_workload_does() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let m0 = rt.metrics();
        assert_eq!(m0.worker_total_busy_duration, None, "off by default");
        rt.time_parks(true);
        assert_eq!(m0.backend, kind.name());
        assert_eq!(m0.num_workers, 1);
        assert_eq!(m0.tasks_spawned, 0);
        assert_eq!(m0.num_alive_tasks, 0);

        // Tasks: 10 from the loop's thread, 5 from another thread; each completes on its
        // first poll.
        rt.block_on(async {
            let mut all: Vec<_> = (0..10).map(|i| lwt::spawn(async move { i })).collect();
            let h = lwt::Handle::current();
            let remote: Vec<_> = std::thread::spawn(move || {
                (0..5)
                    .map(|i| h.spawn(async move { i }))
                    .collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            all.extend(remote);
            for t in all {
                t.await.unwrap();
            }
        });
        let m1 = rt.metrics();
        assert_eq!(delta(m1.tasks_spawned, m0.tasks_spawned), 15);
        assert_eq!(m1.num_alive_tasks, 0);
        assert_eq!(delta(m1.polls, m0.polls), 15, "one poll per task");
        assert_eq!(
            delta(m1.remote_schedules, m0.remote_schedules),
            5,
            "the five spawns from another thread went through the injector"
        );
        assert_eq!(m1.global_queue_depth, 0);
        assert_eq!(m1.local_queue_depth, 0);

        // A live task is counted alive; a snapshot from the loop's thread is exact.
        rt.block_on(async {
            let t = lwt::spawn(lwt::sleep(Duration::from_secs(60)));
            lwt::yield_now().await;
            let m = lwt::Handle::current().metrics();
            assert_eq!(m.num_alive_tasks, 1);
            assert_eq!(m.timers_armed, 1);
            assert!(t.cancel().await.is_none());
            let m = lwt::Handle::current().metrics();
            assert_eq!(m.num_alive_tasks, 0);
            assert_eq!(m.timers_armed, 0);
        });

        // Timers: three sleeps fire three timers and park the loop at least three times.
        let m2 = rt.metrics();
        rt.block_on(async {
            for _ in 0..3 {
                lwt::sleep(Duration::from_millis(2)).await;
            }
        });
        let m3 = rt.metrics();
        assert_eq!(delta(m3.timers_fired, m2.timers_fired), 3);
        assert!(delta(m3.worker_park_count, m2.worker_park_count) >= 3);
        assert!(delta(m3.turns, m2.turns) >= 3);
        assert_eq!(
            m3.worker_park_unpark_count,
            2 * m3.worker_park_count,
            "even while the loop is not parked"
        );
        assert!(m3.worker_total_busy_duration > m2.worker_total_busy_duration);
        assert!(m3.worker_total_busy_duration.is_some());

        // Notifications: four sends from another thread are four deliveries.
        let hits = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let hi = hits.clone();
            let id = lwt::make_notification(false, move || {
                hi.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            std::thread::spawn(move || {
                for _ in 0..4 {
                    lwt::send_notification(id).unwrap();
                }
            })
            .join()
            .unwrap();
            while hits.load(Ordering::SeqCst) < 4 {
                lwt::sleep(Duration::from_millis(1)).await;
            }
            lwt::stop_notification(id);
        });
        let m4 = rt.metrics();
        assert_eq!(
            delta(m4.notifications_delivered, m3.notifications_delivered),
            4
        );

        // I/O: a read that waits registers its descriptor and is woken by one event; the
        // registration goes with the descriptor.
        rt.block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let a = of_unix_file_descr(a.into(), None, true).unwrap();
            let before = lwt::Handle::current().metrics();
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                b.write_all(b"x").unwrap();
                b
            });
            let mut buf = [0u8; 1];
            assert_eq!(read(&a, &mut buf).await.unwrap(), 1);
            let m = lwt::Handle::current().metrics();
            assert_eq!(m.registrations, before.registrations + 1);
            assert!(m.events_dispatched > before.events_dispatched);
            // epoll and poll count their system calls; io_uring's are counted by the bench
            // (strace), not by the backend.
            match kind {
                BackendKind::Epoll | BackendKind::Poll => {
                    let (s0, s1) = (before.backend_syscalls, m.backend_syscalls);
                    assert!(s0.is_some() && s1 > s0, "{kind}: a wait is a system call");
                }
                _ => {}
            }
            close(&a).await.unwrap();
            assert_eq!(
                lwt::Handle::current().metrics().registrations,
                before.registrations
            );
            drop(w.join().unwrap());
        });

        // Jobs and switch: detached jobs are submitted to the pool; a switch call that blocks
        // (until it is handed off, up to a limit: how soon the watchdog gets a CPU is up to
        // the machine's load) is handed off once.
        let m5 = rt.metrics();
        rt.block_on(async {
            for _ in 0..3 {
                run_job(Some(AsyncMethod::Detach), || ()).await.unwrap();
            }
            let h = lwt::Handle::current();
            let before = m5.switch_hand_offs;
            run_job(Some(AsyncMethod::Switch), move || {
                util::eventually(util::WAIT_LIMIT, || h.metrics().switch_hand_offs > before)
            })
            .await
            .unwrap();
        });
        let m6 = rt.metrics();
        // The pool is shared by every runtime of the process (tests run in parallel): at
        // least ours.
        assert!(delta(m6.jobs.submitted, m5.jobs.submitted) >= 3);
        assert!(m6.jobs.threads >= 1);
        assert_eq!(delta(m6.switch_hand_offs, m5.switch_hand_offs), 1);
        check_consistent(&m6);
    }
}

fn check_consistent(m: &RuntimeMetrics) {
    assert!(m.worker_park_count <= m.turns);
    assert!(m.jobs.idle_threads <= m.jobs.threads);
    assert_eq!(m.jobs.running + m.jobs.idle_threads, m.jobs.threads);
}

#[test]
fn a_dropped_runtime_counts_every_task_it_dropped_as_finished() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let h = rt.handle();
        // Two tasks spawned on the loop, one from outside it; all three still pending.
        rt.block_on(async {
            for _ in 0..2 {
                drop(lwt::spawn(std::future::pending::<()>()));
            }
            lwt::yield_now().await;
        });
        drop(h.spawn(std::future::pending::<()>()));
        let m = h.metrics();
        assert_eq!((m.tasks_spawned, m.num_alive_tasks), (3, 3), "{kind}");
        drop(rt);
        let m = h.metrics();
        assert_eq!((m.tasks_spawned, m.num_alive_tasks), (3, 0), "{kind}");
    }
}

#[test]
fn spawn_local_tasks_count_as_spawned_and_alive() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let h = rt.handle();
        rt.block_on(async {
            let m0 = h.metrics();
            let pending: Vec<_> = (0..3)
                .map(|_| lwt::spawn_local(std::future::pending::<()>()))
                .collect();
            lwt::yield_now().await; // each has been polled once, and waits
            let m1 = h.metrics();
            assert_eq!(delta(m1.tasks_spawned, m0.tasks_spawned), 3, "{kind}");
            assert_eq!(m1.num_alive_tasks, m0.num_alive_tasks + 3, "{kind}");
            for t in pending {
                assert!(t.cancel().await.is_none());
            }
            let m2 = h.metrics();
            assert_eq!(m2.num_alive_tasks, m0.num_alive_tasks, "{kind}");
        });
    }
}

/// A turn that dispatches an I/O event and fires a timer counts one event and one timer.
#[test]
fn a_turn_with_an_event_and_a_timer_counts_each_once() {
    for kind in util::backends() {
        let rt = util::runtime(kind);
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        rt.block_on(async {
            let reader = lwt::spawn(async move {
                let mut buf = [0u8; 1];
                read(&a, &mut buf).await
            });
            let sleeper = lwt::spawn(lwt::sleep(Duration::from_millis(5)));
            lwt::yield_now().await; // both wait
            let before = lwt::Handle::current().metrics();
            // The byte arrives and the timer comes due while the loop is held here, so its
            // next turn finds both.
            b.write_all(b"x").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(reader.await.unwrap().unwrap(), 1);
            sleeper.await.unwrap();
            let after = lwt::Handle::current().metrics();
            assert_eq!(
                delta(after.timers_fired, before.timers_fired),
                1,
                "{kind}: one timer fired"
            );
            // (The fault-injecting backend may have woken the reader with a spurious report
            // before the byte came, so that its read needed no event of its own.)
            if kind.name() != "faulty" {
                assert!(
                    delta(after.events_dispatched, before.events_dispatched) >= 1,
                    "{kind}: the byte's event"
                );
            }
        });
    }
}
