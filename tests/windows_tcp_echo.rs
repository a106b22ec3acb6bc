//! The Windows subset, on every OS: a TCP echo server and client through `lwt::net`'s
//! `TcpListener`/`TcpStream` and the `futures_io` traits on the loop (IOCP on Windows), with
//! several clients at once; the low-level `lwt::net::Socket` outside and inside a runtime.
mod util;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lwt::net::{Socket, TcpListener, TcpStream};
use std::future::Future;
use std::net::SocketAddr;

async fn echo_once(server: TcpStream) -> std::io::Result<u64> {
    // The two halves: `copy` reads one and writes the other.
    let (r, mut w) = server.into_split();
    let n = futures_lite::io::copy(r, &mut w).await?;
    // Dropping the write half shuts it down: the client reads end of file.
    Ok(n)
}

async fn client(addr: SocketAddr, msg: Vec<u8>) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&msg).await.unwrap();
    c.close().await.unwrap(); // shuts down the sending half
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    out
}

#[test]
fn tcp_echo_with_several_clients() {
    util::for_each_backend(|_| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..4u8)
            .map(|i| {
                // Large enough to need several reads and writes on each side.
                let msg: Vec<u8> = (0..200_000u32).map(|j| (j as u8).wrapping_add(i)).collect();
                let expect = msg.clone();
                lwt::spawn(async move { assert_eq!(client(addr, msg).await, expect) })
            })
            .collect();
        let mut servers = Vec::new();
        for _ in 0..4 {
            let (s, peer) = listener.accept().await.unwrap();
            assert!(peer.ip().is_loopback());
            servers.push(lwt::spawn(echo_once(s)));
        }
        for s in servers {
            assert_eq!(s.await.unwrap().unwrap(), 200_000);
        }
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
fn connect_to_a_closed_port_fails_clearly() {
    util::for_each_backend(|_| async {
        // Bind then drop, so the port is (very likely) closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(e.raw_os_error().is_some(), "{e:?}");
        // The loop still works.
        lwt::sleep(std::time::Duration::from_millis(1)).await;
    });
}

#[test]
fn waiting_on_a_socket_outside_a_runtime_is_an_error() {
    // A socket can be made anywhere; it registers with the loop of whichever runtime first
    // has to wait on it, so waiting outside of any runtime is the error. (The low-level
    // `Socket`, whose `read_with` retries any non-blocking call by readiness.)
    let l = Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let mut accept = Box::pin(l.read_with(|l| l.accept()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match accept.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => {
            assert!(matches!(e, lwt::Error::InvalidArgument { .. }), "{e:?}")
        }
        other => panic!("accept outside a runtime: {other:?}"),
    }
    drop(accept);
    // The same socket works in a runtime.
    lwt::run(async move {
        let addr = l.get_ref().local_addr().unwrap();
        let c = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let (s, _) = l.read_with(|l| l.accept()).await.unwrap();
        // The accepted std stream, made an lwt stream.
        assert!(TcpStream::from_std(s).unwrap().peer_addr().is_ok());
        c.join().unwrap();
    });
}

#[test]
fn connect_by_readiness_over_ipv4_and_ipv6() {
    util::for_each_backend(|kind| async move {
        for lo in ["127.0.0.1:0", "[::1]:0"] {
            let listener = match TcpListener::bind(lo).await {
                Ok(l) => l,
                // A host without IPv6 loopback: nothing to connect to.
                Err(e) if lo.starts_with('[') => {
                    eprintln!("{kind}: no IPv6 loopback here ({e}); skipped");
                    continue;
                }
                Err(e) => panic!("{lo}: {e}"),
            };
            let addr = listener.local_addr().unwrap();
            // The connect completes on the loop while this task waits in accept.
            let client = lwt::spawn(async move { TcpStream::connect(addr).await });
            let (mut server, peer) = listener.accept().await.unwrap();
            let mut c = client.await.unwrap().unwrap();
            assert_eq!(c.peer_addr().unwrap(), addr, "{kind}");
            assert_eq!(c.local_addr().unwrap(), peer, "{kind}");
            c.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi", "{kind}");
        }
    });
}
