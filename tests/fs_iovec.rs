//! `IoVectors` with `readv`/`writev`: slices filled in order, the `system_limit` cap, empty
//! writes, and bad slices rejected before any byte moves; on files and on pipes.
#![cfg(unix)]

use lwt::unix::{
    close, lseek, openfile, pipe, read, readv, unlink, write, writev, FileDescr, IoVectors,
    OpenFlags, SeekCommand,
};
use lwt::Error;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "lwt-fs-iov-{name}-{}-{}",
        lwt::Handle::current().backend_name(),
        std::process::id()
    ))
}

async fn file_with(path: &PathBuf, data: &[u8]) -> FileDescr {
    let fd = openfile(
        path,
        OpenFlags::RDWR | OpenFlags::CREAT | OpenFlags::TRUNC,
        0o600,
    )
    .await
    .unwrap();
    let mut off = 0;
    while off < data.len() {
        off += write(&fd, &data[off..]).await.unwrap();
    }
    lseek(&fd, 0, SeekCommand::Set).await.unwrap();
    fd
}

#[lwt::test]
async fn readv_fills_slices_in_order() {
    let path = tmp("order");
    let fd = file_with(&path, b"abcdefghij").await;
    let (mut a, mut b, mut c) = ([0u8; 3], [b'.'; 6], vec![0u8; 4]);
    let mut vs = IoVectors::new();
    vs.append_bytes(&mut a, 0, 3);
    vs.append_bytes(&mut b, 2, 4);
    vs.append_owned(std::mem::take(&mut c), 1, 3);
    assert_eq!(vs.byte_count(), 10);
    assert_eq!(readv(&fd, &mut vs).await.unwrap(), 10);
    assert_eq!(vs.take_owned(), vec![b"\0hij".to_vec()]);
    drop(vs);
    assert_eq!(&a, b"abc");
    assert_eq!(&b, b"..defg");
    close(&fd).await.unwrap();
    unlink(&path).await.unwrap();

    // The same on a pipe (non-blocking path, straight into the slices).
    let (r, w) = pipe().unwrap();
    write(&w, b"0123456").await.unwrap();
    let (mut x, mut y) = ([0u8; 2], [0u8; 5]);
    let mut vs = IoVectors::new();
    vs.append_bytes(&mut x, 0, 2);
    vs.append_bytes(&mut y, 0, 5);
    assert_eq!(readv(&r, &mut vs).await.unwrap(), 7);
    vs.drop(3);
    assert_eq!(vs.byte_count(), 4);
    drop(vs);
    assert_eq!((&x, &y), (b"01", b"23456"));
}

#[lwt::test]
async fn readv_and_writev_stop_at_system_limit() {
    let limit = IoVectors::system_limit().expect("IOV_MAX is known on Unix");
    let path = tmp("limit");
    let data: Vec<u8> = (0..limit + 50).map(|i| i as u8).collect();
    let fd = file_with(&path, &data).await;
    let mut bufs = vec![[0u8; 1]; limit + 10];
    let mut vs = IoVectors::new();
    for b in bufs.iter_mut() {
        vs.append_bytes(b, 0, 1);
    }
    assert_eq!(readv(&fd, &mut vs).await.unwrap(), limit);
    drop(vs);
    assert_eq!(bufs[limit - 1][0], data[limit - 1]);
    assert_eq!(bufs[limit][0], 0, "slices past the limit are untouched");

    // writev passes only the first `limit` slices too.
    lseek(&fd, 0, SeekCommand::Set).await.unwrap();
    let mut vs = IoVectors::new();
    for _ in 0..limit + 10 {
        vs.append_slice(b"w", 0, 1);
    }
    assert_eq!(writev(&fd, &vs).await.unwrap(), limit);
    close(&fd).await.unwrap();
    unlink(&path).await.unwrap();
}

#[lwt::test]
async fn writev_of_empty_slices_writes_nothing() {
    let path = tmp("empty");
    let fd = file_with(&path, b"").await;
    let (r, w) = pipe().unwrap();
    for target in [&fd, &w] {
        let vs = IoVectors::new();
        assert_eq!(writev(target, &vs).await.unwrap(), 0);
        let mut vs = IoVectors::new();
        vs.append_slice(b"abc", 1, 0);
        vs.append_owned(Vec::new(), 0, 0);
        assert!(vs.is_empty());
        assert_eq!(writev(target, &vs).await.unwrap(), 0);
    }
    assert_eq!(lwt::unix::fstat(&fd).await.unwrap().st_size, 0);
    assert!(!lwt::unix::readable(&r).unwrap());
    close(&fd).await.unwrap();
    unlink(&path).await.unwrap();
}

#[lwt::test]
async fn bad_slices_are_rejected_before_any_byte_moves() {
    let path = tmp("bad");
    let fd = file_with(&path, b"0123456789").await;
    let (r, w) = pipe().unwrap();
    write(&w, b"pipe data").await.unwrap();
    for target in [&fd, &r] {
        let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
        let mut vs = IoVectors::new();
        vs.append_bytes(&mut a, 0, 4);
        vs.append_bytes(&mut b, 2, 3); // runs past the end of b
        let e = readv(target, &mut vs).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { call: "readv", .. }),
            "{e:?}"
        );
        let mut vs = IoVectors::new();
        vs.append_bytes(&mut a, usize::MAX, 2); // offset + length overflows
        assert!(readv(target, &mut vs).await.is_err());
        let mut vs = IoVectors::new();
        vs.append_slice(b"read-only", 0, 4);
        let e = readv(target, &mut vs).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { call: "readv", .. }),
            "{e:?}"
        );
        assert_eq!(a, [0; 4], "nothing was read");
    }
    // Nothing was consumed: the file position and the pipe's data are intact.
    assert_eq!(lseek(&fd, 0, SeekCommand::Cur).await.unwrap(), 0);
    let mut buf = [0u8; 16];
    assert_eq!(read(&r, &mut buf).await.unwrap(), 9);

    let mut vs = IoVectors::new();
    vs.append_slice(b"good", 0, 4);
    vs.append_slice(b"bad", 1, 5);
    for target in [&fd, &w] {
        let e = writev(target, &vs).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { call: "writev", .. }),
            "{e:?}"
        );
    }
    assert!(
        !lwt::unix::readable(&r).unwrap(),
        "nothing was written to the pipe"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
    // The runtime is still usable: a good vector goes through.
    let mut vs = IoVectors::new();
    vs.append_slice(b"good", 0, 4);
    assert_eq!(writev(&w, &vs).await.unwrap(), 4);
    close(&fd).await.unwrap();
    unlink(&path).await.unwrap();
}
