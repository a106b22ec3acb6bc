//! Processes: `fork`, `wait`, `waitpid`, `wait4`, `wait_count`, `system`.
//!
//! Child exits are noticed without blocking the loop: a wait first tries `wait4(WNOHANG)`; if
//! the child has not changed state, it sleeps until the next `SIGCHLD` (lwt installs its
//! `SIGCHLD` action lazily, at the first wait, chained with the action it replaces, see
//! `signal.rs`) and tries again. Each wait only ever asks about the pid (or group)
//! it was given, so a child this process did not ask for is never reaped behind its owner's
//! back — except by [`wait`] and `waitpid(_, -1)`, which ask for any child by definition.

use crate::signal::{add_child_waiter, child_tick, ensure_sigchld, remove_child_waiter};
use lwt_core::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// How a child process ended or stopped (Lwt's `process_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessStatus {
    /// The process exited with this code (`WEXITED`).
    #[doc(alias = "WEXITED")]
    Exited(i32),
    /// The process was killed by this signal (`WSIGNALED`).
    #[doc(alias = "WSIGNALED")]
    Signaled(i32),
    /// The process was stopped by this signal (`WSTOPPED`).
    #[doc(alias = "WSTOPPED")]
    Stopped(i32),
}

impl ProcessStatus {
    /// Decodes a raw `wait` status.
    fn from_raw(status: i32) -> ProcessStatus {
        if libc::WIFEXITED(status) {
            ProcessStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            ProcessStatus::Signaled(libc::WTERMSIG(status))
        } else if libc::WIFSTOPPED(status) {
            ProcessStatus::Stopped(libc::WSTOPSIG(status))
        } else {
            // WIFCONTINUED is not asked for (no WCONTINUED flag); keep the raw value visible.
            ProcessStatus::Exited(status)
        }
    }
}

bitflags::bitflags! {
    /// Options of [`waitpid`] and [`wait4`] (Lwt's `wait_flag list`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct WaitFlags: i32 {
        /// `WNOHANG`: do not wait; return pid 0 if no child has changed state.
        const WNOHANG = libc::WNOHANG;
        /// `WUNTRACED`: also report children that were stopped.
        const WUNTRACED = libc::WUNTRACED;
    }
}

/// Resource usage of a child that [`wait4`] reaped (Lwt's `resource_usage`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ResourceUsage {
    /// User CPU time used (`ru_utime`).
    pub ru_utime: Duration,
    /// System CPU time used (`ru_stime`).
    pub ru_stime: Duration,
}

