//! Regular-file reads that miss the page cache, writes, `fsync` and `fdatasync`: on io_uring
//! the kernel does them through the ring (no pool thread, the loop goes on); elsewhere they
//! run as jobs. Either way the data is right, and reads canceled in flight (by a timeout, or by
//! dropping their runtime) free nothing early: the runtime goes on, and later reads see the
//! right bytes.
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
    });
    assert_eq!(
        lwt::unix::thread_count(),
        0,
        "a cold read, a write or a sync on io_uring started a pool thread"
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
                    match lwt::with_timeout(
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
