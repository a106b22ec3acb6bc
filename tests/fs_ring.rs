//! Regular-file reads that miss the page cache, writes, `fsync` and `fdatasync`: on io_uring
//! the kernel does them through the ring (no pool thread, the loop goes on); elsewhere they
//! run as jobs. Either way the data is right, and reads canceled in flight (by a timeout, or by
//! dropping their runtime) free nothing early: the runtime goes on, and later reads see the
//! right bytes.
//!
//! On io_uring `openfile`, `stat`, `lstat`, `fstat` and `file_exists` go through the ring too,
//! and an open canceled in flight leaks no descriptor.
//!
//! The pool's threads are counted in a child process that runs no other test.
#![cfg(target_os = "linux")]
mod util;

use lwt::unix::{fdatasync, fsync, of_unix_file_descr, pread, pwrite, read, write, FileDescr};
use lwt::BackendKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SIZE: usize = 4 << 20;
const CHUNK: usize = 64 << 10;

fn byte(i: usize) -> u8 {
    (i / 4096 % 251) as u8
}

/// A file of `SIZE` bytes, written, synced, and its pages dropped from the cache.
fn cold_file(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("lwt-ring-{tag}-{}", std::process::id()));
    let data: Vec<u8> = (0..SIZE).map(byte).collect();
    std::fs::write(&path, &data).unwrap();
    drop_cache(&path);
    path
}

fn drop_cache(path: &Path) {
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: a valid descriptor; the call only advises the kernel.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0);
}

/// Opened without a job (`openfile` would start a pool thread).
fn open(path: &Path) -> FileDescr {
    let f = std::fs::File::open(path).unwrap();
    of_unix_file_descr(OwnedFd::from(f), Some(true), false).unwrap()
}

async fn read_all_and_check(path: &Path) {
    let fd = open(path);
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0;
    loop {
        let n = read(&fd, &mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n].iter().enumerate().all(|(i, &b)| b == byte(at + i)),
            "bytes {at}..{}",
            at + n
        );
        at += n;
    }
    assert_eq!(at, SIZE);
    // pread at offsets, after dropping the pages again.
    drop_cache(path);
    for off in [0, 12_345, SIZE - 100] {
        let n = pread(&fd, &mut buf[..100], off as u64).await.unwrap();
        assert_eq!(n, 100);
        assert!(buf[..100]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == byte(off + i)));
    }
}

/// Writes a file through `write` (at the position) and `pwrite`, syncs it both ways, and
/// checks its bytes with std.
async fn write_sync_and_check(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let fd = of_unix_file_descr(OwnedFd::from(f), Some(true), false).unwrap();
    let data: Vec<u8> = (0..SIZE / 4).map(byte).collect();
    let mut at = 0;
    while at < data.len() {
        at += write(&fd, &data[at..(at + CHUNK).min(data.len())])
            .await
            .unwrap();
    }
    assert_eq!(pwrite(&fd, b"HEAD", 0).await.unwrap(), 4);
    fsync(&fd).await.unwrap();
    fdatasync(&fd).await.unwrap();
    let back = std::fs::read(path).unwrap();
    assert_eq!(back.len(), data.len());
    assert_eq!(&back[..4], b"HEAD");
    assert!(back[4..] == data[4..]);
}

/// `readv` of the cold file at `path` into three slices, in order, and `writev` of three
/// slices to `scratch` (which is replaced): the bytes land where they belong.
async fn vectors_and_check(path: &Path, scratch: &Path) {
    use lwt::unix::{readv, writev, IoVectors};
    drop_cache(path);
    let fd = open(path);
    let (mut a, mut b, mut c) = (vec![0u8; 100], vec![0u8; 5000], vec![0u8; 3]);
    let mut vs = IoVectors::new();
    vs.append_bytes(&mut a, 0, 100);
    vs.append_bytes(&mut b, 1000, 4000);
    vs.append_bytes(&mut c, 0, 3);
    let n = readv(&fd, &mut vs).await.unwrap();
    drop(vs);
    assert_eq!(n, 4103, "a regular file's readv fills every slice");
    assert!(a.iter().enumerate().all(|(i, &x)| x == byte(i)));
    assert!(
        b[..1000].iter().all(|&x| x == 0),
        "bytes before the slice untouched"
    );
    assert!(b[1000..]
        .iter()
        .enumerate()
        .all(|(i, &x)| x == byte(100 + i)));
    assert!(c.iter().enumerate().all(|(i, &x)| x == byte(4100 + i)));

    let f = std::fs::File::create(scratch).unwrap();
    let out = of_unix_file_descr(OwnedFd::from(f), Some(true), false).unwrap();
    let mut vs = IoVectors::new();
    vs.append_slice(b"head:", 0, 5);
    vs.append_slice(b"xxbodyxx", 2, 4);
    vs.append_slice(b":tail", 0, 5);
    assert_eq!(writev(&out, &vs).await.unwrap(), 14);
    assert_eq!(writev(&out, &vs).await.unwrap(), 14, "at the file position");
    assert_eq!(
        std::fs::read(scratch).unwrap(),
        b"head:body:tailhead:body:tail"
    );
}