/// Forks the process (Lwt's `fork`): the child gets a fresh loop. Immediate; returns the
/// child's pid in the parent and 0 in the child. See
/// [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html).
///
/// Before the fork, the calling thread takes its runtime's loop in hand (`lwt_core::fork`): a
/// fork made inside a `switch` job whose loop was handed off to a stand-in thread first takes
/// the loop back, as the job's own end does (so it waits for the task the stand-in runs), and
/// the watchdog cannot take it during the fork; afterwards the job goes on as before, in the
/// parent and in the child, and may be handed off again (in the child by a watchdog of its
/// own).
///
/// In the child, before `fork` returns: the current runtime (if this thread runs one) gets a
/// new backend instance and wake-up channel, registers its descriptors again and wakes each of
/// its tasks once; the switch watchdog starts again at the next switch call, with no call
/// handed off; the job pool and its registry are replaced by empty ones; the hooks of
/// `lwt_core::register_fork_hook` run; and the signal self-pipe and its dispatcher thread are
/// recreated. Tasks, timers and descriptors carry over; no other thread does (as with any
/// `fork`), so the child should only use lwt, or `exec`.
///
/// Jobs: a job pending at the fork runs on a thread of the parent, so in the child it fails
/// with `Canceled` when its task next runs (after `fork` has returned, so an `exec` right
/// after the fork never sees it), unless it had already finished, and [`wait_for_jobs`](lwt_jobs::wait_for_jobs)
/// does not wait for it there. Jobs started in the child run on workers of the child's own.
///
/// # Errors
///
/// `InvalidArgument` (call `"fork"`) from a thread that cannot take its loop in hand: a task
/// running on a switch stand-in thread (while the home thread is blocked in a switch job; the
/// child would have no thread to run the main future and the `spawn_local` tasks), or a thread
/// waiting for a runtime that another thread drives. Fork from the main future, a
/// `spawn_local` task or a job instead. The errors of `fork` (`EAGAIN`, `ENOMEM`). If
/// resetting the loop fails in the child, the child prints the reason on standard error and
/// exits with status 127, and the parent sees that status from `waitpid`.
///
/// # Portability
///
/// Every Unix backend resets itself in the child: epoll and poll put new kernel objects under
/// the old descriptor numbers, kqueue (whose queue a child does not inherit at all) makes a
/// new one. Windows has no `fork`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{fork, waitpid, ProcessStatus, WaitFlags};
/// lwt::run(async {
///     let pid = fork().unwrap();
///     if pid == 0 {
///         // SAFETY: `_exit` ends the child at once, without running the parent's destructors.
///         unsafe { libc::_exit(7) };
///     }
///     let (p, status) = waitpid(WaitFlags::empty(), pid).await.unwrap();
///     assert_eq!((p, status), (pid, ProcessStatus::Exited(7)));
/// });
/// ```
pub fn fork() -> Result<i32> {
    let guard = lwt_core::fork::prepare()?;
    // SAFETY: fork itself has no memory-safety preconditions; the child runs only this thread
    // and resets lwt's shared state before any other lwt call.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::last_os_error("fork", ""));
    }
    if pid == 0 {
        let res = guard
            .child()
            .map_err(|e| Error::from_io(e, "fork", "child loop reset"))
            .and_then(|()| crate::signal::after_fork_child());
        if let Err(e) = res {
            let msg = format!("lwt: cannot reset the event loop in the forked child: {e}\n");
            // SAFETY: writing a buffer to standard error and exiting the child without running
            // the parent's at-exit handlers.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(127);
            }
        }
    }
    // In the parent, dropping the guard gives the loop back to a switch call in progress.
    Ok(pid)
}

/// How many tasks wait for a child right now.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// The number of tasks waiting for a child to change state (Lwt's `wait_count`). Immediate.
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::unix::wait_count(), 0);
/// ```
pub fn wait_count() -> usize {
    WAITING.load(Ordering::SeqCst)
}

struct Counted;
impl Counted {
    fn new() -> Counted {
        WAITING.fetch_add(1, Ordering::SeqCst);
        Counted
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One `wait4(pid, flags | WNOHANG)`: `None` when no child changed state.
fn try_wait4(
    flags: WaitFlags,
    pid: i32,
    call: &'static str,
) -> Result<Option<(i32, ProcessStatus, ResourceUsage)>> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both out-pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, flags.bits() | libc::WNOHANG, &mut ru) };
        if r < 0 {
            let e = Error::last_os_error(call, pid.to_string());
            if e.errno() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let usage = ResourceUsage {
            ru_utime: tv(ru.ru_utime),
            ru_stime: tv(ru.ru_stime),
        };
        return Ok(Some((r, ProcessStatus::from_raw(status), usage)));
    }
}

/// Waits until a `SIGCHLD` arrives after `tick`.
struct ChildSignal {
    tick: u64,
    key: Option<u64>,
}

