//! `fork` gives the child a loop of its own, and `wait`, `waitpid` (pid, 0, -1) and `wait4`
//! all report a child that `exec`s and exits with 42. One test per file: it forks and reaps
//! any child, so nothing else may run beside it in this process.
#![cfg(unix)]
mod util;

use lwt::unix::{
    fork, pipe, read, run_job, wait, wait4, wait_count, waitpid, write, AsyncMethod, FileDescr,
    ProcessStatus, WaitFlags,
};
use lwt::Error;
use std::ffi::CString;
use std::time::Duration;

/// Ends a forked child at once, without the parent's destructors or at-exit handlers.
fn child_exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

/// Forks a child that `exec`s `/bin/sh -c 'exit 42'`.
fn spawn_exit_42() -> i32 {
    let sh = CString::new("/bin/sh").unwrap();
    let args = [
        CString::new("sh").unwrap(),
        CString::new("-c").unwrap(),
        CString::new("exit 42").unwrap(),
    ];
    let pid = fork().unwrap();
    if pid == 0 {
        let argv = [
            args[0].as_ptr(),
            args[1].as_ptr(),
            args[2].as_ptr(),
            std::ptr::null(),
        ];
        // SAFETY: `sh` and `argv` are NUL-terminated and outlive the call; on failure the
        // child exits at once.
        unsafe { libc::execv(sh.as_ptr(), argv.as_ptr()) };
        child_exit(99);
    }
    assert!(pid > 0);
    pid
}

/// A pipe round trip where the reader has to wait for readiness.
async fn round_trip(r: &FileDescr, w: &FileDescr, msg: &[u8]) -> lwt::Result<Vec<u8>> {
    let mut buf = vec![0u8; msg.len()];
    let res = lwt::join2(
        async {
            let n = read(r, &mut buf).await?;
            Ok::<_, Error>(n)
        },
        async {
            lwt::sleep(Duration::from_millis(5)).await;
            write(w, msg).await
        },
    )
    .await;
    let n = res.0?;
    res.1?;
    buf.truncate(n);
    Ok(buf)
}

/// The child's part: its own loop does I/O on a pipe made before the fork and on a new one;
/// a job pending at the fork is rejected as canceled in the child. The exit code tells the parent.
async fn child_body(
    old_r: &FileDescr,
    old_w: &FileDescr,
    job: lwt::JoinHandle<lwt::Result<u32>>,
) -> i32 {
    match round_trip(old_r, old_w, b"old pipe").await {
        Ok(v) if v == b"old pipe" => {}
        _ => return 1,
    }
    let (r, w) = match pipe() {
        Ok(p) => p,
        Err(_) => return 2,
    };
    match round_trip(&r, &w, b"new pipe").await {
        Ok(v) if v == b"new pipe" => {}
        _ => return 3,
    }
    // A timer and a spawned task work too.
    let t = lwt::spawn(async { 6 * 7 });
    if t.await.ok() != Some(42) {
        return 4;
    }
    // The job's worker thread does not exist here: the job must not complete with its value.
    let r = lwt::unix::with_timeout(Duration::from_millis(300), async {
        match job.await {
            Ok(inner) => inner,
            Err(e) => Err(e),
        }
    })
    .await;
    match r {
        Err(Error::Canceled) => 0,
        // Still pending after 300 ms: the job pool's fork hook did not reject it.
        Err(Error::Timeout) => 10,
        _ => 5,
    }
}

/// The device and inode of the file open as `fd`.
fn file_id(fd: i32) -> (u64, u64) {
    // SAFETY: fstat writes into a valid, zeroed struct.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0);
        st
    };
    (st.st_dev as u64, st.st_ino as u64)
}

