//! Sockets over the loop on every backend: TCP and Unix-domain echo, bind/getsockname round
//! trips, ECONNREFUSED, accept_n batches, datagrams, shutdown, and bad input.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Tests that count open descriptors must not run beside the others of this binary.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

async fn tcp_listener(ip: IpAddr) -> (FileDescr, SockAddr) {
    let domain = if ip.is_ipv4() {
        SocketDomain::Inet
    } else {
        SocketDomain::Inet6
    };
    let l = socket(domain, SocketType::Stream, 0).unwrap();
    bind(&l, &SockAddr::Inet(ip, 0)).await.unwrap();
    listen(&l, 64).unwrap();
    let a = getsockname(&l).unwrap();
    (l, a)
}

fn temp_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("lwt-net-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

async fn write_all(fd: &FileDescr, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = write(fd, buf).await.unwrap();
        buf = &buf[n..];
    }
}

async fn read_to_end(fd: &FileDescr) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = read(fd, &mut buf).await.unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Serves one connection: echoes until end of file, then closes.
async fn echo_once(l: FileDescr) {
    let (c, _) = accept(&l).await.unwrap();
    let mut buf = [0u8; 1000];
    loop {
        let n = recv(&c, &mut buf, MsgFlags::empty()).await.unwrap();
        if n == 0 {
            break;
        }
        write_all(&c, &buf[..n]).await;
    }
}

async fn echo_round_trip(domain: SocketDomain, server: FileDescr, addr: SockAddr) {
    let task = lwt::spawn(echo_once(server));
    let c = socket(domain, SocketType::Stream, 0).unwrap();
    connect(&c, &addr).await.unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let reader = {
        let c = c.clone();
        lwt::spawn(async move { read_to_end(&c).await })
    };
    write_all(&c, &data).await;
    shutdown(&c, ShutdownCommand::Send).unwrap();
    assert_eq!(reader.await.unwrap(), data);
    task.await.unwrap();
    close(&c).await.unwrap();
}

#[test]
fn tcp_echo_ipv4_and_ipv6() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let (l, addr) = tcp_listener(LO).await;
        echo_round_trip(SocketDomain::Inet, l, addr).await;
        let (l, addr) = tcp_listener(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
        echo_round_trip(SocketDomain::Inet6, l, addr).await;
    });
}

#[test]
fn unix_domain_echo() {
    let _serial = serial();
    util::for_each_backend(|kind| async move {
        let path = temp_path(kind.name());
        let l = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        bind(&l, &SockAddr::Unix(path.clone())).await.unwrap();
        listen(&l, 8).unwrap();
        assert_eq!(getsockname(&l).unwrap(), SockAddr::Unix(path.clone()));
        echo_round_trip(SocketDomain::Unix, l, SockAddr::Unix(path.clone())).await;
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn bind_then_getsockname_round_trips() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        for (domain, ty, ip) in [
            (SocketDomain::Inet, SocketType::Stream, LO),
            (SocketDomain::Inet, SocketType::Dgram, LO),
            (
                SocketDomain::Inet6,
                SocketType::Stream,
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ),
        ] {
            // A port chosen by the kernel, then that exact port bound again on a new socket.
            let s = socket(domain, ty, 0).unwrap();
            bind(&s, &SockAddr::Inet(ip, 0)).await.unwrap();
            let got = getsockname(&s).unwrap();
            let port = match got {
                SockAddr::Inet(a, p) => {
                    assert_eq!(a, ip);
                    assert_ne!(p, 0);
                    p
                }
                other => panic!("{other:?}"),
            };
            close(&s).await.unwrap();
            let s = socket(domain, ty, 0).unwrap();
            setsockopt(&s, SocketBoolOption::SoReuseaddr, true).unwrap();
            bind(&s, &SockAddr::Inet(ip, port)).await.unwrap();
            assert_eq!(getsockname(&s).unwrap(), SockAddr::Inet(ip, port));
            let std_addr: std::net::SocketAddr = getsockname(&s).unwrap().try_into().unwrap();
            assert_eq!(std_addr, std::net::SocketAddr::new(ip, port));
        }
        // Linux abstract Unix-domain names round trip with their leading NUL.
        let name = PathBuf::from(format!("\0lwt-abstract-{}", std::process::id()));
        let s = socket(SocketDomain::Unix, SocketType::Dgram, 0).unwrap();
        bind(&s, &SockAddr::Unix(name.clone())).await.unwrap();
        assert_eq!(getsockname(&s).unwrap(), SockAddr::Unix(name));
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        bind(&s, &SockAddr::Inet(LO, 0)).await.unwrap();
        let addr = getsockname(&s).unwrap();
        close(&s).await.unwrap(); // nobody listens on `addr` now
        let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        let e = connect(&c, &addr).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECONNREFUSED), "{e}");
        assert_eq!(e.call(), Some("connect"));
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
        // A missing Unix-domain path.
        let u = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let e = connect(&u, &SockAddr::Unix(temp_path("missing")))
            .await
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    });
}

