//! Unix-domain addresses: an unnamed peer (a `socketpair` end, a client that never bound) is
//! the empty path, not `"\0"`; binding the empty path is refused with an error that names it
//! and points at abstract names, instead of silently autobinding (Linux). Issue 11, item 6.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::path::PathBuf;

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lwt-unix-addr-{tag}-{}", std::process::id()))
}

#[test]
fn an_unnamed_peer_is_the_empty_path() {
    util::for_each_backend(|kind| async move {
        let unnamed = SockAddr::Unix(PathBuf::new());
        let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        assert_eq!(getsockname(&a).unwrap(), unnamed, "{kind}");
        assert_eq!(getpeername(&b).unwrap(), unnamed, "{kind}");

        let path = temp_path(kind.name());
        let _ = std::fs::remove_file(&path);
        let l = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        bind(&l, &SockAddr::Unix(path.clone())).await.unwrap();
        listen(&l, 4).unwrap();
        let c = socket(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        connect(&c, &SockAddr::Unix(path.clone())).await.unwrap();
        let (s, peer) = accept(&l).await.unwrap();
        assert_eq!(peer, unnamed, "{kind}: the client never bound");
        assert_eq!(getpeername(&s).unwrap(), unnamed, "{kind}");
        assert_eq!(
            getpeername(&c).unwrap(),
            SockAddr::Unix(path.clone()),
            "{kind}"
        );
        assert_eq!(getsockname(&c).unwrap(), unnamed, "{kind}");
        std::fs::remove_file(&path).unwrap();

        // Datagrams from an unnamed sender.
        let (x, y) = socketpair(SocketDomain::Unix, SocketType::Dgram, 0).unwrap();
        send(&x, b"hi", MsgFlags::empty()).await.unwrap();
        let mut buf = [0u8; 4];
        let (n, from) = recvfrom(&y, &mut buf, MsgFlags::empty()).await.unwrap();
        assert_eq!((n, from), (2, unnamed), "{kind}");
    });
}

#[test]
fn binding_the_empty_path_is_refused() {
    util::for_each_backend(|kind| async move {
        for ty in [SocketType::Stream, SocketType::Dgram] {
            let s = socket(SocketDomain::Unix, ty, 0).unwrap();
            let e = bind(&s, &SockAddr::Unix(PathBuf::new())).await.unwrap_err();
            assert!(
                matches!(e, lwt::Error::InvalidArgument { call: "bind", .. }),
                "{kind}: {e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains("\"\"") && msg.contains("abstract"),
                "{kind}: {msg}"
            );
            // Nothing was bound: the socket is still unnamed and can be bound for real.
            assert_eq!(
                getsockname(&s).unwrap(),
                SockAddr::Unix(PathBuf::new()),
                "{kind}"
            );
            let e = versioned::bind_1(&s, &SockAddr::Unix(PathBuf::new())).unwrap_err();
            assert!(
                matches!(e, lwt::Error::InvalidArgument { .. }),
                "{kind}: {e:?}"
            );
            let path = temp_path(&format!("{}-{ty:?}", kind.name()));
            let _ = std::fs::remove_file(&path);
            bind(&s, &SockAddr::Unix(path.clone())).await.unwrap();
            assert_eq!(
                getsockname(&s).unwrap(),
                SockAddr::Unix(path.clone()),
                "{kind}"
            );
            std::fs::remove_file(&path).unwrap();
        }
    });
}
