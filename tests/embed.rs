//! Embedding: a runtime driven only by a host `poll(2)` loop through `Runtime::embed`
//! (`prepare`, `fds`, `run_once`), through a TCP echo of 1 MiB, timers and a job, on every
//! backend; on the poll backend, `fds` lists exactly the descriptors operations wait on.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BYTES: usize = 1 << 20;

/// The host's loop: its own descriptor (`own`, counted when readable) beside lwt's, until
/// `done()` holds. Returns how many times `own` was readable.
fn host_loop(
    host: &mut lwt::core::embed::Embedded<'_>,
    own: &UnixStream,
    done: impl Fn() -> bool,
) -> usize {
    let mut own_events = 0;
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the host loop never ended"
        );
        if host.run_once() {
            continue;
        }
        if done() {
            return own_events;
        }
        let timeout = host.prepare();
        let mut fds = vec![libc::pollfd {
            fd: own.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let lwt_fds = host.fds();
        assert!(
            !lwt_fds.is_empty(),
            "every Unix backend gives the host a descriptor to watch"
        );
        for (fd, interest) in lwt_fds {
            let mut events = 0;
            if interest.readable() {
                events |= libc::POLLIN;
            }
            if interest.writable() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        // Rounded up, so a timer is never polled for too early.
        let ms = timeout.map_or(-1, |d| d.as_micros().div_ceil(1000).min(1000) as i32);
        // SAFETY: `fds` holds `fds.len()` pollfds of descriptors open for this call (lwt's are
        // kept open by the runtime, the host's by `own`).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        assert!(
            n >= 0 || std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        );
        if fds[0].revents & libc::POLLIN != 0 {
            let mut buf = [0u8; 64];
            let _ = rustix::io::read(own, &mut buf);
            own_events += 1;
        }
    }
}

#[test]
fn a_host_poll_loop_drives_a_tcp_echo_timers_and_a_job() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let finished = Arc::new(AtomicUsize::new(0));
        let ticks = Arc::new(AtomicUsize::new(0));
        // The host's own descriptor: a peer writes to it now and then.
        let (own, mut peer) = UnixStream::pair().unwrap();
        own.set_nonblocking(true).unwrap();
        let poker = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(10));
                std::io::Write::write_all(&mut peer, b"!").unwrap();
            }
            peer
        });
        // A TCP echo of 1 MiB: a server and a client task, every byte checked.
        let f = finished.clone();
        let echo = rt.spawn(async move {
            let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            bind(&l, &SockAddr::Inet([127, 0, 0, 1].into(), 0))
                .await
                .unwrap();
            listen(&l, 1).unwrap();
            let addr = getsockname(&l).unwrap();
            let server = lwt::spawn(async move {
                let (c, _) = accept(&l).await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = read(&c, &mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    let mut off = 0;
                    while off < n {
                        off += write(&c, &buf[off..n]).await.unwrap();
                    }
                }
            });
            let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            connect(&c, &addr).await.unwrap();
            let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
            let w = {
                let (c, data) = (c.clone(), data.clone());
                lwt::spawn(async move {
                    let mut off = 0;
                    while off < data.len() {
                        let end = (off + 8192).min(data.len());
                        off += write(&c, &data[off..end]).await.unwrap();
                    }
                    shutdown(&c, ShutdownCommand::Send).unwrap();
                })
            };
            let mut got = Vec::with_capacity(BYTES);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = read(&c, &mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            w.await.unwrap();
            server.await.unwrap();
            assert_eq!(got.len(), BYTES);
            assert!(got == data, "the echoed bytes differ");
            f.fetch_add(1, Ordering::SeqCst);
        });
        // Timers: ten 2 ms ticks.
        let (t, f) = (ticks.clone(), finished.clone());
        let timer = rt.spawn(async move {
            for _ in 0..10 {
                lwt::sleep(Duration::from_millis(2)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
            f.fetch_add(1, Ordering::SeqCst);
        });
        // A job: its result comes back from a worker thread (a wake-up from elsewhere).
        let f = finished.clone();
        let job = rt.spawn(async move {
            let v = run_job(Some(AsyncMethod::Detach), || {
                std::thread::sleep(Duration::from_millis(15));
                9
            })
            .await
            .unwrap();
            assert_eq!(v, 9);
            f.fetch_add(1, Ordering::SeqCst);
        });
        let mut host = rt.embed();
        let own_events = host_loop(&mut host, &own, || finished.load(Ordering::SeqCst) == 3);
        drop(host);
        for t in [echo, timer, job] {
            assert!(t.is_finished());
            rt.block_on(t).unwrap();
        }
        assert_eq!(ticks.load(Ordering::SeqCst), 10);
        drop(poker.join().unwrap());
        assert!(own_events >= 1, "the host's own descriptor was never seen");
    }
}

#[test]
fn embedding_ends_like_block_on_and_refuses_a_second_driver() {
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        {
            let mut host = rt.embed();
            // A local task on the host thread is cancelled when the embedding ends.
            let t = lwt::spawn_local(lwt::sleep(Duration::from_secs(60)));
            while host.run_once() {}
            drop(host);
            assert!(matches!(rt.block_on(t), Err(lwt::Error::Canceled)));
        }
        // The loop is free again for block_on, and embedding from inside a loop panics.
        rt.block_on(async {
            let other = util::runtime(kind);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = other.embed();
            }));
            assert!(r.is_err());
        });
    }
}

