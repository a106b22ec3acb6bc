//! Directories: `mkdir`, `rmdir`, `chdir`, `getcwd`, `chroot`, directory handles
//! (`opendir`, `readdir`, `readdir_n`, `rewinddir`, `closedir`) and `files_of_directory`, a
//! stream that reads entries in batches (one job per batch, never one per entry).

use crate::cvt;
use crate::fs::{cpath, job, parg};
use lwt_core::{Error, Result};
use rustix::fs::{Dir, Mode, OFlags};
use std::collections::VecDeque;
use std::ffi::{CStr, OsString};
use std::future::Future;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// The stream trait of the ecosystem ([`futures_core::Stream`]), re-exported so that
/// [`FilesOfDirectory`] can be polled without naming another crate.
pub use futures_core::Stream;

/// Entries read ahead by one job of [`readdir`], and by the first job of a
/// [`FilesOfDirectory`].
const BATCH: usize = 1024;
/// The most entries one job of a [`FilesOfDirectory`] reads: batches double from [`BATCH`]
/// up to this, so a big directory costs few thread hops and a small one little memory.
const MAX_BATCH: usize = 16 * 1024;

/// Creates the directory `path` with permissions `perm` (Lwt's `mkdir`). Runs in a job. See
/// [mkdir(2)](https://man7.org/linux/man-pages/man2/mkdir.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `mkdir(2)`, named `"mkdir"`
/// (`EEXIST`, `ENOENT`...).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = std::env::temp_dir().join(format!("lwt-doc-mkdir-{}", std::process::id()));
///     lwt::unix::mkdir(&d, 0o755).await.unwrap();
///     assert!(d.is_dir());
///     lwt::unix::rmdir(&d).await.unwrap();
/// });
/// ```
pub async fn mkdir(path: impl AsRef<Path>, perm: u32) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "mkdir")?;
    let arg = parg(path);
    job(move || {
        cvt(
            rustix::fs::mkdir(&*c, Mode::from_raw_mode(perm as _)),
            "mkdir",
            &arg,
        )
    })
    .await
}

/// Removes the empty directory `path` (Lwt's `rmdir`). Runs in a job. See
/// [rmdir(2)](https://man7.org/linux/man-pages/man2/rmdir.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `rmdir(2)`, named `"rmdir"`
/// (`ENOTEMPTY`, `ENOTDIR`...).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let e = lwt::unix::rmdir("/no/such/dir").await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::ENOENT));
/// });
/// ```
pub async fn rmdir(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "rmdir")?;
    let arg = parg(path);
    job(move || cvt(rustix::fs::rmdir(&*c), "rmdir", &arg)).await
}

/// Changes the process's current directory to `path` (Lwt's `chdir`). Runs in a job. The
/// current directory belongs to the whole process. See
/// [chdir(2)](https://man7.org/linux/man-pages/man2/chdir.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `chdir(2)`, named `"chdir"`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let here = lwt::unix::getcwd().await.unwrap();
///     lwt::unix::chdir("/").await.unwrap();
///     assert_eq!(lwt::unix::getcwd().await.unwrap(), std::path::Path::new("/"));
///     lwt::unix::chdir(&here).await.unwrap();
/// });
/// ```
pub async fn chdir(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "chdir")?;
    let arg = parg(path);
    job(move || cvt(rustix::process::chdir(&*c), "chdir", &arg)).await
}

/// The process's current directory (Lwt's `getcwd`). Runs in a job. See
/// [getcwd(3)](https://man7.org/linux/man-pages/man3/getcwd.3.html).
///
/// # Errors
///
/// The errors of `getcwd`, named `"getcwd"` (`ENOENT` if the directory was removed).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert!(lwt::unix::getcwd().await.unwrap().is_absolute());
/// });
/// ```
pub async fn getcwd() -> Result<PathBuf> {
    job(|| {
        cvt(rustix::process::getcwd(Vec::new()), "getcwd", "")
            .map(|c| PathBuf::from(OsString::from_vec(c.into_bytes())))
    })
    .await
}

/// Makes `path` the process's root directory (Lwt's `chroot`). Runs in a job. Needs the
/// privilege (`CAP_SYS_CHROOT`). See [chroot(2)](https://man7.org/linux/man-pages/man2/chroot.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `chroot(2)`, named `"chroot"`
/// (`EPERM` without the privilege).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let e = lwt::unix::chroot("/no/such/dir").await.unwrap_err();
///     assert!(matches!(e.errno(), Some(libc::ENOENT) | Some(libc::EPERM)));
/// });
/// ```
pub async fn chroot(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let c = cpath(path, "chroot")?;
    let arg = parg(path);
    job(move || cvt(rustix::process::chroot(&*c), "chroot", &arg)).await
}

