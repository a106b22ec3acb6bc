//! A soak test: an lwt echo server under 500 connections of random traffic, cancellations,
//! resets and half-closes, while signals arrive and jobs run; every byte is checked, and
//! descriptors, threads and RSS must stay flat.
//!
//! ```sh
//! cargo run --release --example soak -- --secs 120 [--conns 500] [--seed N] [--quiet]
//! LWT_BACKEND=poll cargo run --release --example soak -- --secs 30
//! ```
//!
//! Exit status 0 when every check passed, 1 when one failed (the reasons are printed), 2 for
//! a bad command line or a run that could not start, 3 for a hang (still running 150 s past
//! `--secs`). The summary ends with the command that replays the run's scripts (the seed
//! fixes every script; the interleaving of 500 connections on two loops is up to the OS).
//! `tests/soak.rs` runs the same engine (`examples/soak/soak.rs`) for a few seconds on every
//! backend in `cargo test`; `.ci/run` runs this program for 120 s.
//!
//! # What runs
//!
//! One process, two runtimes on the backend `LWT_BACKEND` names (unset: the platform's
//! default), each on a thread of its own, so the load is as high as two cores allow and each
//! side's checks are independent of the other's scheduling:
//!
//! - **The server** (`lwt::unix`: `socket`, `bind`, `listen`, `accept_n`, `read`, `write`,
//!   `close`) echoes every connection in a task of its own. It reads 1 B to 64 KiB at a time
//!   and writes the bytes back in random slices. A quarter of its reads run under
//!   `pick [timeout; read]` and an eighth of its writes under `with_timeout`, with timeouts
//!   of 20 us to 2 ms: many fire while the call is pending, and lwt's rule that a canceled
//!   read consumes nothing (and a canceled write writes nothing) is what keeps the echo
//!   exact. A reset peer (`ECONNRESET`, `EPIPE`) ends a connection quietly and is counted;
//!   any other error is a failure.
//! - **Two signal streams** (`lwt::signal::signal`) count SIGUSR1 and SIGUSR2, which a
//!   thread sends to the process every 0.2 to 10 ms (about 200 a second, interrupting every
//!   thread's system calls).
//! - **Jobs**, one after another with pauses of up to 3 ms, each result checked: two tasks
//!   on the server's runtime issue `run_job` under `switch` (blocking 1 ms, past the hand-off
//!   threshold: each hands the server's loop, every connection with it, to a stand-in
//!   thread), `detach` and `none`; the server's `block_on` future issues `lwt::unix::stat`
//!   of this program under `detach` and under `switch` (its size is checked) and
//!   `getaddrinfo "localhost"` (loopback addresses). Those two run there, not in a spawned
//!   task, because rustc does not find a future that awaits them `Send` (see
//!   `server_main` in `soak.rs`).
//! - **The clients** (`lwt::net::TcpStream` with `futures_io`'s traits) run 500 connection
//!   slots (`--conns`), each one session after another until `--secs` have passed. A
//!   session's script is drawn from the seed, the slot and the session number: 1 to 12
//!   writes of 1 B to 64 KiB (a quarter up to 64 KiB, a quarter up to 8 KiB, the rest up to
//!   512 B), `TCP_NODELAY` or not, a small send buffer or not (a quarter of the sessions
//!   make their socket with `lwt::unix::socket`, set a 4 KiB `SO_SNDBUF`,
//!   `lwt::unix::connect` and wrap it with `TcpStream::from_file_descr`; the others use
//!   `TcpStream::connect`; a quarter of the server's sockets get a 4 KiB `SO_SNDBUF`), and
//!   its end: **half-close** (`shutdown(SHUT_WR)` after the last write, then read the echo
//!   until EOF; 40%), **close** after the whole echo (30%), or **reset** (`SO_LINGER` 0 and
//!   close) once the echo has been read up to a random point at most 32 KiB short of the
//!   end (30%: data still in flight both ways). The writer and the reader run at once
//!   (`lwt::join2`); half of the reads run under a `with_timeout` of 1 to 300 us and half of
//!   the writes under one of 20 us to 2 ms, which cancel them when they are still pending;
//!   one read in 16 waits up to 2 ms first (a slow reader: the echo backs up, the server
//!   stops reading, the client's writes wait). Sessions close with `lwt::unix::close`. The
//!   bytes written are a per-session SplitMix64 stream, and the reader checks every byte of
//!   the echo against a second copy of the stream: a byte lost, repeated, reordered or
//!   changed is a mismatch, reported with its slot, session and offset. Any client error,
//!   an early EOF, an extra byte or a session not done after 30 s is a failure. Then the
//!   slot reconnects.
//!
//! The summary names the longest session (about a second on a shared 2-core machine). Small
//! *receive* buffers are left out on purpose: with one smaller than loopback's 64 KiB
//! segment, the kernel's TCP sends no window update and the peer waits for zero-window
//! probes that back off from 200 ms (`ss -tno` shows `timer:(persist,...)`): sessions took
//! 14 s, and could pass the 30 s limit, with no fault of lwt's.
//!
//! Every loop is bounded in count and in time: sessions per slot, jobs per task and signals
//! are capped, the clients start no session after `--secs`, a session lasts at most 30 s,
//! and a watchdog ends the process (status 3) if the run has not finished 150 s late.
//!
//! # What is checked
//!
//! Every few seconds (`--secs`/24, between 0.25 s and 5 s) the run samples the open
//! descriptors (`/proc/self/fd`), the threads and RSS (`/proc/self/status`), and prints them.
//! After the load it checks, and fails if any does not hold:
//!
//! - no byte mismatched, no unexpected error or stall on either side;
//! - the counts agree: every connection made was accepted; the server saw no more resets
//!   than the clients made, and an EOF for every clean close; the server echoed at least
//!   what the clients checked; each signal was handled at least once and never more often
//!   than sent (the kernel and lwt may coalesce), and each is still handled after the
//!   storm; each kind of job and of end happened at least once, and canceled reads and
//!   writes, on the clients' side and on the server's;
//! - **flat**, between the first sample after the warm-up (`--secs`/6, between 1 s and 20 s)
//!   and the last one under load: descriptors beyond the open connections (the clients'
//!   and the server's sockets, counted by gauges; the median of five readings, as reading
//!   `/proc/self/fd` races with connections opening and closing) grew by at most 16 (the
//!   readings stay within 4 to 7 of each other; a leak of one descriptor per thousand
//!   connections exceeds it in seconds); threads by at most 8 (job
//!   workers come and go, and switch hand-offs keep stand-ins; a thread per hand-off or per
//!   job would exceed it at once); RSS by at most 32 MiB or 25%, whichever is more (freed
//!   64 KiB buffers stay with the allocator and the mix of sizes in use varies), plus 40 KiB
//!   per socket open at the busiest sample beyond those open at the first (RSS follows the
//!   most connections open at once, and a loaded machine keeps more of them open);
//! - after the load, once every connection has closed (and both runtimes still run), the
//!   descriptors are back to their count before it, within 4, and the server's runtime has
//!   no task left but its acceptor and signal streams.
//!
//! # Portability
//!
//! Linux only: the samples read `/proc/self`.

