//! `lwt::net::TcpStream::connect` waits by readiness, not in a job (issue 11, item 2): 40
//! connects to a listener whose accept queue is full (backlog 1, never accepted) each give up
//! at their 500 ms timeout, all within 1 s, without any job worker, while a 10 ms ticker keeps
//! ticking; the half-made sockets are closed when their futures are dropped. Loopback only.
//! One test per file: it counts the process's job workers and descriptors.
#![cfg(unix)]
mod util;

use lwt::net::TcpStream as LwtTcpStream;
use lwt::unix::{jobs_queued_at_limit, jobs_run_inline, thread_count};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONNECTS: usize = 40;
const TIMEOUT: Duration = Duration::from_millis(500);
const ALL_WITHIN: Duration = Duration::from_secs(1);
const MAX_GAP: Duration = Duration::from_millis(60);

/// A listener with a backlog of 1 that never accepts, and the connections that fill its
/// accept queue (so that the next connect's SYN gets no answer). `None` where the queue could
/// not be filled with a bounded number of connections.
fn full_listener() -> Option<(std::net::TcpListener, SocketAddr, Vec<TcpStream>)> {
    let s = backlog_one_listener();
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

/// `socket` + `bind(127.0.0.1:0)` + `listen(1)`, as a std listener.
fn backlog_one_listener() -> std::net::TcpListener {
    use rustix::net::{ipproto, AddressFamily, SocketType};
    let fd =
        rustix::net::socket(AddressFamily::INET, SocketType::STREAM, Some(ipproto::TCP)).unwrap();
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&fd, &lo).unwrap();
    rustix::net::listen(&fd, 1).unwrap();
    std::net::TcpListener::from(fd)
}

#[test]
fn stalled_connects_time_out_on_the_loop_without_jobs() {
    util::with_deadline(Duration::from_secs(60), || {
        util::for_each_backend(|kind| async move {
            let Some((_listener, addr, _fillers)) = full_listener() else {
                // Linux drops SYNs to a full accept queue: not filling it there is a failure.
                if cfg!(target_os = "linux") {
                    panic!("{kind}: the accept queue of a backlog-1 listener never filled");
                }
                eprintln!("{kind}: the accept queue could not be filled here; nothing to test");
                return;
            };
            let fds = util::open_fds();
            let (threads, inline, queued) =
                (thread_count(), jobs_run_inline(), jobs_queued_at_limit());
            let stop = Arc::new(AtomicBool::new(false));
            let ticks = Arc::new(Mutex::new(vec![Instant::now()]));
            let ticker = {
                let (stop, ticks) = (stop.clone(), ticks.clone());
                lwt::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        lwt::sleep(Duration::from_millis(10)).await;
                        ticks.lock().unwrap().push(Instant::now());
                    }
                })
            };
            let start = Instant::now();
            let connects: Vec<_> = (0..CONNECTS)
                .map(|_| {
                    lwt::spawn(async move {
                        let connect = async move {
                            LwtTcpStream::connect(addr).await.map_err(lwt::Error::from)
                        };
                        let r = lwt::unix::with_timeout(TIMEOUT, connect).await.map(drop);
                        (start.elapsed(), r)
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for c in connects {
                outcomes.push(c.await.unwrap());
            }
            let all_done = start.elapsed();
            lwt::sleep(Duration::from_millis(30)).await;
            stop.store(true, Ordering::SeqCst);
            ticker.await.unwrap();
            let max_gap = {
                let t = ticks.lock().unwrap();
                t.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
            };
            let report = format!(
                "{kind}: all done after {all_done:?}, max tick gap {max_gap:?}, threads {threads} -> {}, outcomes {outcomes:?}",
                thread_count()
            );
            assert!(
                outcomes
                    .iter()
                    .all(|(t, r)| matches!(r, Err(lwt::Error::Timeout)) && *t >= TIMEOUT),
                "{report}"
            );
            assert!(all_done <= ALL_WITHIN, "{report}");
            assert!(max_gap <= MAX_GAP, "the ticker stalled: {report}");
            assert_eq!(thread_count(), threads, "a job worker was used: {report}");
            assert_eq!(jobs_run_inline(), inline, "{report}");
            assert_eq!(jobs_queued_at_limit(), queued, "{report}");
            // Every half-made socket was closed when its future was dropped.
            assert_eq!(util::open_fds(), fds, "descriptors leaked: {report}");
        })
    });
}
