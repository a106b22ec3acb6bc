//! Descriptors follow the runtime that uses them: a read that has to wait completes in every
//! runtime, one after another or on two threads; a failed registration is not remembered;
//! `dup2` onto a watched descriptor watches the new file; a short read followed by end of file
//! still ends.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use lwt::Error;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A descriptor and a thread that writes `b"x"` to its peer once `go` is sent, so the read
/// has to wait.
fn waiting_pair() -> (
    FileDescr,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = of_unix_file_descr(a.into(), None, true).unwrap();
    let (go, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        while rx.recv().is_ok() {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
        }
    });
    (a, go, t)
}

async fn read_one_that_waits(fd: &FileDescr, go: &std::sync::mpsc::Sender<()>) {
    go.send(()).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(read(fd, &mut buf).await.unwrap(), 1);
    assert_eq!(&buf, b"x");
}

#[test]
fn a_descriptor_completes_a_waiting_read_in_three_successive_runs_and_on_two_threads() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let (fd, go, writer) = waiting_pair();
        for _ in 0..3 {
            util::runtime(kind).block_on(read_one_that_waits(&fd, &go));
        }
        for _ in 0..2 {
            let (fd, go) = (fd.clone(), go.clone());
            std::thread::spawn(move || {
                util::runtime(kind).block_on(read_one_that_waits(&fd, &go));
            })
            .join()
            .unwrap();
        }
        // lwt::run too (the backend of the environment).
        lwt::run(read_one_that_waits(&fd, &go));
        drop(go);
        writer.join().unwrap();
    }
}

#[test]
fn two_live_runtimes_can_wait_on_one_descriptor_at_once() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        let got = Arc::new(Mutex::new(0usize));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (a, got) = (a.clone(), got.clone());
                std::thread::spawn(move || {
                    util::runtime(kind).block_on(async move {
                        let mut buf = [0u8; 1];
                        loop {
                            match read(&a, &mut buf).await.unwrap() {
                                0 => break,
                                n => *got.lock().unwrap() += n,
                            }
                        }
                    })
                })
            })
            .collect();
        for _ in 0..200 {
            b.write_all(b"y").unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        b.shutdown(std::net::Shutdown::Write).unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(
            *got.lock().unwrap(),
            200,
            "every byte read once, by one of them"
        );
    }
}

#[test]
fn a_registration_that_failed_is_not_remembered() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let (fd, go, writer) = waiting_pair();
        // Polled outside of any runtime, a read that would wait fails (it cannot register)...
        let mut buf = [0u8; 1];
        let mut f = Box::pin(read(&fd, &mut buf));
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(Err(Error::InvalidArgument { .. })) => {}
            other => panic!("outside a runtime: {other:?}"),
        }
        drop(f);
        // ... and the descriptor still works in a runtime afterwards.
        util::runtime(kind).block_on(read_one_that_waits(&fd, &go));
        drop(go);
        writer.join().unwrap();
    }
}

#[test]
fn dup2_onto_a_watched_descriptor_watches_the_new_file() {
    util::for_each_backend(|kind| async move {
        let (r1, w1) = pipe().unwrap();
        let (r2, w2) = pipe().unwrap();
        // The loop watches r2: a read that waits, then is cancelled.
        let mut buf = [0u8; 8];
        let t = lwt::unix::with_timeout(Duration::from_millis(10), read(&r2, &mut buf)).await;
        assert!(matches!(t, Err(Error::Timeout)));
        // Keep r2's old file open elsewhere, so its registration would stay valid.
        let old = dup(&r2, true).unwrap();
        dup2(&r1, &r2, true).unwrap();
        let reader = {
            let r2 = r2.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 8];
                let n = read(&r2, &mut buf).await.unwrap();
                buf[..n].to_vec()
            })
        };
        lwt::sleep(Duration::from_millis(10)).await;
        // The replaced file: it must not wake the read, nor reach the loop at all (an entry
        // left in epoll for it would report it under a token whose source is gone).
        // (A first write, before counting: the loop may register the writing end for it.)
        let events = || lwt::Handle::current().metrics().events_dispatched;
        write(&w2, b"o").await.unwrap();
        lwt::sleep(Duration::from_millis(10)).await;
        let before = events();
        write(&w2, b"ld").await.unwrap();
        lwt::sleep(Duration::from_millis(10)).await;
        // (The fault-injecting backend reports spurious events, as the contract allows.)
        if kind.name() != "faulty" {
            assert_eq!(
                events(),
                before,
                "{kind}: the file dup2 replaced is still watched"
            );
        }
        write(&w1, b"new").await.unwrap();
        let got = lwt::unix::with_timeout(Duration::from_secs(5), reader)
            .await
            .expect("the read on the new file never woke");
        assert_eq!(got, b"new");
        let mut buf = [0u8; 8];
        assert_eq!(read(&old, &mut buf).await.unwrap(), 3); // "old" stayed in its pipe
        for fd in [r1, r2, w1, w2, old] {
            close(&fd).await.unwrap();
        }
    });
}