impl Future for ChildSignal {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match add_child_waiter(self.tick, cx.waker(), self.key) {
            Some(k) => {
                self.key = Some(k);
                Poll::Pending
            }
            None => {
                self.key = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for ChildSignal {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            remove_child_waiter(k);
        }
    }
}

async fn wait_any(
    flags: WaitFlags,
    pid: i32,
    call: &'static str,
) -> Result<(i32, ProcessStatus, ResourceUsage)> {
    if let Some(r) = try_wait4(flags, pid, call)? {
        return Ok(r);
    }
    if flags.contains(WaitFlags::WNOHANG) {
        return Ok((0, ProcessStatus::Exited(0), ResourceUsage::default()));
    }
    ensure_sigchld()?;
    let _counted = Counted::new();
    loop {
        let tick = child_tick();
        // Tried again after reading the tick: a child that exited before the handler was
        // installed, or between the two, is seen here.
        if let Some(r) = try_wait4(flags, pid, call)? {
            return Ok(r);
        }
        ChildSignal { tick, key: None }.await;
    }
}

/// Waits for a child process to change state (Lwt's `waitpid`): `pid > 0` that child, `0` any
/// child in this process group, `-1` any child, `< -1` any child in group `-pid`. Returns its
/// pid and status; with [`WaitFlags::WNOHANG`] and no change, `(0, Exited(0))` at once.
/// Readiness-like: tries `wait4(WNOHANG)` now, then again at each `SIGCHLD`, never blocking
/// the loop. See [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html).
///
/// # Errors
///
/// `ECHILD` when there is no such child (or it was already reaped); `EINVAL` for bad flags.
///
/// # Examples
///
/// ```
/// use lwt::unix::{waitpid, WaitFlags};
/// lwt::run(async {
///     let child = std::process::Command::new("true").spawn().unwrap();
///     let pid = child.id() as i32;
///     let (p, status) = waitpid(WaitFlags::empty(), pid).await.unwrap();
///     assert_eq!(p, pid);
///     assert_eq!(status, lwt::unix::ProcessStatus::Exited(0));
/// });
/// ```
pub async fn waitpid(flags: WaitFlags, pid: i32) -> Result<(i32, ProcessStatus)> {
    wait_any(flags, pid, "waitpid")
        .await
        .map(|(p, s, _)| (p, s))
}

/// Waits for any child process to terminate (Lwt's `wait`); the same as
/// `waitpid(WaitFlags::empty(), -1)`. See
/// [wait(2)](https://man7.org/linux/man-pages/man2/wait.2.html).
///
/// Caveat: it reaps *any* child, including one that another part of the program (or a
/// library such as `std::process::Child`) waits for; prefer [`waitpid`] with a pid.
///
/// # Errors
///
/// `ECHILD` when the process has no child left.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let child = std::process::Command::new("true").spawn().unwrap();
///     let (pid, status) = lwt::unix::wait().await.unwrap();
///     assert_eq!(pid, child.id() as i32);
///     assert_eq!(status, lwt::unix::ProcessStatus::Exited(0));
///     // No child left: a clear ECHILD error, not a hang.
///     assert_eq!(lwt::unix::wait().await.unwrap_err().errno(), Some(libc::ECHILD));
/// });
/// ```
pub async fn wait() -> Result<(i32, ProcessStatus)> {
    wait_any(WaitFlags::empty(), -1, "wait")
        .await
        .map(|(p, s, _)| (p, s))
}

/// Like [`waitpid`], and also returns the child's resource usage (Lwt's `wait4`). See
/// [wait4(2)](https://man7.org/linux/man-pages/man2/wait4.2.html).
///
/// # Errors
///
/// As [`waitpid`].
///
/// # Examples
///
/// ```
/// use lwt::unix::{wait4, ProcessStatus, WaitFlags};
/// lwt::run(async {
///     let child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
///     let (_, status, usage) = wait4(WaitFlags::empty(), child.id() as i32).await.unwrap();
///     assert_eq!(status, ProcessStatus::Exited(3));
///     assert!(usage.ru_utime < std::time::Duration::from_secs(60));
/// });
/// ```
pub async fn wait4(flags: WaitFlags, pid: i32) -> Result<(i32, ProcessStatus, ResourceUsage)> {
    wait_any(flags, pid, "wait4").await
}

/// Runs `cmd` with `/bin/sh -c` and waits for it to terminate (Lwt's `system`). Spawning takes
/// the time of a `fork`/`exec`; the wait does not block the loop (see [`waitpid`]). The child
/// inherits standard input, output and error. `Exited(127)` means the shell could not be run.
/// See [system(3)](https://man7.org/linux/man-pages/man3/system.3.html).
///
/// # Errors
///
/// `InvalidArgument` if `cmd` contains a NUL byte; the errors of `fork` and `waitpid`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{system, ProcessStatus};
/// lwt::run(async {
///     assert_eq!(system("exit 5").await.unwrap(), ProcessStatus::Exited(5));
///     assert_eq!(system("true").await.unwrap(), ProcessStatus::Exited(0));
/// });
/// ```
pub async fn system(cmd: &str) -> Result<ProcessStatus> {
    system_with_shell("/bin/sh", cmd).await
}

/// [`system`] with another shell path (crate-internal, for tests of the 127 case).
pub(crate) async fn system_with_shell(shell: &str, cmd: &str) -> Result<ProcessStatus> {
    if cmd.contains('\0') {
        return Err(Error::invalid("system", "the command contains a NUL byte"));
    }
    let spawned = std::process::Command::new(shell).arg("-c").arg(cmd).spawn();
    let child = match spawned {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return Ok(ProcessStatus::Exited(127));
        }
        Err(e) => return Err(Error::from_io(e, "system", cmd)),
    };
    // `Child` never reaps on drop; the pid is waited for here only.
    let pid = child.id() as i32;
    waitpid(WaitFlags::empty(), pid).await.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwt_core::backend::{BorrowedSource, Events, Interest};

