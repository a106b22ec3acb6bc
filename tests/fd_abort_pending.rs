//! `abort(fd, cause)` rejects every operation waiting for readiness on `fd` with
//! `Aborted(cause)`, as Lwt does, never with `Closed` (issue 11, item 5): `wait_read`,
//! `wait_write`, `connect`, `register_action`, and the readiness wait that comes before the job
//! of a read or a write on a descriptor in blocking mode. On every backend.
#![cfg(unix)]
mod util;

use lwt::unix::{
    abort, connect, pipe, register_action, set_blocking, socket, socketpair, wait_read, wait_write,
    write, FileDescr, IoEvent, SockAddr, SocketDomain, SocketType,
};
use lwt::Error;
use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

/// The cause given to `abort`: an error no operation here can produce by itself.
fn cause() -> Error {
    Error::from_errno(libc::ENOTRECOVERABLE, "test-abort", "cause")
}

fn is_the_cause(e: &Error) -> bool {
    matches!(e, Error::Aborted(c) if c.errno() == Some(libc::ENOTRECOVERABLE)
        && c.call() == Some("test-abort"))
}

/// Starts `op` (which waits on `fd`) in a task, lets it start waiting, aborts `fd`, and checks
/// that `op` ends at once with the abort cause.
async fn aborts_pending<T, F>(what: &str, fd: &FileDescr, op: F)
where
    T: std::fmt::Debug + Send + 'static,
    F: Future<Output = lwt::Result<T>> + Send + 'static,
{
    let task = lwt::spawn(op);
    lwt::sleep(Duration::from_millis(20)).await;
    assert!(!task.is_finished(), "{what}: ended before the abort");
    abort(fd, cause());
    let r = lwt::unix::with_timeout(Duration::from_secs(5), async { Ok(task.await) })
        .await
        .unwrap_or_else(|e| panic!("{what}: still pending 5 s after the abort ({e})"))
        .unwrap();
    match r {
        Err(e) if is_the_cause(&e) => {}
        other => panic!("{what}: expected Aborted(the cause), got {other:?}"),
    }
}

/// Fills `fd`'s send buffer, so that a write on it has to wait.
fn fill(fd: &FileDescr) {
    let g = fd.checked().unwrap();
    let chunk = [0u8; 65536];
    loop {
        match rustix::io::write(g.as_fd(), &chunk) {
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) => return,
            Err(e) => panic!("filling the buffer: {e}"),
        }
    }
}

/// A listener with a backlog of 1 that never accepts and whose accept queue is full, so that
/// a connect to it stays in progress. `None` where the queue could not be filled.
fn full_listener() -> Option<(std::net::TcpListener, SocketAddr, Vec<TcpStream>)> {
    use rustix::net::{ipproto, AddressFamily};
    let fd = rustix::net::socket(
        AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        Some(ipproto::TCP),
    )
    .unwrap();
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&fd, &lo).unwrap();
    rustix::net::listen(&fd, 1).unwrap();
    let s = std::net::TcpListener::from(fd);
    let addr = s.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(c) => fillers.push(c),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Some((s, addr, fillers)),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    None
}

#[test]
fn abort_rejects_pending_waits_with_its_cause() {
    util::for_each_backend(|kind| async move {
        // wait_read on an empty pipe.
        let (r, _w) = pipe().unwrap();
        let r2 = r.clone();
        aborts_pending("wait_read", &r, async move { wait_read(&r2).await }).await;

        // wait_write on a socket whose send buffer is full.
        let (a, _b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
        fill(&a);
        let a2 = a.clone();
        aborts_pending("wait_write", &a, async move { wait_write(&a2).await }).await;

        // register_action on an empty pipe: the action never runs.
        let (r, _w) = pipe().unwrap();
        let r2 = r.clone();
        aborts_pending("register_action", &r, async move {
            register_action(IoEvent::Read, &r2, |_| -> lwt::Result<()> {
                panic!("the action ran although nothing was readable")
            })
            .await
        })
        .await;

        // The wait before the job of a read and of a write on a blocking descriptor.
        let (r, _w) = pipe().unwrap();
        set_blocking(&r, true, true).unwrap();
        let r2 = r.clone();
        aborts_pending("read on a blocking descriptor", &r, async move {
            let mut buf = [0u8; 8];
            lwt::unix::read(&r2, &mut buf).await
        })
        .await;
        let (_r, w) = pipe().unwrap();
        fill(&w);
        set_blocking(&w, true, true).unwrap();
        let w2 = w.clone();
        aborts_pending("write on a blocking descriptor", &w, async move {
            write(&w2, b"x").await
        })
        .await;

        // connect to a listener that never answers.
        match full_listener() {
            Some((_listener, addr, _fillers)) => {
                let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
                let s2 = s.clone();
                aborts_pending("connect", &s, async move {
                    connect(&s2, &SockAddr::from(addr)).await
                })
                .await;
            }
            // Linux drops SYNs to a full accept queue: not filling it there is a failure.
            None if cfg!(target_os = "linux") => {
                panic!("{kind}: the accept queue of a backlog-1 listener never filled")
            }
            None => eprintln!("{kind}: the accept queue could not be filled; connect not tested"),
        }
    });
}
