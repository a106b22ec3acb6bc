//! The Windows subset, on every OS: a TCP echo server and client through `lwt::net::Socket`
//! on the loop (IOCP on Windows), with several clients at once.
mod util;

use lwt::net::Socket;
use std::future::Future;
use std::net::{SocketAddr, TcpStream};

async fn echo_once(server: Socket<std::net::TcpStream>) -> lwt::Result<usize> {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        server.write_all(&buf[..n]).await?;
        total += n;
    }
}

async fn client(addr: SocketAddr, msg: Vec<u8>) -> Vec<u8> {
    let c: Socket<TcpStream> = Socket::connect(addr).await.unwrap();
    c.write_all(&msg).await.unwrap();
    c.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = c.read(&mut buf).await.unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn tcp_echo_with_several_clients() {
    util::for_each_backend(|_| async {
        let listener = Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
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
        let e = Socket::<TcpStream>::connect(addr).await.unwrap_err();
        assert_eq!(e.call(), Some("connect"));
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        // The loop still works.
        lwt::sleep(std::time::Duration::from_millis(1))
            .await
            .unwrap();
    });
}

#[test]
fn waiting_on_a_socket_outside_a_runtime_is_an_error() {
    // A socket can be made anywhere; it registers with the loop of whichever runtime first
    // has to wait on it, so waiting outside of any runtime is the error.
    let l = Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let mut accept = Box::pin(l.accept());
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
        l.accept().await.unwrap();
        c.join().unwrap();
    });
}

#[test]
fn connect_by_readiness_over_ipv4_and_ipv6() {
    util::for_each_backend(|kind| async move {
        for lo in ["127.0.0.1:0", "[::1]:0"] {
            let listener = match std::net::TcpListener::bind(lo) {
                Ok(l) => Socket::new(l).unwrap(),
                // A host without IPv6 loopback: nothing to connect to.
                Err(e) if lo.starts_with('[') => {
                    eprintln!("{kind}: no IPv6 loopback here ({e}); skipped");
                    continue;
                }
                Err(e) => panic!("{lo}: {e}"),
            };
            let addr = listener.get_ref().local_addr().unwrap();
            // The connect completes on the loop while this task waits in accept.
            let client = lwt::spawn(async move { Socket::<TcpStream>::connect(addr).await });
            let (server, peer) = listener.accept().await.unwrap();
            let c = client.await.unwrap().unwrap();
            assert_eq!(c.get_ref().peer_addr().unwrap(), addr, "{kind}");
            assert_eq!(c.get_ref().local_addr().unwrap(), peer, "{kind}");
            c.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            let mut got = 0;
            while got < 2 {
                got += server.read(&mut buf[got..]).await.unwrap();
            }
            assert_eq!(&buf, b"hi", "{kind}");
        }
    });
}
