//! Load (not timed): 2 000 concurrent TCP connections each echo 1 MiB through one runtime,
//! on every backend; every byte is checked and no descriptor is left open afterwards.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::net::Ipv4Addr;
use std::sync::Arc;

const CONNECTIONS: usize = 2_000;
const BYTES: usize = 1 << 20;
const CHUNK: usize = 16 * 1024;

/// The bytes connection `i` sends: a window of a fixed pattern starting at `i % 251`.
fn expected(pattern: &[u8], i: usize) -> &[u8] {
    &pattern[i % 251..i % 251 + BYTES]
}

async fn serve(conn: FileDescr) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read(&conn, &mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        let mut sent = 0;
        while sent < n {
            sent += write(&conn, &buf[sent..n]).await.unwrap();
        }
    }
    close(&conn).await.unwrap();
}

async fn client(addr: SockAddr, pattern: Arc<Vec<u8>>, i: usize) {
    let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    connect(&c, &addr).await.unwrap();
    let writer = {
        let (c, pattern) = (c.clone(), pattern.clone());
        lwt::spawn(async move {
            let data = expected(&pattern, i);
            let mut off = 0;
            while off < data.len() {
                let end = (off + CHUNK).min(data.len());
                off += write(&c, &data[off..end]).await.unwrap();
            }
            shutdown(&c, ShutdownCommand::Send).unwrap();
        })
    };
    let want = expected(&pattern, i);
    let mut got = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read(&c, &mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(got + n <= BYTES, "connection {i}: too many bytes");
        assert!(
            buf[..n] == want[got..got + n],
            "connection {i}: wrong bytes at {got}"
        );
        got += n;
    }
    assert_eq!(got, BYTES, "connection {i}");
    writer.await.unwrap();
    close(&c).await.unwrap();
}

#[test]
fn two_thousand_connections_echo_one_mib_each() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // Two descriptors per connection, plus the listener and the runtime's own.
    let lim = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    )
    .unwrap();
    let need = (2 * CONNECTIONS + 64) as u64;
    if lim.maximum.is_some_and(|m| m < need) {
        panic!(
            "RLIMIT_NOFILE hard limit {:?} is below the {need} this test needs",
            lim.maximum
        );
    }
    let pattern: Arc<Vec<u8>> = Arc::new((0..BYTES + 256).map(|k| (k % 251) as u8).collect());
    util::for_each_backend(|kind| {
        let pattern = pattern.clone();
        async move {
            let before = util::open_fds();
            let started = std::time::Instant::now();
            {
                let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
                bind(&l, &SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 0))
                    .await
                    .unwrap();
                listen(&l, 4096).unwrap();
                let addr = getsockname(&l).unwrap();
                let server = {
                    let l = l.clone();
                    lwt::spawn(async move {
                        let mut tasks = Vec::with_capacity(CONNECTIONS);
                        while tasks.len() < CONNECTIONS {
                            let (batch, err) = accept_n(&l, 64).await;
                            assert!(err.is_none(), "{err:?}");
                            for (conn, _) in batch {
                                tasks.push(lwt::spawn(serve(conn)));
                            }
                        }
                        for t in tasks {
                            t.await.unwrap();
                        }
                    })
                };
                let clients: Vec<_> = (0..CONNECTIONS)
                    .map(|i| lwt::spawn(client(addr.clone(), pattern.clone(), i)))
                    .collect();
                for c in clients {
                    c.await.unwrap();
                }
                server.await.unwrap();
                close(&l).await.unwrap();
            }
            eprintln!(
                "net_load: {} x {} bytes echoed on {} in {:?}",
                CONNECTIONS,
                BYTES,
                kind.name(),
                started.elapsed()
            );
            // At most as many as before: descriptors of an earlier runtime held by worker
            // threads may close meanwhile, but none of ours may stay.
            let after = util::open_fds();
            assert!(
                after <= before,
                "descriptors left open: {before} before, {after} after"
            );
        }
    });
}
