//! A signal storm: another thread sends 10 000 SIGUSR1 while the loop does pipe and socket
//! I/O and jobs. Every handler call happens on the loop's thread and no operation fails (no
//! EINTR). One test per file: it installs a process-wide handler.
#![cfg(unix)]
mod util;

use lwt::unix::{
    disable_signal_handler, on_signal, pipe, read, run_job, socketpair, write, AsyncMethod,
    SocketDomain, SocketType,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SIGNALS: usize = 10_000;

#[test]
fn signal_storm() {
    util::for_each_backend(|kind| async move {
        let loop_thread = std::thread::current().id();
        let hits = Arc::new(AtomicUsize::new(0));
        let off_loop = Arc::new(AtomicUsize::new(0));
        let (h, o) = (hits.clone(), off_loop.clone());
        let id = on_signal(libc::SIGUSR1, move |s| {
            assert_eq!(s, libc::SIGUSR1);
            h.fetch_add(1, Ordering::SeqCst);
            if std::thread::current().id() != loop_thread {
                o.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();

        // SAFETY: pthread_self has no preconditions.
        let loop_pthread = unsafe { libc::pthread_self() } as usize;
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let sender = std::thread::spawn(move || {
            for i in 0..SIGNALS {
                // SAFETY: the loop thread is alive until `done` (it joins this thread only after
                // the storm), and SIGUSR1 has a handler. Half go to the loop thread itself (it
                // is interrupted in epoll_wait/poll), half to the process.
                let r = unsafe {
                    if i % 2 == 0 {
                        libc::pthread_kill(loop_pthread as libc::pthread_t, libc::SIGUSR1)
                    } else {
                        libc::kill(libc::getpid(), libc::SIGUSR1)
                    }
                };
                assert_eq!(r, 0);
                if i % 64 == 0 {
                    std::thread::yield_now();
                }
            }
            d.store(true, Ordering::SeqCst);
        });

        // Meanwhile: pipe and socket round trips and jobs, until the storm is over.
        let (pr, pw) = pipe().unwrap();
        let (sa, sb) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let mut rounds = 0usize;
        let mut buf = [0u8; 64];
        while !done.load(Ordering::SeqCst) || rounds < 20 {
            let msg = format!("round {rounds}");
            let reader = async {
                let n = read(&pr, &mut buf).await.unwrap();
                assert_eq!(&buf[..n], msg.as_bytes());
            };
            let writer = async {
                lwt::yield_now().await;
                assert_eq!(write(&pw, msg.as_bytes()).await.unwrap(), msg.len());
            };
            lwt::join2(reader, writer).await;
            assert_eq!(write(&sa, b"ping").await.unwrap(), 4);
            let n = read(&sb, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"ping");
            let v = run_job(Some(AsyncMethod::Detach), move || {
                std::thread::sleep(Duration::from_micros(200));
                rounds * 2
            })
            .await
            .unwrap();
            assert_eq!(v, rounds * 2);
            lwt::sleep(Duration::from_micros(100)).await;
            rounds += 1;
        }
        sender.join().unwrap();
        // Let the last signals arrive before the handler goes (else SIGUSR1's default action,
        // termination, would apply to a late one).
        let mut last = usize::MAX;
        while hits.load(Ordering::SeqCst) != last {
            last = hits.load(Ordering::SeqCst);
            lwt::sleep(Duration::from_millis(50)).await;
        }
        disable_signal_handler(id);
        let n = hits.load(Ordering::SeqCst);
        assert!((1..=SIGNALS).contains(&n), "{kind}: {n} handler calls");
        assert_eq!(
            off_loop.load(Ordering::SeqCst),
            0,
            "{kind}: a handler ran off the loop thread"
        );
        eprintln!(
            "{kind}: {SIGNALS} signals sent, {n} handler calls (coalesced), {rounds} I/O rounds"
        );
    });
}
