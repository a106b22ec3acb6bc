//! When lwt's action is the signal's current action but lwt has no handler left (another
//! library installed its action over lwt's, lwt's last handler went, and the library then put
//! lwt's action back), a signal gets the default action it would have had without lwt: a
//! signal ignored by default (`SIGWINCH`, `SIGCHLD`, `SIGURG`, `SIGCONT`) is ignored, a stop
//! signal (`SIGTSTP`, `SIGTTIN`, `SIGTTOU`) stops the process, and any other (`SIGUSR1`)
//! terminates it, by that signal. An action the library left installed is called instead,
//! and lwt does nothing more. A signal ignored before lwt handled it reaches lwt's handler,
//! and the earlier "ignore" is not called as a function. lwt's action itself has the flags
//! it documents, keeps the interrupted code's `errno`, and gives an earlier `SA_SIGINFO`
//! action its `siginfo_t`.
//!
//! Each case runs in a process forked for it (a wrong disposition kills or stops it), from a
//! child test process of its own.
#![cfg(unix)]
mod util;

use lwt::unix::{disable_signal_handler, on_signal};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the forked process does after lwt's action is back with no lwt handler.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// The library put lwt's action back.
    RestoreLwts,
    /// The library keeps its own action (which counts).
    KeepOwn,
}

/// In the forked process: `sig` was ignored (`SIG_IGN`) before lwt handled it; lwt's handler
/// gets the signal, and the ignored action is not "called". Exits 0 if so.
fn forked_ignored_before(sig: i32) -> ! {
    let code = util::runtime(lwt::BackendKind::Epoll).block_on(async {
        // SAFETY: sets `sig`'s action to "ignore" with a valid, zeroed struct.
        unsafe {
            let mut ign: libc::sigaction = std::mem::zeroed();
            ign.sa_sigaction = libc::SIG_IGN;
            if libc::sigaction(sig, &ign, std::ptr::null_mut()) != 0 {
                return 1;
            }
        }
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let Ok(id) = on_signal(sig, move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        }) else {
            return 2;
        };
        // SAFETY: sends `sig` to this thread.
        unsafe { libc::raise(sig) };
        for _ in 0..5000 {
            if hits.load(Ordering::SeqCst) == 1 {
                disable_signal_handler(id);
                return 0;
            }
            lwt::sleep(Duration::from_millis(1)).await;
        }
        3
    });
    // SAFETY: ends the forked process at once.
    unsafe { libc::_exit(code) }
}

static OWN_HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn own_action(_: libc::c_int) {
    OWN_HITS.fetch_add(1, Ordering::SeqCst);
}

/// In the forked process: lwt handles `sig`, another library installs its action over lwt's,
/// lwt's handler goes, then `then`; finally the process sends itself `sig`. Exits 0 if it is
/// still running afterwards (1..: a step failed).
fn forked_case(sig: i32, then: Then) -> ! {
    let code = util::runtime(lwt::BackendKind::Epoll).block_on(async {
        let Ok(id) = on_signal(sig, |_| {}) else {
            return 1;
        };
        // SAFETY: queries and sets `sig`'s action with valid, zeroed structs.
        let lwts = unsafe {
            let mut own: libc::sigaction = std::mem::zeroed();
            own.sa_sigaction = own_action as *const () as usize;
            let mut lwts: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &own, &mut lwts) != 0 {
                return 2;
            }
            lwts
        };
        disable_signal_handler(id);
        if let Then::RestoreLwts = then {
            // SAFETY: puts back the action read above.
            if unsafe { libc::sigaction(sig, &lwts, std::ptr::null_mut()) } != 0 {
                return 3;
            }
        }
        // SAFETY: sends `sig` to this thread.
        unsafe { libc::raise(sig) };
        // A stopped process continues here once its parent sends SIGCONT.
        lwt::sleep(Duration::from_millis(20)).await;
        match then {
            Then::KeepOwn if OWN_HITS.load(Ordering::SeqCst) != 1 => 4,
            _ => 0,
        }
    });
    // SAFETY: ends the forked process at once.
    unsafe { libc::_exit(code) }
}

/// The signal number an earlier `SA_SIGINFO` action found in its `siginfo_t` (-1: none yet,
/// -2: a null `siginfo_t`).
static INFO_SIGNO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn info_action(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let signo = if info.is_null() {
        -2
    } else {
        // SAFETY: the kernel (or lwt's action, chaining) passes a valid `siginfo_t`.
        unsafe { (*info).si_signo }
    };
    INFO_SIGNO.store(signo, Ordering::SeqCst);
}

/// The calling thread's `errno` slot.
fn errno_slot() -> *mut libc::c_int {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: returns this thread's errno slot; no preconditions.
    unsafe {
        libc::__errno_location()
    }
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly"
    ))]
    // SAFETY: as above.
    unsafe {
        libc::__error()
    }
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    // SAFETY: as above.
    unsafe {
        libc::__errno()
    }
}

