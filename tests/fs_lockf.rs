//! `lockf` against a lock held by another process: the test binary runs itself again as the
//! lock holder (`LWT_FS_LOCKF_HOLDER=<path>`), which locks bytes 0..10 and waits for its
//! standard input to close.
#![cfg(unix)]
mod util;

use lwt::unix::{close, lockf, lseek, openfile, unlink, LockCommand, OpenFlags, SeekCommand};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

const HOLDER: &str = "LWT_FS_LOCKF_HOLDER";
const TEST: &str = "lockf_against_another_process";

fn hold_lock(path: &str) {
    lwt::run(async {
        let fd = openfile(path, OpenFlags::RDWR, 0).await.unwrap();
        lockf(&fd, LockCommand::TryLock, 10).await.unwrap();
        println!("LOCKED");
        std::io::stdout().flush().unwrap();
        let mut rest = Vec::new();
        std::io::stdin().read_to_end(&mut rest).unwrap();
    });
}

// The child is returned and `release` waits for it; a panic here fails the test anyway.
#[allow(clippy::zombie_processes)]
fn spawn_holder(path: &std::path::Path) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(HOLDER, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the holder died before locking"
        );
        if line.trim_end().ends_with("LOCKED") {
            // Keep reading, so that the holder's last lines do not meet a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return child;
        }
    }
}

fn release(mut child: Child) {
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn lockf_against_another_process() {
    if let Ok(path) = std::env::var(HOLDER) {
        return hold_lock(&path);
    }
    util::for_each_backend(|kind| async move {
        let path = std::env::temp_dir().join(format!(
            "lwt-fs-lockf-{}-{}",
            kind.name(),
            std::process::id()
        ));
        std::fs::write(&path, [0u8; 64]).unwrap();
        let child = spawn_holder(&path);
        let fd = openfile(&path, OpenFlags::RDWR, 0).await.unwrap();

        let conflict = |e: lwt::Error| {
            assert!(
                matches!(e.errno(), Some(libc::EACCES) | Some(libc::EAGAIN)),
                "{e:?}"
            );
            assert_eq!(e.call(), Some("lockf"));
        };
        // The held region 0..10 conflicts, for writing, reading and testing.
        lseek(&fd, 0, SeekCommand::Set).await.unwrap();
        conflict(lockf(&fd, LockCommand::TryLock, 10).await.unwrap_err());
        conflict(lockf(&fd, LockCommand::TryReadLock, 1).await.unwrap_err());
        conflict(lockf(&fd, LockCommand::Test, 0).await.unwrap_err());
        // A negative length counts backwards from the position: 5..10 conflicts too.
        lseek(&fd, 10, SeekCommand::Set).await.unwrap();
        conflict(lockf(&fd, LockCommand::TryLock, -5).await.unwrap_err());
        // A region that does not overlap is free.
        lseek(&fd, 20, SeekCommand::Set).await.unwrap();
        lockf(&fd, LockCommand::Test, 10).await.unwrap();
        lockf(&fd, LockCommand::TryLock, 10).await.unwrap();
        lockf(&fd, LockCommand::Unlock, 10).await.unwrap();

        // F_LOCK waits (in a job) until the other process lets go; the loop keeps running.
        lseek(&fd, 0, SeekCommand::Set).await.unwrap();
        let fd2 = fd.clone();
        // Detach whatever LWT_ASYNC_METHOD says: under `none` (or `switch`, whose stand-in does not
        // run the test body) a waiting F_LOCK would hold the very thread that must release it.
        let waiter = lwt::spawn(lwt::unix::with_async_detach(async move {
            lockf(&fd2, LockCommand::Lock, 10).await
        }));
        lwt::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "F_LOCK returned while the region was held"
        );
        release(child);
        waiter.await.unwrap().unwrap();
        lockf(&fd, LockCommand::ReadLock, 10).await.unwrap(); // ours: converts the lock
        lockf(&fd, LockCommand::Unlock, 10).await.unwrap();
        close(&fd).await.unwrap();
        unlink(&path).await.unwrap();
    });
}
