//! Socket options and multicast on loopback, on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[test]
fn bool_int_optint_float_options_round_trip() {
    util::for_each_backend(|_kind| async {
        let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        for opt in [
            SocketBoolOption::SoReuseaddr,
            SocketBoolOption::SoKeepalive,
            SocketBoolOption::SoOobinline,
            SocketBoolOption::SoDontroute,
            SocketBoolOption::SoBroadcast,
            SocketBoolOption::TcpNodelay,
        ] {
            setsockopt(&s, opt, true).unwrap();
            assert!(getsockopt(&s, opt).unwrap(), "{opt:?}");
            setsockopt(&s, opt, false).unwrap();
            assert!(!getsockopt(&s, opt).unwrap(), "{opt:?}");
        }
        assert!(!getsockopt(&s, SocketBoolOption::SoAcceptconn).unwrap());
        bind(&s, &SockAddr::Inet(LO.into(), 0)).await.unwrap();
        listen(&s, 1).unwrap();
        assert!(getsockopt(&s, SocketBoolOption::SoAcceptconn).unwrap());
        let _ = getsockopt(&s, SocketBoolOption::SoDebug).unwrap();

        let s6 = socket(SocketDomain::Inet6, SocketType::Stream, 0).unwrap();
        setsockopt(&s6, SocketBoolOption::Ipv6Only, true).unwrap();
        assert!(getsockopt(&s6, SocketBoolOption::Ipv6Only).unwrap());
        // An option of another protocol: a clear error.
        let (u, _) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        let e = getsockopt(&u, SocketBoolOption::TcpNodelay).unwrap_err();
        assert!(e.errno().is_some() && e.call() == Some("getsockopt"), "{e}");

        assert_eq!(
            getsockopt_int(&s, SocketIntOption::SoType).unwrap(),
            libc::SOCK_STREAM
        );
        setsockopt_int(&s6, SocketIntOption::SoSndbuf, 32768).unwrap();
        assert!(getsockopt_int(&s6, SocketIntOption::SoSndbuf).unwrap() >= 32768);
        setsockopt_int(&s6, SocketIntOption::SoRcvlowat, 10).unwrap();
        assert_eq!(
            getsockopt_int(&s6, SocketIntOption::SoRcvlowat).unwrap(),
            10
        );
        assert_eq!(getsockopt_int(&s6, SocketIntOption::SoError).unwrap(), 0);
        assert!(setsockopt_int(&s6, SocketIntOption::SoType, 1).is_err());

        assert_eq!(
            getsockopt_optint(&s6, SocketOptintOption::SoLinger).unwrap(),
            None
        );
        setsockopt_optint(&s6, SocketOptintOption::SoLinger, Some(0)).unwrap();
        assert_eq!(
            getsockopt_optint(&s6, SocketOptintOption::SoLinger).unwrap(),
            Some(0)
        );
        setsockopt_optint(&s6, SocketOptintOption::SoLinger, None).unwrap();
        assert_eq!(
            getsockopt_optint(&s6, SocketOptintOption::SoLinger).unwrap(),
            None
        );
        assert!(matches!(
            setsockopt_optint(&s6, SocketOptintOption::SoLinger, Some(-1)),
            Err(lwt::Error::InvalidArgument { .. })
        ));

        for opt in [SocketFloatOption::SoRcvtimeo, SocketFloatOption::SoSndtimeo] {
            assert_eq!(getsockopt_float(&s6, opt).unwrap(), Duration::ZERO);
            setsockopt_float(&s6, opt, Duration::from_millis(2500)).unwrap();
            assert_eq!(
                getsockopt_float(&s6, opt).unwrap(),
                Duration::from_millis(2500)
            );
        }
        assert!(setsockopt_float(&s6, SocketFloatOption::SoRcvtimeo, Duration::MAX).is_err());
        // A timeout shorter than a timeval can hold is rounded up, never to "no timeout".
        for tiny in [Duration::from_nanos(1), Duration::from_nanos(999)] {
            for opt in [SocketFloatOption::SoRcvtimeo, SocketFloatOption::SoSndtimeo] {
                setsockopt_float(&s6, opt, tiny).unwrap();
                let got = getsockopt_float(&s6, opt).unwrap();
                assert!(
                    got >= Duration::from_micros(1),
                    "{opt:?} {tiny:?} read back as {got:?}"
                );
            }
        }
        setsockopt_float(&s6, SocketFloatOption::SoRcvtimeo, Duration::ZERO).unwrap();
        assert_eq!(
            getsockopt_float(&s6, SocketFloatOption::SoRcvtimeo).unwrap(),
            Duration::ZERO
        );

        assert!(getsockopt_error(&s6).unwrap().is_none());
        close(&s6).await.unwrap();
        assert!(matches!(
            getsockopt(&s6, SocketBoolOption::Ipv6Only),
            Err(lwt::Error::Closed)
        ));
        assert!(matches!(getsockopt_error(&s6), Err(lwt::Error::Closed)));
    });
}

