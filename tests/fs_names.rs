//! Operations on file names and directories: `unlink`, `rename`, `link`, `symlink`,
//! `readlink`, `mkdir`, `rmdir`, `mkfifo`, `chdir`, `getcwd`, `chroot`. Every path here is
//! absolute, so the `chdir` test cannot disturb the others.
#![cfg(unix)]

use lwt::unix::{
    chdir, chroot, getcwd, link, mkdir, mkfifo, readlink, rename, rmdir, stat, symlink, unlink,
    FileKind,
};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "lwt-fs-names-{name}-{}-{}",
        lwt::Handle::current().backend_name(),
        std::process::id()
    ))
}

#[lwt::test]
async fn link_rename_unlink() {
    let a = tmp("a");
    let b = tmp("b");
    let l = tmp("l");
    std::fs::write(&a, b"content").unwrap();
    link(&a, &b).await.unwrap();
    assert_eq!(stat(&a).await.unwrap().st_nlink, 2);
    let e = link(&a, &b).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::EEXIST), Some("link")));
    unlink(&b).await.unwrap();
    rename(&a, &b).await.unwrap();
    assert!(!a.exists());
    assert_eq!(std::fs::read(&b).unwrap(), b"content");
    let e = rename(&a, &b).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::ENOENT), Some("rename")));
    symlink(&b, &l).await.unwrap();
    assert_eq!(readlink(&l).await.unwrap(), b);
    let e = readlink(&b).await.unwrap_err();
    assert_eq!(
        (e.errno(), e.call()),
        (Some(libc::EINVAL), Some("readlink"))
    );
    unlink(&l).await.unwrap();
    assert!(b.exists(), "unlinking a symlink leaves its target");
    unlink(&b).await.unwrap();
    let e = unlink(&b).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::ENOENT), Some("unlink")));
}

#[lwt::test]
async fn directories_and_fifos() {
    let d = tmp("dir");
    mkdir(&d, 0o700).await.unwrap();
    assert_eq!(stat(&d).await.unwrap().st_kind, FileKind::Directory);
    assert_eq!(stat(&d).await.unwrap().st_perm & 0o700, 0o700);
    let e = mkdir(&d, 0o700).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::EEXIST), Some("mkdir")));
    let f = d.join("fifo");
    mkfifo(&f, 0o600).await.unwrap();
    assert_eq!(stat(&f).await.unwrap().st_kind, FileKind::Fifo);
    let e = mkfifo(&f, 0o600).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::EEXIST), Some("mkfifo")));
    let e = rmdir(&d).await.unwrap_err();
    assert_eq!(
        (e.errno(), e.call()),
        (Some(libc::ENOTEMPTY), Some("rmdir"))
    );
    unlink(&f).await.unwrap();
    rmdir(&d).await.unwrap();
    assert!(!d.exists());
}

#[lwt::test]
async fn chdir_getcwd_chroot() {
    let here = getcwd().await.unwrap();
    assert_eq!(here, std::env::current_dir().unwrap());
    let d = tmp("cwd");
    mkdir(&d, 0o700).await.unwrap();
    chdir(&d).await.unwrap();
    let now = getcwd().await.unwrap();
    assert_eq!(now, d.canonicalize().unwrap());
    chdir(&here).await.unwrap();
    assert_eq!(getcwd().await.unwrap(), here);
    let e = chdir(d.join("nope")).await.unwrap_err();
    assert_eq!((e.errno(), e.call()), (Some(libc::ENOENT), Some("chdir")));
    rmdir(&d).await.unwrap();
    // chroot needs a privilege; unprivileged it fails with EPERM. Root may chroot, but
    // this test does not change the root of the test process: it uses a missing path.
    let e = chroot(Path::new("/no/such/dir/for/lwt")).await.unwrap_err();
    assert!(
        matches!(e.errno(), Some(libc::ENOENT) | Some(libc::EPERM)),
        "{e:?}"
    );
    assert_eq!(e.call(), Some("chroot"));
}