#[test]
fn prepare_lets_the_host_block_until_the_next_timer_or_for_ever() {
    // A host that is told "zero" every time never blocks: it spins a core while lwt is idle.
    for kind in util::backends() {
        let _d = util::deadline(
            format!("{} on {}", util::test_name(), kind.name()),
            util::DEADLINE,
        );
        let rt = util::runtime(kind);
        let mut host = rt.embed();
        while host.run_once() {}
        assert_eq!(
            host.prepare(),
            None,
            "{}: an idle loop has nothing to wait for",
            kind.name()
        );
        let t = lwt::spawn_local(lwt::sleep(Duration::from_secs(30)));
        while host.run_once() {}
        let wait = host
            .prepare()
            .expect("a pending timer bounds the host's wait");
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{}: the host may block for {wait:?}, with a timer due in 30 s",
            kind.name()
        );
        // Work that is ready now: the host must not block at all.
        let _queued = lwt::spawn_local(async {});
        assert_eq!(
            host.prepare(),
            Some(Duration::ZERO),
            "{}: a queued task waits",
            kind.name()
        );
        drop(host);
        assert!(matches!(rt.block_on(t), Err(lwt::Error::Canceled)));
    }
}

/// On the poll backend the host watches lwt's descriptors themselves: `fds` lists the
/// wake-up channel and each descriptor an operation waits on, with its direction, and no
/// descriptor that nothing waits on any more.
#[test]
fn the_poll_backend_gives_the_host_each_waited_descriptor() {
    if !util::backends().contains(&lwt::BackendKind::Poll) {
        return; // LWT_BACKEND names another backend
    }
    let rt = util::runtime(lwt::BackendKind::Poll);
    let (waited, w1) = UnixStream::pair().unwrap();
    let (done, mut w2) = UnixStream::pair().unwrap();
    let waited = of_unix_file_descr(waited.into(), None, true).unwrap();
    let done = of_unix_file_descr(done.into(), None, true).unwrap();
    let (waited_fd, done_fd) = (unix_file_descr(&waited), unix_file_descr(&done));
    // `done` is registered by a read that waited, then got its byte: nothing waits on it now.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        std::io::Write::write_all(&mut w2, b"x").unwrap();
    });
    let first = rt.spawn(async move {
        let mut buf = [0u8; 1];
        read(&done, &mut buf).await.unwrap();
        done
    });
    let reader = rt.spawn(async move {
        let mut buf = [0u8; 1];
        read(&waited, &mut buf).await
    });
    let mut host = rt.embed();
    let start = Instant::now();
    while !first.is_finished() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the first read never completed"
        );
        if !host.run_once() {
            let _ = host.prepare();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    while host.run_once() {}
    let fds = host.fds();
    assert!(
        fds.iter()
            .any(|&(fd, i)| fd == waited_fd && i.readable() && !i.writable()),
        "the descriptor a read waits on is not in {fds:?}"
    );
    assert!(
        !fds.iter().any(|&(fd, _)| fd == done_fd),
        "a descriptor nothing waits on is in {fds:?}"
    );
    assert_eq!(
        fds.len(),
        2,
        "the wake-up channel and the waited descriptor: {fds:?}"
    );
    drop((w1, reader, first));
}
