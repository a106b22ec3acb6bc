//! Directory handles (`opendir`, `readdir`, `readdir_n`, `rewinddir`, `closedir`) and the
//! `files_of_directory` stream.
#![cfg(unix)]

use lwt::unix::{closedir, files_of_directory, opendir, readdir, readdir_n, rewinddir};
use lwt::Error;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

fn tmp_dir(name: &str, files: usize) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lwt-fs-dir-{name}-{}-{}",
        lwt::Handle::current().backend_name(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    for i in 0..files {
        std::fs::write(d.join(format!("f{i}")), b"").unwrap();
    }
    d
}

fn expected(files: usize) -> BTreeSet<OsString> {
    let mut s: BTreeSet<OsString> = (0..files).map(|i| format!("f{i}").into()).collect();
    s.insert(".".into());
    s.insert("..".into());
    s
}

#[lwt::test]
async fn readdir_lists_dot_entries_and_signals_the_end() {
    let d = tmp_dir("readdir", 3);
    let h = opendir(&d).await.unwrap();
    let mut got = BTreeSet::new();
    while let Some(name) = readdir(&h).await.unwrap() {
        assert!(got.insert(name), "no entry twice");
    }
    assert_eq!(got, expected(3));
    // The end stays the end.
    assert_eq!(readdir(&h).await.unwrap(), None);
    assert!(readdir_n(&h, 5).await.unwrap().is_empty());
    // rewinddir starts over.
    rewinddir(&h).await.unwrap();
    let again: BTreeSet<_> = readdir_n(&h, 100).await.unwrap().into_iter().collect();
    assert_eq!(again, expected(3));
    closedir(&h).await.unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

#[lwt::test]
async fn readdir_n_returns_a_short_batch_at_the_end() {
    let n = 700;
    let d = tmp_dir("readdir-n", n);
    let h = opendir(&d).await.unwrap();
    let mut got = BTreeSet::new();
    // Mix single reads and batches: nothing is lost or repeated between them.
    got.insert(readdir(&h).await.unwrap().unwrap());
    let mut batches = Vec::new();
    loop {
        let b = readdir_n(&h, 300).await.unwrap();
        batches.push(b.len());
        let short = b.len() < 300;
        got.extend(b);
        if short {
            break;
        }
    }
    assert_eq!(batches, vec![300, 300, n + 2 - 1 - 600]);
    assert_eq!(got, expected(n));
    closedir(&h).await.unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

#[lwt::test]
async fn every_call_after_closedir_fails_with_ebadf_naming_it() {
    let d = tmp_dir("closed", 1);
    let h = opendir(&d).await.unwrap();
    readdir(&h).await.unwrap();
    closedir(&h).await.unwrap();
    let check = |e: Error, call: &str| {
        assert_eq!(
            (e.errno(), e.call()),
            (Some(libc::EBADF), Some(call)),
            "{e:?}"
        );
    };
    check(readdir(&h).await.unwrap_err(), "readdir");
    check(readdir_n(&h, 3).await.unwrap_err(), "readdir_n");
    check(rewinddir(&h).await.unwrap_err(), "rewinddir");
    check(closedir(&h).await.unwrap_err(), "closedir");
    // Opening errors name opendir and the path.
    let e = opendir(d.join("f0")).await.unwrap_err();
    assert_eq!(
        (e.errno(), e.call()),
        (Some(libc::ENOTDIR), Some("opendir"))
    );
    let e = opendir("/tmp/\0").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidArgument {
                call: "opendir",
                ..
            }
        ),
        "{e:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[lwt::test]
async fn files_of_directory_streams_every_entry() {
    let n = 2100;
    let d = tmp_dir("stream", n);
    let mut got = BTreeSet::new();
    let mut s = files_of_directory(&d);
    while let Some(name) = s.next().await {
        assert!(got.insert(name.unwrap()));
    }
    assert_eq!(got, expected(n));
    assert!(s.next().await.is_none(), "the end stays the end");

    // As a Stream (futures_core's, re-exported), polled by hand.
    let mut s = Box::pin(files_of_directory(&d));
    let mut count = 0;
    while let Some(r) =
        std::future::poll_fn(|cx| lwt::unix::Stream::poll_next(s.as_mut(), cx)).await
    {
        r.unwrap();
        count += 1;
    }
    assert_eq!(count, n + 2);

    // Errors come as the first item, then the stream ends.
    let mut s = files_of_directory(d.join("missing"));
    let e = s.next().await.unwrap().unwrap_err();
    assert_eq!(
        (e.errno(), e.call()),
        (Some(libc::ENOENT), Some("files_of_directory"))
    );
    assert!(s.next().await.is_none());
    let mut s = files_of_directory("a\0b");
    let e = s.next().await.unwrap().unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidArgument {
            call: "files_of_directory",
            ..
        }
    ));
    assert!(s.next().await.is_none());
    // Dropping a stream part-way closes its directory (checked for leaks in fs_bad_input).
    let mut s = files_of_directory(&d);
    s.next().await.unwrap().unwrap();
    drop(s);
    std::fs::remove_dir_all(&d).unwrap();
}
