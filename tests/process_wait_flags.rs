//! `waitpid` with `WNOHANG` and `WUNTRACED`, `wait_count`, and `system`. One test per file:
//! it forks and waits, so nothing else may run beside it in this process.
#![cfg(unix)]
mod util;

use lwt::unix::{fork, system, wait_count, waitpid, ProcessStatus, WaitFlags};
use std::time::Duration;

/// Forks a child that sleeps until it is killed.
fn spawn_sleeper() -> i32 {
    let pid = fork().unwrap();
    if pid == 0 {
        loop {
            // SAFETY: pause only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    pid
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn wait_flags_wait_count_and_system() {
    util::for_each_backend(|_| async {
        // WNOHANG: nothing yet, at once.
        let pid = spawn_sleeper();
        assert_eq!(
            waitpid(WaitFlags::WNOHANG, pid).await.unwrap(),
            (0, ProcessStatus::Exited(0))
        );
        // WUNTRACED reports a stop.
        kill(pid, libc::SIGSTOP);
        assert_eq!(
            waitpid(WaitFlags::WUNTRACED, pid).await.unwrap(),
            (pid, ProcessStatus::Stopped(libc::SIGSTOP))
        );
        // A waiter is counted while it waits; the loop goes on meanwhile.
        assert_eq!(wait_count(), 0);
        let waiter = lwt::spawn(async move { waitpid(WaitFlags::empty(), pid).await });
        let mut ticks = 0;
        while wait_count() == 0 {
            lwt::sleep(Duration::from_millis(1)).await;
            ticks += 1;
            assert!(ticks < 5000, "the waiter never started");
        }
        assert_eq!(wait_count(), 1);
        kill(pid, libc::SIGKILL);
        assert_eq!(
            waiter.await.unwrap().unwrap(),
            (pid, ProcessStatus::Signaled(libc::SIGKILL))
        );
        assert_eq!(wait_count(), 0);

        // A canceled waiter is no longer counted and reaps nothing.
        let pid = spawn_sleeper();
        let r =
            lwt::unix::with_timeout(Duration::from_millis(20), waitpid(WaitFlags::empty(), pid))
                .await;
        assert!(matches!(r, Err(lwt::Error::Timeout)), "{r:?}");
        assert_eq!(wait_count(), 0);
        kill(pid, libc::SIGTERM);
        assert_eq!(
            waitpid(WaitFlags::empty(), pid).await.unwrap(),
            (pid, ProcessStatus::Signaled(libc::SIGTERM))
        );

        // Bad flags and a pid that is not our child: clear errors.
        let e = waitpid(WaitFlags::from_bits_retain(0x4000_0000), 1)
            .await
            .unwrap_err();
        assert!(e.errno().is_some(), "{e}");
        let e = waitpid(WaitFlags::empty(), 1).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");

        // system: exit codes, signals, NUL bytes.
        assert_eq!(system("exit 3").await.unwrap(), ProcessStatus::Exited(3));
        assert_eq!(system("true").await.unwrap(), ProcessStatus::Exited(0));
        assert_eq!(
            system("kill -9 $$").await.unwrap(),
            ProcessStatus::Signaled(9)
        );
        assert_eq!(
            system("exec /nonexistent/lwt-cmd 2>/dev/null")
                .await
                .unwrap(),
            ProcessStatus::Exited(127)
        );
        assert!(matches!(
            system("a\0b").await,
            Err(lwt::Error::InvalidArgument { .. })
        ));
        // Two commands at once both finish, and the loop keeps running meanwhile.
        let a = lwt::spawn(system("sleep 0.05; exit 1"));
        let b = lwt::spawn(system("exit 2"));
        assert_eq!(b.await.unwrap().unwrap(), ProcessStatus::Exited(2));
        assert_eq!(a.await.unwrap().unwrap(), ProcessStatus::Exited(1));
    });
}
