//! `getlogin` without a controlling terminal is an error, not a panic. In its own file: it
//! forks.
#![cfg(unix)]
mod util;

use lwt::unix::{fork, getlogin, waitpid, with_async_none, ProcessStatus, WaitFlags};

#[test]
fn getlogin_without_a_terminal_is_an_error() {
    // With no login uid recorded, nothing can name the user once the terminal is gone.
    let loginuid_unset = std::fs::read_to_string("/proc/self/loginuid")
        .map(|s| s.trim() == "4294967295")
        .unwrap_or(true);
    util::for_each_backend(|kind| async move {
        // Here: whatever the answer, never a panic.
        if let Ok(name) = getlogin().await {
            assert!(!name.is_empty());
        }
        let pid = fork().unwrap();
        if pid == 0 {
            // A new session has no controlling terminal. Jobs run inline: the forked child
            // has no worker threads.
            // SAFETY: setsid has no preconditions; `_exit` ends the child at once.
            unsafe { libc::setsid() };
            let code = match with_async_none(getlogin()).await {
                Err(_) => 0,
                Ok(name) if name.is_empty() => 2,
                Ok(_) => 3,
            };
            // SAFETY: as above.
            unsafe { libc::_exit(code) };
        }
        let (_, st) = waitpid(WaitFlags::empty(), pid).await.unwrap();
        if loginuid_unset {
            assert_eq!(st, ProcessStatus::Exited(0), "{kind}");
        } else {
            assert!(matches!(st, ProcessStatus::Exited(0 | 3)), "{kind}: {st:?}");
        }
    });
}
