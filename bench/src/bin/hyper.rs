//! hyper's HTTP/1.1 hello world on lwt against hyper on tokio's current-thread runtime (issue
//! 12): the same service, the same server code but for the runtime's I/O, executor and timer
//! types, the same load client.
//!
//! Run it with `cargo run --release --manifest-path bench/Cargo.toml --bin hyper`.
//!
//! Each server runs on a thread of its own in this process (lwt: `lwt::Builder::from_env()`
//! with `lwt::net::TcpListener`, `lwt::hyper::Timer`; tokio: `new_current_thread()` with
//! `tokio::net::TcpListener`, hyper-util's `TokioIo` and `TokioTimer`). The load client is one
//! plain blocking `std::net` thread holding N keep-alive connections to the server under test:
//! each round sends one `GET /` on every connection, then reads every response (status line,
//! headers, a `Content-Length` body, checked). Loopback only, a bounded number of requests.
//!
//! Figures (median of 7 timed repetitions after a warm-up; the repetitions alternate between
//! the servers so that a burst of load elsewhere hits both alike):
//! - server CPU/req: CPU time of the server's thread per request (its `pthread_getcpuclockid`
//!   clock, read by the client around each timed segment);
//! - non-client CPU/req: CPU time of the whole process but the client thread, per request
//!   (catches work a runtime pushes to helper threads);
//! - req/s: requests per second seen by the client (wall clock: noisy on a shared machine).
//!
//! `BENCH_SCALE` multiplies the request counts, `BENCH_PIN=<cpu>` pins the client and both
//! servers to that CPU (as the loop benchmark's echo), `LWT_BACKEND` picks lwt's backend,
//! `HYPER_BENCH_CONNS=1,50` sets the connection counts.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Instant;

use lwt_bench::echo::{clock_ns, median, pin_from_env, this_thread_cpu_clock, REPS};
use lwt_bench::scale;

/// Requests per connection count per timed repetition (before `BENCH_SCALE`).
const REQUESTS: usize = 20_000;
const BODY: &[u8] = b"Hello, world!\n";

/// The service both servers run.
async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Lwt,
    Tokio,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Lwt => "lwt",
            Peer::Tokio => "tokio",
        }
    }
}

/// A server thread: its address and CPU clock, sent once it listens. It serves until the
/// process ends (the client's connections close after the run; the thread is detached).
fn start_server(peer: Peer) -> (SocketAddr, libc::clockid_t) {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("server-{}", peer.name()))
        .spawn(move || {
            pin_from_env();
            let clock = this_thread_cpu_clock();
            match peer {
                Peer::Lwt => lwt_server(tx, clock),
                Peer::Tokio => tokio_server(tx, clock),
            }
        })
        .unwrap();
    rx.recv().unwrap()
}

fn lwt_server(tx: mpsc::Sender<(SocketAddr, libc::clockid_t)>, clock: libc::clockid_t) {
    let rt = lwt::Builder::from_env().build().expect("lwt runtime");
    rt.block_on(async move {
        let listener = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send((listener.local_addr().unwrap(), clock)).unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            drop(lwt::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(lwt::hyper::Timer)
                    .serve_connection(stream, service_fn(hello))
                    .await;
            }));
        }
    });
}

fn tokio_server(tx: mpsc::Sender<(SocketAddr, libc::clockid_t)>, clock: libc::clockid_t) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send((listener.local_addr().unwrap(), clock)).unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    });
}

/// One keep-alive connection of the load client, with its read buffer.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            s,
            buf: vec![0; 4096],
            len: 0,
        }
    }

    fn send(&mut self) {
        self.s.write_all(REQUEST).unwrap();
    }

    /// Reads one response and checks it: `200`, a `Content-Length` body equal to `BODY`.
    fn recv(&mut self) {
        loop {
            if let Some(end) = self.buf[..self.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                let head = std::str::from_utf8(&self.buf[..end]).expect("headers");
                assert!(head.starts_with("HTTP/1.1 200"), "bad response: {head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("content-length");
                let total = end + 4 + len;
                if self.len >= total {
                    assert_eq!(&self.buf[end + 4..total], BODY);
                    self.buf.copy_within(total..self.len, 0);
                    self.len -= total;
                    return;
                }
            }
            if self.len == self.buf.len() {
                self.buf.resize(self.len * 2, 0);
            }
            let n = self.s.read(&mut self.buf[self.len..]).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.len += n;
        }
    }
}

struct Sample {
    server_ns: f64,
    non_client_ns: f64,
    req_per_s: f64,
}