#[cfg(target_os = "linux")]
mod soak;

#[cfg(target_os = "linux")]
fn main() {
    use std::time::Duration;
    let usage = "usage: soak [--secs N] [--conns N] [--seed N] [--quiet]";
    let mut cfg = soak::Config {
        duration: Duration::from_secs(120),
        conns: 500,
        // A fresh seed each run unless one is given; the summary prints it.
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        backend: None,
        verbose: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--quiet" {
            cfg.verbose = false;
            continue;
        }
        let value = args.next().unwrap_or_default();
        let bad = |what: &str| -> ! {
            eprintln!("soak: {a} needs {what}, not {value:?}\n{usage}");
            std::process::exit(2);
        };
        match a.as_str() {
            "--secs" => match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => cfg.duration = Duration::from_secs_f64(v),
                _ => bad("a number of seconds"),
            },
            "--conns" => match value.parse::<usize>() {
                Ok(v) if v > 0 => cfg.conns = v,
                _ => bad("a number of connections"),
            },
            "--seed" => match value.parse::<u64>() {
                Ok(v) => cfg.seed = v,
                _ => bad("a whole number"),
            },
            _ => {
                eprintln!("soak: unknown argument {a:?}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    println!(
        "soak: {} connections for {:?}, seed {}",
        cfg.conns, cfg.duration, cfg.seed
    );
    let report = match soak::run(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: cannot run: {e}");
            std::process::exit(2);
        }
    };
    report.print();
    std::process::exit(if report.passed() { 0 } else { 1 });
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the soak test samples /proc/self: it runs on Linux only");
}
