//! Files: `openfile`, seeking and truncating, syncing, file status, file names, permissions,
//! descriptor operations, FIFOs and locking (the file sections of `Lwt_unix`).
//!
//! Calls that can block by nature (anything that touches a path, `fsync`, `lockf`...) run as
//! jobs, by the async method in force ([`run_job`](lwt_jobs::run_job)); calls that never
//! block (`lseek`, `dup`, `isatty`, close-on-exec flags) run at once.

use crate::cvt;
use crate::fd::FileDescr;
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, AsRawFd};
use rustix::fs::{Mode, OFlags};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A path as a C string for a system call; a path with a NUL byte is `InvalidArgument`,
/// naming the call.
pub(crate) fn cpath(path: &Path, call: &'static str) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(call, format!("path {path:?} contains a NUL byte")))
}

/// The path as an error argument.
pub(crate) fn parg(path: &Path) -> String {
    path.display().to_string()
}

/// Runs a blocking call as a job by the async method in force and flattens the result.
pub(crate) async fn job<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    lwt_jobs::run_job(None, f).await?
}

/// Runs `$body` (with `$p: &CStr`, the path checked for NUL first) as a job, retried on
/// `EINTR`; errors name `$call` and the path. Awaits it: use inside an `async fn` returning
/// `Result`.
///
/// A macro, not a function taking a closure over `&CStr`: such a closure (or function pointer)
/// has a type generic over that lifetime, and a future holding one across an `await` is not
/// `Send` "generally enough" for rustc, so `lwt::spawn(async { stat(p).await })` would not
/// compile (`tests/spawn_send.rs`). Here the job's closure names no such type.
macro_rules! path_job {
    ($path:expr, $call:expr, |$p:ident| $body:expr) => {{
        let path: &Path = $path;
        let c = cpath(path, $call)?;
        let arg = parg(path);
        job(move || {
            crate::retry_eintr(|| {
                let $p: &std::ffi::CStr = &c;
                cvt($body, $call, &arg)
            })
        })
        .await
    }};
}

#[cfg(target_os = "linux")]
use crate::io::ring_usable;

/// An operation on a path done by the kernel itself through the ring (see `io::ring_op`):
/// `None` if not possible here (another backend, the `none` method, a kernel without the
/// opcode: `EINVAL`/`EOPNOTSUPP`, which the job path then redoes and reports if genuine).
/// `keep` is held until the kernel is done (the directory descriptor of `dirfd`).
#[cfg(target_os = "linux")]
async fn ring_path_op(
    kind: lwt_core::backend::CompletionKind,
    dirfd: std::os::fd::RawFd,
    buf: Vec<u8>,
    keep: Box<dyn std::any::Any + Send>,
) -> Option<std::io::Result<(usize, Vec<u8>)>> {
    // A job for wait_for_jobs and abort_jobs, as the job path's call would be.
    match lwt_jobs::kernel_job(kind, dirfd, 0, buf, keep)?.await {
        Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) => None,
        Ok(r) => Some(r),
        // Carried whole (even a `Unix` one, which `into` would make an errno): the caller's
        // `Error::from_io` gives it back as it was.
        Err(rejected) => Some(Err(std::io::Error::new(rejected.kind(), rejected))),
    }
}

/// Whether a ring operation's error is the rejection of an `abort_jobs` (an lwt error carried
/// whole, see [`ring_path_op`]) rather than the kernel's.
#[cfg(target_os = "linux")]
fn rejected(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Error>())
}

/// `statx(2)` of `path` (relative to `dirfd`, `AT_FDCWD` for the working directory) through
/// the ring, as [`Stats`]; `None`: take the job path.
#[cfg(target_os = "linux")]
async fn ring_statx(
    dirfd: std::os::fd::RawFd,
    path: &std::ffi::CStr,
    flags: i32,
    keep: Box<dyn std::any::Any + Send>,
) -> Option<std::io::Result<Stats>> {
    use lwt_core::backend::{CompletionKind, STATX_SIZE};
    if !ring_usable() {
        return None;
    }
    let mut buf = vec![0u8; STATX_SIZE];
    buf.extend_from_slice(path.to_bytes_with_nul());
    let kind = CompletionKind::Statx {
        flags,
        mask: libc::STATX_BASIC_STATS,
    };
    Some(
        ring_path_op(kind, dirfd, buf, keep)
            .await?
            .map(|(_, buf)| stats_of_statx(&buf)),
    )
}

/// [`Stats`] from the `struct statx` the kernel wrote at the start of `buf`.
#[cfg(target_os = "linux")]
fn stats_of_statx(buf: &[u8]) -> Stats {
    assert!(buf.len() >= std::mem::size_of::<libc::statx>());
    // SAFETY: `buf` holds at least a `struct statx` the kernel filled; every bit pattern is a
    // valid `statx` (integers only), and the read is unaligned.
    let st: libc::statx = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
    let time = |t: libc::statx_timestamp| system_time(t.tv_sec, i64::from(t.tv_nsec));
    Stats {
        st_dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
        st_ino: st.stx_ino,
        st_kind: FileKind::from_mode(u32::from(st.stx_mode)),
        st_perm: u32::from(st.stx_mode) & 0o7777,
        st_nlink: u64::from(st.stx_nlink),
        st_uid: st.stx_uid,
        st_gid: st.stx_gid,
        st_rdev: libc::makedev(st.stx_rdev_major, st.stx_rdev_minor),
        st_size: st.stx_size as i64,
        st_atime: time(st.stx_atime),
        st_mtime: time(st.stx_mtime),
        st_ctime: time(st.stx_ctime),
    }
}