/// In the forked process: lwt's action, installed over an earlier `SA_SIGINFO` action, runs
/// with the flags it documents (`SA_SIGINFO`, `SA_RESTART`), leaves the interrupted code's
/// `errno` as it was, and calls the earlier action with the `siginfo_t` the kernel gave it.
/// Exits 0 if so.
fn forked_lwt_action(sig: i32) -> ! {
    let code = util::runtime(lwt::BackendKind::Epoll).block_on(async {
        // SAFETY: installs `info_action` (it only stores to an atomic) with a valid struct.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = info_action as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO;
            if libc::sigaction(sig, &act, std::ptr::null_mut()) != 0 {
                return 1;
            }
        }
        let Ok(id) = on_signal(sig, |_| {}) else {
            return 2;
        };
        // SAFETY: queries the action into a valid, zeroed struct.
        let flags = unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut cur);
            cur.sa_flags
        };
        let want = libc::SA_SIGINFO | libc::SA_RESTART;
        if flags & want != want {
            return 3;
        }
        // SAFETY: this thread's errno slot, written and read on this thread.
        unsafe { *errno_slot() = libc::EILSEQ };
        // SAFETY: sends `sig` to this thread; its action runs before `raise` returns.
        unsafe { libc::raise(sig) };
        // SAFETY: as above.
        if unsafe { *errno_slot() } != libc::EILSEQ {
            return 4;
        }
        if INFO_SIGNO.load(Ordering::SeqCst) != sig {
            return 5;
        }
        disable_signal_handler(id);
        0
    });
    // SAFETY: ends the forked process at once.
    unsafe { libc::_exit(code) }
}

/// How a forked case ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Exited(i32),
    Killed(i32),
    /// Stopped by this signal (and then continued, and exited with the code).
    Stopped(i32, i32),
}

/// Runs `case` in a forked process and says how it ended.
fn run_case(sig: i32, then: Then) -> Outcome {
    run_forked(&format!("signal {sig}, {then:?}"), || {
        forked_case(sig, then)
    })
}

fn run_forked(what: &str, case: impl FnOnce()) -> Outcome {
    // SAFETY: the forked process runs only `case`, which ends with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        case();
        // SAFETY: ends the forked process at once (`case` does not return).
        unsafe { libc::_exit(100) };
    }
    assert!(pid > 0, "fork failed");
    let start = Instant::now();
    let mut stopped = None;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child without blocking, into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::WUNTRACED) };
        if r == pid {
            if libc::WIFSTOPPED(status) {
                stopped = Some(libc::WSTOPSIG(status));
                // SAFETY: continues our own stopped child.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                continue;
            }
            if libc::WIFSIGNALED(status) {
                return Outcome::Killed(libc::WTERMSIG(status));
            }
            let code = libc::WEXITSTATUS(status);
            return match stopped {
                Some(s) => Outcome::Stopped(s, code),
                None => Outcome::Exited(code),
            };
        }
        if start.elapsed() > Duration::from_secs(20) {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what}: the forked process hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_default_actions() {
    if !util::in_child() {
        return;
    }
    for sig in [libc::SIGWINCH, libc::SIGCHLD, libc::SIGURG, libc::SIGCONT] {
        assert_eq!(
            run_case(sig, Then::RestoreLwts),
            Outcome::Exited(0),
            "signal {sig}, ignored by default, ended the process"
        );
    }
    for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        // Stopped by SIGSTOP (raised by lwt's action) or by the signal itself: a stop either
        // way.
        let got = run_case(sig, Then::RestoreLwts);
        assert!(
            got == Outcome::Stopped(libc::SIGSTOP, 0) || got == Outcome::Stopped(sig, 0),
            "signal {sig} did not stop the process: {got:?}"
        );
    }
    assert_eq!(
        run_case(libc::SIGUSR1, Then::RestoreLwts),
        Outcome::Killed(libc::SIGUSR1),
        "SIGUSR1 did not terminate the process"
    );
    // The library's own action stays: it is called, and lwt does nothing more (the process
    // lives, neither stopped nor killed).
    for sig in [libc::SIGUSR1, libc::SIGTSTP] {
        assert_eq!(
            run_case(sig, Then::KeepOwn),
            Outcome::Exited(0),
            "signal {sig}: the other library's action was not the one that ran"
        );
    }
    // A signal ignored before lwt: lwt's handler gets it, and the process lives.
    assert_eq!(
        run_forked("SIGUSR2 ignored before", || forked_ignored_before(
            libc::SIGUSR2
        )),
        Outcome::Exited(0),
        "a signal ignored before lwt handled it (1..3: a step failed)"
    );
    assert_eq!(
        run_forked("lwt's action over a SA_SIGINFO one", || forked_lwt_action(
            libc::SIGUSR2
        )),
        Outcome::Exited(0),
        "lwt's action (1, 2: setup failed; 3: installed without SA_SIGINFO | SA_RESTART; 4: it \
         changed errno; 5: the earlier SA_SIGINFO action did not get the siginfo_t)"
    );
    eprintln!("default actions: ok");
}

#[test]
fn a_signal_lwt_no_longer_handles_gets_its_default_action() {
    let (status, text) = util::run_child("child_default_actions", &[], Duration::from_secs(120));
    assert!(
        status.success() && text.contains("1 passed"),
        "{status:?}: {text}"
    );
}
