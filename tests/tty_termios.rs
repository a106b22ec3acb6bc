//! The terminal interface on a pseudo-terminal pair the test opens: settings round trip, echo
//! off takes effect, flush and drain work, bad input is a clear error.
#![cfg(unix)]
// The pty helper uses ptsname_r, which macOS lacks; the terminal calls themselves are portable.
#![cfg(not(target_vendor = "apple"))]
mod util;

use lwt::unix::{
    close, pipe, read, tcdrain, tcflow, tcflush, tcgetattr, tcsendbreak, tcsetattr, write,
    FileDescr, FlowAction, FlushQueue, SetattrWhen,
};
use lwt::Error;
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// Opens a pty pair: (master, slave), both non-blocking lwt descriptors.
fn open_pty() -> (FileDescr, FileDescr) {
    // SAFETY: plain libc calls on a descriptor this function owns; `name` is a valid buffer
    // for ptsname_r and NUL-terminated on success.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt");
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(s >= 0, "open {:?}", CStr::from_ptr(name.as_ptr()));
        let slave = OwnedFd::from_raw_fd(s);
        (
            FileDescr::from_owned(master, Some(false), true).unwrap(),
            FileDescr::from_owned(slave, Some(false), true).unwrap(),
        )
    }
}

/// Reads what arrives on `fd` within `d` (empty if nothing).
async fn read_for(fd: &FileDescr, d: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match lwt::unix::with_timeout(d, read(fd, &mut buf)).await {
            Ok(0) | Err(Error::Timeout) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn termios_on_a_pty() {
    util::for_each_backend(|kind| async move {
        let fds_before = util::open_fds();
        let (master, slave) = open_pty();

        // Round trip: set what we read, then a changed copy, and read it back.
        let orig = tcgetattr(&slave).await.unwrap();
        tcsetattr(&slave, SetattrWhen::Now, orig).await.unwrap();
        assert_eq!(tcgetattr(&slave).await.unwrap(), orig);
        let mut raw = orig;
        raw.c_icanon = false;
        raw.c_vmin = 1;
        raw.c_vtime = 0;
        raw.c_obaud = 9600;
        raw.c_ibaud = 9600;
        raw.c_vintr = '\x01';
        tcsetattr(&slave, SetattrWhen::Drain, raw).await.unwrap();
        assert_eq!(tcgetattr(&slave).await.unwrap(), raw, "{kind}");
        tcsetattr(&slave, SetattrWhen::Flush, orig).await.unwrap();
        assert_eq!(tcgetattr(&slave).await.unwrap(), orig, "{kind}");

        // Echo on: what the master types comes back to it.
        assert!(orig.c_echo && orig.c_icanon);
        write(&master, b"hello\n").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while !got.ends_with(b"\n") {
            let n = read(&slave, &mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello\n");
        let echoed = read_for(&master, Duration::from_millis(100)).await;
        assert!(echoed.starts_with(b"hello"), "{kind}: echo {echoed:?}");

        // Echo off: the slave still gets the line, the master sees nothing back.
        let mut quiet = orig;
        quiet.c_echo = false;
        tcsetattr(&slave, SetattrWhen::Now, quiet).await.unwrap();
        assert!(!tcgetattr(&slave).await.unwrap().c_echo);
        write(&master, b"secret\n").await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            let n = read(&slave, &mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"secret\n");
        let echoed = read_for(&master, Duration::from_millis(100)).await;
        assert!(
            echoed.is_empty(),
            "{kind}: echoed with echo off: {echoed:?}"
        );

        // Flush discards unread input; drain, flow and break succeed on a pty.
        write(&master, b"junk\n").await.unwrap();
        lwt::sleep(Duration::from_millis(50)).await; // let the line discipline take it
        tcflush(&slave, FlushQueue::Input).await.unwrap();
        assert!(
            read_for(&slave, Duration::from_millis(50)).await.is_empty(),
            "{kind}: flush"
        );
        write(&master, b"kept\n").await.unwrap();
        let n = read(&slave, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"kept\n");
        write(&slave, b"out").await.unwrap();
        tcdrain(&slave).await.unwrap();
        tcflush(&slave, FlushQueue::Both).await.unwrap();
        tcflush(&slave, FlushQueue::Output).await.unwrap();
        tcflow(&slave, FlowAction::OutputOff).await.unwrap();
        tcflow(&slave, FlowAction::OutputOn).await.unwrap();
        tcflow(&slave, FlowAction::InputOff).await.unwrap();
        tcflow(&slave, FlowAction::InputOn).await.unwrap();
        tcsendbreak(&slave, 0).await.unwrap();
        tcsetattr(&slave, SetattrWhen::Now, orig).await.unwrap();

        // Bad input: clear errors, and the terminal is unchanged.
        let mut bad = orig;
        bad.c_csize = 9;
        assert!(matches!(
            tcsetattr(&slave, SetattrWhen::Now, bad).await,
            Err(Error::InvalidArgument { .. })
        ));
        let mut bad = orig;
        bad.c_obaud = 12345;
        assert!(matches!(
            tcsetattr(&slave, SetattrWhen::Now, bad).await,
            Err(Error::InvalidArgument { .. })
        ));
        let mut bad = orig;
        bad.c_vmin = 1000;
        assert!(matches!(
            tcsetattr(&slave, SetattrWhen::Now, bad).await,
            Err(Error::InvalidArgument { .. })
        ));
        let mut bad = orig;
        bad.c_veof = '€';
        assert!(matches!(
            tcsetattr(&slave, SetattrWhen::Now, bad).await,
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(tcgetattr(&slave).await.unwrap(), orig);
        let (r, w) = pipe().unwrap();
        assert_eq!(tcgetattr(&r).await.unwrap_err().errno(), Some(libc::ENOTTY));
        assert_eq!(tcdrain(&w).await.unwrap_err().errno(), Some(libc::ENOTTY));
        close(&slave).await.unwrap();
        assert!(matches!(tcgetattr(&slave).await, Err(Error::Closed)));
        assert!(matches!(tcdrain(&slave).await, Err(Error::Closed)));
        close(&master).await.unwrap();
        drop((r, w));
        assert_eq!(util::open_fds(), fds_before, "{kind}: descriptor leak");
    });
}