/// `openfile`, `stat`, `lstat`, `fstat` and `file_exists` give what std gives, and their
/// errors name the call and the path. `path` holds `SIZE` bytes; `scratch` may be replaced.
async fn path_calls_and_check(path: &Path, scratch: &Path) {
    use lwt::unix::{file_exists, fstat, lstat, openfile, stat, FileKind, OpenFlags};
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(path).unwrap();
    let st = stat(path).await.unwrap();
    assert_eq!(st.st_kind, FileKind::Regular);
    assert_eq!(st.st_size, SIZE as i64);
    assert_eq!((st.st_dev, st.st_ino), (want.dev(), want.ino()));
    assert_eq!(st.st_perm, want.mode() & 0o7777);
    assert_eq!(st.st_nlink, want.nlink());
    assert_eq!((st.st_uid, st.st_gid), (want.uid(), want.gid()));
    assert_eq!(st.st_mtime, want.modified().unwrap());
    let fd = openfile(path, OpenFlags::RDONLY, 0).await.unwrap();
    assert!(fd.is_blocking(), "a regular file is used in blocking mode");
    let fst = fstat(&fd).await.unwrap();
    assert_eq!(
        (fst.st_dev, fst.st_ino, fst.st_size),
        (st.st_dev, st.st_ino, st.st_size)
    );
    let mut head = vec![0u8; 4096];
    assert_eq!(pread(&fd, &mut head, 0).await.unwrap(), 4096);
    assert!(head.iter().all(|&b| b == byte(0)));
    lwt::unix::close(&fd).await.unwrap();
    // A directory, a symbolic link, a missing file, a file created through the open.
    assert_eq!(stat("/").await.unwrap().st_kind, FileKind::Directory);
    let link = scratch.with_extension("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(path, &link).unwrap();
    assert_eq!(lstat(&link).await.unwrap().st_kind, FileKind::Symlink);
    assert_eq!(stat(&link).await.unwrap().st_ino, st.st_ino);
    std::fs::remove_file(&link).unwrap();
    let missing = scratch.with_extension("missing");
    let e = stat(&missing).await.unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.to_string().contains("stat"), "{e}");
    let e = openfile(&missing, OpenFlags::RDONLY, 0).await.unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.to_string().contains("openfile"), "{e}");
    assert!(file_exists(path).await.unwrap());
    assert!(!file_exists(&missing).await.unwrap());
    let made = scratch.with_extension("made");
    let _ = std::fs::remove_file(&made);
    let flags = OpenFlags::WRONLY | OpenFlags::CREAT | OpenFlags::EXCL;
    let fd = openfile(&made, flags, 0o600).await.unwrap();
    assert_eq!(write(&fd, b"made").await.unwrap(), 4);
    lwt::unix::close(&fd).await.unwrap();
    assert_eq!(std::fs::read(&made).unwrap(), b"made");
    assert_eq!(std::fs::metadata(&made).unwrap().mode() & 0o777, 0o600);
    let e = openfile(&made, flags, 0o600).await.unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    std::fs::remove_file(&made).unwrap();
}

