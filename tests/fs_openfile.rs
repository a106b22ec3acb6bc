//! `openfile`, its flags and close-on-exec, and file I/O (`read`, `write`, `pread`, `pwrite`,
//! `lseek`) by every async method, on the page-cache fast path and on the job path.
#![cfg(unix)]
mod util;

use lwt::unix::{
    close, lseek, openfile, pread, pwrite, read, unix_file_descr, unlink, write, AsyncMethod,
    OpenFlags, SeekCommand,
};
use lwt::Error;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

fn tmp(name: &str, kind: lwt::BackendKind) -> PathBuf {
    std::env::temp_dir().join(format!(
        "lwt-fs-open-{name}-{}-{}",
        kind.name(),
        std::process::id()
    ))
}

/// Drops the file's pages from the page cache, so the next read misses it (Linux and
/// Android; elsewhere the "cold" pass reads cached pages, which the test also accepts).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn evict(fd: &lwt::unix::FileDescr) {
    // SAFETY: the descriptor is open for the call; fdatasync writes dirty pages back, then
    // fadvise drops the (now clean) cached pages.
    let r = unsafe {
        assert_eq!(libc::fdatasync(fd.as_raw_fd()), 0);
        libc::posix_fadvise(fd.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED)
    };
    assert_eq!(r, 0);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn evict(fd: &lwt::unix::FileDescr) {
    // SAFETY: the descriptor is open for the call.
    assert_eq!(unsafe { libc::fsync(fd.as_raw_fd()) }, 0);
}

#[test]
fn write_then_read_back_by_every_method_cached_and_cold() {
    util::for_each_backend(|kind| async move {
        let path = tmp("rw", kind);
        let fd = openfile(
            &path,
            OpenFlags::RDWR | OpenFlags::CREAT | OpenFlags::TRUNC,
            0o600,
        )
        .await
        .unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut off = 0;
        while off < data.len() {
            off += write(&fd, &data[off..]).await.unwrap();
        }
        lwt::unix::fsync(&fd).await.unwrap();
        for method in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            for cold in [false, true] {
                if cold {
                    evict(&fd);
                }
                let body = async {
                    assert_eq!(lseek(&fd, 0, SeekCommand::Set).await.unwrap(), 0);
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = read(&fd, &mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert!(got == data, "{method:?} cold={cold}");
                    let mut b = [0u8; 4];
                    assert_eq!(pread(&fd, &mut b, 251).await.unwrap(), 4);
                    assert_eq!(b, [0, 1, 2, 3]);
                    // pread does not move the position: still at the end.
                    assert_eq!(
                        lseek(&fd, 0, SeekCommand::Cur).await.unwrap(),
                        data.len() as u64
                    );
                };
                match method {
                    AsyncMethod::None => lwt::unix::with_async_none(body).await,
                    AsyncMethod::Detach => lwt::unix::with_async_detach(body).await,
                    AsyncMethod::Switch => lwt::unix::with_async_switch(body).await,
                }
            }
        }
        assert_eq!(pwrite(&fd, b"XY", 1).await.unwrap(), 2);
        let mut b = [0u8; 4];
        assert_eq!(pread(&fd, &mut b, 0).await.unwrap(), 4);
        assert_eq!(b, [0, b'X', b'Y', 3]);
        assert_eq!(
            lseek(&fd, -2, SeekCommand::End).await.unwrap(),
            data.len() as u64 - 2
        );
        assert_eq!(read(&fd, &mut b).await.unwrap(), 2);
        close(&fd).await.unwrap();
        unlink(&path).await.unwrap();
    });
}

