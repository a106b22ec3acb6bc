//! SIGPIPE benchmark: what it costs `lwt::unix::write` to raise no visible SIGPIPE without
//! touching SIGPIPE's disposition (issue 11). 1-byte writes to a pipe and to a Unix-domain
//! stream socket (drained from time to time), through `lwt::unix::write` and as the plain
//! system call, and the `EPIPE` path (a pipe whose reader is closed).
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml --bin sigpipe`
//! (`SIGPIPE_BENCH_N=50000` for a shorter run). The contenders take turns, one round each, for
//! `SIGPIPE_BENCH_ROUNDS` (5) rounds; each figure is a contender's best and median round, per
//! write.

use lwt::unix::{close, pipe, socketpair, write, FileDescr, SocketDomain, SocketType};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Empties whatever is buffered on `fd` (non-blocking).
fn drain(fd: RawFd) {
    let mut buf = [0u8; 65536];
    // SAFETY: reads into a local buffer of the given length; the descriptor is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// How many 1-byte writes go between two drains: well under a socket buffer's worth (each
/// byte is a buffer of its own on a socket).
const DRAIN_EVERY: usize = 64;

fn raw_round(w: RawFd, r: RawFd, n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        // SAFETY: writes one byte from a static buffer to an open descriptor.
        let k = unsafe { libc::write(w, b"x".as_ptr().cast(), 1) };
        assert_eq!(k, 1);
        if i % DRAIN_EVERY == DRAIN_EVERY - 1 {
            drain(r);
        }
    }
    drain(r);
    t.elapsed()
}

fn lwt_round(rt: &lwt::Runtime, w: &FileDescr, r: RawFd, n: usize) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        for i in 0..n {
            assert_eq!(write(w, b"x").await.unwrap(), 1);
            if i % DRAIN_EVERY == DRAIN_EVERY - 1 {
                drain(r);
            }
        }
        drain(r);
        t.elapsed()
    })
}

fn per_write(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn report(name: &str, rounds: &mut [f64]) {
    rounds.sort_by(f64::total_cmp);
    println!(
        "{name:<34} best {:>6.3} us   median {:>6.3} us",
        rounds[0],
        rounds[rounds.len() / 2]
    );
}

fn main() {
    let n = env_usize("SIGPIPE_BENCH_N", 200_000);
    let rounds = env_usize("SIGPIPE_BENCH_ROUNDS", 5).max(1);
    let rt = lwt::Builder::new().build().expect("lwt runtime");
    let (pr, pw) = rt.block_on(async { pipe().unwrap() });
    let (sa, sb) =
        rt.block_on(async { socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap() });
    let (pr_raw, pw_raw) = (pr.as_raw_fd(), pw.as_raw_fd());
    let (sa_raw, sb_raw) = (sa.as_raw_fd(), sb.as_raw_fd());
    let mut results: Vec<(&str, Vec<f64>)> = [
        "pipe: write(2)",
        "pipe: lwt::unix::write",
        "socket: write(2)",
        "socket: lwt::unix::write",
        "broken pipe (EPIPE): lwt::unix::write",
    ]
    .into_iter()
    .map(|name| (name, Vec::new()))
    .collect();
    for _ in 0..rounds {
        results[0]
            .1
            .push(per_write(raw_round(pw_raw, pr_raw, n), n));
        results[1]
            .1
            .push(per_write(lwt_round(&rt, &pw, pr_raw, n), n));
        results[2]
            .1
            .push(per_write(raw_round(sa_raw, sb_raw, n), n));
        results[3]
            .1
            .push(per_write(lwt_round(&rt, &sa, sb_raw, n), n));
    }
    // The EPIPE path: a pipe whose reader is gone.
    let (r, w) = rt.block_on(async { pipe().unwrap() });
    rt.block_on(async { close(&r).await.unwrap() });
    let epipe_n = (n / 10).max(1);
    for _ in 0..rounds {
        let d = rt.block_on(async {
            let t = Instant::now();
            for _ in 0..epipe_n {
                let e = write(&w, b"x").await.unwrap_err();
                assert_eq!(e.errno(), Some(libc::EPIPE));
            }
            t.elapsed()
        });
        results[4].1.push(per_write(d, epipe_n));
    }
    println!(
        "{n} 1-byte writes per round ({epipe_n} on the broken pipe), {rounds} rounds, per write:"
    );
    for (name, r) in &mut results {
        report(name, r);
    }
}