/// `openat(2)` of `path` through the ring: no pool thread. Only where the open cannot wait
/// for a peer: a `statx` through the ring first, and a FIFO, socket or device (whose open may
/// block until a peer or a carrier comes, which would hold a kernel worker and the runtime's
/// drop) takes the job path, as does a path the ring cannot do. A path `statx` cannot see
/// (missing, not permitted) is opened through the ring, which gives the open's own error or
/// creates the file. The new descriptor's kind then comes from `fstat(2)` on it, a call that
/// does not wait. `None`: take the job path.
#[cfg(target_os = "linux")]
async fn ring_open(
    path: &std::ffi::CStr,
    oflags: OFlags,
    perm: u32,
) -> Option<std::io::Result<(std::os::fd::OwnedFd, FileKind)>> {
    use lwt_core::backend::CompletionKind;
    use std::os::fd::{FromRawFd, OwnedFd};
    if !ring_usable() {
        return None;
    }
    let nofollow = if oflags.contains(OFlags::NOFOLLOW) {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    match ring_statx(libc::AT_FDCWD, path, nofollow, Box::new(())).await? {
        Ok(st)
            if !matches!(
                st.st_kind,
                FileKind::Regular | FileKind::Directory | FileKind::Symlink
            ) =>
        {
            return None
        }
        // Rejected by abort_jobs: the open is rejected too.
        Err(e) if rejected(&e) => return Some(Err(e)),
        _ => {}
    }
    let kind = CompletionKind::OpenAt {
        flags: oflags.bits() as i32,
        mode: perm,
    };
    let buf = path.to_bytes_with_nul().to_vec();
    let fd = match ring_path_op(kind, libc::AT_FDCWD, buf, Box::new(())).await? {
        // SAFETY: the kernel made descriptor `n` for this open and the completion handed it
        // to us alone (a canceled open's descriptor is closed by the completion instead).
        Ok((n, _)) => unsafe { OwnedFd::from_raw_fd(n as i32) },
        Err(e) => return Some(Err(e)),
    };
    let kind = rustix::fs::fstat(&fd)
        .map(|st| FileKind::from_mode(st.st_mode))
        .map_err(std::io::Error::from);
    Some(kind.map(|k| (fd, k)))
}

bitflags::bitflags! {
    /// The flags of [`openfile`] (OCaml's `open_flag` list).
    ///
    /// Descriptors are opened close-on-exec unless [`OpenFlags::KEEPEXEC`] is given:
    /// [`OpenFlags::CLOEXEC`] is accepted and changes nothing. Given both, `CLOEXEC` wins, as
    /// in Lwt.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `O_RDONLY`: open for reading only (also what no access flag means).
        const RDONLY = 1 << 0;
        /// `O_WRONLY`: open for writing only.
        const WRONLY = 1 << 1;
        /// `O_RDWR`: open for reading and writing.
        const RDWR = 1 << 2;
        /// `O_NONBLOCK`: open in non-blocking mode. lwt then does non-blocking I/O (by
        /// readiness) on a device; FIFOs and sockets get that anyway, and regular files
        /// always use jobs and the page-cache fast path.
        const NONBLOCK = 1 << 3;
        /// `O_APPEND`: every write goes to the end of the file.
        const APPEND = 1 << 4;
        /// `O_CREAT`: create the file if it does not exist (with the given permissions).
        const CREAT = 1 << 5;
        /// `O_TRUNC`: truncate the file to 0 bytes if it exists.
        const TRUNC = 1 << 6;
        /// `O_EXCL`: with `CREAT`, fail with `EEXIST` if the file exists.
        const EXCL = 1 << 7;
        /// `O_NOCTTY`: do not make a terminal device the controlling terminal.
        const NOCTTY = 1 << 8;
        /// `O_DSYNC`: writes return once the data is on disk.
        const DSYNC = 1 << 9;
        /// `O_SYNC`: writes return once data and metadata are on disk.
        const SYNC = 1 << 10;
        /// `O_RSYNC`: reads wait for pending writes of the same data (Linux treats it as
        /// `O_SYNC` for reads). Ignored where the system has no `O_RSYNC` (FreeBSD, macOS),
        /// as OCaml does.
        const RSYNC = 1 << 11;
        /// `O_SHARE_DELETE`: Windows only (allow renaming/deleting the open file); ignored
        /// on Unix, where that is always allowed.
        const SHARE_DELETE = 1 << 12;
        /// `O_CLOEXEC`: close the descriptor on `exec` (lwt's default; kept for the seed).
        const CLOEXEC = 1 << 13;
        /// `O_KEEPEXEC`: keep the descriptor open across `exec` (the child inherits it).
        const KEEPEXEC = 1 << 14;
    }
}

impl OpenFlags {
    fn to_oflags(self) -> OFlags {
        let mut o = if self.contains(OpenFlags::RDWR) {
            OFlags::RDWR
        } else if self.contains(OpenFlags::WRONLY) {
            OFlags::WRONLY
        } else {
            OFlags::RDONLY
        };
        let map = [
            (OpenFlags::NONBLOCK, OFlags::NONBLOCK),
            (OpenFlags::APPEND, OFlags::APPEND),
            (OpenFlags::CREAT, OFlags::CREATE),
            (OpenFlags::TRUNC, OFlags::TRUNC),
            (OpenFlags::EXCL, OFlags::EXCL),
            (OpenFlags::NOCTTY, OFlags::NOCTTY),
            (OpenFlags::DSYNC, OFlags::DSYNC),
            (OpenFlags::SYNC, OFlags::SYNC),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            (OpenFlags::RSYNC, OFlags::RSYNC),
        ];
        for (ours, os) in map {
            if self.contains(ours) {
                o |= os;
            }
        }
        // Close-on-exec unless KEEPEXEC alone asks otherwise: with both, CLOEXEC wins.
        if self.contains(OpenFlags::CLOEXEC) || !self.contains(OpenFlags::KEEPEXEC) {
            o |= OFlags::CLOEXEC;
        }
        o
    }
}

/// Opens the file at `path` with `flags` and permissions `perm` (used with
/// [`OpenFlags::CREAT`], masked by the umask) and wraps it as a [`FileDescr`] (Lwt's
/// `openfile`). Runs in a job. On io_uring the kernel opens it through the ring (a `statx`,
/// then the `openat`: no pool thread) unless the path names a FIFO, socket or device, whose
/// open may wait for a peer: those take the job path. A canceled open "may have happened"
/// (a file it creates stays created), and the descriptor it made is closed.
///
/// The new descriptor is close-on-exec unless `flags` has [`OpenFlags::KEEPEXEC`] (and not
/// [`OpenFlags::CLOEXEC`] too: then `CLOEXEC` wins, as in Lwt). As in Lwt,
/// lwt uses non-blocking I/O on it if it is a FIFO or a socket (and sets `O_NONBLOCK`), or a
/// device opened with [`OpenFlags::NONBLOCK`]; otherwise blocking I/O (jobs, with the
/// page-cache fast path for reads), leaving the descriptor's flags as opened. See
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a path with a NUL byte; the errors of `open(2)`, named `"openfile"`
/// with the path (`ENOENT`, `EEXIST`, `EACCES`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{openfile, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-openfile-{}", std::process::id()));
///     let flags = OpenFlags::WRONLY | OpenFlags::CREAT | OpenFlags::TRUNC;
///     let fd = openfile(&path, flags, 0o644).await.unwrap();
///     lwt::unix::write(&fd, b"hi").await.unwrap();
///     lwt::unix::close(&fd).await.unwrap();
///     assert_eq!(std::fs::read(&path).unwrap(), b"hi");
///     let e = openfile(&path, flags | OpenFlags::EXCL, 0o644).await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::EEXIST));
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn openfile(path: impl AsRef<Path>, flags: OpenFlags, perm: u32) -> Result<FileDescr> {
    let path = path.as_ref();
    let c = cpath(path, "openfile")?;
    let arg = parg(path);
    let oflags = flags.to_oflags();
    let nonblock = flags.contains(OpenFlags::NONBLOCK);
    // FIFOs and sockets go non-blocking, and so do devices opened NONBLOCK; everything else
    // keeps the flags it was opened with.
    let wrap = move |fd: rustix::fd::OwnedFd, kind: FileKind| {
        let nonblocking = match kind {
            FileKind::Fifo | FileKind::Socket => true,
            FileKind::CharDevice | FileKind::BlockDevice => nonblock,
            _ => false,
        };
        let fd = if nonblocking {
            FileDescr::from_owned(fd, Some(false), true)
        } else {
            FileDescr::from_owned(fd, Some(true), false)
        }?;
        fd.note_regular_file(kind == FileKind::Regular);
        Ok(fd)
    };
    // On io_uring the kernel opens it through the ring: no pool thread.
    #[cfg(target_os = "linux")]
    match ring_open(&c, oflags, perm).await {
        Some(Ok((fd, kind))) => return wrap(fd, kind),
        Some(Err(e)) => return Err(Error::from_io(e, "openfile", &arg)),
        None => {}
    }
    job(move || {
        let fd = crate::retry_eintr(|| {
            cvt(
                rustix::fs::open(&*c, oflags, Mode::from_raw_mode(perm as _)),
                "openfile",
                &arg,
            )
        })?;
        // fstat in the job, like Lwt's open_job.
        // st_mode is u16 on some systems (macOS), u32 on Linux: the conversion is needed there.
        #[allow(clippy::useless_conversion)]
        let kind = cvt(rustix::fs::fstat(&fd), "openfile", &arg)
            .map(|st| FileKind::from_mode(u32::from(st.st_mode)))?;
        wrap(fd, kind)
    })
    .await
}