    #[test]
    fn statuses_decode() {
        assert_eq!(ProcessStatus::from_raw(42 << 8), ProcessStatus::Exited(42));
        assert_eq!(ProcessStatus::from_raw(9), ProcessStatus::Signaled(9));
        assert_eq!(
            ProcessStatus::from_raw((19 << 8) | 0x7f),
            ProcessStatus::Stopped(19)
        );
    }

    #[test]
    fn missing_shell_is_127() {
        let rt = lwt_core::Runtime::new(Box::new(NoBackend));
        let st = rt
            .block_on(system_with_shell("/nonexistent/lwt-sh", "true"))
            .unwrap();
        assert_eq!(st, ProcessStatus::Exited(127));
        let err = rt.block_on(system("a\0b")).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
    }

    /// A child wait dropped before its `SIGCHLD` takes its waker out of the registry (the waker
    /// would keep its task's memory alive for the life of the process).
    #[test]
    fn a_dropped_child_wait_leaves_no_waker_behind() {
        struct Flag;
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        let flag = std::sync::Arc::new(Flag);
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        // A SIGCHLD of another test's child may come between the tick and the registration
        // (the wait is then ready) or after it (it takes the waker): try again then.
        let registered = (0..100).find_map(|_| {
            let mut wait = Box::pin(ChildSignal {
                tick: child_tick(),
                key: None,
            });
            let pending = wait.as_mut().poll(&mut cx).is_pending();
            // `flag`, `waker`, and the registry's clone.
            (pending && std::sync::Arc::strong_count(&flag) == 3).then_some(wait)
        });
        let wait = registered.expect("the wait never registered its waker");
        drop(wait);
        assert_eq!(
            std::sync::Arc::strong_count(&flag),
            2,
            "a dropped child wait left its waker in the registry"
        );
    }

    /// A backend with nothing to watch: enough for futures that never wait on readiness.
    struct NoBackend;
    impl lwt_core::Backend for NoBackend {
        fn name(&self) -> &'static str {
            "none"
        }
        fn register(&self, _: BorrowedSource<'_>, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn arm(&self, _: BorrowedSource<'_>, _: usize, _: Interest) -> std::io::Result<()> {
            Ok(())
        }
        fn deregister(&self, _: BorrowedSource<'_>, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn wait(&self, _: &mut Events, _: Option<Duration>) -> std::io::Result<()> {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
        fn notify(&self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