#[test]
fn accept_n_returns_a_batch() {
    let _serial = serial();
    util::for_each_backend(|kind| async move {
        // Unix-domain connects are queued on the listener before `connect` returns, so the
        // batch sizes are exact.
        let path = temp_path(&format!("batch-{}", kind.name()));
        let ul = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        bind(&ul, &SockAddr::Unix(path.clone())).await.unwrap();
        listen(&ul, 16).unwrap();
        let mut uclients = Vec::new();
        for _ in 0..5 {
            let c = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
            connect(&c, &SockAddr::Unix(path.clone())).await.unwrap();
            uclients.push(c);
        }
        let (got, err) = accept_n(&ul, 3).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 3);
        let (rest, err) = accept_n(&ul, 10).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(rest.len(), 2);
        std::fs::remove_file(&path).unwrap();

        // TCP: the kernel may still be moving a handshake's last ACK into the queue when
        // `connect` returns, so collect batches until all five are in; never more than asked.
        let (l, addr) = tcp_listener(LO).await;
        let mut clients = Vec::new();
        for _ in 0..5 {
            let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            connect(&c, &addr).await.unwrap();
            clients.push(c);
        }
        let mut all = Vec::new();
        while all.len() < 5 {
            let (batch, err) = accept_n(&l, 3).await;
            assert!(err.is_none(), "{err:?}");
            assert!(!batch.is_empty() && batch.len() <= 3, "{}", batch.len());
            all.extend(batch);
        }
        assert_eq!(all.len(), 5);
        let peers: Vec<SockAddr> = all.iter().map(|(_, a)| a.clone()).collect();
        for c in &clients {
            assert!(peers.contains(&getsockname(c).unwrap()));
        }
        for (s, _) in &all {
            assert!(!blocking(s));
        }
        // Nothing pending: accept_n waits; with a zero count it returns at once.
        assert!(accept_n(&l, 0).await.0.is_empty());
        let none = lwt::unix::with_timeout(std::time::Duration::from_millis(50), async {
            Ok(accept_n(&l, 4).await)
        })
        .await;
        assert!(matches!(none, Err(lwt::Error::Timeout)));
        // An error stops the batch and is returned with what was accepted (none here).
        close(&l).await.unwrap();
        let (got, err) = accept_n(&l, 4).await;
        assert!(got.is_empty());
        assert!(matches!(err, Some(lwt::Error::Closed)));
    });
}