/// Where [`lseek`] counts from (OCaml's `seek_command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeekCommand {
    /// `SEEK_SET`: from the start of the file.
    #[doc(alias = "SEEK_SET")]
    Set,
    /// `SEEK_CUR`: from the current position.
    #[doc(alias = "SEEK_CUR")]
    Cur,
    /// `SEEK_END`: from the end of the file.
    #[doc(alias = "SEEK_END")]
    End,
}

/// Moves the file position of `fd` to `offset` counted by `cmd` and returns the new position
/// (Lwt's `lseek`, also `LargeFile.lseek`). Immediate: `lseek` never blocks. See
/// [lseek(2)](https://man7.org/linux/man-pages/man2/lseek.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `EINVAL` (named `"lseek"`) for a position before the start; `ESPIPE`
/// on a pipe or socket.
///
/// # Examples
///
/// ```
/// use lwt::unix::{lseek, openfile, OpenFlags, SeekCommand};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-lseek-{}", std::process::id()));
///     std::fs::write(&path, b"0123456789").unwrap();
///     let fd = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
///     assert_eq!(lseek(&fd, 4, SeekCommand::Set).await.unwrap(), 4);
///     assert_eq!(lseek(&fd, 2, SeekCommand::Cur).await.unwrap(), 6);
///     assert_eq!(lseek(&fd, -1, SeekCommand::End).await.unwrap(), 9);
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn lseek(fd: &FileDescr, offset: i64, cmd: SeekCommand) -> Result<u64> {
    use rustix::fs::SeekFrom;
    let os = fd.checked()?;
    let pos = match cmd {
        SeekCommand::Set => match u64::try_from(offset) {
            Ok(o) => SeekFrom::Start(o),
            Err(_) => return Err(Error::from_errno(libc::EINVAL, "lseek", offset.to_string())),
        },
        SeekCommand::Cur => SeekFrom::Current(offset),
        SeekCommand::End => SeekFrom::End(offset),
    };
    cvt(rustix::fs::seek(&os, pos), "lseek", &offset.to_string())
}

/// Truncates (or extends with zeros) the file at `path` to `len` bytes (Lwt's `truncate`).
/// Runs in a job. See [truncate(2)](https://man7.org/linux/man-pages/man2/truncate.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `truncate(2)`, named `"truncate"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-truncate-{}", std::process::id()));
///     std::fs::write(&path, b"0123456789").unwrap();
///     lwt::unix::truncate(&path, 4).await.unwrap();
///     assert_eq!(std::fs::read(&path).unwrap(), b"0123");
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn truncate(path: impl AsRef<Path>, len: u64) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "truncate")?;
    let arg = parg(path);
    let len =
        i64::try_from(len).map_err(|_| Error::from_errno(libc::EINVAL, "truncate", arg.clone()))?;
    job(move || {
        crate::retry_eintr(|| {
            // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
            match unsafe { libc::truncate(c.as_ptr(), len as libc::off_t) } {
                0 => Ok(()),
                _ => Err(Error::last_os_error("truncate", arg.clone())),
            }
        })
    })
    .await
}

/// Truncates (or extends) the file of `fd` to `len` bytes (Lwt's `ftruncate`). Runs in a job.
/// See [ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `ftruncate(2)`, named `"ftruncate"` (`EINVAL` on a
/// descriptor not open for writing).
///
/// # Examples
///
/// ```
/// use lwt::unix::{fstat, ftruncate, openfile, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-ftruncate-{}", std::process::id()));
///     let fd = openfile(&path, OpenFlags::RDWR | OpenFlags::CREAT, 0o600).await.unwrap();
///     ftruncate(&fd, 4096).await.unwrap();
///     assert_eq!(fstat(&fd).await.unwrap().st_size, 4096);
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn ftruncate(fd: &FileDescr, len: u64) -> Result<()> {
    let os = fd.checked()?;
    job(move || crate::retry_eintr(|| cvt(rustix::fs::ftruncate(&os, len), "ftruncate", ""))).await
}

/// Flushes the data and metadata of `fd`'s file to the disk (Lwt's `fsync`). Runs in a job,
/// or, for a regular file on the io_uring backend, through the ring (no pool thread).
/// See [fsync(2)](https://man7.org/linux/man-pages/man2/fsync.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fsync(2)`, named `"fsync"` (`EINVAL` on a pipe).
///
/// # Examples
///
/// ```
/// use lwt::unix::{fsync, openfile, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-fsync-{}", std::process::id()));
///     let fd = openfile(&path, OpenFlags::WRONLY | OpenFlags::CREAT, 0o600).await.unwrap();
///     lwt::unix::write(&fd, b"durable").await.unwrap();
///     fsync(&fd).await.unwrap();
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn fsync(fd: &FileDescr) -> Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(r) = ring_sync(fd, lwt_core::backend::CompletionKind::Fsync, "fsync").await {
        return r;
    }
    let os = fd.checked()?;
    job(move || crate::retry_eintr(|| cvt(rustix::fs::fsync(&os), "fsync", ""))).await
}

