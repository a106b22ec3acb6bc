//! Many runtimes, created, used (tasks parked on timers, handles, jobs, channels and I/O;
//! timers, I/O and jobs completed) and dropped, some on other threads: descriptors and threads
//! end as they started. Alone in its binary, so the thread count is exact.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::parked::park_tasks;

/// Waits until the job pool has no worker left (their keep-alive is shortened meanwhile).
fn drain_pool() {
    let keep = keep_alive();
    set_keep_alive(Duration::from_millis(20));
    let ok = util::eventually(Duration::from_secs(10), || {
        thread_count() == 0 && lwt::core::switch::calls_handed_off() == 0
    });
    set_keep_alive(keep);
    assert!(ok, "{} job workers still alive", thread_count());
}

#[test]
fn a_thousand_runtimes_used_and_dropped_leave_descriptors_and_threads_as_they_were() {
    let _d = util::deadline(util::test_name(), Duration::from_secs(300));
    // Warm up what lives for the process (the switch watchdog, the dead descriptor, the
    // deadline thread), then measure.
    for kind in util::backends() {
        util::runtime(kind).block_on(async {
            run_job(Some(AsyncMethod::Detach), || ()).await.unwrap();
            run_job(Some(AsyncMethod::Switch), || {
                std::thread::sleep(Duration::from_millis(2))
            })
            .await
            .unwrap();
        });
    }
    drain_pool();
    let fds = util::open_fds();
    let threads = util::threads();
    let outside = Arc::new(Mutex::new(None));
    let kinds = util::backends();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut expected = 0;
    let mut elsewhere = Vec::new();
    for i in 0..1000 {
        let kind = kinds[i % kinds.len()];
        let rt = util::runtime(kind);
        expected += rt.block_on(async {
            let n = park_tasks(&dropped, &outside).await;
            // Use it: a timer, I/O that had to wait, a job.
            let (a, mut b) = UnixStream::pair().unwrap();
            let a = of_unix_file_descr(a.into(), None, true).unwrap();
            let w = lwt::spawn(async move {
                lwt::sleep(Duration::from_micros(100)).await.unwrap();
                b.write_all(b"k").unwrap();
            });
            let mut buf = [0u8; 1];
            assert_eq!(read(&a, &mut buf).await.unwrap(), 1);
            w.await.unwrap();
            assert_eq!(run_job(Some(AsyncMethod::Detach), || 3).await.unwrap(), 3);
            n
        });
        if i % 4 == 0 {
            // Some are dropped on other threads.
            elsewhere.push(std::thread::spawn(move || drop(rt)));
        } else {
            drop(rt);
        }
    }
    for t in elsewhere {
        t.join().unwrap();
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        expected,
        "tasks outlived their runtime"
    );
    assert!(
        util::eventually(Duration::from_secs(10), || util::open_fds() <= fds),
        "descriptors: {fds} before, {} after",
        util::open_fds()
    );
    drain_pool();
    assert!(
        util::eventually(Duration::from_secs(5), || util::threads() <= threads),
        "threads: {threads} before, {} after",
        util::threads()
    );
}