fn open_dir(c: &CStr, arg: &str, call: &'static str) -> Result<Dir> {
    let fd = crate::retry_eintr(|| {
        cvt(
            rustix::fs::open(
                c,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ),
            call,
            arg,
        )
    })?;
    cvt(Dir::new(fd), call, arg)
}

/// Reads up to `want` entries of `dir` into `out`; true when the end was reached.
fn read_batch(
    dir: &mut Dir,
    want: usize,
    out: &mut VecDeque<OsString>,
    call: &'static str,
) -> Result<bool> {
    for _ in 0..want {
        match dir.read() {
            None => return Ok(true),
            Some(Ok(e)) => out.push_back(OsString::from_vec(e.file_name().to_bytes().to_vec())),
            Some(Err(e)) => return Err(cvt(Err(e), call, "")?),
        }
    }
    Ok(false)
}

struct DirState {
    /// `None` once closed.
    dir: Option<Dir>,
    /// Entries read ahead, not yet returned.
    ahead: VecDeque<OsString>,
    /// The directory's end was reached (after the entries in `ahead`).
    end: bool,
}

/// An open directory (OCaml's `dir_handle`), from [`opendir`]. Close it with [`closedir`];
/// dropping it closes it too.
///
/// Clones share the same handle. Every call on a closed handle fails with `EBADF` naming the
/// call (`"readdir"`, `"readdir_n"`, `"rewinddir"`, `"closedir"`).
#[derive(Clone)]
pub struct DirHandle {
    state: Arc<Mutex<DirState>>,
}

impl std::fmt::Debug for DirHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirHandle")
            .field("open", &lock(&self.state).dir.is_some())
            .finish()
    }
}

fn lock(m: &Mutex<DirState>) -> MutexGuard<'_, DirState> {
    // Every critical section leaves the state consistent; poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ebadf(call: &'static str) -> Error {
    Error::from_errno(libc::EBADF, call, "")
}

/// Opens the directory `path` for listing (Lwt's `opendir`). Runs in a job. The handle is
/// close-on-exec. See [opendir(3)](https://man7.org/linux/man-pages/man3/opendir.3.html).
///
/// # Errors
///
/// `InvalidArgument` for a NUL in the path; the errors of `open(2)`, named `"opendir"`
/// (`ENOENT`, `ENOTDIR`, `EACCES`, `EMFILE`...).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = lwt::unix::opendir("/").await.unwrap();
///     assert!(lwt::unix::readdir(&d).await.unwrap().is_some());
///     lwt::unix::closedir(&d).await.unwrap();
/// });
/// ```
pub async fn opendir(path: impl AsRef<Path>) -> Result<DirHandle> {
    let path = path.as_ref();
    let c = cpath(path, "opendir")?;
    let arg = parg(path);
    let dir = job(move || open_dir(&c, &arg, "opendir")).await?;
    Ok(DirHandle {
        state: Arc::new(Mutex::new(DirState {
            dir: Some(dir),
            ahead: VecDeque::new(),
            end: false,
        })),
    })
}

/// Reads up to `want` more entries into the handle's read-ahead queue, in a job.
///
/// A plain function returning the job's future, not an `async fn`: the future then holds no
/// `&DirHandle` (whose lifetime made `readdir_n`'s future "not general enough" to be `Send`
/// in a spawned task, `tests/spawn_send.rs`).
fn fill(
    h: &DirHandle,
    want: usize,
    call: &'static str,
) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
    let state = h.state.clone();
    job(move || {
        let mut s = lock(&state);
        let s = &mut *s;
        let dir = s.dir.as_mut().ok_or_else(|| ebadf(call))?;
        if read_batch(dir, want, &mut s.ahead, call)? {
            s.end = true;
        }
        Ok(())
    })
}