/// Flushes the data (not the metadata that is not needed to read it back) of `fd`'s file to
/// the disk (Lwt's `fdatasync`). Runs in a job, or through the ring like [`fsync`]. See
/// [fdatasync(2)](https://man7.org/linux/man-pages/man2/fdatasync.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fdatasync(2)`, named `"fdatasync"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{fdatasync, openfile, OpenFlags};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-fdatasync-{}", std::process::id()));
///     let fd = openfile(&path, OpenFlags::WRONLY | OpenFlags::CREAT, 0o600).await.unwrap();
///     fdatasync(&fd).await.unwrap();
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn fdatasync(fd: &FileDescr) -> Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(r) = ring_sync(
        fd,
        lwt_core::backend::CompletionKind::Fdatasync,
        "fdatasync",
    )
    .await
    {
        return r;
    }
    let os = fd.checked()?;
    // Apple systems have no fdatasync: fsync does at least as much there.
    #[cfg(not(target_vendor = "apple"))]
    use rustix::fs::fdatasync as sync_data;
    #[cfg(target_vendor = "apple")]
    use rustix::fs::fsync as sync_data;
    job(move || crate::retry_eintr(|| cvt(sync_data(&os), "fdatasync", ""))).await
}

/// `fsync`/`fdatasync` of a regular file by the kernel through the ring (io_uring backend).
#[cfg(target_os = "linux")]
async fn ring_sync(
    fd: &FileDescr,
    kind: lwt_core::backend::CompletionKind,
    call: &'static str,
) -> Option<Result<()>> {
    let r = crate::io::ring_op(fd, kind, 0, Vec::new(), call).await?;
    Some(r.map(drop))
}

/// The kind of a file (OCaml's `file_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `S_REG`: a regular file.
    #[doc(alias = "S_REG")]
    Regular,
    /// `S_DIR`: a directory.
    #[doc(alias = "S_DIR")]
    Directory,
    /// `S_CHR`: a character device.
    #[doc(alias = "S_CHR")]
    CharDevice,
    /// `S_BLK`: a block device.
    #[doc(alias = "S_BLK")]
    BlockDevice,
    /// `S_LNK`: a symbolic link (only [`lstat`] reports it).
    #[doc(alias = "S_LNK")]
    Symlink,
    /// `S_FIFO`: a named pipe.
    #[doc(alias = "S_FIFO")]
    Fifo,
    /// `S_SOCK`: a socket.
    #[doc(alias = "S_SOCK")]
    Socket,
}

impl FileKind {
    fn from_mode(mode: u32) -> FileKind {
        use rustix::fs::FileType;
        match FileType::from_raw_mode(mode as _) {
            FileType::Directory => FileKind::Directory,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            _ => FileKind::Regular,
        }
    }
}

/// The status of a file (OCaml's `stats`, also `LargeFile.stats`: sizes are 64-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The device the file is on.
    pub st_dev: u64,
    /// The inode number.
    pub st_ino: u64,
    /// The kind of file.
    pub st_kind: FileKind,
    /// The permission bits (`mode & 0o7777`).
    pub st_perm: u32,
    /// The number of hard links.
    pub st_nlink: u64,
    /// The owner's user id.
    pub st_uid: u32,
    /// The group id.
    pub st_gid: u32,
    /// The device id, for device files.
    pub st_rdev: u64,
    /// The size in bytes.
    pub st_size: i64,
    /// The last access time.
    pub st_atime: SystemTime,
    /// The last modification time.
    pub st_mtime: SystemTime,
    /// The last status change time.
    pub st_ctime: SystemTime,
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = Duration::from_nanos(nsec.clamp(0, 999_999_999) as u64);
    if sec >= 0 {
        UNIX_EPOCH + Duration::from_secs(sec as u64) + nsec
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + nsec
    }
}

// The field types of `struct stat` differ between targets; every cast below widens or keeps.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn stats_of(st: &rustix::fs::Stat) -> Stats {
    Stats {
        st_dev: st.st_dev as u64,
        st_ino: st.st_ino as u64,
        st_kind: FileKind::from_mode(st.st_mode as u32),
        st_perm: st.st_mode as u32 & 0o7777,
        st_nlink: st.st_nlink as u64,
        st_uid: st.st_uid as u32,
        st_gid: st.st_gid as u32,
        st_rdev: st.st_rdev as u64,
        st_size: st.st_size as i64,
        st_atime: system_time(st.st_atime as i64, st.st_atime_nsec as i64),
        st_mtime: system_time(st.st_mtime as i64, st.st_mtime_nsec as i64),
        st_ctime: system_time(st.st_ctime as i64, st.st_ctime_nsec as i64),
    }
}

/// `stat`/`lstat` of `path` through the ring (`flags`: `AT_SYMLINK_NOFOLLOW` for `lstat`);
/// `None`: take the job path.
#[cfg(target_os = "linux")]
async fn ring_stat(path: &Path, flags: i32, call: &'static str) -> Option<Result<Stats>> {
    let c = match cpath(path, call) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let r = ring_statx(libc::AT_FDCWD, &c, flags, Box::new(())).await?;
    Some(r.map_err(|e| Error::from_io(e, call, parg(path))))
}

/// The status of the file at `path`, following symbolic links (Lwt's `stat`, also
/// `LargeFile.stat`). Runs in a job; on io_uring the kernel does it through the ring
/// (`statx`), with no pool thread. See
/// [stat(2)](https://man7.org/linux/man-pages/man2/stat.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `stat(2)`, named `"stat"` with the
/// path (`ENOENT`, `ENOTDIR`, `EACCES`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{stat, FileKind};
/// lwt::run(async {
///     let st = stat("/").await.unwrap();
///     assert_eq!(st.st_kind, FileKind::Directory);
///     assert_eq!(stat("/no/such").await.unwrap_err().errno(), Some(libc::ENOENT));
/// });
/// ```
pub async fn stat(path: impl AsRef<Path>) -> Result<Stats> {
    #[cfg(target_os = "linux")]
    if let Some(r) = ring_stat(path.as_ref(), 0, "stat").await {
        return r;
    }
    path_job!(path.as_ref(), "stat", |p| {
        rustix::fs::stat(p).map(|s| stats_of(&s))
    })
}