#[test]
fn flags_and_open_errors() {
    util::for_each_backend(|kind| async move {
        let path = tmp("flags", kind);
        let _ = std::fs::remove_file(&path);
        let e = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap_err();
        assert_eq!(
            (e.errno(), e.call()),
            (Some(libc::ENOENT), Some("openfile"))
        );
        assert!(e.to_string().contains("lwt-fs-open-flags"), "{e}");
        let fd = openfile(
            &path,
            OpenFlags::WRONLY | OpenFlags::CREAT | OpenFlags::EXCL,
            0o640,
        )
        .await
        .unwrap();
        assert_eq!(lwt::unix::fstat(&fd).await.unwrap().st_perm & 0o700, 0o600);
        write(&fd, b"abc").await.unwrap();
        // A write-only descriptor cannot be read.
        let mut b = [0u8; 3];
        assert_eq!(
            read(&fd, &mut b).await.unwrap_err().errno(),
            Some(libc::EBADF)
        );
        close(&fd).await.unwrap();
        let e = openfile(
            &path,
            OpenFlags::WRONLY | OpenFlags::CREAT | OpenFlags::EXCL,
            0o640,
        )
        .await
        .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        // APPEND writes at the end whatever the position.
        let fd = openfile(&path, OpenFlags::WRONLY | OpenFlags::APPEND, 0)
            .await
            .unwrap();
        lseek(&fd, 0, SeekCommand::Set).await.unwrap();
        write(&fd, b"def").await.unwrap();
        close(&fd).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdef");
        // TRUNC empties it.
        let all = OpenFlags::RDWR
            | OpenFlags::TRUNC
            | OpenFlags::NOCTTY
            | OpenFlags::DSYNC
            | OpenFlags::SYNC
            | OpenFlags::RSYNC
            | OpenFlags::SHARE_DELETE
            | OpenFlags::CLOEXEC;
        let fd = openfile(&path, all, 0).await.unwrap();
        assert_eq!(read(&fd, &mut b).await.unwrap(), 0);
        close(&fd).await.unwrap();
        let e = openfile("/tmp/a\0b", OpenFlags::RDONLY, 0)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    call: "openfile",
                    ..
                }
            ),
            "{e:?}"
        );
        // A regular file is used with blocking I/O (jobs), a FIFO opened NONBLOCK without.
        let fd = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
        assert!(lwt::unix::blocking(&fd));
        close(&fd).await.unwrap();
        unlink(&path).await.unwrap();
        // A device opened NONBLOCK is used with non-blocking I/O, else with jobs.
        let null = openfile("/dev/null", OpenFlags::RDWR | OpenFlags::NONBLOCK, 0)
            .await
            .unwrap();
        assert!(!lwt::unix::blocking(&null));
        assert_eq!(write(&null, b"x").await.unwrap(), 1);
        assert_eq!(read(&null, &mut b).await.unwrap(), 0);
        close(&null).await.unwrap();
        let null = openfile("/dev/null", OpenFlags::RDWR, 0).await.unwrap();
        assert!(lwt::unix::blocking(&null));
        assert_eq!(read(&null, &mut b).await.unwrap(), 0);
        close(&null).await.unwrap();
        let fifo = tmp("fifo", kind);
        lwt::unix::mkfifo(&fifo, 0o600).await.unwrap();
        let r = openfile(&fifo, OpenFlags::RDONLY | OpenFlags::NONBLOCK, 0)
            .await
            .unwrap();
        assert!(!lwt::unix::blocking(&r));
        let w = openfile(&fifo, OpenFlags::WRONLY, 0).await.unwrap();
        write(&w, b"via fifo").await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(read(&r, &mut buf).await.unwrap(), 8);
        close(&r).await.unwrap();
        close(&w).await.unwrap();
        unlink(&fifo).await.unwrap();
    });
}

fn child_sees(fd: i32) -> bool {
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("test -e /proc/self/fd/{fd}"))
        .status()
        .unwrap()
        .success()
}

#[test]
fn close_on_exec_unless_keepexec() {
    util::for_each_backend(|kind| async move {
        let path = tmp("exec", kind);
        let flags = OpenFlags::RDWR | OpenFlags::CREAT;
        let closed = openfile(&path, flags, 0o600).await.unwrap();
        let kept = openfile(&path, flags | OpenFlags::KEEPEXEC, 0o600)
            .await
            .unwrap();
        assert!(!child_sees(unix_file_descr(&closed)));
        assert!(child_sees(unix_file_descr(&kept)));
        // Both flags: CLOEXEC wins, as in Lwt (it used to be refused).
        let both = openfile(
            &path,
            flags | OpenFlags::CLOEXEC | OpenFlags::KEEPEXEC,
            0o600,
        )
        .await
        .unwrap();
        assert!(!child_sees(unix_file_descr(&both)));
        close(&both).await.unwrap();
        // And the flag can be changed afterwards.
        lwt::unix::clear_close_on_exec(&closed).unwrap();
        lwt::unix::set_close_on_exec(&kept).unwrap();
        assert!(child_sees(unix_file_descr(&closed)));
        assert!(!child_sees(unix_file_descr(&kept)));
        close(&closed).await.unwrap();
        close(&kept).await.unwrap();
        unlink(&path).await.unwrap();
    });
}