#[test]
fn getsockopt_error_reports_a_failed_connect() {
    util::for_each_backend(|_kind| async {
        let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        bind(&s, &SockAddr::Inet(LO.into(), 0)).await.unwrap();
        let addr = getsockname(&s).unwrap();
        close(&s).await.unwrap();
        // Start a non-blocking connect by hand, wait for it, and read the error.
        let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        let any: std::net::SocketAddr = addr.try_into().unwrap();
        let r = rustix::net::connect(c.checked().unwrap(), &any);
        assert!(matches!(
            r,
            Err(rustix::io::Errno::INPROGRESS) | Err(rustix::io::Errno::CONNREFUSED)
        ));
        if r.is_err() && r != Err(rustix::io::Errno::CONNREFUSED) {
            wait_write(&c).await.unwrap();
            let e = getsockopt_error(&c).unwrap().expect("a pending error");
            assert_eq!(e.errno(), Some(libc::ECONNREFUSED));
            // Reading it cleared it.
            assert!(getsockopt_error(&c).unwrap().is_none());
        }
    });
}

/// Sends one datagram to `group:port` from a socket that sends by the loopback interface
/// with `loop_on`, and says whether `rx` receives it; `expect` says which answer the
/// caller expects, so a datagram that is due gets a long wait and one that is not a short one.
async fn multicast_arrives(
    rx: &FileDescr,
    group: Ipv4Addr,
    port: u16,
    loop_on: bool,
    expect: bool,
) -> bool {
    let tx = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
    mcast_set_if(&tx, LO).unwrap();
    mcast_set_ttl(&tx, 1).unwrap();
    mcast_set_loop(&tx, loop_on).unwrap();
    sendto(
        &tx,
        b"mcast",
        MsgFlags::empty(),
        &SockAddr::Inet(group.into(), port),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 16];
    // Long enough for a loaded machine to deliver it (it returns as soon as it arrives); a
    // datagram that must not arrive costs the whole wait, so keep that case short.
    let wait = Duration::from_millis(if expect { 5000 } else { 300 });
    let got = lwt::unix::with_timeout(wait, async {
        recvfrom(rx, &mut buf, MsgFlags::empty()).await
    })
    .await;
    match got {
        Ok((n, _)) => {
            assert_eq!(&buf[..n], b"mcast");
            true
        }
        Err(lwt::Error::Timeout) => false,
        Err(e) => panic!("{e}"),
    }
}