/// The status of the file at `path`, not following a final symbolic link (Lwt's `lstat`,
/// also `LargeFile.lstat`). Runs in a job, or through the ring on io_uring, as [`stat`]. See
/// [lstat(2)](https://man7.org/linux/man-pages/man2/lstat.2.html).
///
/// # Errors
///
/// As [`stat`], named `"lstat"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{lstat, symlink, FileKind};
/// lwt::run(async {
///     let link = std::env::temp_dir().join(format!("lwt-doc-lstat-{}", std::process::id()));
///     symlink("/", &link).await.unwrap();
///     assert_eq!(lstat(&link).await.unwrap().st_kind, FileKind::Symlink);
///     lwt::unix::unlink(&link).await.unwrap();
/// });
/// ```
pub async fn lstat(path: impl AsRef<Path>) -> Result<Stats> {
    #[cfg(target_os = "linux")]
    if let Some(r) = ring_stat(path.as_ref(), libc::AT_SYMLINK_NOFOLLOW, "lstat").await {
        return r;
    }
    path_job!(path.as_ref(), "lstat", |p| {
        rustix::fs::lstat(p).map(|s| stats_of(&s))
    })
}

/// The status of the file of `fd` (Lwt's `fstat`, also `LargeFile.fstat`). Runs in a job, or
/// through the ring on io_uring, as [`stat`].
/// See [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fstat(2)`, named `"fstat"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{fstat, FileKind};
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert_eq!(fstat(&r).await.unwrap().st_kind, FileKind::Fifo);
/// });
/// ```
pub async fn fstat(fd: &FileDescr) -> Result<Stats> {
    #[cfg(target_os = "linux")]
    {
        // The guard goes with the operation: the descriptor stays open until the kernel is
        // done.
        let os = fd.checked()?;
        let raw = os.as_raw_fd();
        if let Some(r) = ring_statx(raw, c"", libc::AT_EMPTY_PATH, Box::new(os)).await {
            return r.map_err(|e| Error::from_io(e, "fstat", ""));
        }
    }
    let os = fd.checked()?;
    job(move || cvt(rustix::fs::fstat(&os), "fstat", "").map(|s| stats_of(&s))).await
}

/// Whether a directory entry named `path` exists (Lwt's `file_exists`): `stat` succeeds.
/// Like OCaml's `Sys.file_exists`, every `stat` error means "no" (`false`), e.g. a path under
/// a regular file (`ENOTDIR`) or a dangling symbolic link. Runs in a job, or through the ring on
/// io_uring, as [`stat`].
///
/// # Errors
///
/// Only `InvalidArgument`, for a path with a NUL byte (which cannot name a file).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert!(lwt::unix::file_exists("/").await.unwrap());
///     assert!(!lwt::unix::file_exists("/no/such/file").await.unwrap());
/// });
/// ```
pub async fn file_exists(path: impl AsRef<Path>) -> Result<bool> {
    let c = cpath(path.as_ref(), "file_exists")?;
    #[cfg(target_os = "linux")]
    if let Some(r) = ring_statx(libc::AT_FDCWD, &c, 0, Box::new(())).await {
        return match r {
            Ok(_) => Ok(true),
            // Rejected by abort_jobs, as the job would be.
            Err(e) if rejected(&e) => Err(Error::from_io(e, "file_exists", "")),
            Err(_) => Ok(false),
        };
    }
    job(move || Ok(rustix::fs::stat(&*c).is_ok())).await
}

fn timespec(t: SystemTime) -> rustix::fs::Timespec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => rustix::fs::Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        },
        Err(e) => {
            // Before the epoch: floor the seconds, keep the nanoseconds positive.
            let d = e.duration();
            let (mut s, mut n) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i64));
            if n < 0 {
                s -= 1;
                n += 1_000_000_000;
            }
            rustix::fs::Timespec {
                tv_sec: s as _,
                tv_nsec: n as _,
            }
        }
    }
}

/// Sets the access and modification times of the file at `path` (Lwt's `utimes path atime
/// mtime`). As in Lwt, both times equal to [`UNIX_EPOCH`] (the seed's `0.` and `0.`) set both
/// to the current time. Runs in a job. See
/// [utimensat(2)](https://man7.org/linux/man-pages/man2/utimensat.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `utimensat(2)`, named `"utimes"`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-utimes-{}", std::process::id()));
///     std::fs::write(&path, b"").unwrap();
///     let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
///     lwt::unix::utimes(&path, t, t).await.unwrap();
///     assert_eq!(lwt::unix::stat(&path).await.unwrap().st_mtime, t);
///     lwt::unix::utimes(&path, UNIX_EPOCH, UNIX_EPOCH).await.unwrap(); // now
///     assert!(lwt::unix::stat(&path).await.unwrap().st_mtime > t);
///     lwt::unix::unlink(&path).await.unwrap();
/// });
/// ```
pub async fn utimes(path: impl AsRef<Path>, atime: SystemTime, mtime: SystemTime) -> Result<()> {
    let times = if atime == UNIX_EPOCH && mtime == UNIX_EPOCH {
        let now = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        };
        rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        }
    } else {
        rustix::fs::Timestamps {
            last_access: timespec(atime),
            last_modification: timespec(mtime),
        }
    };
    path_job!(path.as_ref(), "utimes", |p| {
        rustix::fs::utimensat(rustix::fs::CWD, p, &times, rustix::fs::AtFlags::empty())
    })
}

/// Whether `fd` is a terminal (Lwt's `isatty`). Immediate. See
/// [isatty(3)](https://man7.org/linux/man-pages/man3/isatty.3.html).
///
/// # Errors
///
/// `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert!(!lwt::unix::isatty(&r).await.unwrap());
/// });
/// ```
pub async fn isatty(fd: &FileDescr) -> Result<bool> {
    Ok(rustix::termios::isatty(fd.checked()?))
}

/// Lwt's `LargeFile`: the same calls with 64-bit offsets and sizes.
///
/// Every offset and size of lwt is already 64-bit (`i64`/`u64`) on every platform, so these
/// are the very functions of `lwt::unix` under the module's names.
///
/// # Examples
///
/// ```
/// use lwt::unix::large_file;
/// lwt::run(async {
///     let st: large_file::Stats = large_file::stat("/").await.unwrap();
///     assert!(st.st_size >= 0);
/// });
/// ```
#[doc(alias = "LargeFile")]
pub mod large_file {
    pub use super::{fstat, ftruncate, lseek, lstat, stat, truncate, Stats};
}

/// Removes the name `path` (Lwt's `unlink`); the file goes when no name or descriptor is
/// left. Runs in a job. See [unlink(2)](https://man7.org/linux/man-pages/man2/unlink.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `unlink(2)`, named `"unlink"`
/// (`ENOENT`, `EISDIR`...).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-unlink-{}", std::process::id()));
///     std::fs::write(&path, b"x").unwrap();
///     lwt::unix::unlink(&path).await.unwrap();
///     assert!(!path.exists());
/// });
/// ```
pub async fn unlink(path: impl AsRef<Path>) -> Result<()> {
    path_job!(path.as_ref(), "unlink", |p| rustix::fs::unlink(p))
}

fn two_paths(a: &Path, b: &Path, call: &'static str) -> Result<(CString, CString, String)> {
    Ok((cpath(a, call)?, cpath(b, call)?, parg(a)))
}

