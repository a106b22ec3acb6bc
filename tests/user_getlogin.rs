//! `getlogin` names the login user and is an error, not a panic, when nothing can name it. In
//! its own file: it forks, and the child gives itself a new session and a login uid.
#![cfg(unix)]
mod util;

use lwt::unix::{fork, getlogin, getpwuid, waitpid, with_async_none, ProcessStatus, WaitFlags};

/// Where Linux keeps the login uid the kernel's audit records (`4294967295`: none).
const LOGINUID: &str = "/proc/self/loginuid";
const UNSET: &str = "4294967295";

/// What the child found, as its exit status.
const OK: i32 = 0;
const UNSET_BUT_NAMED: i32 = 10;
const EMPTY_NAME: i32 = 11;
const NOT_NAMED_BY_LOGINUID: i32 = 12;
const WRONG_NAME: i32 = 13;
const NO_ENTRY_FOR_UID: i32 = 14;
/// This system has no login uid (not Linux, or a kernel without audit support).
const NO_LOGINUID: i32 = 20;
/// The kernel refuses to set the login uid here (no `CAP_AUDIT_CONTROL`: not root, or a
/// container that withholds it).
const LOGINUID_REFUSED: i32 = 21;

/// `getlogin(3)` called directly, for comparison.
fn libc_getlogin() -> Option<String> {
    extern "C" {
        fn getlogin_r(buf: *mut libc::c_char, bufsize: libc::size_t) -> libc::c_int;
    }
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: `buf` is valid for its length.
    let err = unsafe { getlogin_r(buf.as_mut_ptr(), buf.len()) };
    if err != 0 {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// The child's checks (it has no controlling terminal): with no login uid, no name; with one,
/// the name of that uid's user.
async fn child() -> i32 {
    let Ok(loginuid) = std::fs::read_to_string(LOGINUID) else {
        return NO_LOGINUID;
    };
    if loginuid.trim() == UNSET {
        // Nothing can name the user: no terminal (fd 0 is not one in a new session's child
        // run by the test harness either), no login uid.
        if with_async_none(getlogin()).await.is_ok() {
            return UNSET_BUT_NAMED;
        }
        // Become a logged-in user, as a login daemon's PAM session does.
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        if std::fs::write(LOGINUID, uid.to_string()).is_err() {
            return LOGINUID_REFUSED;
        }
    }
    let uid: u32 = match std::fs::read_to_string(LOGINUID).map(|s| s.trim().parse()) {
        Ok(Ok(uid)) => uid,
        _ => return NO_LOGINUID,
    };
    let Ok(entry) = with_async_none(getpwuid(uid)).await else {
        return NO_ENTRY_FOR_UID;
    };
    match with_async_none(getlogin()).await {
        Err(_) => NOT_NAMED_BY_LOGINUID,
        Ok(name) if name.is_empty() => EMPTY_NAME,
        Ok(name) if name != entry.pw_name => WRONG_NAME,
        Ok(_) => OK,
    }
}

#[test]
fn getlogin_names_the_login_user_and_fails_without_one() {
    util::for_each_backend(|kind| async move {
        // Here: the same answer as the C library's.
        match (getlogin().await, libc_getlogin()) {
            (Ok(name), Some(c)) => assert_eq!(name, c, "{kind}"),
            (Err(_), None) => {}
            (ours, c) => panic!("{kind}: getlogin gave {ours:?}, getlogin_r gave {c:?}"),
        }
        let pid = fork().unwrap();
        if pid == 0 {
            // A new session has no controlling terminal. Jobs run inline: the forked child
            // has no worker threads.
            // SAFETY: setsid has no preconditions.
            unsafe { libc::setsid() };
            let code = child().await;
            // SAFETY: `_exit` ends the child at once.
            unsafe { libc::_exit(code) };
        }
        let (_, st) = waitpid(WaitFlags::empty(), pid).await.unwrap();
        match st {
            ProcessStatus::Exited(OK) => {}
            // Unsupported here: only the comparison with the C library ran.
            ProcessStatus::Exited(NO_LOGINUID) if std::fs::metadata(LOGINUID).is_err() => {
                eprintln!("{kind}: no {LOGINUID} here: the child's checks did not run");
            }
            // Unsupported here: the "no name without a login uid" half ran, not the other.
            ProcessStatus::Exited(LOGINUID_REFUSED) => {
                eprintln!("{kind}: cannot set a login uid here: getlogin's success not checked");
            }
            st => panic!("{kind}: the child's getlogin check failed: {st:?}"),
        }
    });
}
