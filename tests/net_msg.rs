//! fd passing with `send_msg`/`recv_msg` (SCM_RIGHTS), control-data truncation, and peer
//! credentials, on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};

/// These tests count open descriptors: they must not run beside each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn two_slices_and_a_pipe_fd() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let before = util::open_fds();
        {
            let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
            let (r, w) = pipe().unwrap();
            let w_os = w.checked().unwrap();
            // The receiver waits first: recv_msg cooperates by readiness.
            let receiver = lwt::spawn(async move {
                let (mut x, mut y) = ([0u8; 4], [0u8; 4]);
                let (n, fds) =
                    recv_msg(&b, &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
                        .await
                        .unwrap();
                (n, x, y, fds, b)
            });
            lwt::yield_now().await;
            let slices = [IoSlice::new(b"abc"), IoSlice::new(b"defgh")];
            let n = send_msg(&a, &slices, &[w_os.as_fd()]).await.unwrap();
            assert_eq!(n, 8);
            let (n, x, y, fds, b) = receiver.await.unwrap();
            assert_eq!(n, 8);
            // The bytes land in slice order.
            assert_eq!((&x, &y), (b"abcd", b"efgh"));
            assert_eq!(fds.len(), 1);
            // The received descriptor is close-on-exec and is the pipe's write end.
            let flags = rustix::io::fcntl_getfd(&fds[0]).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
            let w2 = of_unix_file_descr(fds.into_iter().next().unwrap(), None, true).unwrap();
            write(&w2, b"through the passed fd").await.unwrap();
            let mut buf = [0u8; 64];
            let k = read(&r, &mut buf).await.unwrap();
            assert_eq!(&buf[..k], b"through the passed fd");
            // Without descriptors; then end of stream.
            send_msg(&a, &[IoSlice::new(b"z")], &[]).await.unwrap();
            let mut z = [0u8; 4];
            let (n, fds) = recv_msg(&b, &mut [IoSliceMut::new(&mut z)]).await.unwrap();
            assert_eq!((n, fds.len(), z[0]), (1, 0, b'z'));
            close(&a).await.unwrap();
            let (n, fds) = recv_msg(&b, &mut [IoSliceMut::new(&mut z)]).await.unwrap();
            assert_eq!((n, fds.len()), (0, 0));
            // Closed descriptors.
            assert!(matches!(
                send_msg(&a, &[IoSlice::new(b"x")], &[]).await,
                Err(lwt::Error::Closed)
            ));
            close(&b).await.unwrap();
            assert!(matches!(
                recv_msg(&b, &mut [IoSliceMut::new(&mut z)]).await,
                Err(lwt::Error::Closed)
            ));
        }
        // At most as many as before (an earlier runtime's descriptors held by worker
        // threads may close meanwhile); none of ours may stay.
        let after = util::open_fds();
        assert!(
            after <= before,
            "descriptors left open: {before} before, {after} after"
        );
    });
}

#[test]
fn truncated_control_data_leaks_nothing() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let before = util::open_fds();
        {
            let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
            let pipes: Vec<_> = (0..20).map(|_| pipe().unwrap()).collect();
            let owned: Vec<_> = pipes.iter().map(|(r, _)| r.checked().unwrap()).collect();
            let fds: Vec<BorrowedFd<'_>> = owned.iter().map(|f| f.as_fd()).collect();
            send_msg(&a, &[IoSlice::new(b"twenty")], &fds)
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            let got = recv_msg_fds(&b, &mut [IoSliceMut::new(&mut buf)], 1)
                .await
                .unwrap();
            // The data arrives whole; the control data is truncated and says so.
            assert_eq!(&buf[..got.bytes], b"twenty");
            assert!(got.fds_truncated);
            assert!(
                !got.fds.is_empty() && got.fds.len() < 20,
                "{}",
                got.fds.len()
            );
            // The ones that fit are returned; the kernel closed the rest. Dropping ours
            // leaves exactly what we had before.
            drop(got);
            drop(fds);
            drop(owned);
            drop(pipes);
            // More than the kernel passes in one message (253 on Linux) is a clear error.
            let (r, _w) = pipe().unwrap();
            let r_os = r.checked().unwrap();
            let many = vec![r_os.as_fd(); 300];
            let e = send_msg(&a, &[IoSlice::new(b"x")], &many)
                .await
                .unwrap_err();
            assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
            // recv_msg's own buffer holds every descriptor Linux can send.
            let max = vec![r_os.as_fd(); 253];
            send_msg(&a, &[IoSlice::new(b"y")], &max).await.unwrap();
            let (n, got) = recv_msg(&b, &mut [IoSliceMut::new(&mut buf)])
                .await
                .unwrap();
            assert_eq!((n, got.len()), (1, 253));
        }
        // At most as many as before (an earlier runtime's descriptors held by worker
        // threads may close meanwhile); none of ours may stay.
        let after = util::open_fds();
        assert!(
            after <= before,
            "descriptors left open: {before} before, {after} after"
        );
    });
}

#[test]
fn send_msgto_on_datagram_sockets() {
    let _serial = serial();
    util::for_each_backend(|kind| async move {
        let path = std::env::temp_dir().join(format!(
            "lwt-msg-{}-{}.sock",
            std::process::id(),
            kind.name()
        ));
        let _ = std::fs::remove_file(&path);
        let rx = socket(SocketDomain::Unix, SocketType::Dgram, 0).unwrap();
        bind(&rx, &SockAddr::Unix(path.clone())).await.unwrap();
        let tx = socket(SocketDomain::Unix, SocketType::Dgram, 0).unwrap();
        let (r, w) = pipe().unwrap();
        let r_os = r.checked().unwrap();
        let n = versioned::send_msgto_2(
            &tx,
            &[IoSlice::new(b"dg")],
            &[r_os.as_fd()],
            &SockAddr::Unix(path.clone()),
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        let mut buf = [0u8; 8];
        let (n, fds) = versioned::recv_msg_2(&rx, &mut [IoSliceMut::new(&mut buf)])
            .await
            .unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"dg"[..], 1));
        let r2 = of_unix_file_descr(fds.into_iter().next().unwrap(), None, true).unwrap();
        write(&w, b"q").await.unwrap();
        assert_eq!(read(&r2, &mut buf).await.unwrap(), 1);
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn credentials_are_this_process() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        for s in [&a, &b] {
            let c = get_credentials(s).unwrap();
            assert_eq!(c.pid, rustix::process::getpid().as_raw_nonzero().get());
            assert_eq!(c.uid, rustix::process::getuid().as_raw());
            assert_eq!(c.gid, rustix::process::getgid().as_raw());
        }
        // Not a socket: a clear error.
        let (r, _w) = pipe().unwrap();
        assert_eq!(
            get_credentials(&r).unwrap_err().errno(),
            Some(libc::ENOTSOCK)
        );
        close(&a).await.unwrap();
        assert!(matches!(get_credentials(&a), Err(lwt::Error::Closed)));
    });
}
