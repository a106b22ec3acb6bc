//! File status and attributes: `stat`, `lstat`, `fstat`, `file_exists`, `utimes`, `isatty`,
//! `truncate`, `ftruncate`, `fsync`, `fdatasync`, `chmod`, `fchmod`, `chown`, `fchown`,
//! `access`, and the `large_file` names.
#![cfg(unix)]
mod util;

use lwt::unix::{
    access, chmod, chown, close, fchmod, fchown, fdatasync, file_exists, fstat, fsync, ftruncate,
    isatty, large_file, lstat, openfile, stat, symlink, truncate, unlink, utimes, AccessPermission,
    FileKind, OpenFlags,
};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn tmp(name: &str, kind: lwt::BackendKind) -> PathBuf {
    std::env::temp_dir().join(format!(
        "lwt-fs-stat-{name}-{}-{}",
        kind.name(),
        std::process::id()
    ))
}

#[test]
fn stat_lstat_fstat_agree_with_std() {
    util::for_each_backend(|kind| async move {
        let path = tmp("st", kind);
        std::fs::write(&path, b"12345").unwrap();
        let link = tmp("st-link", kind);
        let _ = std::fs::remove_file(&link);
        symlink(&path, &link).await.unwrap();
        let st = stat(&path).await.unwrap();
        let md = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(st.st_kind, FileKind::Regular);
        assert_eq!((st.st_dev, st.st_ino, st.st_size), (md.dev(), md.ino(), 5));
        assert_eq!((st.st_uid, st.st_gid, st.st_nlink), (md.uid(), md.gid(), 1));
        assert_eq!(st.st_perm, md.mode() & 0o7777);
        assert_eq!(st.st_mtime, md.modified().unwrap());
        assert_eq!(stat(&link).await.unwrap(), st);
        let lst = lstat(&link).await.unwrap();
        assert_eq!(lst.st_kind, FileKind::Symlink);
        assert_ne!(lst.st_ino, st.st_ino);
        let fd = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
        assert_eq!(fstat(&fd).await.unwrap(), st);
        assert_eq!(large_file::fstat(&fd).await.unwrap(), st);
        assert!(!isatty(&fd).await.unwrap());
        assert_eq!(
            stat("/dev/null").await.unwrap().st_kind,
            FileKind::CharDevice
        );
        assert_eq!(stat("/").await.unwrap().st_kind, FileKind::Directory);
        let e = stat(tmp("missing", kind)).await.unwrap_err();
        assert_eq!((e.errno(), e.call()), (Some(libc::ENOENT), Some("stat")));
        close(&fd).await.unwrap();
        unlink(&link).await.unwrap();
        unlink(&path).await.unwrap();
    });
}

#[test]
fn file_exists_is_false_not_an_error() {
    util::for_each_backend(|kind| async move {
        let path = tmp("exists", kind);
        std::fs::write(&path, b"").unwrap();
        assert!(file_exists(&path).await.unwrap());
        assert!(file_exists("/").await.unwrap());
        // A path under a regular file: stat fails with ENOTDIR, file_exists says false.
        assert!(!file_exists(path.join("child")).await.unwrap());
        unlink(&path).await.unwrap();
        assert!(!file_exists(&path).await.unwrap());
        // A symbolic link loop (ELOOP) and a dangling link do not "exist" either.
        symlink(&path, &path).await.unwrap();
        assert!(!file_exists(&path).await.unwrap());
        unlink(&path).await.unwrap();
        let dangling = tmp("dangling", kind);
        let _ = std::fs::remove_file(&dangling);
        symlink("/no/such/target", &dangling).await.unwrap();
        assert!(!file_exists(&dangling).await.unwrap());
        unlink(&dangling).await.unwrap();
    });
}

#[test]
fn utimes_sets_times_and_zero_means_now() {
    util::for_each_backend(|kind| async move {
        let path = tmp("utimes", kind);
        std::fs::write(&path, b"").unwrap();
        let a = UNIX_EPOCH + Duration::new(1_000_000_000, 5_000);
        let m = UNIX_EPOCH + Duration::from_secs(1_200_000_000);
        utimes(&path, a, m).await.unwrap();
        let st = stat(&path).await.unwrap();
        assert_eq!((st.st_atime, st.st_mtime), (a, m));
        // Before the epoch works too.
        let old = UNIX_EPOCH - Duration::from_millis(1500);
        utimes(&path, old, old).await.unwrap();
        assert_eq!(stat(&path).await.unwrap().st_mtime, old);
        let before = SystemTime::now() - Duration::from_secs(2);
        utimes(&path, UNIX_EPOCH, UNIX_EPOCH).await.unwrap();
        let st = stat(&path).await.unwrap();
        assert!(st.st_atime >= before && st.st_mtime >= before, "{st:?}");
        assert!(st.st_mtime <= SystemTime::now() + Duration::from_secs(2));
        unlink(&path).await.unwrap();
        let e = utimes(&path, a, m).await.unwrap_err();
        assert_eq!((e.errno(), e.call()), (Some(libc::ENOENT), Some("utimes")));
    });
}

#[test]
fn truncate_sync_and_permissions() {
    util::for_each_backend(|kind| async move {
        let path = tmp("trunc", kind);
        std::fs::write(&path, b"0123456789").unwrap();
        truncate(&path, 3).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"012");
        large_file::truncate(&path, 5).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"012\0\0");
        let fd = openfile(&path, OpenFlags::RDWR, 0).await.unwrap();
        ftruncate(&fd, 1 << 33).await.unwrap(); // 8 GiB, sparse: large files work
        assert_eq!(stat(&path).await.unwrap().st_size, 1 << 33);
        ftruncate(&fd, 1).await.unwrap();
        fsync(&fd).await.unwrap();
        fdatasync(&fd).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0");
        let ro = openfile(&path, OpenFlags::RDONLY, 0).await.unwrap();
        assert!(ftruncate(&ro, 0).await.is_err());

        chmod(&path, 0o604).await.unwrap();
        assert_eq!(stat(&path).await.unwrap().st_perm, 0o604);
        fchmod(&fd, 0o600).await.unwrap();
        assert_eq!(fstat(&fd).await.unwrap().st_perm, 0o600);
        let st = fstat(&fd).await.unwrap();
        chown(&path, Some(st.st_uid), None).await.unwrap();
        fchown(&fd, None, Some(st.st_gid)).await.unwrap();

        access(&path, AccessPermission::EXISTS).await.unwrap();
        access(&path, AccessPermission::READ | AccessPermission::WRITE)
            .await
            .unwrap();
        let e = access(&path, AccessPermission::EXECUTE).await.unwrap_err();
        assert_eq!((e.errno(), e.call()), (Some(libc::EACCES), Some("access")));
        let e = access(path.join("x"), AccessPermission::empty())
            .await
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTDIR));
        close(&fd).await.unwrap();
        close(&ro).await.unwrap();
        unlink(&path).await.unwrap();
    });
}
