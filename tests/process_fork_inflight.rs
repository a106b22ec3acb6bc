//! `fork` with 1 000 operations in flight in the parent (500 socket reads waiting for
//! readiness, registered with the backend, and 500 file reads running as jobs): the child does
//! I/O on a loop of its own (on io_uring, its own ring) and never touches the parent's, and
//! every one of the parent's operations completes with its data. One test per file: it forks
//! and reaps its child, so nothing else may run beside it in this process.
//!
//! The file jobs are held on a gate until the child is gone: each is in flight (taken by a
//! worker, or queued for one) at the fork, and none completes *during* it (a completion pushes
//! into the runtime's queues from a worker thread, and a push cut in half by the fork would
//! stay half-written in the child).
#![cfg(unix)]
mod util;

use lwt::unix::{fork, read, run_job, socketpair, waitpid, write, AsyncMethod, FileDescr};
use lwt::unix::{ProcessStatus, SocketDomain, SocketType, WaitFlags};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const SOCKETS: usize = 500;
const FILES: usize = 500;
const BLOCK: usize = 512;

/// Ends the forked child at once, without the parent's destructors or at-exit handlers.
fn child_exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

/// The child's part: a socket pair of its own, a read that must wait for readiness, then the
/// write that satisfies it; the exit code tells the parent.
async fn child_io() -> i32 {
    let Ok((a, b)) = socketpair(SocketDomain::Unix, SocketType::Stream, 0) else {
        return 2;
    };
    let reader = lwt::spawn(async move {
        let mut buf = [0u8; 5];
        read(&a, &mut buf).await.map(|n| buf[..n].to_vec())
    });
    if lwt::sleep(Duration::from_millis(5)).await.is_err() {
        return 3;
    }
    if write(&b, b"child").await.ok() != Some(5) {
        return 4;
    }
    match lwt::with_timeout(Duration::from_secs(10), reader).await {
        Ok(Ok(v)) if v == b"child" => 0,
        Err(lwt::Error::Timeout) => 5,
        _ => 6,
    }
}

#[test]
fn fork_with_a_thousand_operations_in_flight_loses_none_of_the_parents() {
    let path = std::env::temp_dir().join(format!("lwt-fork-inflight-{}", std::process::id()));
    let data: Vec<u8> = (0..FILES * BLOCK)
        .map(|i| (i / BLOCK % 251) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    util::for_each_backend(|kind| {
        let file = file.clone();
        async move {
            let started = Arc::new(AtomicUsize::new(0));
            let mut peers: Vec<FileDescr> = Vec::with_capacity(SOCKETS);
            let mut readers = Vec::with_capacity(SOCKETS);
            for i in 0..SOCKETS {
                let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
                peers.push(b);
                let started = started.clone();
                readers.push(lwt::spawn(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let mut buf = [0u8; 1];
                    let n = read(&a, &mut buf).await.unwrap();
                    assert_eq!((n, buf[0]), (1, i as u8), "socket {i} on {kind}");
                }));
            }
            let gate = Arc::new((Mutex::new(false), Condvar::new()));
            let mut jobs = Vec::with_capacity(FILES);
            for i in 0..FILES {
                let file = file.clone();
                let gate = gate.clone();
                jobs.push(lwt::spawn(async move {
                    run_job(Some(AsyncMethod::Detach), move || {
                        let (open, cv) = &*gate;
                        let mut open = open.lock().unwrap();
                        while !*open {
                            open = cv.wait(open).unwrap();
                        }
                        drop(open);
                        let mut buf = [0u8; BLOCK];
                        file.read_exact_at(&mut buf, (i * BLOCK) as u64)
                            .map(|()| buf)
                    })
                    .await
                }));
            }
            // Every reader has tried its read (and found nothing): its wait is registered.
            while started.load(Ordering::SeqCst) < SOCKETS {
                lwt::yield_now().await;
            }
            for _ in 0..4 {
                lwt::yield_now().await;
            }
            let pid = fork().unwrap();
            if pid == 0 {
                child_exit(child_io().await);
            }
            // The child is gone before any reader's data is written, so none of its copies of
            // the readers can take the parent's bytes.
            let st = waitpid(WaitFlags::empty(), pid).await.unwrap();
            assert_eq!(st, (pid, ProcessStatus::Exited(0)), "the child on {kind}");
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
            for (i, b) in peers.iter().enumerate() {
                assert_eq!(write(b, &[i as u8]).await.unwrap(), 1);
            }
            for r in readers {
                r.await.unwrap();
            }
            for (i, j) in jobs.into_iter().enumerate() {
                let block = j.await.unwrap().unwrap().unwrap();
                assert!(
                    block.iter().all(|&x| x == (i % 251) as u8),
                    "file block {i} on {kind}"
                );
            }
        }
    });
    std::fs::remove_file(&path).unwrap();
}
