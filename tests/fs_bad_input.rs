//! Bad input to the file-system calls: a path with a NUL byte, a closed or aborted
//! descriptor. Each gets a clear error, the runtime stays usable and nothing leaks.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use lwt::Error;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

fn assert_invalid<T: std::fmt::Debug>(r: lwt::Result<T>, call: &str) {
    match r {
        Err(Error::InvalidArgument { call: c, msg }) => {
            assert_eq!(c, call);
            assert!(msg.contains("NUL"), "{msg}");
        }
        other => panic!("{call}: expected InvalidArgument, got {other:?}"),
    }
}

async fn every_path_call_rejects_nul() {
    let p = Path::new("/tmp/lwt\0nul");
    let ok = Path::new("/tmp");
    assert_invalid(openfile(p, OpenFlags::RDONLY, 0).await, "openfile");
    assert_invalid(truncate(p, 0).await, "truncate");
    assert_invalid(stat(p).await, "stat");
    assert_invalid(lstat(p).await, "lstat");
    assert_invalid(file_exists(p).await, "file_exists");
    assert_invalid(utimes(p, UNIX_EPOCH, UNIX_EPOCH).await, "utimes");
    assert_invalid(unlink(p).await, "unlink");
    assert_invalid(rename(p, ok).await, "rename");
    assert_invalid(rename(ok, p).await, "rename");
    assert_invalid(link(p, ok).await, "link");
    assert_invalid(symlink(ok, p).await, "symlink");
    assert_invalid(readlink(p).await, "readlink");
    assert_invalid(chmod(p, 0o600).await, "chmod");
    assert_invalid(chown(p, None, None).await, "chown");
    assert_invalid(access(p, AccessPermission::EXISTS).await, "access");
    assert_invalid(mkfifo(p, 0o600).await, "mkfifo");
    assert_invalid(mkdir(p, 0o700).await, "mkdir");
    assert_invalid(rmdir(p).await, "rmdir");
    assert_invalid(chdir(p).await, "chdir");
    assert_invalid(chroot(p).await, "chroot");
    assert_invalid(opendir(p).await, "opendir");
    assert_invalid(
        files_of_directory(p).next().await.unwrap(),
        "files_of_directory",
    );
}

async fn every_fd_call_fails(fd: &FileDescr, want: fn(&Error) -> bool) {
    let mut buf = [0u8; 4];
    let mut results: Vec<(&str, Option<Error>)> = vec![
        ("read", read(fd, &mut buf).await.err()),
        ("pread", pread(fd, &mut buf, 0).await.err()),
        ("write", write(fd, b"x").await.err()),
        ("pwrite", pwrite(fd, b"x", 0).await.err()),
        ("lseek", lseek(fd, 0, SeekCommand::Set).await.err()),
        ("ftruncate", ftruncate(fd, 0).await.err()),
        ("fsync", fsync(fd).await.err()),
        ("fdatasync", fdatasync(fd).await.err()),
        ("fstat", fstat(fd).await.err()),
        ("isatty", isatty(fd).await.err()),
        ("fchmod", fchmod(fd, 0o600).await.err()),
        ("fchown", fchown(fd, None, None).await.err()),
        ("dup", dup(fd, true).err()),
        ("set_close_on_exec", set_close_on_exec(fd).err()),
        ("clear_close_on_exec", clear_close_on_exec(fd).err()),
        ("lockf", lockf(fd, LockCommand::TryLock, 0).await.err()),
    ];
    let mut one = [0u8; 1];
    let mut vs = IoVectors::new();
    vs.append_bytes(&mut one, 0, 1);
    results.push(("readv", readv(fd, &mut vs).await.err()));
    let mut vs = IoVectors::new();
    vs.append_slice(b"x", 0, 1);
    results.push(("writev", writev(fd, &vs).await.err()));
    for (call, e) in results {
        let e = e.unwrap_or_else(|| panic!("{call} succeeded on a bad descriptor"));
        assert!(want(&e), "{call}: {e:?}");
    }
}

fn tmp(name: &str, kind: lwt::BackendKind) -> PathBuf {
    std::env::temp_dir().join(format!(
        "lwt-fs-bad-{name}-{}-{}",
        kind.name(),
        std::process::id()
    ))
}

#[test]
fn bad_input_gives_clear_errors_and_leaks_nothing() {
    util::for_each_backend(|kind| async move {
        // Warm up the pool and the runtime so their own descriptors are counted before.
        stat("/").await.unwrap();
        let before = util::open_fds();
        every_path_call_rejects_nul().await;

        let path = tmp("fd", kind);
        let closed = openfile(&path, OpenFlags::RDWR | OpenFlags::CREAT, 0o600)
            .await
            .unwrap();
        close(&closed).await.unwrap();
        every_fd_call_fails(&closed, |e| matches!(e, Error::Closed)).await;
        let aborted = openfile(&path, OpenFlags::RDWR, 0).await.unwrap();
        abort(&aborted, Error::Timeout);
        every_fd_call_fails(
            &aborted,
            |e| matches!(e, Error::Aborted(c) if matches!(**c, Error::Timeout)),
        )
        .await;
        close(&aborted).await.unwrap();
        let (r, w) = pipe().unwrap();
        let a = dup(&w, true).unwrap();
        abort(&a, Error::Canceled);
        let mut vs = IoVectors::new();
        vs.append_slice(b"x", 0, 1);
        assert!(matches!(writev(&a, &vs).await, Err(Error::Aborted(_))));
        close(&a).await.unwrap();

        // Directory handles and streams dropped part-way close their descriptors.
        let d = opendir("/").await.unwrap();
        readdir(&d).await.unwrap();
        drop(d);
        let mut s = files_of_directory("/");
        s.next().await.unwrap().unwrap();
        drop(s);
        let mut s = files_of_directory("/no/such/dir");
        assert!(s.next().await.unwrap().is_err());

        // Still usable: the same calls with good input work.
        write(&w, b"ok").await.unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(read(&r, &mut buf).await.unwrap(), 2);
        assert!(file_exists(&path).await.unwrap());
        unlink(&path).await.unwrap();
        close(&r).await.unwrap();
        close(&w).await.unwrap();
        assert_eq!(util::open_fds(), before, "no descriptor leaked");
    });
}
