//! `dup` and `dup2` keep the blocking mode and honour close-on-exec; `set_close_on_exec` and
//! `clear_close_on_exec` change the flag.
#![cfg(unix)]

use lwt::unix::{
    blocking, clear_close_on_exec, close, dup, dup2, openfile, pipe, read, set_close_on_exec,
    unlink, write, OpenFlags,
};
use std::os::fd::{AsRawFd, BorrowedFd};

fn cloexec(fd: &lwt::unix::FileDescr) -> bool {
    // SAFETY: the descriptor is open while `fd` is, for the whole call.
    let b = unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) };
    rustix::io::fcntl_getfd(b)
        .unwrap()
        .contains(rustix::io::FdFlags::CLOEXEC)
}

#[lwt::test]
async fn dup_keeps_mode_and_shares_the_file() {
    let (r, w) = pipe().unwrap();
    let w2 = dup(&w, true).unwrap();
    assert!(!blocking(&w2), "a pipe stays non-blocking");
    assert!(cloexec(&w2));
    let w3 = dup(&w, false).unwrap();
    assert!(!cloexec(&w3));
    write(&w2, b"a").await.unwrap();
    write(&w3, b"b").await.unwrap();
    let mut buf = [0u8; 2];
    assert_eq!(read(&r, &mut buf).await.unwrap(), 2);
    assert_eq!(&buf, b"ab");
    for fd in [&w, &w2, &w3] {
        close(fd).await.unwrap();
    }
    assert_eq!(
        read(&r, &mut buf).await.unwrap(),
        0,
        "every copy closed: end of file"
    );
    let e = dup(&w, true).unwrap_err();
    assert!(matches!(e, lwt::Error::Closed), "{e:?}");
}

#[lwt::test]
async fn dup2_redirects_and_takes_the_blocking_mode() {
    let path = std::env::temp_dir().join(format!(
        "lwt-fs-dup2-{}-{}",
        lwt::Handle::current().backend_name(),
        std::process::id()
    ));
    let file = openfile(&path, OpenFlags::RDWR | OpenFlags::CREAT, 0o600)
        .await
        .unwrap();
    assert!(blocking(&file));
    let (r, w) = pipe().unwrap();
    // The file's number now refers to the pipe's write end, non-blocking like it.
    dup2(&w, &file, false).unwrap();
    assert!(!blocking(&file));
    assert!(!cloexec(&file));
    write(&file, b"into the pipe").await.unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(read(&r, &mut buf).await.unwrap(), 13);
    dup2(&w, &file, true).unwrap();
    assert!(cloexec(&file));
    // Onto itself: only the flag changes.
    dup2(&file, &file, false).unwrap();
    assert!(!cloexec(&file));
    set_close_on_exec(&file).unwrap();
    assert!(cloexec(&file));
    clear_close_on_exec(&file).unwrap();
    assert!(!cloexec(&file));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "nothing went to the file"
    );
    close(&file).await.unwrap();
    assert!(matches!(dup2(&w, &file, true), Err(lwt::Error::Closed)));
    assert!(matches!(set_close_on_exec(&file), Err(lwt::Error::Closed)));
    unlink(&path).await.unwrap();
}