#[test]
fn datagrams_with_flags() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let a = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
        let b = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
        bind(&a, &SockAddr::Inet(LO, 0)).await.unwrap();
        bind(&b, &SockAddr::Inet(LO, 0)).await.unwrap();
        let to_b = getsockname(&b).unwrap();
        // The receiver waits first; the datagram wakes it.
        let waiter = {
            let b = b.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 16];
                let (n, from) = recvfrom(&b, &mut buf, MsgFlags::PEEK).await.unwrap();
                (buf[..n].to_vec(), from)
            })
        };
        lwt::yield_now().await;
        assert_eq!(
            sendto(&a, b"hello", MsgFlags::DONTROUTE, &to_b)
                .await
                .unwrap(),
            5
        );
        let (peeked, from) = waiter.await.unwrap();
        assert_eq!(peeked, b"hello");
        assert_eq!(from, getsockname(&a).unwrap());
        // PEEK left it there.
        let mut buf = [0u8; 3];
        let (n, _) = recvfrom(&b, &mut buf, MsgFlags::empty()).await.unwrap();
        assert_eq!(&buf[..n], b"hel"); // truncated datagram
                                       // connect + send/recv on datagram sockets.
        connect(&a, &to_b).await.unwrap();
        assert_eq!(getpeername(&a).unwrap(), to_b);
        send(&a, b"xy", MsgFlags::empty()).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(recv(&b, &mut buf, MsgFlags::empty()).await.unwrap(), 2);
    });
}

#[test]
fn shutdown_each_direction() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        shutdown(&a, ShutdownCommand::Send).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(read(&b, &mut buf).await.unwrap(), 0);
        // a can still receive.
        write(&b, b"ok").await.unwrap();
        assert_eq!(read(&a, &mut buf).await.unwrap(), 2);
        shutdown(&a, ShutdownCommand::All).unwrap();
        assert_eq!(read(&a, &mut buf).await.unwrap(), 0);
        let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        let e = shutdown(&s, ShutdownCommand::Receive).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTCONN));
    });
}

#[test]
fn bad_input_gives_clear_errors_and_leaks_nothing() {
    let _serial = serial();
    util::for_each_backend(|_kind| async {
        let before = util::open_fds();
        let s = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let e = bind(&s, &SockAddr::Unix("/tmp/a\0b".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, lwt::Error::InvalidArgument { call: "bind", .. }),
            "{e}"
        );
        let e = connect(&s, &SockAddr::Unix("x\0".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                lwt::Error::InvalidArgument {
                    call: "connect",
                    ..
                }
            ),
            "{e}"
        );
        // Too long a path.
        let long = PathBuf::from("/tmp/".to_string() + &"x".repeat(200));
        assert!(bind(&s, &SockAddr::Unix(long)).await.is_err());
        // The socket is still usable.
        let p = temp_path("after-bad");
        bind(&s, &SockAddr::Unix(p.clone())).await.unwrap();
        std::fs::remove_file(&p).unwrap();
        // Closed and aborted descriptors.
        close(&s).await.unwrap();
        assert!(matches!(listen(&s, 1), Err(lwt::Error::Closed)));
        assert!(matches!(getsockname(&s), Err(lwt::Error::Closed)));
        assert!(matches!(accept(&s).await, Err(lwt::Error::Closed)));
        let t = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        abort(&t, lwt::Error::Timeout);
        let e = connect(&t, &SockAddr::Inet(LO, 1)).await.unwrap_err();
        assert!(matches!(e, lwt::Error::Aborted(_)), "{e}");
        // An IPv4 address on an IPv6 socket, a Unix path on an IPv4 socket.
        let u = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        assert!(bind(&u, &SockAddr::Unix(temp_path("wrongfamily")))
            .await
            .is_err());
        // A pending accept fails when the listener is closed.
        let (l, _) = tcp_listener(LO).await;
        let pending = {
            let l = l.clone();
            lwt::spawn(async move { accept(&l).await.map(|_| ()) })
        };
        lwt::yield_now().await;
        close(&l).await.unwrap();
        assert!(matches!(pending.await.unwrap(), Err(lwt::Error::Closed)));
        drop((t, u));
        // At most as many as before (an earlier runtime's descriptors held by worker
        // threads may close meanwhile); none of ours may stay.
        let after = util::open_fds();
        assert!(
            after <= before,
            "descriptors left open: {before} before, {after} after"
        );
    });
}
