//! The poll backend works for descriptor numbers far above select's FD_SETSIZE (1024).
#![cfg(unix)]
mod util;

use lwt::unix::{of_unix_file_descr, read, write};
use rustix::fd::{FromRawFd, OwnedFd};

#[test]
fn io_on_a_descriptor_above_4096() {
    if !lwt::BackendKind::Poll.is_available() {
        return; // poll exists on every Unix: unreachable here
    }
    // Raise the soft limit so the high numbers are allowed.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the plain struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < 8192 && lim.rlim_max >= 8192 {
            lim.rlim_cur = 8192;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= 8192 || lim.rlim_max >= 8192,
        "RLIMIT_NOFILE too low here: {}",
        lim.rlim_max
    );
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (a, b): (OwnedFd, OwnedFd) = (a.into(), b.into());
    let high = |fd: OwnedFd, n: i32| -> OwnedFd {
        let r = rustix::io::fcntl_dupfd_cloexec(&fd, n).unwrap();
        assert!(rustix::fd::AsRawFd::as_raw_fd(&r) >= n);
        r
    };
    let a = high(a, 5000);
    let b = high(b, 6000);
    let _ = unsafe_noop();
    let rt = util::runtime(lwt::BackendKind::Poll);
    rt.block_on(async move {
        let a = of_unix_file_descr(a, None, true).unwrap();
        let b = of_unix_file_descr(b, None, true).unwrap();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 5];
            let n = read(&b, &mut buf).await.unwrap(); // waits: nothing written yet
            buf[..n].to_vec()
        });
        lwt::sleep(std::time::Duration::from_millis(5)).await;
        write(&a, b"high!").await.unwrap();
        assert_eq!(reader.await.unwrap(), b"high!");
    });
}

fn unsafe_noop() -> Option<OwnedFd> {
    // Keeps FromRawFd in use for readers comparing with the raw-fd form.
    let _ = <OwnedFd as FromRawFd>::from_raw_fd;
    None
}