/// Renames `src` to `dst`, replacing `dst` if it exists (Lwt's `rename`). Runs in a job. See
/// [rename(2)](https://man7.org/linux/man-pages/man2/rename.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in a path; the errors of `rename(2)`, named `"rename"` with
/// `src`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let a = std::env::temp_dir().join(format!("lwt-doc-rename-a-{}", std::process::id()));
///     let b = a.with_extension("b");
///     std::fs::write(&a, b"x").unwrap();
///     lwt::unix::rename(&a, &b).await.unwrap();
///     assert!(!a.exists() && b.exists());
///     lwt::unix::unlink(&b).await.unwrap();
/// });
/// ```
pub async fn rename(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<()> {
    let (a, b, arg) = two_paths(src.as_ref(), dst.as_ref(), "rename")?;
    job(move || cvt(rustix::fs::rename(&*a, &*b), "rename", &arg)).await
}

/// Makes `dst` a new (hard) link to the file `src` (Lwt's `link`). Runs in a job. See
/// [link(2)](https://man7.org/linux/man-pages/man2/link.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in a path; the errors of `link(2)`, named `"link"` with `src`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let a = std::env::temp_dir().join(format!("lwt-doc-link-{}", std::process::id()));
///     let b = a.with_extension("2");
///     std::fs::write(&a, b"x").unwrap();
///     lwt::unix::link(&a, &b).await.unwrap();
///     assert_eq!(lwt::unix::stat(&a).await.unwrap().st_nlink, 2);
///     lwt::unix::unlink(&a).await.unwrap();
///     lwt::unix::unlink(&b).await.unwrap();
/// });
/// ```
pub async fn link(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<()> {
    let (a, b, arg) = two_paths(src.as_ref(), dst.as_ref(), "link")?;
    job(move || cvt(rustix::fs::link(&*a, &*b), "link", &arg)).await
}

/// Makes `dst` a symbolic link whose content is `src` (Lwt's `symlink`). Runs in a job. See
/// [symlink(2)](https://man7.org/linux/man-pages/man2/symlink.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in a path; the errors of `symlink(2)`, named `"symlink"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let l = std::env::temp_dir().join(format!("lwt-doc-symlink-{}", std::process::id()));
///     lwt::unix::symlink("target", &l).await.unwrap();
///     assert_eq!(lwt::unix::readlink(&l).await.unwrap(), std::path::Path::new("target"));
///     lwt::unix::unlink(&l).await.unwrap();
/// });
/// ```
pub async fn symlink(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<()> {
    let (a, b, _) = two_paths(src.as_ref(), dst.as_ref(), "symlink")?;
    let arg = parg(dst.as_ref());
    job(move || cvt(rustix::fs::symlink(&*a, &*b), "symlink", &arg)).await
}

/// The content of the symbolic link `path` (Lwt's `readlink`). Runs in a job. See
/// [readlink(2)](https://man7.org/linux/man-pages/man2/readlink.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `readlink(2)`, named `"readlink"`
/// (`EINVAL` when `path` is not a symbolic link).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let e = lwt::unix::readlink("/").await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::EINVAL));
/// });
/// ```
pub async fn readlink(path: impl AsRef<Path>) -> Result<PathBuf> {
    path_job!(path.as_ref(), "readlink", |p| {
        rustix::fs::readlink(p, Vec::new())
    })
    .map(|c| PathBuf::from(OsString::from_vec(c.into_bytes())))
}

/// Sets the permission bits of the file at `path` (Lwt's `chmod`). Runs in a job. See
/// [chmod(2)](https://man7.org/linux/man-pages/man2/chmod.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `chmod(2)`, named `"chmod"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let p = std::env::temp_dir().join(format!("lwt-doc-chmod-{}", std::process::id()));
///     std::fs::write(&p, b"").unwrap();
///     lwt::unix::chmod(&p, 0o640).await.unwrap();
///     assert_eq!(lwt::unix::stat(&p).await.unwrap().st_perm, 0o640);
///     lwt::unix::unlink(&p).await.unwrap();
/// });
/// ```
pub async fn chmod(path: impl AsRef<Path>, perm: u32) -> Result<()> {
    path_job!(path.as_ref(), "chmod", |p| {
        rustix::fs::chmod(p, Mode::from_raw_mode(perm as _))
    })
}

/// Sets the permission bits of the file of `fd` (Lwt's `fchmod`). Runs in a job. See
/// [fchmod(2)](https://man7.org/linux/man-pages/man2/fchmod.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fchmod(2)`, named `"fchmod"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{fchmod, fstat, openfile, OpenFlags};
/// lwt::run(async {
///     let p = std::env::temp_dir().join(format!("lwt-doc-fchmod-{}", std::process::id()));
///     let fd = openfile(&p, OpenFlags::WRONLY | OpenFlags::CREAT, 0o600).await.unwrap();
///     fchmod(&fd, 0o604).await.unwrap();
///     assert_eq!(fstat(&fd).await.unwrap().st_perm, 0o604);
///     lwt::unix::unlink(&p).await.unwrap();
/// });
/// ```
pub async fn fchmod(fd: &FileDescr, perm: u32) -> Result<()> {
    let os = fd.checked()?;
    job(move || {
        cvt(
            rustix::fs::fchmod(&os, Mode::from_raw_mode(perm as _)),
            "fchmod",
            "",
        )
    })
    .await
}

fn ids(uid: Option<u32>, gid: Option<u32>) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        uid.map(rustix::fs::Uid::from_raw),
        gid.map(rustix::fs::Gid::from_raw),
    )
}

/// Changes the owner and group of the file at `path` (Lwt's `chown`); `None` (the seed's
/// `-1`) leaves that one unchanged. Runs in a job. See
/// [chown(2)](https://man7.org/linux/man-pages/man2/chown.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `chown(2)`, named `"chown"`
/// (`EPERM` without the privilege).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let p = std::env::temp_dir().join(format!("lwt-doc-chown-{}", std::process::id()));
///     std::fs::write(&p, b"").unwrap();
///     let st = lwt::unix::stat(&p).await.unwrap();
///     // Giving a file to its own owner and group is always allowed.
///     lwt::unix::chown(&p, Some(st.st_uid), Some(st.st_gid)).await.unwrap();
///     lwt::unix::unlink(&p).await.unwrap();
/// });
/// ```
pub async fn chown(path: impl AsRef<Path>, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    let (u, g) = ids(uid, gid);
    path_job!(path.as_ref(), "chown", |p| rustix::fs::chown(p, u, g))
}

/// Changes the owner and group of the file of `fd` (Lwt's `fchown`); `None` leaves that one
/// unchanged. Runs in a job. See [fchown(2)](https://man7.org/linux/man-pages/man2/fchown.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fchown(2)`, named `"fchown"`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{fchown, openfile, OpenFlags};
/// lwt::run(async {
///     let fd = openfile("/dev/null", OpenFlags::RDONLY, 0).await.unwrap();
///     fchown(&fd, None, None).await.unwrap(); // changes nothing
/// });
/// ```
pub async fn fchown(fd: &FileDescr, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    let os = fd.checked()?;
    let (u, g) = ids(uid, gid);
    job(move || cvt(rustix::fs::fchown(&os, u, g), "fchown", "")).await
}

bitflags::bitflags! {
    /// What [`access`] checks (OCaml's `access_permission` list).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct AccessPermission: u32 {
        /// `R_OK`: reading is allowed.
        const READ = 1 << 0;
        /// `W_OK`: writing is allowed.
        const WRITE = 1 << 1;
        /// `X_OK`: executing (or searching a directory) is allowed.
        const EXECUTE = 1 << 2;
        /// `F_OK`: the file exists (what no other flag checks too).
        const EXISTS = 1 << 3;
    }
}

