//! `on_signal` and friends: handlers run in the loop, several per signal, chained with a
//! handler installed before lwt, reinstallable, and the last one's removal restores the
//! default action. One test per file: it installs process-wide signal handlers and forks.
#![cfg(unix)]
mod util;

use lwt::unix::{
    disable_signal_handler, fork, on_signal, on_signal_full, reinstall_signal_handler,
    signal_count, waitpid, ProcessStatus, WaitFlags,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// Sends `sig` to the whole process from another thread.
fn send_from_thread(sig: i32) {
    std::thread::spawn(move || {
        // SAFETY: sending a signal to this process, whose handler is installed.
        assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
    })
    .join()
    .unwrap();
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if cond() {
            return;
        }
        lwt::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

static RAW_HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn raw_handler(_: libc::c_int) {
    RAW_HITS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn handlers_run_in_the_loop() {
    // A handler another library installed before lwt (plain sigaction), for SIGHUP.
    // SAFETY: the handler only touches an atomic; the sigaction struct is fully initialized.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = raw_handler as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGHUP, &act, std::ptr::null_mut()), 0);
    }
    util::for_each_backend(|kind| async move {
        // Bad signal numbers are clear errors and change nothing.
        let before = signal_count();
        for bad in [0, -1, 65, 1000, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let e = on_signal(bad, |_| {}).unwrap_err();
            assert!(
                matches!(e, lwt::Error::InvalidArgument { .. }),
                "{bad}: {e}"
            );
        }
        assert!(reinstall_signal_handler(0).is_err());
        assert_eq!(signal_count(), before);

        // Two handlers of one signal both run, on the loop's thread.
        let loop_thread = std::thread::current().id();
        let seen: Arc<Mutex<Vec<(u8, ThreadId, i32)>>> = Arc::default();
        let (s1, s2) = (seen.clone(), seen.clone());
        let a = on_signal(libc::SIGUSR2, move |s| {
            s1.lock().unwrap().push((1, std::thread::current().id(), s))
        })
        .unwrap();
        let b = on_signal(libc::SIGUSR2, move |s| {
            s2.lock().unwrap().push((2, std::thread::current().id(), s))
        })
        .unwrap();
        assert_eq!(signal_count(), before + 2);
        send_from_thread(libc::SIGUSR2);
        until("both handlers", || seen.lock().unwrap().len() >= 2).await;
        {
            let v = seen.lock().unwrap();
            assert!(
                v.iter().any(|e| e.0 == 1) && v.iter().any(|e| e.0 == 2),
                "{kind}: {v:?}"
            );
            assert!(
                v.iter().all(|e| e.1 == loop_thread && e.2 == libc::SIGUSR2),
                "{kind}: {v:?}"
            );
        }
        // After disabling one, only the other runs.
        disable_signal_handler(a);
        disable_signal_handler(a); // twice: no effect
        assert_eq!(signal_count(), before + 1);
        seen.lock().unwrap().clear();
        send_from_thread(libc::SIGUSR2);
        until("handler b", || !seen.lock().unwrap().is_empty()).await;
        lwt::sleep(Duration::from_millis(20)).await;
        assert!(seen.lock().unwrap().iter().all(|e| e.0 == 2));

        // Another library "steals" the signal; reinstall_signal_handler takes it back.
        // SAFETY: ignoring a signal changes only its disposition.
        unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
        reinstall_signal_handler(libc::SIGUSR2).unwrap();
        seen.lock().unwrap().clear();
        send_from_thread(libc::SIGUSR2);
        until("handler b after reinstall", || {
            !seen.lock().unwrap().is_empty()
        })
        .await;
        disable_signal_handler(b);

        // on_signal_full: the handler disables itself after its first call.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        on_signal_full(libc::SIGUSR2, move |id, _| {
            c.fetch_add(1, Ordering::SeqCst);
            disable_signal_handler(id);
        })
        .unwrap();
        // Keep one handler so that SIGUSR2 stays handled after the self-disabling one.
        let keep = on_signal(libc::SIGUSR2, |_| {}).unwrap();
        send_from_thread(libc::SIGUSR2);
        until("self-disabling handler", || {
            calls.load(Ordering::SeqCst) == 1
        })
        .await;
        send_from_thread(libc::SIGUSR2);
        lwt::sleep(Duration::from_millis(20)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        disable_signal_handler(keep);
        assert_eq!(signal_count(), before);

        // Chained with the handler that was there before lwt: both run.
        let hup = Arc::new(AtomicUsize::new(0));
        let h = hup.clone();
        let id = on_signal(libc::SIGHUP, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let raw_before = RAW_HITS.load(Ordering::SeqCst);
        send_from_thread(libc::SIGHUP);
        until("SIGHUP in lwt", || hup.load(Ordering::SeqCst) >= 1).await;
        assert!(
            RAW_HITS.load(Ordering::SeqCst) > raw_before,
            "the earlier handler was not chained"
        );
        disable_signal_handler(id);
        // With no lwt handler left, the earlier handler still runs and lwt does nothing.
        let raw_before = RAW_HITS.load(Ordering::SeqCst);
        send_from_thread(libc::SIGHUP);
        until("SIGHUP in the earlier handler", || {
            RAW_HITS.load(Ordering::SeqCst) > raw_before
        })
        .await;

        // In a forked child: a handler works, and removing the last one restores the
        // default action (SIGTERM then kills the child).
        let pid = fork().unwrap();
        if pid == 0 {
            let hits = Arc::new(AtomicUsize::new(0));
            let h = hits.clone();
            let id = on_signal(libc::SIGTERM, move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            // SAFETY: raising a handled signal in this (single-threaded) child.
            unsafe { libc::raise(libc::SIGTERM) };
            let mut ok = false;
            for _ in 0..2000 {
                if hits.load(Ordering::SeqCst) > 0 {
                    ok = true;
                    break;
                }
                lwt::sleep(Duration::from_millis(1)).await;
            }
            if !ok {
                // The handler never ran: say so (killed by SIGTERM would hide it).
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(2) };
            }
            disable_signal_handler(id);
            // SAFETY: as above; the default action now ends the child.
            unsafe {
                libc::raise(libc::SIGTERM);
                libc::_exit(1);
            }
        }
        assert_eq!(
            waitpid(WaitFlags::empty(), pid).await.unwrap(),
            (pid, ProcessStatus::Signaled(libc::SIGTERM)),
            "{kind} (exited 2: the handler never ran in the child; 1: the default action was \
             not restored)"
        );
    });
}
