//! Dropping a runtime: every task it owns is dropped wherever it is parked, its descriptors are
//! freed, it can be dropped on another thread than the one that ran it, and many runtimes
//! created and dropped leave descriptors and threads as they found them.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::parked::{park_tasks, Flag};

#[test]
fn dropping_a_runtime_drops_tasks_parked_on_handles_jobs_channels_and_io_and_frees_its_descriptors()
{
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        // Warm up what lives for the process (the job pool, the dead descriptor).
        util::runtime(kind).block_on(async { run_job(None, || ()).await.unwrap() });
        let before = util::open_fds();
        let outside = Arc::new(Mutex::new(None));
        for _ in 0..10 {
            let dropped = Arc::new(AtomicUsize::new(0));
            let rt = util::runtime(kind);
            let n = rt.block_on(park_tasks(&dropped, &outside));
            drop(rt);
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                n,
                "a task outlived its runtime"
            );
        }
        // The wakers held outside do not keep the runtimes (and their descriptors) alive.
        assert!(outside.lock().unwrap().is_some());
        assert!(
            util::eventually(Duration::from_secs(5), || util::open_fds() <= before),
            "descriptors leaked: {} before, {} after",
            before,
            util::open_fds()
        );
        // A woken task of a dropped runtime is dropped, not run.
        let w = outside.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

#[test]
fn a_runtime_dropped_on_another_thread_drops_its_local_tasks_at_home_and_does_not_abort() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let home = std::thread::current().id();
        let dropped_on = Arc::new(Mutex::new(Vec::new()));
        struct WhereDropped(Arc<Mutex<Vec<std::thread::ThreadId>>>);
        impl Drop for WhereDropped {
            fn drop(&mut self) {
                self.0.lock().unwrap().push(std::thread::current().id());
            }
        }
        let rt = util::runtime(kind);
        let d = dropped_on.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let s = sent.clone();
        rt.block_on(async move {
            let rc = std::rc::Rc::new(WhereDropped(d)); // !Send
            drop(lwt::spawn_local(async move {
                let _rc = rc;
                lwt::sleep(Duration::from_secs(60)).await;
            }));
            drop(lwt::spawn(async move {
                let _f = Flag(s);
                lwt::sleep(Duration::from_secs(60)).await;
            }));
            lwt::yield_now().await;
        });
        // block_on has returned: its local task is gone, dropped here, on its home thread.
        assert_eq!(*dropped_on.lock().unwrap(), vec![home]);
        std::thread::spawn(move || drop(rt)).join().unwrap();
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "the Send task is dropped too"
        );
    }
}

/// A descriptor that outlives the runtimes it waited in does not keep them alive: each
/// runtime's own descriptors (its backend's) are freed when it is dropped, while the
/// descriptor, registered in it, lives on and works in the next one.
#[test]
fn a_descriptor_that_outlives_its_runtimes_keeps_none_of_them_alive() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        util::runtime(kind).block_on(async { run_job(None, || ()).await.unwrap() });
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        let before = util::open_fds();
        for i in 0..10u8 {
            let rt = util::runtime(kind);
            rt.block_on(async {
                let mut w = b.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    std::io::Write::write_all(&mut w, &[i]).unwrap();
                });
                let mut buf = [0u8; 1];
                assert_eq!(read(&a, &mut buf).await.unwrap(), 1, "{kind}");
                assert_eq!(buf[0], i);
                writer.join().unwrap();
            });
            drop(rt);
        }
        assert!(
            util::eventually(Duration::from_secs(5), || util::open_fds() <= before),
            "{kind}: the dropped runtimes' descriptors leaked: {} before, {} after",
            before,
            util::open_fds()
        );
        drop(a);
    }
}