/// The next entry of the directory, `.` and `..` included, or `Ok(None)` at the end (Lwt's
/// `readdir`, which raises `End_of_file` there). Entries are read ahead in batches by one
/// job, so most calls return at once. See [readdir(3)](https://man7.org/linux/man-pages/man3/readdir.3.html).
///
/// # Errors
///
/// `EBADF` named `"readdir"` after [`closedir`]; the errors of `getdents`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = lwt::unix::opendir("/").await.unwrap();
///     let mut names = Vec::new();
///     while let Some(name) = lwt::unix::readdir(&d).await.unwrap() {
///         names.push(name);
///     }
///     assert!(names.iter().any(|n| n == "." ) && names.iter().any(|n| n == ".."));
///     lwt::unix::closedir(&d).await.unwrap();
/// });
/// ```
pub async fn readdir(h: &DirHandle) -> Result<Option<OsString>> {
    loop {
        {
            let mut s = lock(&h.state);
            if s.dir.is_none() {
                return Err(ebadf("readdir"));
            }
            if let Some(name) = s.ahead.pop_front() {
                return Ok(Some(name));
            }
            if s.end {
                return Ok(None);
            }
        }
        fill(h, BATCH, "readdir").await?;
    }
}

/// Reads at most `count` entries in one go (Lwt's `readdir_n`); fewer than `count` means the
/// end of the directory was reached (an empty vector: nothing was left). One job reads them
/// all. See [readdir(3)](https://man7.org/linux/man-pages/man3/readdir.3.html).
///
/// # Errors
///
/// `EBADF` named `"readdir_n"` after [`closedir`]; the errors of `getdents`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = lwt::unix::opendir("/").await.unwrap();
///     let first = lwt::unix::readdir_n(&d, 2).await.unwrap();
///     assert_eq!(first.len(), 2);
///     let rest = lwt::unix::readdir_n(&d, 1_000_000).await.unwrap();
///     assert!(rest.len() < 1_000_000); // a short batch: the end
///     assert!(lwt::unix::readdir_n(&d, 10).await.unwrap().is_empty());
///     lwt::unix::closedir(&d).await.unwrap();
/// });
/// ```
pub async fn readdir_n(h: &DirHandle, count: usize) -> Result<Vec<OsString>> {
    let missing = {
        let s = lock(&h.state);
        if s.dir.is_none() {
            return Err(ebadf("readdir_n"));
        }
        if s.end {
            0
        } else {
            count.saturating_sub(s.ahead.len())
        }
    };
    if missing > 0 {
        fill(h, missing, "readdir_n").await?;
    }
    let mut s = lock(&h.state);
    if s.dir.is_none() {
        return Err(ebadf("readdir_n"));
    }
    let n = count.min(s.ahead.len());
    Ok(s.ahead.drain(..n).collect())
}

/// Restarts the listing from the first entry (Lwt's `rewinddir`). Immediate: the next read
/// starts over. See [rewinddir(3)](https://man7.org/linux/man-pages/man3/rewinddir.3.html).
///
/// # Errors
///
/// `EBADF` named `"rewinddir"` after [`closedir`].
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = lwt::unix::opendir("/").await.unwrap();
///     let a = lwt::unix::readdir_n(&d, 1000).await.unwrap();
///     lwt::unix::rewinddir(&d).await.unwrap();
///     assert_eq!(lwt::unix::readdir_n(&d, 1000).await.unwrap(), a);
///     lwt::unix::closedir(&d).await.unwrap();
/// });
/// ```
pub async fn rewinddir(h: &DirHandle) -> Result<()> {
    let mut s = lock(&h.state);
    let s = &mut *s;
    let dir = s.dir.as_mut().ok_or_else(|| ebadf("rewinddir"))?;
    dir.rewind();
    s.ahead.clear();
    s.end = false;
    Ok(())
}

/// Closes the directory handle (Lwt's `closedir`); every later call on it, this one
/// included, fails with `EBADF` naming the call. Immediate. See
/// [closedir(3)](https://man7.org/linux/man-pages/man3/closedir.3.html).
///
/// # Errors
///
/// `EBADF` named `"closedir"` if it was already closed.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let d = lwt::unix::opendir("/").await.unwrap();
///     lwt::unix::closedir(&d).await.unwrap();
///     let e = lwt::unix::readdir(&d).await.unwrap_err();
///     assert_eq!((e.errno(), e.call()), (Some(libc::EBADF), Some("readdir")));
/// });
/// ```
pub async fn closedir(h: &DirHandle) -> Result<()> {
    let dir = {
        let mut s = lock(&h.state);
        s.ahead.clear();
        s.dir.take()
    };
    // Dropping the `Dir` closes its descriptor (close of a directory does not block).
    dir.map(drop).ok_or_else(|| ebadf("closedir"))
}