/// Whether the file lives in memory (tmpfs, ramfs), where no page can be evicted.
#[cfg(target_os = "linux")]
fn memory_backed(fd: &lwt::unix::FileDescr) -> bool {
    // SAFETY: the descriptor is open while `fd` is, for the whole call.
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd.as_raw_fd()) };
    let t = rustix::fs::fstatfs(b).unwrap().f_type as i64;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    t == libc::TMPFS_MAGIC || t == RAMFS_MAGIC
}

/// Polls a future once with a waker that does nothing.
#[cfg(target_os = "linux")]
fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    f.poll(&mut std::task::Context::from_waker(&waker))
}

#[cfg(target_os = "linux")]
#[test]
fn cached_reads_complete_at_once_and_cold_ones_go_to_a_job() {
    util::for_each_backend(|kind| async move {
        let path = tmp("fast", kind);
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        lwt::unix::with_async_detach(async {
            // Cached: the first poll completes it, no job, no thread hop.
            let fd = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
            let mut buf = vec![0u8; 65536];
            {
                let mut r = std::pin::pin!(read(&fd, &mut buf));
                assert!(matches!(
                    poll_once(r.as_mut()),
                    std::task::Poll::Ready(Ok(65536))
                ));
            }
            let mut b = [0u8; 8];
            let mut p = std::pin::pin!(pread(&fd, &mut b, 1000));
            assert!(matches!(
                poll_once(p.as_mut()),
                std::task::Poll::Ready(Ok(8))
            ));
            close(&fd).await.unwrap();

            // Not cached: the read goes to a job (pending at first), and still reads it all.
            // Eviction can miss pages still in per-CPU lists, so try a few times.
            for _ in 0..20 {
                let fd = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
                if memory_backed(&fd) {
                    eprintln!("unsupported here: {path:?} is in memory (tmpfs), it cannot be cold");
                    return close(&fd).await.unwrap();
                }
                evict(&fd);
                let went_to_job = {
                    let mut r = std::pin::pin!(read(&fd, &mut buf));
                    match poll_once(r.as_mut()) {
                        std::task::Poll::Ready(n) => {
                            assert_eq!(n.unwrap(), 65536);
                            false
                        }
                        std::task::Poll::Pending => {
                            assert_eq!(r.await.unwrap(), 65536);
                            true
                        }
                    }
                };
                assert!(buf.iter().all(|&x| x == 7));
                close(&fd).await.unwrap();
                if went_to_job {
                    return;
                }
                lwt::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("a read of an evicted file never went to a job");
        })
        .await;
        unlink(&path).await.unwrap();
    });
}

/// `of_unix_file_descr` with no blocking mode given picks Lwt's: non-blocking for sockets and
/// pipes, blocking (jobs) for anything else; a mode given is kept.
#[test]
fn a_wrapped_descriptor_gets_lwts_default_blocking_mode() {
    use lwt::unix::{blocking, of_unix_file_descr};
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let raw = a.as_raw_fd();
    let sock = of_unix_file_descr(a.into(), None, true).unwrap();
    assert!(!blocking(&sock), "a socket");
    assert_eq!(
        format!("{sock:?}"),
        format!("FileDescr {{ fd: {raw}, state: Opened, blocking: false }}")
    );
    assert_eq!(
        format!("{:?}", sock.checked().unwrap()),
        format!("FdGuard({raw})")
    );
    let (r, _w) = std::io::pipe().unwrap();
    let r: std::os::fd::OwnedFd = r.into();
    assert!(
        !blocking(&of_unix_file_descr(r, None, true).unwrap()),
        "a pipe"
    );
    let f = std::fs::File::open("/dev/null").unwrap();
    assert!(
        blocking(&of_unix_file_descr(f.into(), None, true).unwrap()),
        "a device"
    );
    let f = std::fs::File::open("/dev/null").unwrap();
    assert!(
        !blocking(&of_unix_file_descr(f.into(), Some(false), true).unwrap()),
        "given"
    );
}