#[test]
fn path_calls_are_right_on_every_backend() {
    let path = cold_file("paths");
    let scratch = std::env::temp_dir().join(format!("lwt-ring-p-{}", std::process::id()));
    util::for_each_backend(|_| {
        let (path, scratch) = (path.clone(), scratch.clone());
        async move { path_calls_and_check(&path, &scratch).await }
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn opens_canceled_in_flight_leak_no_descriptor() {
    // In a process of its own: the other tests of this binary open files meanwhile.
    let (ok, text) = util::run_child_test("opens_canceled_child", &[], Duration::from_secs(120));
    assert!(ok, "{text}");
}

#[test]
#[ignore = "run in a child process by the test above"]
fn opens_canceled_child() {
    if !util::in_child() {
        return;
    }
    let path = cold_file("open-cancel");
    for kind in util::backends() {
        let _deadline = util::deadline(format!("canceled opens on {kind}"), util::DEADLINE);
        let before = util::open_fds();
        let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Canceled by timeouts from 0 to 190 µs (on io_uring, while the statx or the openat
        // is in flight), then by dropping the runtime with opens in flight; the ones that
        // finish in time are closed by their drop.
        util::runtime(kind).block_on(async {
            for round in 0..20u64 {
                let mut tasks = Vec::new();
                for _ in 0..32 {
                    let (path, opened) = (path.clone(), opened.clone());
                    tasks.push(lwt::spawn(async move {
                        let open = lwt::unix::openfile(&path, lwt::unix::OpenFlags::RDONLY, 0);
                        if let Ok(_fd) =
                            lwt::unix::with_timeout(Duration::from_micros(round * 10), open).await
                        {
                            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
        });
        let rt = util::runtime(kind);
        rt.block_on(async {
            for _ in 0..64 {
                let path = path.clone();
                drop(lwt::spawn(async move {
                    let _ = lwt::unix::openfile(&path, lwt::unix::OpenFlags::RDONLY, 0).await;
                }));
            }
            lwt::yield_now().await;
        });
        drop(rt);
        // A job-backed open canceled after its worker started ends in the background, and
        // its descriptor is closed when its result is dropped: wait for those calls, so that
        // none opens a descriptor after the count below (the next backend's `before`).
        util::runtime(kind).block_on(lwt::unix::wait_for_jobs());
        util::eventually(util::WAIT_LIMIT, || util::open_fds() <= before);
        assert_eq!(
            util::open_fds(),
            before,
            "canceled opens on {kind} leaked descriptors ({} of 640 finished in time)",
            opened.load(std::sync::atomic::Ordering::Relaxed)
        );
        println!(
            "{kind}: {} of 640 opens finished before their timeout; none leaked",
            opened.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn file_io_is_right_everywhere_and_needs_no_pool_thread_on_io_uring() {
    if BackendKind::IoUring.is_available() && util::backends().contains(&BackendKind::IoUring) {
        // In a process of its own, whose job pool has never run a job.
        let (ok, text) =
            util::run_child_test("file_io_on_io_uring_child", &[], Duration::from_secs(60));
        assert!(ok, "{text}");
    }
    let path = cold_file("cold");
    let written = std::env::temp_dir().join(format!("lwt-ring-w-{}", std::process::id()));
    util::for_each_backend(|_| {
        let (path, written) = (path.clone(), written.clone());
        async move {
            drop_cache(&path);
            read_all_and_check(&path).await;
            write_sync_and_check(&written).await;
            vectors_and_check(&path, &written).await;
        }
    });
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&written).unwrap();
}

#[test]
#[ignore = "run in a child process by the test above"]
fn file_io_on_io_uring_child() {
    if !util::in_child() {
        return;
    }
    let path = cold_file("cold-child");
    assert_eq!(lwt::unix::thread_count(), 0);
    let written = std::env::temp_dir().join(format!("lwt-ring-w-child-{}", std::process::id()));
    util::runtime(BackendKind::IoUring).block_on(async {
        read_all_and_check(&path).await;
        write_sync_and_check(&written).await;
        vectors_and_check(&path, &written).await;
        path_calls_and_check(&path, &written).await;
    });
    assert_eq!(
        lwt::unix::thread_count(),
        0,
        "a cold read, a write, a readv, a writev, a sync, an open or a stat on io_uring started a pool thread"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&written).unwrap();
}

#[test]
fn reads_canceled_in_flight_free_nothing_early() {
    let path = cold_file("cancel");
    for kind in util::backends() {
        let _deadline = util::deadline(format!("canceled reads on {kind}"), util::DEADLINE);
        // Canceled by a timeout that fires while they are in flight.
        drop_cache(&path);
        util::runtime(kind).block_on(async {
            let fd = std::sync::Arc::new(open(&path));
            let mut tasks = Vec::new();
            for i in 0..64 {
                let fd = fd.clone();
                tasks.push(lwt::spawn(async move {
                    let mut buf = vec![0u8; CHUNK];
                    let off = (i * CHUNK) % SIZE;
                    match lwt::unix::with_timeout(
                        Duration::from_micros(50),
                        pread(&fd, &mut buf, off as u64),
                    )
                    .await
                    {
                        Ok(n) => assert!(buf[..n]
                            .iter()
                            .enumerate()
                            .all(|(j, &b)| b == byte(off + j))),
                        Err(lwt::Error::Timeout) => {}
                        Err(e) => panic!("{e}"),
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        // Canceled by dropping their runtime while they are in flight.
        drop_cache(&path);
        let rt = util::runtime(kind);
        let fd = std::sync::Arc::new(open(&path));
        rt.block_on(async {
            for i in 0..64 {
                let fd = fd.clone();
                drop(lwt::spawn(async move {
                    let mut buf = vec![0u8; CHUNK];
                    let _ = pread(&fd, &mut buf, ((i * CHUNK) % SIZE) as u64).await;
                }));
            }
            lwt::yield_now().await;
        });
        drop(rt);
        // The process goes on, and the bytes are right.
        util::runtime(kind).block_on(read_all_and_check(&path));
    }
    std::fs::remove_file(&path).unwrap();
}

/// Each round a thread makes `n` operations (`make(i)`), polls each once (the request is
/// made), turns the loop once (it is submitted) and exits; the main thread then finishes them
/// in the same runtime. Returns their outcomes.
fn finished_after_their_submitter_exits<F, Fut>(
    rt: &std::sync::Arc<lwt::Runtime>,
    n: usize,
    make: F,
) -> Vec<lwt::Result<i64>>
where
    F: Fn(usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = lwt::Result<i64>> + Send + 'static,
{
    let rt2 = rt.clone();
    let pending = std::thread::spawn(move || {
        rt2.block_on(async move {
            let mut futs: Vec<_> = (0..n).map(|i| Box::pin(make(i))).collect();
            let mut done = Vec::new();
            for f in futs.iter_mut() {
                done.push(futures_lite::future::poll_once(f.as_mut()).await);
            }
            lwt::yield_now().await;
            futs.into_iter().zip(done).collect::<Vec<_>>()
        })
    })
    .join()
    .unwrap();
    rt.block_on(async move {
        let mut out = Vec::new();
        for (f, done) in pending {
            out.push(match done {
                Some(r) => r,
                None => f.await,
            });
        }
        out
    })
}

/// On io_uring the kernel ties a request to the thread that submitted it, and a thread that
/// exits takes its queued work with it (it completes with `ECANCELED`). A loop's thread may
/// exit with requests in flight: a `block_on` thread that returns, a `switch` stand-in. Reads
/// of a file whose pages were dropped, and `stat`s, made by a thread that then exits must
/// still give their result when the runtime goes on elsewhere, never `ECANCELED`. (Elsewhere
/// they are jobs, and the outcome is the same.)
#[test]
fn ring_operations_outlive_the_thread_that_submitted_them() {
    const PART: usize = 1 << 20;
    let path = cold_file("submitter-exit");
    for kind in util::backends() {
        let _deadline = util::deadline(format!("submitter exits on {kind}"), util::DEADLINE);
        let rt = std::sync::Arc::new(util::runtime(kind));
        let fd = open(&path);
        for round in 0..5 {
            drop_cache(&path);
            let fd = fd.clone();
            let reads = finished_after_their_submitter_exits(&rt, SIZE / PART, move |i| {
                let fd = fd.clone();
                async move {
                    let mut buf = vec![0u8; PART];
                    let n = pread(&fd, &mut buf, (i * PART) as u64).await?;
                    assert!(buf[..n]
                        .iter()
                        .enumerate()
                        .all(|(k, &b)| b == byte(i * PART + k)));
                    Ok(n as i64)
                }
            });
            for r in reads {
                match r {
                    Ok(n) => assert_eq!(n as usize, PART, "read, round {round} on {kind}"),
                    Err(e) => {
                        panic!("round {round} on {kind}: a read whose submitter exited failed: {e}")
                    }
                }
            }
            let p = path.clone();
            let stats = finished_after_their_submitter_exits(&rt, 32, move |_| {
                let p = p.clone();
                async move { lwt::unix::stat(&p).await.map(|st| st.st_size) }
            });
            for r in stats {
                match r {
                    Ok(n) => assert_eq!(n as usize, SIZE, "stat, round {round} on {kind}"),
                    Err(e) => {
                        panic!("round {round} on {kind}: a stat whose submitter exited failed: {e}")
                    }
                }
            }
        }
    }
    std::fs::remove_file(&path).unwrap();
}

/// Writes `data` to `fd` and checks how many jobs the write submitted to the pool (0: the
/// ring, or readiness, did it).
async fn write_counting_jobs(fd: &FileDescr, data: &[u8], jobs: u64, what: &str) {
    let submitted = || lwt::Handle::current().metrics().jobs.submitted;
    let before = submitted();
    assert_eq!(write(fd, data).await.unwrap(), data.len());
    assert_eq!(submitted() - before, jobs, "{what}");
}

/// `dup2` puts another file under a descriptor's number, and what lwt learnt about the old
/// file is forgotten: on io_uring a regular file's writes go through the ring and a blocking
/// pipe's run as jobs, so a descriptor that was a pipe and is now a regular file gets the ring,
/// and the reverse gets a job (a remembered "not a regular file", or "regular file", would keep
/// the old path).
#[test]
fn dup2_makes_the_ring_look_at_the_new_file() {
    if !util::backends().contains(&BackendKind::IoUring) {
        return;
    }
    let _deadline = util::deadline("dup2 and the ring's file type", util::DEADLINE);
    let path = std::env::temp_dir().join(format!("lwt-ring-dup2-{}", std::process::id()));
    util::runtime(BackendKind::IoUring).block_on(async {
        use lwt::unix::{dup2, openfile, pipe, set_blocking, OpenFlags};
        let flags = OpenFlags::RDWR | OpenFlags::CREAT | OpenFlags::TRUNC;
        let file = openfile(&path, flags, 0o600).await.unwrap();
        let (r, w) = pipe().unwrap();
        set_blocking(&w, true, false).unwrap();
        write_counting_jobs(&w, b"p", 1, "a blocking pipe write is a job").await;
        let mut b = [0u8; 1];
        assert_eq!(read(&r, &mut b).await.unwrap(), 1);

        // The pipe's write end becomes the file.
        dup2(&file, &w, false).unwrap();
        let what = "a regular file dup2'ed over a pipe was written by a job, not the ring";
        write_counting_jobs(&w, b"abc", 0, what).await;
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");

        // And the file becomes a pipe's write end (blocking, so not by readiness).
        let (r2, w2) = pipe().unwrap();
        write(&file, b"d").await.unwrap(); // learnt: a regular file
        dup2(&w2, &file, false).unwrap();
        set_blocking(&file, true, false).unwrap();
        let what = "a pipe dup2'ed over a regular file was written through the ring";
        write_counting_jobs(&file, b"q", 1, what).await;
        assert_eq!(read(&r2, &mut b).await.unwrap(), 1);
        assert_eq!(&b, b"q");
    });
    std::fs::remove_file(&path).unwrap();
}

/// On io_uring the kernel's file operations are jobs for `wait_for_jobs` and `abort_jobs`, as
/// the pool's are on the other backends: `wait_for_jobs` waits for one in flight, and
/// `abort_jobs` makes its future fail with the error at once, consuming nothing it had not
/// read. (A read of an empty pipe, started through `lwt_jobs::kernel_job`, stays in flight
/// until the test writes: the public calls use the ring for regular files only, whose reads
/// never wait that long.) A read moved to another task after its first poll is woken there.
#[test]
fn ring_operations_are_jobs_for_wait_and_abort() {
    if util::backends().contains(&BackendKind::IoUring) {
        // In a process of its own: abort_jobs rejects every job of the process.
        let (ok, text) = util::run_child_test("ring_jobs_child", &[], Duration::from_secs(60));
        assert!(ok, "{text}");
    }
}

#[test]
#[ignore = "run in a child process by the test above"]
fn ring_jobs_child() {
    if !util::in_child() {
        return;
    }
    let _deadline = util::deadline("ring operations as jobs", util::DEADLINE);
    util::runtime(BackendKind::IoUring).block_on(async {
        use lwt_core::backend::CompletionKind;
        use std::io::{Read, Write};
        let read_of = |r: &std::io::PipeReader| {
            let fd = r.try_clone().unwrap();
            let raw = fd.as_raw_fd();
            lwt_jobs::kernel_job(
                CompletionKind::Read,
                raw,
                u64::MAX,
                vec![0; 8],
                Box::new(fd),
            )
            .expect("io_uring completes reads")
        };
        // wait_for_jobs waits for the kernel's read.
        let (r, mut w) = std::io::pipe().unwrap();
        let read = lwt::spawn(read_of(&r));
        lwt::yield_now().await;
        let waited = lwt::spawn(lwt::unix::wait_for_jobs());
        lwt::sleep(Duration::from_millis(50)).await;
        assert!(
            !waited.is_finished(),
            "wait_for_jobs returned while a ring read was in flight"
        );
        w.write_all(b"x").unwrap();
        let (n, bytes) = read.await.unwrap().unwrap().unwrap();
        assert_eq!(&bytes[..n], b"x");
        waited.await.unwrap();

        // abort_jobs rejects it; the canceled read consumed nothing.
        let read = lwt::spawn(read_of(&r));
        lwt::yield_now().await;
        lwt::sleep(Duration::from_millis(5)).await;
        lwt::unix::abort_jobs(lwt::Error::Timeout);
        match read.await.unwrap() {
            Err(lwt::Error::Timeout) => {}
            other => panic!("an aborted ring read gave {other:?}"),
        }
        // The kernel lets go of it (its cancel completes), which wait_for_jobs sees.
        lwt::unix::wait_for_jobs().await;
        w.write_all(b"z").unwrap();
        let mut b = [0u8; 1];
        (&r).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"z", "the aborted read took a byte");

        // A read first polled by one task and then awaited by another: abort_jobs wakes the
        // task that polled it last.
        let mut read = Box::pin(read_of(&r));
        assert!(futures_lite::future::poll_once(read.as_mut())
            .await
            .is_none());
        let shown = format!("{read:?}");
        assert!(shown.starts_with("KernelJob { fut: "), "{shown}");
        let moved = lwt::spawn(read);
        lwt::yield_now().await;
        lwt::sleep(Duration::from_millis(5)).await;
        lwt::unix::abort_jobs(lwt::Error::Timeout);
        match lwt::unix::with_timeout(Duration::from_secs(5), async { Ok(moved.await) }).await {
            Ok(Ok(Err(lwt::Error::Timeout))) => {}
            Err(lwt::Error::Timeout) => {
                panic!("abort_jobs woke the task that polled a ring read first, not last")
            }
            other => panic!("an aborted ring read gave {other:?}"),
        }
        lwt::unix::wait_for_jobs().await;
    });
}

/// `cancel_jobs` during cold reads rejects those still in flight, on every backend (pool jobs,
/// or the kernel's reads on io_uring): each read gives the right bytes or `Canceled` (on
/// io_uring some are canceled), and after `wait_for_jobs` no descriptor is left behind.
#[test]
fn cancel_jobs_rejects_file_reads_in_flight_everywhere() {
    // In a process of its own: cancel_jobs rejects every job of the process, and the
    // descriptor count is the process's.
    let (ok, text) = util::run_child_test("cancel_jobs_child", &[], Duration::from_secs(60));
    assert!(ok, "{text}");
}

#[test]
#[ignore = "run in a child process by the test above"]
fn cancel_jobs_child() {
    if !util::in_child() {
        return;
    }
    let path = cold_file("cancel-jobs");
    for kind in util::backends() {
        let _deadline = util::deadline(format!("cancel_jobs on {kind}"), util::DEADLINE);
        drop_cache(&path);
        let fds = util::open_fds();
        let (done, canceled) = util::runtime(kind).block_on(async {
            let fd = std::sync::Arc::new(open(&path));
            let mut tasks = Vec::new();
            for i in 0..64 {
                let fd = fd.clone();
                tasks.push(lwt::spawn(async move {
                    let mut buf = vec![0u8; CHUNK];
                    let off = (i * CHUNK) % SIZE;
                    match pread(&fd, &mut buf, off as u64).await {
                        Ok(n) => {
                            assert!(buf[..n]
                                .iter()
                                .enumerate()
                                .all(|(j, &b)| b == byte(off + j)));
                            false
                        }
                        Err(lwt::Error::Canceled) => true,
                        Err(e) => panic!("{e}"),
                    }
                }));
            }
            lwt::yield_now().await;
            lwt::unix::cancel_jobs();
            let mut canceled = 0;
            for t in tasks {
                canceled += usize::from(t.await.unwrap());
            }
            lwt::unix::wait_for_jobs().await;
            (64 - canceled, canceled)
        });
        // The kernel's cold reads cannot complete before the loop's next turn reaps them, and
        // none comes between the reads' first polls and the cancel; a pool's jobs may all
        // have finished by then (the first read's readahead brings in the rest).
        if kind == BackendKind::IoUring {
            assert!(
                canceled > 0,
                "cancel_jobs rejected none of 64 cold ring reads in flight"
            );
        }
        util::eventually(util::WAIT_LIMIT, || util::open_fds() == fds);
        assert_eq!(util::open_fds(), fds, "{kind}: descriptors left behind");
        println!("{kind}: {canceled} of 64 cold reads canceled, {done} finished");
    }
    std::fs::remove_file(&path).unwrap();
}