/// As above, with the socket already watched when the data and the close arrive (a read was
/// waiting): the one report that brings both is the last edge the socket will ever give, so
/// the reactor must remember the hang-up, not only the readiness.
#[test]
fn a_short_read_followed_by_end_of_file_ends_when_both_arrive_while_watched() {
    util::for_each_backend(|kind| async move {
        for round in 0..20 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let (go, went) = std::sync::mpsc::channel::<()>();
            let addr = l.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                went.recv().unwrap();
                s.write_all(b"last words").unwrap();
            }); // closed at once
            let (c, _) = l.accept().unwrap();
            c.set_nonblocking(true).unwrap();
            let c = of_unix_file_descr(c.into(), None, true).unwrap();
            let reader = {
                let c = c.clone();
                lwt::spawn(async move {
                    let mut buf = [0u8; 64];
                    let mut got = Vec::new();
                    loop {
                        match read(&c, &mut buf).await.unwrap() {
                            0 => break got,
                            n => got.extend_from_slice(&buf[..n]),
                        }
                    }
                })
            };
            lwt::sleep(Duration::from_millis(2)).await; // the first read waits
            go.send(()).unwrap();
            peer.join().unwrap();
            let got = lwt::unix::with_timeout(Duration::from_secs(5), reader)
                .await
                .unwrap_or_else(|_| panic!("{kind}, round {round}: end of file never came"));
            assert_eq!(got, b"last words");
            close(&c).await.unwrap();
        }
    });
}

#[test]
fn a_short_read_followed_by_end_of_file_ends() {
    // The data and the peer's close arrive in one readiness report; the short read that takes
    // the data must not make the next read wait for a report that will never come.
    util::for_each_backend(|_| async {
        for _ in 0..50 {
            let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            bind(&l, &SockAddr::Inet([127, 0, 0, 1].into(), 0))
                .await
                .unwrap();
            listen(&l, 1).unwrap();
            let addr = getsockname(&l).unwrap();
            let peer = std::thread::spawn(move || {
                let addr: std::net::SocketAddr = addr.try_into().unwrap();
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"last words").unwrap();
            }); // closed at once
            let (c, _) = accept(&l).await.unwrap();
            peer.join().unwrap();
            lwt::sleep(Duration::from_millis(1)).await; // both arrived
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            loop {
                match read(&c, &mut buf).await.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, b"last words");
            close(&c).await.unwrap();
            close(&l).await.unwrap();
        }
    });
}

const STDIN_CHILD: &str = "LWT_TEST_STDIN_CHILD";

#[test]
fn stdin_works_in_successive_runs() {
    if std::env::var_os(STDIN_CHILD).is_some() {
        // The child: three runs, each printing "ready" then reading a line that arrives after.
        for i in 0..3 {
            lwt::run(async move {
                println!("ready {i}");
                std::io::stdout().flush().unwrap();
                let mut buf = [0u8; 16];
                let n = read(&stdin(), &mut buf).await.unwrap();
                assert_eq!(&buf[..n], format!("line {i}\n").as_bytes());
                println!("got {i}");
                std::io::stdout().flush().unwrap();
            });
        }
        return;
    }
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "stdin_works_in_successive_runs", "--nocapture"])
            .env(STDIN_CHILD, "1")
            .env("LWT_BACKEND", kind.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        for i in 0..3 {
            loop {
                line.clear();
                assert!(
                    output.read_line(&mut line).unwrap() > 0,
                    "child ended early"
                );
                if line.trim() == format!("ready {i}") {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(30)); // the read waits
            input.write_all(format!("line {i}\n").as_bytes()).unwrap();
            input.flush().unwrap();
            loop {
                line.clear();
                assert!(
                    output.read_line(&mut line).unwrap() > 0,
                    "child ended early"
                );
                if line.trim() == format!("got {i}") {
                    break;
                }
            }
        }
        drop(input);
        assert!(child.wait().unwrap().success());
    }
}