/// The raw `IP_MULTICAST_LOOP` value of a socket.
fn ip_multicast_loop(fd: &FileDescr) -> libc::c_int {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` is a writable int of `len` bytes; `fd` is open.
    let r = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0);
    v
}

/// A receiver on a fresh port that only gets the groups it joined itself (Linux's
/// `IP_MULTICAST_ALL` default would also hand it the groups joined by other sockets).
async fn receiver() -> (FileDescr, u16) {
    let rx = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
    // Linux delivers every group's datagrams to a socket bound to the wildcard address
    // unless IP_MULTICAST_ALL is off; other systems filter by membership already.
    #[cfg(target_os = "linux")]
    {
        let off: libc::c_int = 0;
        // SAFETY: a valid int option value on an open socket.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&rx),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_ALL,
                (&off as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
    }
    bind(&rx, &SockAddr::Inet(Ipv4Addr::UNSPECIFIED.into(), 0))
        .await
        .unwrap();
    let port = match getsockname(&rx).unwrap() {
        SockAddr::Inet(_, p) => p,
        a => panic!("{a:?}"),
    };
    (rx, port)
}

#[test]
fn multicast_on_loopback_arrives_iff_joined() {
    util::for_each_backend(|_kind| async {
        // Distinct groups per case (and per process), so cases cannot see each other.
        let base = (std::process::id() % 200) as u8 + 20;
        let group = |n: u8| Ipv4Addr::new(239, 255, base, n);

        // Joined (on the loopback interface), loop on: received.
        let (rx, port) = receiver().await;
        mcast_add_membership(&rx, Some(LO.into()), group(1).into()).unwrap();
        assert!(multicast_arrives(&rx, group(1), port, true, true).await);

        // Not joined, loop on: not received.
        let (rx2, port2) = receiver().await;
        assert!(!multicast_arrives(&rx2, group(2), port2, true, false).await);

        // Joined, loop off. GAP, stated: only loopback addresses may be used here, and when
        // the outgoing interface is `lo` itself the device delivers the datagram back to the
        // host whatever IP_MULTICAST_LOOP says (the option only suppresses the extra local
        // copy made when sending by a real interface). So on loopback we check that the
        // option is really off on the socket, and that the datagram is then received
        // exactly once, by the device's own loop, not twice.
        let (rx3, port3) = receiver().await;
        mcast_add_membership(&rx3, Some(LO.into()), group(3).into()).unwrap();
        let tx = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
        mcast_set_loop(&tx, false).unwrap();
        assert_eq!(ip_multicast_loop(&tx), 0);
        mcast_set_loop(&tx, true).unwrap();
        assert_eq!(ip_multicast_loop(&tx), 1);
        assert!(multicast_arrives(&rx3, group(3), port3, false, true).await);
        let mut buf = [0u8; 16];
        let again = lwt::unix::with_timeout(Duration::from_millis(100), async {
            recvfrom(&rx3, &mut buf, MsgFlags::empty()).await
        })
        .await;
        assert!(matches!(again, Err(lwt::Error::Timeout)), "{again:?}");

        // Joined then dropped: not received any more.
        mcast_drop_membership(&rx, Some(LO.into()), group(1).into()).unwrap();
        assert!(!multicast_arrives(&rx, group(1), port, true, false).await);
        // Dropping a group not joined is a clear error.
        let e = mcast_drop_membership(&rx, Some(LO.into()), group(1).into()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EADDRNOTAVAIL), "{e}");
        // Not a multicast address; mixed families.
        assert!(mcast_add_membership(&rx, None, IpAddr::V4(LO)).is_err());
        assert!(matches!(
            mcast_add_membership(&rx, Some(Ipv6Addr::LOCALHOST.into()), group(4).into()),
            Err(lwt::Error::InvalidArgument { .. })
        ));
    });
}

#[test]
fn ipv6_multicast_options() {
    util::for_each_backend(|_kind| async {
        let s = socket(SocketDomain::Inet6, SocketType::Dgram, 0).unwrap();
        mcast_set_loop(&s, false).unwrap();
        mcast_set_ttl(&s, 3).unwrap();
        assert!(mcast_set_ttl(&s, 1000).is_err());
        let group: Ipv6Addr = "ff15::7777".parse().unwrap();
        // Joining an IPv6 group needs an interface with an IPv6 multicast route; this
        // sandbox's loopback has none by default, so accept either answer but require a
        // clear error if it fails, and a working drop if it succeeds.
        match mcast_add_membership(&s, None, group.into()) {
            Ok(()) => mcast_drop_membership(&s, None, group.into()).unwrap(),
            Err(e) => assert!(e.errno().is_some(), "{e}"),
        }
        assert!(matches!(
            mcast_add_membership(&s, Some(LO.into()), group.into()),
            Err(lwt::Error::InvalidArgument { .. })
        ));
    });
}

#[test]
fn a_negative_protocol_is_refused() {
    util::for_each_backend(|kind| async move {
        for proto in [-1, i32::MIN] {
            let e = socket(SocketDomain::Inet, SocketType::Stream, proto).unwrap_err();
            assert!(
                matches!(e, lwt::Error::InvalidArgument { call: "socket", .. }),
                "{kind}: {e:?}"
            );
            assert!(e.to_string().contains(&proto.to_string()), "{kind}: {e}");
            let e = socketpair(SocketDomain::Unix, SocketType::Stream, proto).unwrap_err();
            assert!(
                matches!(
                    e,
                    lwt::Error::InvalidArgument {
                        call: "socketpair",
                        ..
                    }
                ),
                "{kind}: {e:?}"
            );
        }
        // 0 is the default protocol; a positive one is the kernel's to judge.
        socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        socket(SocketDomain::Inet, SocketType::Stream, libc::IPPROTO_TCP).unwrap();
    });
}
