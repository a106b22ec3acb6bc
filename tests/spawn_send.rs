//! The job-backed calls of `lwt::unix` can be awaited in a task made with `lwt::spawn`, whose
//! future must be `Send`: a path call built on a closure over `&CStr` made that future "not
//! general enough" to be `Send`, and `lwt::spawn(async { stat(p).await })` did not compile
//! (found by the soak test). This test compiling is most of the check; it also runs the calls,
//! with borrowed and owned paths, on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::time::SystemTime;

#[lwt::test]
async fn job_backed_calls_run_in_spawned_tasks() {
    let dir = std::env::temp_dir().join(format!("lwt-spawn-send-{}", std::process::id()));
    let task = lwt::spawn(async move {
        mkdir(&dir, 0o700).await.unwrap();
        let file = dir.join("f");
        let fd = openfile(&file, OpenFlags::WRONLY | OpenFlags::CREAT, 0o600)
            .await
            .unwrap();
        assert_eq!(write(&fd, b"abc").await.unwrap(), 3);
        close(&fd).await.unwrap();
        assert_eq!(stat(&file).await.unwrap().st_size, 3);
        assert_eq!(stat(file.clone()).await.unwrap().st_kind, FileKind::Regular);
        assert!(file_exists(&file).await.unwrap());
        chmod(&file, 0o640).await.unwrap();
        utimes(&file, SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH)
            .await
            .unwrap();
        access(&file, AccessPermission::READ).await.unwrap();
        let link = dir.join("l");
        symlink(&file, &link).await.unwrap();
        assert_eq!(lstat(&link).await.unwrap().st_kind, FileKind::Symlink);
        assert_eq!(readlink(&link).await.unwrap(), file);
        let moved = dir.join("g");
        rename(&file, &moved).await.unwrap();
        let d = opendir(&dir).await.unwrap();
        let mut names = readdir_n(&d, 16).await.unwrap();
        names.sort();
        closedir(&d).await.unwrap();
        assert_eq!(names, [".", "..", "g", "l"]);
        unlink(&moved).await.unwrap();
        unlink(&link).await.unwrap();
        rmdir(&dir).await.unwrap();
        assert!(!file_exists(&dir).await.unwrap());
    });
    task.await.unwrap();
}