#[test]
fn fork_wait_and_child_loop() {
    // Forked outside any runtime, the child starts a loop of its own with lwt::run. Nothing
    // in this process has used signals yet: the fork must leave the child's standard
    // descriptors alone (there is no signal self-pipe to renew).
    let stdout_before = file_id(1);
    for kind in util::backends() {
        let pid = fork().unwrap();
        if pid == 0 {
            if file_id(1) != stdout_before {
                child_exit(3);
            }
            let code = util::runtime(kind).block_on(async {
                let (r, w) = match pipe() {
                    Ok(p) => p,
                    Err(_) => return 2,
                };
                match round_trip(&r, &w, b"child loop").await {
                    Ok(v) if v == b"child loop" => 0,
                    _ => 1,
                }
            });
            child_exit(code);
        }
        let st = util::runtime(kind)
            .block_on(waitpid(WaitFlags::empty(), pid))
            .unwrap();
        assert_eq!(
            st,
            (pid, ProcessStatus::Exited(0)),
            "{kind} (3: the fork replaced the child's standard output)"
        );
    }

    util::for_each_backend(|kind| async move {
        // Two waits at once, for children that exit at different times: each is woken by its
        // child's SIGCHLD, and the loop runs other tasks meanwhile (a wait that spun, ready at
        // once after the first SIGCHLD, would keep the loop from them).
        let slow = |ms: u64| {
            let pid = fork().unwrap();
            if pid == 0 {
                std::thread::sleep(Duration::from_millis(ms));
                child_exit(7);
            }
            pid
        };
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ticker = {
            let ticks = ticks.clone();
            lwt::spawn(async move {
                loop {
                    lwt::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        let (a, b) = (slow(100), slow(300));
        let wait_a = lwt::spawn(waitpid(WaitFlags::empty(), a));
        let wait_b = lwt::spawn(waitpid(WaitFlags::empty(), b));
        let both = lwt::unix::with_timeout(Duration::from_secs(20), async {
            Ok((wait_a.await, wait_b.await))
        })
        .await
        .unwrap_or_else(|_| panic!("{kind}: a waitpid of two at once was never woken"));
        assert_eq!(both.0.unwrap().unwrap(), (a, ProcessStatus::Exited(7)));
        assert_eq!(both.1.unwrap().unwrap(), (b, ProcessStatus::Exited(7)));
        let ticked = ticks.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            ticked >= 3,
            "{kind}: the loop ran a 10 ms ticker {ticked} times during 300 ms of waitpid"
        );
        ticker.cancel().await;

        // waitpid on that pid.
        let pid = spawn_exit_42();
        assert_eq!(
            waitpid(WaitFlags::empty(), pid).await.unwrap(),
            (pid, ProcessStatus::Exited(42))
        );
        // pid 0: any child in our process group.
        let pid = spawn_exit_42();
        assert_eq!(
            waitpid(WaitFlags::empty(), 0).await.unwrap(),
            (pid, ProcessStatus::Exited(42))
        );
        // pid -1: any child.
        let pid = spawn_exit_42();
        assert_eq!(
            waitpid(WaitFlags::empty(), -1).await.unwrap(),
            (pid, ProcessStatus::Exited(42))
        );
        // wait: any child.
        let pid = spawn_exit_42();
        assert_eq!(wait().await.unwrap(), (pid, ProcessStatus::Exited(42)));
        // wait4, with resource usage.
        let pid = spawn_exit_42();
        let (p, st, ru) = wait4(WaitFlags::empty(), pid).await.unwrap();
        assert_eq!((p, st), (pid, ProcessStatus::Exited(42)));
        assert!(
            ru.ru_utime + ru.ru_stime < Duration::from_secs(30),
            "{ru:?}"
        );
        // wait4 reports the child's CPU time: a child that burns 50 ms of CPU.
        let pid = fork().unwrap();
        if pid == 0 {
            loop {
                // SAFETY: getrusage writes into a valid, zeroed struct.
                let used = unsafe {
                    let mut ru: libc::rusage = std::mem::zeroed();
                    libc::getrusage(libc::RUSAGE_SELF, &mut ru);
                    // timeval's field types differ between systems: convert each.
                    let tv =
                        |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
                    tv(ru.ru_utime) + tv(ru.ru_stime)
                };
                if used >= Duration::from_millis(50) {
                    child_exit(0);
                }
            }
        }
        let (p, st, ru) = wait4(WaitFlags::empty(), pid).await.unwrap();
        assert_eq!((p, st), (pid, ProcessStatus::Exited(0)));
        assert!(
            ru.ru_utime + ru.ru_stime >= Duration::from_millis(40),
            "{ru:?}"
        );
        // No child left: a clear error, no hang.
        let e = wait().await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");
        let e = waitpid(WaitFlags::empty(), pid).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");

        // The child runs its own loop: I/O on a pipe registered before the fork, a new pipe,
        // a task; a job pending at the fork is not completed there but is in the parent.
        let (r, w) = pipe().unwrap();
        assert_eq!(round_trip(&r, &w, b"before").await.unwrap(), b"before");
        let job = lwt::spawn(async {
            run_job(Some(AsyncMethod::Detach), || {
                std::thread::sleep(Duration::from_millis(200));
                7u32
            })
            .await
        });
        lwt::sleep(Duration::from_millis(20)).await;
        let pid = fork().unwrap();
        if pid == 0 {
            let code = child_body(&r, &w, job).await;
            child_exit(code);
        }
        let (p, st) = waitpid(WaitFlags::empty(), pid).await.unwrap();
        assert_eq!(p, pid);
        match st {
            ProcessStatus::Exited(0) => {}
            ProcessStatus::Exited(10) => {
                panic!("{kind}: the job pending at fork stayed pending in the child")
            }
            other => panic!("{kind}: the forked child failed: {other:?}"),
        }
        assert_eq!(
            job.await.unwrap().unwrap(),
            7,
            "the job completes in the parent"
        );
        // The parent's loop is untouched by the child's.
        assert_eq!(round_trip(&r, &w, b"after").await.unwrap(), b"after");
        assert_eq!(wait_count(), 0);
    });
}