/// Checks that the real user may access the file at `path` as `perm` says (Lwt's `access`).
/// Runs in a job. See [access(2)](https://man7.org/linux/man-pages/man2/access.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `access(2)`, named `"access"`
/// (`EACCES` when denied, `ENOENT`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{access, AccessPermission};
/// lwt::run(async {
///     access("/", AccessPermission::READ | AccessPermission::EXECUTE).await.unwrap();
///     assert!(access("/no/such", AccessPermission::EXISTS).await.is_err());
/// });
/// ```
pub async fn access(path: impl AsRef<Path>, perm: AccessPermission) -> Result<()> {
    use rustix::fs::Access;
    let mut a = Access::EXISTS;
    for (ours, os) in [
        (AccessPermission::READ, Access::READ_OK),
        (AccessPermission::WRITE, Access::WRITE_OK),
        (AccessPermission::EXECUTE, Access::EXEC_OK),
    ] {
        if perm.contains(ours) {
            a |= os;
        }
    }
    path_job!(path.as_ref(), "access", |p| rustix::fs::access(p, a))
}

/// Duplicates `fd` (Lwt's `dup`): a new [`FileDescr`] on the same open file, with the same
/// blocking mode. Close-on-exec unless `cloexec` is false (OCaml's `?cloexec`). Immediate.
/// See [dup(2)](https://man7.org/linux/man-pages/man2/dup.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fcntl(F_DUPFD_CLOEXEC)`, named `"dup"` (`EMFILE`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     let w2 = lwt::unix::dup(&w, true).unwrap();
///     lwt::unix::close(&w).await.unwrap();
///     lwt::unix::write(&w2, b"still open").await.unwrap();
///     let mut buf = [0u8; 10];
///     assert_eq!(lwt::unix::read(&r, &mut buf).await.unwrap(), 10);
/// });
/// ```
pub fn dup(fd: &FileDescr, cloexec: bool) -> Result<FileDescr> {
    let os = fd.checked()?;
    let new = if cloexec {
        cvt(rustix::io::fcntl_dupfd_cloexec(&os, 0), "dup", "")?
    } else {
        cvt(rustix::io::dup(&os), "dup", "")?
    };
    // O_NONBLOCK belongs to the open file, which the copy shares: no flag to set.
    FileDescr::from_owned(new, Some(fd.is_blocking()), false)
}

/// Makes `dst`'s descriptor number refer to `src`'s open file, closing what it referred to
/// (Lwt's `dup2`); `dst` takes `src`'s blocking mode. The descriptor is close-on-exec if
/// `cloexec` is true; pass `false` to hand it to a child (e.g. `dup2(&fd, &stdout(), false)`
/// before `exec`). Immediate. See [dup2(2)](https://man7.org/linux/man-pages/man2/dup2.2.html).
///
/// The loop forgets its registrations of `dst` first (they refer to the file being replaced):
/// an operation waiting on `dst` tries again, now on `src`'s file, and waits for it if it must.
///
/// # Errors
///
/// `Closed`/`Aborted` for either descriptor; the errors of `dup3(2)`, named `"dup2"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     let (_r2, w2) = lwt::unix::pipe().unwrap();
///     lwt::unix::dup2(&w, &w2, true).unwrap();
///     lwt::unix::write(&w2, b"x").await.unwrap(); // goes into the first pipe
///     let mut b = [0u8; 1];
///     assert_eq!(lwt::unix::read(&r, &mut b).await.unwrap(), 1);
/// });
/// ```
pub fn dup2(src: &FileDescr, dst: &FileDescr, cloexec: bool) -> Result<()> {
    let s = src.checked()?;
    let d = dst.checked()?;
    if s.as_raw_fd() == d.as_raw_fd() {
        return if cloexec {
            set_close_on_exec(dst)
        } else {
            clear_close_on_exec(dst)
        };
    }
    // Before the number changes file: epoll keys its registrations by (file, number), so the
    // old file's registration could not be removed afterwards.
    dst.reregister();
    loop {
        // SAFETY: both numbers are open descriptors kept alive by `s` and `d` for the call;
        // dup2/dup3 replace `d`'s open file in place, so `d`'s owner still owns an open number.
        let r = unsafe { dup_onto(s.as_raw_fd(), d.as_raw_fd(), cloexec) };
        if r != -1 {
            break;
        }
        let e = Error::last_os_error("dup2", "");
        if e.errno() != Some(libc::EINTR) && e.errno() != Some(libc::EBUSY) {
            return Err(e);
        }
    }
    #[cfg(target_vendor = "apple")]
    if cloexec {
        // No dup3 there: the flag is set right after (dup2 leaves it clear).
        set_close_on_exec(dst)?;
    }
    // What lwt learnt about `dst`'s old file (socket or not, regular or not) no longer holds.
    dst.forget_kind();
    crate::fd::set_blocking(dst, src.is_blocking(), false)
}

/// `dup3(src, dst, O_CLOEXEC or 0)`; `dup2` where there is no `dup3` (the caller then sets
/// the flag).
///
/// # Safety
///
/// `src` and `dst` must be open descriptors whose owners allow `dst` to be replaced.
#[cfg(not(target_vendor = "apple"))]
unsafe fn dup_onto(src: i32, dst: i32, cloexec: bool) -> i32 {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: the caller's contract.
    unsafe { libc::dup3(src, dst, flags) }
}

/// See the other `dup_onto`.
///
/// # Safety
///
/// `src` and `dst` must be open descriptors whose owners allow `dst` to be replaced.
#[cfg(target_vendor = "apple")]
unsafe fn dup_onto(src: i32, dst: i32, _cloexec: bool) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { libc::dup2(src, dst) }
}