/// Runs the load on both servers with `n` connections each; the samples of each peer.
fn run(peers: &[(Peer, SocketAddr, libc::clockid_t)], n: usize) -> Vec<Vec<Sample>> {
    let rounds = ((REQUESTS as f64 * scale()) as usize / n).max(1);
    let peers: Vec<_> = peers.to_vec();
    std::thread::Builder::new()
        .name("client".into())
        .spawn(move || {
            pin_from_env();
            let client_clock = this_thread_cpu_clock();
            let mut conns: Vec<Vec<Conn>> = peers
                .iter()
                .map(|(_, addr, _)| (0..n).map(|_| Conn::open(*addr)).collect())
                .collect();
            let round = |cs: &mut [Conn]| {
                for c in cs.iter_mut() {
                    c.send();
                }
                for c in cs.iter_mut() {
                    c.recv();
                }
            };
            // Warm-up: connections accepted, buffers and caches warm.
            for cs in conns.iter_mut() {
                for _ in 0..rounds / 4 {
                    round(cs);
                }
            }
            let mut samples: Vec<Vec<Sample>> = peers.iter().map(|_| Vec::new()).collect();
            for _ in 0..REPS {
                for (i, (_, _, server_clock)) in peers.iter().enumerate() {
                    let (s0, p0, c0) = (
                        clock_ns(*server_clock),
                        clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
                        clock_ns(client_clock),
                    );
                    let t = Instant::now();
                    for _ in 0..rounds {
                        round(&mut conns[i]);
                    }
                    let wall = t.elapsed();
                    let (s1, p1, c1) = (
                        clock_ns(*server_clock),
                        clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
                        clock_ns(client_clock),
                    );
                    let reqs = (rounds * n) as f64;
                    samples[i].push(Sample {
                        server_ns: (s1 - s0) as f64 / reqs,
                        non_client_ns: ((p1 - p0) as f64 - (c1 - c0) as f64) / reqs,
                        req_per_s: reqs / wall.as_secs_f64(),
                    });
                }
            }
            samples
        })
        .unwrap()
        .join()
        .unwrap()
}

fn main() {
    let t0 = Instant::now();
    let backend = lwt::Builder::from_env()
        .build()
        .expect("lwt runtime")
        .backend_name();
    println!(
        "hyper hello world (HTTP/1.1 keep-alive): hyper on lwt ({backend} backend) vs hyper on \
         tokio (current_thread runtime); median of {REPS} timed repetitions after a warm-up; \
         BENCH_SCALE={}",
        scale()
    );
    match std::env::var("BENCH_PIN") {
        Ok(cpu) => println!("BENCH_PIN={cpu}: client and both servers pinned to that CPU"),
        Err(_) => println!("unpinned (BENCH_PIN=<cpu> pins client and servers to one CPU)"),
    }
    let conns: Vec<usize> = std::env::var("HYPER_BENCH_CONNS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 50]);
    let peers: Vec<(Peer, SocketAddr, libc::clockid_t)> = [Peer::Lwt, Peer::Tokio]
        .into_iter()
        .map(|p| {
            let (addr, clock) = start_server(p);
            (p, addr, clock)
        })
        .collect();
    println!();
    println!(
        "{:<32} {:>8} {:>10} {:>10} {:>10}",
        "benchmark", "unit", "lwt", "tokio", "lwt/tokio"
    );
    println!("{}", "-".repeat(74));
    let mut cpu_ratios = Vec::new();
    for n in conns {
        let samples = run(&peers, n);
        let fig = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
        for (name, unit, f, scale) in [
            (
                "server CPU/req",
                "µs",
                (|s: &Sample| s.server_ns) as fn(&Sample) -> f64,
                1e-3,
            ),
            (
                "non-client CPU/req",
                "µs",
                |s: &Sample| s.non_client_ns,
                1e-3,
            ),
            ("requests", "req/s", |s: &Sample| s.req_per_s, 1.0),
        ] {
            let (l, t) = (fig(0, f) * scale, fig(1, f) * scale);
            let row = format!("hello {n} conn: {name}");
            let show = |v: f64| {
                if v >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            };
            println!(
                "{row:<32} {unit:>8} {:>10} {:>10} {:>10.3}",
                show(l),
                show(t),
                l / t
            );
            if name == "server CPU/req" {
                cpu_ratios.push((n, l / t));
            }
        }
    }
    println!();
    println!("target (issue 12): lwt's server CPU per request at most 1.0x tokio's");
    for (n, r) in cpu_ratios {
        println!(
            "  hello {n} conn: lwt/tokio = {r:.3}   {}",
            if r <= 1.0 { "met" } else { "MISSED" }
        );
    }
    println!("total time {:.1} s", t0.elapsed().as_secs_f64());
}
