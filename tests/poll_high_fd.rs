//! Every backend, poll included, works for descriptor numbers far above select's FD_SETSIZE
//! (1024).
#![cfg(unix)]
mod util;

use lwt::unix::{of_unix_file_descr, read, write};
use rustix::fd::OwnedFd;

#[test]
fn io_on_a_descriptor_above_4096() {
    // poll exists on every Unix: the backend this test is about must be here.
    assert!(
        lwt::BackendKind::available().contains(&lwt::BackendKind::Poll),
        "no poll backend on this Unix"
    );
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
    util::for_each_backend(|_| async {
        let (a, b) = high_pair();
        let a = of_unix_file_descr(a, None, true).unwrap();
        let b = of_unix_file_descr(b, None, true).unwrap();
        let reader = lwt::spawn(async move {
            let mut buf = [0u8; 5];
            let n = read(&b, &mut buf).await.unwrap(); // waits: nothing written yet
            buf[..n].to_vec()
        });
        lwt::sleep(std::time::Duration::from_millis(5)).await;
        assert!(!reader.is_finished(), "the read did not wait");
        write(&a, b"high!").await.unwrap();
        assert_eq!(reader.await.unwrap(), b"high!");
    });
}

/// A connected pair of sockets numbered above 5000 and 6000.
fn high_pair() -> (OwnedFd, OwnedFd) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (a, b): (OwnedFd, OwnedFd) = (a.into(), b.into());
    let high = |fd: OwnedFd, n: i32| -> OwnedFd {
        let r = rustix::io::fcntl_dupfd_cloexec(&fd, n).unwrap();
        assert!(rustix::fd::AsRawFd::as_raw_fd(&r) >= n);
        r
    };
    (high(a, 5000), high(b, 6000))
}