fn set_cloexec(fd: &FileDescr, on: bool, call: &'static str) -> Result<()> {
    use rustix::io::FdFlags;
    let os = fd.checked()?;
    let flags = cvt(rustix::io::fcntl_getfd(&os), call, "")?;
    let new = if on {
        flags | FdFlags::CLOEXEC
    } else {
        flags - FdFlags::CLOEXEC
    };
    cvt(rustix::io::fcntl_setfd(&os, new), call, "")
}

/// Makes `fd` close when the process `exec`s (Lwt's `set_close_on_exec`). Immediate. See
/// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fcntl`, named `"set_close_on_exec"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     lwt::unix::clear_close_on_exec(&r).unwrap();
///     lwt::unix::set_close_on_exec(&r).unwrap();
/// });
/// ```
pub fn set_close_on_exec(fd: &FileDescr) -> Result<()> {
    set_cloexec(fd, true, "set_close_on_exec")
}

/// Lets `fd` be inherited by programs the process `exec`s (Lwt's `clear_close_on_exec`).
/// Immediate. See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `fcntl`, named `"clear_close_on_exec"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     lwt::unix::clear_close_on_exec(&r).unwrap();
/// });
/// ```
pub fn clear_close_on_exec(fd: &FileDescr) -> Result<()> {
    set_cloexec(fd, false, "clear_close_on_exec")
}

/// Creates a named pipe (FIFO) at `path` with permissions `perm` (Lwt's `mkfifo`). Runs in a
/// job. See [mkfifo(3)](https://man7.org/linux/man-pages/man3/mkfifo.3.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `mkfifo(3)`, named `"mkfifo"`
/// (`EEXIST`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{mkfifo, stat, FileKind};
/// lwt::run(async {
///     let p = std::env::temp_dir().join(format!("lwt-doc-mkfifo-{}", std::process::id()));
///     mkfifo(&p, 0o600).await.unwrap();
///     assert_eq!(stat(&p).await.unwrap().st_kind, FileKind::Fifo);
///     lwt::unix::unlink(&p).await.unwrap();
/// });
/// ```
pub async fn mkfifo(path: impl AsRef<Path>, perm: u32) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "mkfifo")?;
    let arg = parg(path);
    job(move || {
        crate::retry_eintr(|| {
            // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
            match unsafe { libc::mkfifo(c.as_ptr(), perm as libc::mode_t) } {
                0 => Ok(()),
                _ => Err(Error::last_os_error("mkfifo", arg.clone())),
            }
        })
    })
    .await
}

/// What [`lockf`] does (OCaml's `lock_command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockCommand {
    /// `F_ULOCK`: unlock the region.
    #[doc(alias = "F_ULOCK")]
    Unlock,
    /// `F_LOCK`: lock the region for writing, waiting while another process holds a lock.
    #[doc(alias = "F_LOCK")]
    Lock,
    /// `F_TLOCK`: lock the region for writing, or fail at once if another process holds it.
    #[doc(alias = "F_TLOCK")]
    TryLock,
    /// `F_TEST`: fail if another process holds a lock on the region.
    #[doc(alias = "F_TEST")]
    Test,
    /// `F_RLOCK`: lock the region for reading, waiting while another process write-locks it.
    #[doc(alias = "F_RLOCK")]
    ReadLock,
    /// `F_TRLOCK`: lock the region for reading, or fail at once.
    #[doc(alias = "F_TRLOCK")]
    TryReadLock,
}

/// Locks, unlocks or tests a region of `fd`'s file (Lwt's `lockf`, with OCaml's meaning). The
/// region starts at the current position and spans `len` bytes forward, or `-len` bytes
/// backward if `len` is negative; 0 means "to the end of the file, however far it grows".
/// The locks are POSIX record locks (`fcntl(F_SETLK)`): held per process, released when the
/// process closes any descriptor of the file. Runs in a job (`Lock` and `ReadLock` wait
/// there; under the `none` async method they block the loop). See
/// [lockf(3)](https://man7.org/linux/man-pages/man3/lockf.3.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; named `"lockf"`: `EACCES` or `EAGAIN` when another process holds a
/// conflicting lock (`TryLock`, `TryReadLock`, `Test`), `EDEADLK`, `EBADF` for a write lock
/// on a descriptor not open for writing.
///
/// # Examples
///
/// ```
/// use lwt::unix::{lockf, openfile, LockCommand, OpenFlags};
/// lwt::run(async {
///     let p = std::env::temp_dir().join(format!("lwt-doc-lockf-{}", std::process::id()));
///     let fd = openfile(&p, OpenFlags::RDWR | OpenFlags::CREAT, 0o600).await.unwrap();
///     lockf(&fd, LockCommand::TryLock, 0).await.unwrap();
///     lockf(&fd, LockCommand::Test, 0).await.unwrap(); // our own lock never conflicts
///     lockf(&fd, LockCommand::Unlock, 0).await.unwrap();
///     lwt::unix::unlink(&p).await.unwrap();
/// });
/// ```
pub async fn lockf(fd: &FileDescr, cmd: LockCommand, len: i64) -> Result<()> {
    let os = fd.checked()?;
    job(move || lockf_now(&os, cmd, len)).await
}

fn lockf_now(fd: &crate::fd::FdGuard, cmd: LockCommand, len: i64) -> Result<()> {
    let (op, ty) = match cmd {
        LockCommand::Unlock => (libc::F_SETLK, libc::F_UNLCK),
        LockCommand::Lock => (libc::F_SETLKW, libc::F_WRLCK),
        LockCommand::TryLock => (libc::F_SETLK, libc::F_WRLCK),
        LockCommand::Test => (libc::F_GETLK, libc::F_WRLCK),
        LockCommand::ReadLock => (libc::F_SETLKW, libc::F_RDLCK),
        LockCommand::TryReadLock => (libc::F_SETLK, libc::F_RDLCK),
    };
    // SAFETY: `flock` is plain old data; all-zero is a valid value that we then fill in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as _;
    fl.l_whence = libc::SEEK_CUR as _;
    if len < 0 {
        fl.l_start = len as _;
        fl.l_len = len
            .checked_neg()
            .ok_or_else(|| Error::invalid("lockf", "length out of range"))? as _;
    } else {
        fl.l_start = 0;
        fl.l_len = len as _;
    }
    crate::retry_eintr(|| {
        // SAFETY: `fd` is open for the call and `fl` a valid `flock` the kernel reads and, for
        // F_GETLK, writes.
        match unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), op, &mut fl) } {
            -1 => Err(Error::last_os_error("lockf", "")),
            _ => Ok(()),
        }
    })?;
    if cmd == LockCommand::Test && fl.l_type != libc::F_UNLCK as _ {
        return Err(Error::from_errno(libc::EACCES, "lockf", ""));
    }
    Ok(())
}
