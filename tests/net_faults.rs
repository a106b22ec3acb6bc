//! Faults over sockets on every backend: peer reset (ECONNRESET), EPIPE without SIGPIPE
//! killing the process, and EMFILE on accept with the server serving again once descriptors
//! are free. The last two run in a re-executed child of this test binary, since they change
//! process-wide state (the SIGPIPE disposition, RLIMIT_NOFILE).
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::net::Ipv4Addr;
use std::process::Command;

const CHILD_ENV: &str = "LWT_NET_FAULTS_CHILD";

fn lo() -> SockAddr {
    SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 0)
}

async fn listener() -> (FileDescr, SockAddr) {
    let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    bind(&l, &lo()).await.unwrap();
    listen(&l, 16).unwrap();
    let a = getsockname(&l).unwrap();
    (l, a)
}

async fn connected_pair() -> (FileDescr, FileDescr) {
    let (l, addr) = listener().await;
    let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    connect(&c, &addr).await.unwrap();
    let (s, _) = accept(&l).await.unwrap();
    (c, s)
}

/// Runs the test named `name` alone in a child process with `CHILD_ENV` set, and checks it
/// passed (a signal death, e.g. by SIGPIPE, fails here with the signal shown).
fn in_child(name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {name}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

#[test]
fn peer_reset_is_econnreset() {
    util::for_each_backend(|_kind| async {
        // A reader already waiting is woken by the reset.
        let (c, s) = connected_pair().await;
        let waiting = {
            let s = s.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 8];
                recv(&s, &mut buf, MsgFlags::empty()).await
            })
        };
        lwt::yield_now().await;
        // SO_LINGER 0: close sends a reset instead of a FIN.
        setsockopt_optint(&c, SocketOptintOption::SoLinger, Some(0)).unwrap();
        close(&c).await.unwrap();
        let e = waiting.await.unwrap().unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECONNRESET), "{e}");
        assert_eq!(e.call(), Some("recv"));
        // After the reset, sending fails cleanly too (EPIPE), and the loop goes on.
        let e = send(&s, b"x", MsgFlags::empty()).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPIPE), "{e}");

        // A read that comes after the reset arrived.
        let (c, s) = connected_pair().await;
        setsockopt_optint(&c, SocketOptintOption::SoLinger, Some(0)).unwrap();
        close(&c).await.unwrap();
        let mut buf = [0u8; 8];
        // The reset may take a moment to arrive; until then the read waits for it.
        let e = read(&s, &mut buf).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECONNRESET), "{e}");
    });
}

#[test]
fn epipe_never_kills() {
    if !is_child() {
        return in_child("epipe_never_kills");
    }
    // The default disposition: SIGPIPE would kill this process if lwt let it through.
    // SAFETY: restoring the default disposition of SIGPIPE touches no memory.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    util::for_each_backend(|_kind| async {
        let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        drop(b);
        let e = send(&a, b"x", MsgFlags::empty()).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPIPE), "{e}");
        let e = write(&a, b"x").await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPIPE), "{e}");
        // TCP, after the peer closed and its reset came back.
        let (c, s) = connected_pair().await;
        close(&s).await.unwrap();
        let mut err = None;
        for _ in 0..10_000 {
            match write(&c, &[0u8; 4096]).await {
                Ok(_) => lwt::sleep(std::time::Duration::from_millis(1)).await,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let e = err.expect("writes to a closed peer fail");
        assert!(
            matches!(e.errno(), Some(libc::EPIPE) | Some(libc::ECONNRESET)),
            "{e}"
        );
        let e = sendto(&c, b"x", MsgFlags::empty(), &lo())
            .await
            .unwrap_err();
        assert!(e.errno().is_some(), "{e}");
    });
}

#[test]
fn emfile_on_accept_then_keeps_serving() {
    if !is_child() {
        return in_child("emfile_on_accept_then_keeps_serving");
    }
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let old = getrlimit(Resource::Nofile);
    util::for_each_backend(|_kind| async {
        let (l, addr) = listener().await;
        let c1 = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        connect(&c1, &addr).await.unwrap(); // queued on the listener
                                            // Lower the limit near what is open, then use up the rest.
        let limit = util::open_fds() as u64 + 8;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(limit),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let mut fillers = Vec::new();
        loop {
            match pipe() {
                Ok(p) => fillers.push(p),
                Err(e) => {
                    assert_eq!(e.errno(), Some(libc::EMFILE));
                    break;
                }
            }
        }
        // The pipe that failed may have left one slot free: fill it.
        if let Ok(s) = socket(SocketDomain::Inet, SocketType::Stream, 0) {
            fillers.push((s.clone(), s));
        }
        let e = accept(&l).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EMFILE), "{e}");
        assert_eq!(e.call(), Some("accept"));
        let (got, err) = accept_n(&l, 4).await;
        assert!(got.is_empty());
        assert_eq!(err.and_then(|e| e.errno()), Some(libc::EMFILE));
        // Free descriptors: the queued connection is accepted and served.
        fillers.clear();
        let (s, _) = accept(&l).await.unwrap();
        write(&c1, b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(read(&s, &mut buf).await.unwrap(), 4);
        write(&s, &buf).await.unwrap();
        assert_eq!(read(&c1, &mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"ping");
        // And new clients too.
        let c2 = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        connect(&c2, &addr).await.unwrap();
        accept(&l).await.unwrap();
        setrlimit(Resource::Nofile, old).unwrap();
    });
}