type Batch = Result<(Option<Dir>, VecDeque<OsString>)>;

/// The stream of the entries of a directory, from [`files_of_directory`] (Lwt's
/// `string Lwt_stream.t`). It implements [`futures_core::Stream`] with items
/// `Result<OsString>`; [`next`](FilesOfDirectory::next) reads one without any stream crate.
///
/// Entries, `.` and `..` included as in Lwt, are read in batches by one job each (1024
/// entries, doubling up to 16384 for big directories). The
/// directory is opened on the first read and closed at the end, on the first error, or when
/// the stream is dropped.
pub struct FilesOfDirectory {
    path: Option<(std::ffi::CString, String)>,
    dir: Option<Dir>,
    ready: VecDeque<OsString>,
    pending: Option<Pin<Box<dyn Future<Output = Batch> + Send>>>,
    done: bool,
    failed: Option<Error>,
    batch: usize,
}

impl std::fmt::Debug for FilesOfDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesOfDirectory")
            .field("ready", &self.ready.len())
            .field("done", &self.done)
            .finish()
    }
}

/// The stream of the names in the directory `path` (Lwt's `files_of_directory`), `.` and
/// `..` included, read in batches (one job per batch of 1024 entries, doubling up to 16384).
///
/// A path with a NUL byte, or a directory that cannot be opened, makes the first item an
/// error; the stream ends after an error.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let mut names = Vec::new();
///     let mut files = lwt::unix::files_of_directory("/");
///     while let Some(name) = files.next().await {
///         names.push(name.unwrap());
///     }
///     assert!(names.iter().any(|n| n == ".."));
/// });
/// ```
pub fn files_of_directory(path: impl AsRef<Path>) -> FilesOfDirectory {
    let path = path.as_ref();
    let mut s = FilesOfDirectory {
        path: None,
        dir: None,
        ready: VecDeque::new(),
        pending: None,
        done: false,
        failed: None,
        batch: BATCH,
    };
    match cpath(path, "files_of_directory") {
        Ok(c) => s.path = Some((c, parg(path))),
        Err(e) => s.pending = Some(Box::pin(std::future::ready(Err(e)))),
    }
    s
}

impl FilesOfDirectory {
    /// The next name, `None` at the end (what `StreamExt::next` does).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut s = lwt::unix::files_of_directory("/no/such/dir");
    ///     let e = s.next().await.unwrap().unwrap_err();
    ///     assert_eq!(e.errno(), Some(libc::ENOENT));
    ///     assert!(s.next().await.is_none());
    /// });
    /// ```
    pub async fn next(&mut self) -> Option<Result<OsString>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn start_batch(&mut self) {
        let dir = self.dir.take();
        let path = self.path.take();
        let want = self.batch;
        self.batch = (want * 2).min(MAX_BATCH);
        self.pending = Some(Box::pin(async move {
            job(move || {
                let mut dir = match (dir, path) {
                    (Some(d), _) => d,
                    (None, Some((c, arg))) => open_dir(&c, &arg, "files_of_directory")?,
                    (None, None) => return Err(ebadf("files_of_directory")),
                };
                let mut out = VecDeque::with_capacity(want);
                let end = read_batch(&mut dir, want, &mut out, "files_of_directory")?;
                Ok((if end { None } else { Some(dir) }, out))
            })
            .await
        }));
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<OsString>>> {
        loop {
            // Read ahead: the next batch is on its way while the last ones are consumed.
            if self.pending.is_none()
                && !self.done
                && self.failed.is_none()
                && self.ready.len() < BATCH
            {
                self.start_batch();
            }
            if let Some(fut) = self.pending.as_mut() {
                if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                    self.pending = None;
                    match r {
                        Err(e) => self.failed = Some(e),
                        Ok((dir, names)) => {
                            self.done = dir.is_none();
                            self.dir = dir;
                            self.ready.extend(names);
                        }
                    }
                    continue;
                }
            }
            if let Some(name) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(name)));
            }
            if let Some(e) = self.failed.take() {
                self.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            return Poll::Pending;
        }
    }
}

impl futures_core::stream::FusedStream for FilesOfDirectory {
    fn is_terminated(&self) -> bool {
        self.done && self.ready.is_empty() && self.failed.is_none()
    }
}

impl futures_core::Stream for FilesOfDirectory {
    type Item = Result<OsString>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    #[test]
    fn handles_are_send() {
        send_sync::<super::DirHandle>();
        send::<super::FilesOfDirectory>();
    }
}
