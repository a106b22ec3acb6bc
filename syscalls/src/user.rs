//! Users and groups: `getlogin`, `getpwnam`, `getgrnam`, `getpwuid`, `getgrgid`.
//!
//! Each lookup may read files or ask a directory service (NSS), so it runs as a job, with the
//! reentrant `_r` form of the call (safe on any worker thread).

use lwt_core::{Error, Result};
use lwt_jobs::run_job;
use std::ffi::{CStr, CString};

/// An entry of the user database (Lwt's `passwd_entry`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PasswdEntry {
    /// The login name.
    pub pw_name: String,
    /// The encrypted password (usually `x`: the real one is in the shadow file).
    pub pw_passwd: String,
    /// The user id.
    pub pw_uid: u32,
    /// The primary group id.
    pub pw_gid: u32,
    /// The real name and other information (GECOS field).
    pub pw_gecos: String,
    /// The home directory.
    pub pw_dir: String,
    /// The login shell.
    pub pw_shell: String,
}

/// An entry of the group database (Lwt's `group_entry`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupEntry {
    /// The group name.
    pub gr_name: String,
    /// The encrypted group password (usually `x` or empty).
    pub gr_passwd: String,
    /// The group id.
    pub gr_gid: u32,
    /// The names of the members.
    pub gr_mem: Vec<String>,
}

extern "C" {
    /// POSIX's reentrant `getlogin` (in every Unix libc; the `libc` crate does not bind it).
    fn getlogin_r(buf: *mut libc::c_char, bufsize: libc::size_t) -> libc::c_int;
}

/// The largest buffer a lookup grows to (`ERANGE` beyond it is reported).
const MAX_BUF: usize = 1 << 20;

/// Text of a C string field (lossy for non-UTF-8 bytes); empty for NULL.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
unsafe fn text(p: *const libc::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: forwarded to the caller.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Runs a `get*_r` call with a growing buffer. `call(buf, found)` returns the call's error
/// number and sets `found` when there was an entry; `Ok(None)` means "no such entry".
fn with_buffer<T>(
    name: &'static str,
    arg: &str,
    mut call: impl FnMut(&mut [libc::c_char], &mut bool) -> (libc::c_int, Option<T>),
) -> Result<Option<T>> {
    let mut size = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        let mut found = false;
        let (err, v) = call(&mut buf, &mut found);
        match err {
            0 => return Ok(if found { v } else { None }),
            libc::EINTR => continue,
            libc::ERANGE if size < MAX_BUF => size *= 4,
            // Some systems report "not found" as one of these instead of 0 with no entry.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM if !found => return Ok(None),
            e => return Err(Error::from_errno(e, name, arg)),
        }
    }
}

fn passwd_lookup(name: &'static str, arg: String, by: Result<PwKey>) -> Result<PasswdEntry> {
    let key = by?;
    let found = with_buffer(name, &arg, |buf, found| {
        // SAFETY: an all-zero passwd is a valid out-parameter.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, and `buf` for its length.
        let err = unsafe {
            match &key {
                PwKey::Name(n) => {
                    libc::getpwnam_r(n.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out)
                }
                PwKey::Uid(u) => {
                    libc::getpwuid_r(*u, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out)
                }
            }
        };
        if err != 0 || out.is_null() {
            return (err, None);
        }
        *found = true;
        // SAFETY: on success the strings point into `buf`, which is alive here.
        let e = unsafe {
            PasswdEntry {
                pw_name: text(pw.pw_name),
                pw_passwd: text(pw.pw_passwd),
                pw_uid: pw.pw_uid,
                pw_gid: pw.pw_gid,
                pw_gecos: text(pw.pw_gecos),
                pw_dir: text(pw.pw_dir),
                pw_shell: text(pw.pw_shell),
            }
        };
        (0, Some(e))
    })?;
    found.ok_or(Error::NotFound {
        call: name,
        what: arg,
    })
}

enum PwKey {
    Name(CString),
    Uid(libc::uid_t),
}

enum GrKey {
    Name(CString),
    Gid(libc::gid_t),
}

fn group_lookup(name: &'static str, arg: String, by: Result<GrKey>) -> Result<GroupEntry> {
    let key = by?;
    let found = with_buffer(name, &arg, |buf, found| {
        // SAFETY: an all-zero group is a valid out-parameter.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, and `buf` for its length.
        let err = unsafe {
            match &key {
                GrKey::Name(n) => {
                    libc::getgrnam_r(n.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut out)
                }
                GrKey::Gid(g) => {
                    libc::getgrgid_r(*g, &mut gr, buf.as_mut_ptr(), buf.len(), &mut out)
                }
            }
        };
        if err != 0 || out.is_null() {
            return (err, None);
        }
        *found = true;
        let mut members = Vec::new();
        let mut p = gr.gr_mem;
        // SAFETY: on success `gr_mem` is a NULL-terminated array of strings inside `buf`.
        unsafe {
            while !p.is_null() && !(*p).is_null() {
                members.push(text(*p));
                p = p.add(1);
            }
        }
        // SAFETY: as above, the strings live in `buf`.
        let e = unsafe {
            GroupEntry {
                gr_name: text(gr.gr_name),
                gr_passwd: text(gr.gr_passwd),
                gr_gid: gr.gr_gid,
                gr_mem: members,
            }
        };
        (0, Some(e))
    })?;
    found.ok_or(Error::NotFound {
        call: name,
        what: arg,
    })
}

