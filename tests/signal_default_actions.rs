//! When lwt's action is the signal's current action but lwt has no handler left (another
//! library installed its action over lwt's, lwt's last handler went, and the library then put
//! lwt's action back), a signal gets the default action it would have had without lwt: a
//! signal ignored by default (`SIGWINCH`, `SIGCHLD`, `SIGURG`, `SIGCONT`) is ignored, a stop
//! signal (`SIGTSTP`, `SIGTTIN`, `SIGTTOU`) stops the process, and any other (`SIGUSR1`)
//! terminates it, by that signal. An action the library left installed is called instead,
//! and lwt does nothing more. A signal ignored before lwt handled it reaches lwt's handler,
//! and the earlier "ignore" is not called as a function.
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
        assert_eq!(
            run_case(sig, Then::RestoreLwts),
            Outcome::Stopped(libc::SIGSTOP, 0),
            "signal {sig} did not stop the process"
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
