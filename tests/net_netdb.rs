//! Host, protocol and service lookups answer like the C library, on every backend and under
//! every async method; unknown names are clear errors.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn lookups_answer_like_the_c_library() {
    util::for_each_backend(|_kind| async {
        for method in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            let key = async_method_key();
            key.with_value(Some(method), async {
                let http = getservbyname("http", "tcp").await.unwrap();
                assert_eq!((http.port, http.proto.as_str()), (80, "tcp"));
                assert_eq!(http.name, "http");
                let by_port = getservbyport(80, "tcp").await.unwrap();
                assert_eq!(by_port.name, "http");

                let tcp = getprotobyname("tcp").await.unwrap();
                assert_eq!(tcp.proto, 6);
                assert_eq!(getprotobynumber(17).await.unwrap().name, "udp");

                let ai = getaddrinfo("localhost", "", &[]).await.unwrap();
                assert!(ai
                    .iter()
                    .any(|a| matches!(a.addr, SockAddr::Inet(IpAddr::V4(ip), _) if ip == Ipv4Addr::LOCALHOST)));

                let uname = rustix::system::uname();
                let node = uname.nodename().to_string_lossy().into_owned();
                assert_eq!(gethostname().await.unwrap(), node);
            })
            .await;
        }
    });
}

#[test]
fn getaddrinfo_options_and_getnameinfo() {
    util::for_each_backend(|_kind| async {
        let v = getaddrinfo(
            "127.0.0.1",
            "http",
            &[
                GetaddrinfoOption::AiNumerichost,
                GetaddrinfoOption::AiSocktype(SocketType::Stream),
                GetaddrinfoOption::AiCanonname,
            ],
        )
        .await
        .unwrap();
        assert!(!v.is_empty());
        for a in &v {
            assert_eq!(a.socktype, SocketType::Stream);
            assert_eq!(a.family, SocketDomain::Inet);
            assert_eq!(a.addr, SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 80));
        }
        assert_eq!(v[0].canonname, "127.0.0.1");
        // Passive with no host: the wildcard address, for bind.
        let v = getaddrinfo(
            "",
            "8080",
            &[
                GetaddrinfoOption::AiPassive,
                GetaddrinfoOption::AiFamily(SocketDomain::Inet),
                GetaddrinfoOption::AiProtocol(libc::IPPROTO_UDP),
            ],
        )
        .await
        .unwrap();
        assert!(v.iter().all(
            |a| a.addr == SockAddr::Inet(Ipv4Addr::UNSPECIFIED.into(), 8080)
                && a.protocol == libc::IPPROTO_UDP
        ));
        // Numeric host demanded but a name given.
        assert!(
            getaddrinfo("localhost", "", &[GetaddrinfoOption::AiNumerichost])
                .await
                .is_err()
        );

        let ni = getnameinfo(
            &SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 53),
            &[
                GetnameinfoOption::NiNumerichost,
                GetnameinfoOption::NiNumericserv,
                GetnameinfoOption::NiDgram,
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            (ni.hostname.as_str(), ni.service.as_str()),
            ("127.0.0.1", "53")
        );
        let ni = getnameinfo(
            &SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 80),
            &[GetnameinfoOption::NiNofqdn],
        )
        .await
        .unwrap();
        assert_eq!(ni.service, "http");
        assert!(!ni.hostname.is_empty());
        assert!(matches!(
            getnameinfo(&SockAddr::Unix("/tmp/x".into()), &[]).await,
            Err(lwt::Error::InvalidArgument { .. })
        ));

        let h = gethostbyname("localhost").await.unwrap();
        assert!(!h.addr_list.is_empty());
        let h = gethostbyaddr(Ipv4Addr::LOCALHOST.into()).await.unwrap();
        assert_eq!(h.addrtype, SocketDomain::Inet);
        assert!(!h.name.is_empty());
    });
}

#[test]
fn unknown_names_are_clear_errors() {
    util::for_each_backend(|_kind| async {
        fn not_found(r: lwt::Result<impl std::fmt::Debug>, call: &str) {
            match r {
                Err(lwt::Error::NotFound { call: c, what }) => {
                    assert_eq!(c, call);
                    assert!(!what.is_empty());
                }
                other => panic!("{call}: {other:?}"),
            }
        }
        not_found(
            getservbyname("no-such-service", "tcp").await,
            "getservbyname",
        );
        not_found(getservbyport(1, "no-such-proto").await, "getservbyport");
        not_found(getprotobyname("no-such-protocol").await, "getprotobyname");
        not_found(getprotobynumber(2000).await, "getprotobynumber");
        not_found(gethostbyname("no-such-host.invalid").await, "gethostbyname");
        not_found(
            getaddrinfo("no-such-host.invalid", "", &[]).await,
            "getaddrinfo",
        );
        not_found(
            getaddrinfo("localhost", "no-such-service", &[]).await,
            "getaddrinfo",
        );
        // 192.0.2.0/24 is TEST-NET-1; NI_NAMEREQD with no name for it.
        let r = getnameinfo(
            &SockAddr::Inet([192, 0, 2, 254].into(), 1),
            &[GetnameinfoOption::NiNamereqd],
        )
        .await;
        assert!(r.is_err());
        // NUL bytes.
        assert!(matches!(
            getprotobyname("t\0cp").await,
            Err(lwt::Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            getservbyname("http", "t\0").await,
            Err(lwt::Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            getaddrinfo("a\0b", "", &[]).await,
            Err(lwt::Error::InvalidArgument { .. })
        ));
        // The runtime is still usable.
        assert_eq!(getprotobyname("udp").await.unwrap().proto, 17);
    });
}