fn c_name(call: &'static str, name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::invalid(call, format!("{name:?} contains a NUL byte")))
}

/// The login name of the user of the controlling terminal (Lwt's `getlogin`). Runs as a job
/// (`getlogin_r` reads the utmp file). See
/// [getlogin(3)](https://man7.org/linux/man-pages/man3/getlogin.3.html).
///
/// # Errors
///
/// An error (often `ENXIO`, `ENOTTY` or `ENOENT`; `NotFound` when the system gives no errno)
/// when the process has no controlling terminal or no login record, as in most services and
/// containers.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     match lwt::unix::getlogin().await {
///         Ok(name) => assert!(!name.is_empty()),
///         Err(e) => println!("no login name here: {e}"),
///     }
/// });
/// ```
pub async fn getlogin() -> Result<String> {
    run_job(None, || {
        let mut buf = vec![0 as libc::c_char; 256];
        loop {
            // SAFETY: `buf` is valid for its length.
            let err = unsafe { getlogin_r(buf.as_mut_ptr(), buf.len()) };
            match err {
                // SAFETY: on success `buf` holds a NUL-terminated name.
                0 => return Ok(unsafe { text(buf.as_ptr()) }),
                libc::EINTR => continue,
                libc::ERANGE if buf.len() < 4096 => buf.resize(buf.len() * 4, 0),
                e if e > 0 => return Err(Error::from_errno(e, "getlogin", "")),
                _ => {
                    return Err(Error::NotFound {
                        call: "getlogin",
                        what: "login name".into(),
                    })
                }
            }
        }
    })
    .await?
}

/// Looks a user up by name (Lwt's `getpwnam`, with `getpwnam_r`). Runs as a job. See
/// [getpwnam(3)](https://man7.org/linux/man-pages/man3/getpwnam.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown name; `InvalidArgument` for a name with a NUL byte; the lookup's
/// error (e.g. `EIO`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let root = lwt::unix::getpwnam("root").await.unwrap();
///     assert_eq!(root.pw_uid, 0);
///     assert!(lwt::unix::getpwnam("no such user, surely").await.is_err());
/// });
/// ```
pub async fn getpwnam(name: &str) -> Result<PasswdEntry> {
    let key = c_name("getpwnam", name).map(PwKey::Name);
    let arg = name.to_owned();
    run_job(None, move || passwd_lookup("getpwnam", arg, key)).await?
}

/// Looks a user up by id (Lwt's `getpwuid`, with `getpwuid_r`). Runs as a job. See
/// [getpwuid(3)](https://man7.org/linux/man-pages/man3/getpwuid.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown id; the lookup's error.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getpwuid(0).await.unwrap().pw_name, "root");
/// });
/// ```
pub async fn getpwuid(uid: u32) -> Result<PasswdEntry> {
    run_job(None, move || {
        passwd_lookup("getpwuid", uid.to_string(), Ok(PwKey::Uid(uid)))
    })
    .await?
}

/// Looks a group up by name (Lwt's `getgrnam`, with `getgrnam_r`). Runs as a job. See
/// [getgrnam(3)](https://man7.org/linux/man-pages/man3/getgrnam.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown name; `InvalidArgument` for a name with a NUL byte; the lookup's
/// error.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let g = lwt::unix::getgrnam("root").await.unwrap();
///     assert_eq!(g.gr_gid, 0);
/// });
/// ```
pub async fn getgrnam(name: &str) -> Result<GroupEntry> {
    let key = c_name("getgrnam", name).map(GrKey::Name);
    let arg = name.to_owned();
    run_job(None, move || group_lookup("getgrnam", arg, key)).await?
}

/// Looks a group up by id (Lwt's `getgrgid`, with `getgrgid_r`). Runs as a job. See
/// [getgrgid(3)](https://man7.org/linux/man-pages/man3/getgrgid.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown id; the lookup's error.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getgrgid(0).await.unwrap().gr_name, "root");
/// });
/// ```
pub async fn getgrgid(gid: u32) -> Result<GroupEntry> {
    run_job(None, move || {
        group_lookup("getgrgid", gid.to_string(), Ok(GrKey::Gid(gid)))
    })
    .await?
}
