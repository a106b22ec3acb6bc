//! A kernel that refuses a backend (a seccomp filter returning `EPERM`, as Docker's default
//! profile does for `io_uring_setup`): the automatic choice falls back and says so with a
//! `tracing` warning, an explicit choice fails with an error naming the cause and the backends
//! this system has, and `BackendKind::available()` leaves the refused one out. A refused
//! `epoll_pwait2` (Linux before 5.11, or a filter) leaves epoll its sub-millisecond timeouts.
//!
//! Each case runs in a child process (a seccomp filter cannot be removed, and the io_uring
//! probe is made once per process).
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod util;

use lwt::{BackendKind, Builder};
use std::time::Duration;

/// Which system calls the child refuses, and what the child checks (`LWT_TEST_REFUSE`).
const REFUSE: &str = "LWT_TEST_REFUSE";

#[test]
fn a_refused_backend_falls_back_when_automatic_and_fails_clearly_when_asked_for() {
    for case in [
        "io_uring-auto",
        "io_uring-explicit",
        "epoll+io_uring-auto",
        "epoll_pwait2",
    ] {
        // An empty LWT_BACKEND means "unset" (the CI may run this binary with one set).
        let backend = if case.ends_with("explicit") {
            "io_uring"
        } else {
            ""
        };
        let (ok, text) = util::run_child_test(
            "refused_child",
            &[(REFUSE, case), ("LWT_BACKEND", backend)],
            Duration::from_secs(60),
        );
        assert!(ok, "case {case}: {text}");
    }
}

#[test]
#[ignore = "run in a child process by the test above"]
fn refused_child() {
    if !util::in_child() {
        return;
    }
    let case = std::env::var(REFUSE).unwrap();
    if case == "epoll_pwait2" {
        return epoll_without_pwait2();
    }
    let mut refused = vec![libc::SYS_io_uring_setup];
    if case.starts_with("epoll") {
        refused.push(libc::SYS_epoll_create1);
    }
    refuse_syscalls(&refused);
    assert!(
        !BackendKind::available().contains(&BackendKind::IoUring),
        "{:?}",
        BackendKind::available()
    );
    assert!(!BackendKind::IoUring.is_available());
    let (result, warnings) = util::capture_warnings(|| Builder::from_env().build());
    match case.as_str() {
        "io_uring-explicit" => {
            let e = result
                .expect_err("an explicit io_uring must fail")
                .to_string();
            for word in ["io_uring", "EPERM", "seccomp", "epoll", "poll"] {
                assert!(e.contains(word), "{word:?} missing from: {e}");
            }
            assert!(
                warnings.is_empty(),
                "no fallback when asked for: {warnings:?}"
            );
        }
        "io_uring-auto" => {
            let rt = result.expect("the automatic choice falls back");
            assert_eq!(rt.backend_name(), "epoll");
            assert_eq!(rt.block_on(async { 1 + 1 }), 2);
            let tried_first = BackendKind::ALL
                .iter()
                .position(|&k| k == BackendKind::IoUring)
                < BackendKind::ALL
                    .iter()
                    .position(|&k| k == BackendKind::Epoll);
            if tried_first {
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                let w = &warnings[0];
                assert!(w.contains("io_uring") && w.contains("EPERM"), "{w}");
                assert!(w.contains("using epoll"), "{w}");
            } else {
                // epoll is the first choice: io_uring is never tried, nothing to say.
                assert!(warnings.is_empty(), "{warnings:?}");
            }
        }
        "epoll+io_uring-auto" => {
            // Both refused: the next one that works (poll), one warning per refused backend,
            // each with its cause, at every runtime creation.
            for _ in 0..2 {
                let (result, warnings) = util::capture_warnings(|| Builder::from_env().build());
                let rt = result.expect("the automatic choice falls back to poll");
                assert_eq!(rt.backend_name(), "poll");
                assert_eq!(warnings.len(), 2, "{warnings:?}");
                for name in ["epoll", "io_uring"] {
                    assert!(
                        warnings
                            .iter()
                            .any(|w| w.contains(&format!("the {name} backend"))
                                && w.contains("EPERM")
                                && w.contains("using poll")),
                        "{name}: {warnings:?}"
                    );
                }
            }
        }
        other => panic!("unknown case {other}"),
    }
}

/// A kernel (or a seccomp profile) without `epoll_pwait2`, whose timeouts are whole
/// milliseconds: the epoll backend sees that and times its waits with a timerfd instead, so a
/// sleep shorter than a millisecond still takes about its own length.
fn epoll_without_pwait2() {
    refuse_syscalls(&[libc::SYS_epoll_pwait2]);
    let rt = Builder::new()
        .backend(BackendKind::Epoll)
        .build()
        .expect("epoll without epoll_pwait2");
    rt.block_on(async {
        let start = std::time::Instant::now();
        for _ in 0..100 {
            lwt::sleep(Duration::from_micros(50)).await;
        }
        let took = start.elapsed();
        // Rounded up to the millisecond, 100 sleeps take over 100 ms.
        assert!(
            took < Duration::from_millis(80),
            "100 sleeps of 50 us took {took:?}"
        );
        // And the loop still waits for I/O.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = lwt::unix::of_unix_file_descr(a.into(), None, true).unwrap();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 1];
            lwt::unix::read(&a, &mut buf)
                .await
                .map(|n| buf[..n].to_vec())
        });
        lwt::sleep(Duration::from_millis(2)).await;
        std::io::Write::write_all(&mut &b, b"y").unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), b"y");
    });
}

/// Installs a seccomp filter on this thread (and the threads it starts) that makes each of
/// `calls` fail with `EPERM`.
fn refuse_syscalls(calls: &[libc::c_long]) {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
    const ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let n = calls.len() as u8;
    // seccomp_data: nr at offset 0, arch at offset 4.
    let mut prog = vec![op(LD_W_ABS, 0, 0, 4), op(JEQ_K, 0, n + 1, ARCH)];
    prog.push(op(LD_W_ABS, 0, 0, 0));
    for (i, &nr) in calls.iter().enumerate() {
        prog.push(op(JEQ_K, n - i as u8, 0, nr as u32));
    }
    prog.push(op(RET_K, 0, 0, ALLOW));
    prog.push(op(RET_K, 0, 0, ERRNO | libc::EPERM as u32));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; PR_SET_SECCOMP reads the program
    // `fprog` points to during the call only, and `prog` outlives it.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}
