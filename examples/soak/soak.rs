//! The soak's engine, shared by the program (`examples/soak/main.rs`, whose docs say what a
//! run does and checks) and by its short run in `cargo test` (`tests/soak.rs`).
//!
//! Threads: one runs the server's runtime (the echo server, the signal streams, the jobs),
//! one the clients' runtime (one task per connection slot), one sends signals, and the
//! caller's thread samples the process and then checks the outcome. Counters are atomics in
//! one [`Stats`] shared by all; nothing else is shared between the two runtimes.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lwt::net::TcpStream;
use lwt::unix::{self, AsyncMethod, FileDescr, SockAddr, SocketDomain, SocketType};
use lwt::{BackendKind, Builder, Error, Runtime, RuntimeMetrics};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest write a client makes (the brief's 64 KiB), and the server's read buffer.
const MAX_WRITE: usize = 64 * 1024;
/// The client's read buffer: reads ask for 1 byte up to this much.
const READ_BUF: usize = 32 * 1024;
/// The most a reset session leaves unread: the reader stops at most this short of the end
/// while the writer finishes, so it must fit in the socket buffers without reads.
const RESET_IN_FLIGHT: usize = 32 * 1024;
/// `SO_SNDBUF` of a quarter of the client sockets and of the server's (Linux doubles it).
/// Receive buffers keep their size: one smaller than loopback's 64 KiB segment never opens
/// its window by a segment, so the kernel sends no window update and the peer waits for its
/// zero-window probes, whose timer backs off from 200 ms (sessions took 14 s and more).
const SMALL_BUFFER: i32 = 4096;
/// Writes per session, at most.
const MAX_CHUNKS: u64 = 12;
/// A session (connect, the script, close) not done after this long has stalled: a failure.
const SESSION_LIMIT: Duration = Duration::from_secs(30);
/// Sessions per connection slot, at most: time bounds a run first, this bounds it in count.
const MAX_SESSIONS_PER_SLOT: u64 = 1 << 20;
/// Jobs per jobs task, at most (time bounds them first).
const MAX_JOBS_PER_TASK: u64 = 1 << 22;
/// Signals the sender sends, at most (time bounds it first).
const MAX_SIGNALS: u64 = 1 << 22;
/// The tasks on the server's runtime issuing jobs.
const JOB_TASKS: usize = 2;
/// How long a `switch` job blocks: past the hand-off threshold (100-200 us), so each one
/// hands the server's loop, 500 connections and all, to a stand-in thread.
const SWITCH_BLOCK: Duration = Duration::from_millis(1);
/// The timeouts that cancel reads and writes: 20 us .. 2 ms, so that under load many fire
/// while the operation is pending.
const CANCEL_US: (u64, u64) = (20, 2_000);
/// The longest timeout that cancels a client's read, in microseconds.
const CLIENT_READ_CANCEL_US: u64 = 300;
/// The pause between two signals: 0.2 .. 10 ms (about 200 a second).
const SIGNAL_GAP_US: (u64, u64) = (200, 10_000);
/// How long the run may last beyond its duration (sessions end within `SESSION_LIMIT`)
/// before it is declared hung and the process exits.
const HANG_GRACE: Duration = Duration::from_secs(120);
/// How long the end of a run waits for connections, tasks and signals to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// The failure messages kept (the count of all is kept too).
const MAX_FAILURES_KEPT: usize = 20;

/// Tolerance of the descriptor samples. During the load, a sample counts the open
/// descriptors *beyond* the connections open at that moment (the clients' and the server's
/// sockets, counted by gauges around `connect`/`accept` and `close`). Reading
/// `/proc/self/fd` races with the thousands of connections a second that open and close
/// meanwhile; the median of five readings stays within about 4 of the baseline on epoll and
/// poll and 7 on io_uring (whose close waits for the poll's cancellation). A leak of one
/// descriptor per thousand connections exceeds 16 within seconds at this load.
pub const FD_TOLERANCE: i64 = 16;
/// Tolerance of the descriptor count at the end (every connection closed, both runtimes
/// alive) against the count before the load: the lazily made descriptors of a runtime (none
/// seen so far) may add a few; a leak larger than that is a failure.
pub const END_FD_TOLERANCE: i64 = 4;
/// Tolerance of the thread samples: job workers come and go (idle ones exit after 10 s) and
/// `switch` hand-offs keep stand-in threads; with two jobs tasks that is a few threads. A
/// thread leaked per hand-off (hundreds a second) or per job exceeds 8 at once.
pub const THREAD_TOLERANCE: i64 = 8;
/// Tolerance of RSS growth, in KiB, at least: the allocator keeps freed buffers (64 KiB per
/// server connection, more in flight in the kernel's socket buffers, which do not count)
/// and which sizes are in use at a sample varies; a leak of one 64 KiB buffer per thousand
/// connections exceeds it within a two-minute run.
pub const RSS_TOLERANCE_KIB: i64 = 32 * 1024;
/// Tolerance of RSS growth, as a fraction of the first sample after warm-up, when that is
/// more than [`RSS_TOLERANCE_KIB`].
pub const RSS_TOLERANCE_FRACTION: f64 = 0.25;
/// RSS allowed per connection open at the busiest sample beyond those open at the first
/// sample after warm-up, in KiB per socket (a connection is two sockets in this process): the
/// server's 64 KiB echo buffer and its task, halved per socket. Freed memory stays with the
/// allocator, so RSS follows the most connections open at once, and a slow (loaded) machine
/// keeps more of them open than a quiet one.
pub const RSS_PER_EXTRA_SOCKET_KIB: i64 = 40;

/// What a run does.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long clients start new sessions (sessions under way then finish).
    pub duration: Duration,
    /// Concurrent connection slots (each runs sessions one after another).
    pub conns: usize,
    /// The seed of every script.
    pub seed: u64,
    /// The backend of both runtimes; `None`: the environment's (`Builder::from_env`).
    pub backend: Option<BackendKind>,
    /// Print each sample as it is taken.
    pub verbose: bool,
}

impl Config {
    /// The command line that replays this run's scripts.
    pub fn replay_command(&self, backend: &str) -> String {
        format!(
            "LWT_BACKEND={backend} cargo run --release --example soak -- --secs {} --conns {} --seed {}",
            self.duration.as_secs_f64(),
            self.conns,
            self.seed
        )
    }

    /// The warm-up: samples before it are printed but not compared.
    fn warm_up(&self) -> Duration {
        (self.duration / 6).clamp(Duration::from_secs(1), Duration::from_secs(20))
    }

    /// The time between two samples.
    fn sample_every(&self) -> Duration {
        (self.duration / 24).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }
}

/// The job kinds, by index into [`Stats::jobs`].
const JOB_NAMES: [&str; 6] = [
    "stat (detach)",
    "stat (switch)",
    "getaddrinfo localhost",
    "run_job switch, blocking",
    "run_job detach",
    "run_job none",
];

/// Every counter of a run.
#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    accepted: AtomicU64,
    accept_aborted: AtomicU64,
    half_closes: AtomicU64,
    closes: AtomicU64,
    resets: AtomicU64,
    server_eofs: AtomicU64,
    server_resets: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_echoed: AtomicU64,
    bytes_checked: AtomicU64,
    mismatches: AtomicU64,
    client_read_cancels: AtomicU64,
    client_write_cancels: AtomicU64,
    server_read_cancels: AtomicU64,
    server_write_cancels: AtomicU64,
    signals_sent: [AtomicU64; 2],
    signals_seen: [AtomicU64; 2],
    jobs: [AtomicU64; JOB_NAMES.len()],
    /// Client sockets from before `connect` to after their close.
    client_open: AtomicI64,
    /// Server sockets from `accept` to after their close.
    server_open: AtomicI64,
    /// The longest session, in microseconds.
    longest_session_us: AtomicU64,
    /// Which session that was.
    longest_session: Mutex<String>,
    failed: AtomicBool,
    failure_count: AtomicU64,
    failures: Mutex<Vec<String>>,
}

fn bump(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Stats {
    /// Records an unexpected outcome; the run stops starting sessions.
    fn fail(&self, msg: String) {
        self.failed.store(true, Ordering::SeqCst);
        self.failure_count.fetch_add(1, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < MAX_FAILURES_KEPT {
            f.push(msg);
        }
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Counts one open socket in a gauge while it lives.
struct Gauge(Arc<Stats>, fn(&Stats) -> &AtomicI64);

impl Gauge {
    fn enter(st: &Arc<Stats>, which: fn(&Stats) -> &AtomicI64) -> Gauge {
        which(st).fetch_add(1, Ordering::SeqCst);
        Gauge(st.clone(), which)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::SeqCst);
    }
}

/// SplitMix64: a seeded stream of 64-bit values, good enough to drive scripts and to make
/// bytes that a lost, repeated or reordered byte cannot match by chance.
#[derive(Clone)]
struct Rng(u64);

/// Mixes `x` into a well-spread 64-bit value (SplitMix64's output function).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix(seed))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn size(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as u64, hi as u64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A timeout that cancels an operation, often while it is pending.
    fn cancel_after(&mut self) -> Duration {
        Duration::from_micros(self.range(CANCEL_US.0, CANCEL_US.1))
    }
}

/// The bytes of one connection's stream: the client writes them and checks the echo
/// against a second copy.
struct ByteStream {
    rng: Rng,
    left: [u8; 8],
    used: usize,
}

impl ByteStream {
    fn new(seed: u64) -> ByteStream {
        ByteStream {
            rng: Rng::new(seed),
            left: [0; 8],
            used: 8,
        }
    }

    /// Fills `out` with the stream's next `out.len()` bytes.
    fn fill(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while self.used < 8 && i < out.len() {
            out[i] = self.left[self.used];
            self.used += 1;
            i += 1;
        }
        let mut words = out[i..].chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.rng.next().to_le_bytes());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            self.left = self.rng.next().to_le_bytes();
            rest.copy_from_slice(&self.left[..rest.len()]);
            self.used = rest.len();
        }
    }
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// `shutdown(SHUT_WR)` after the last write, then read the echo until EOF.
    HalfClose,
    /// Read the whole echo, then close.
    Close,
    /// Read the echo up to `stop_at`, then close with `SO_LINGER` 0: a reset, with up to
    /// `RESET_IN_FLIGHT` bytes still in flight (written and not echoed, or echoed and not
    /// read).
    Reset { stop_at: usize },
}

/// One session's script, all drawn from the run's seed, the slot and the session number.
struct Plan {
    /// The seed of the bytes written.
    bytes: u64,
    /// The seed of the reader's and the writer's choices (sizes, cancellations).
    ops: u64,
    chunks: Vec<usize>,
    end: End,
    nodelay: bool,
    /// `SO_SNDBUF` of [`SMALL_BUFFER`] on the client's socket.
    small_buffers: bool,
}

impl Plan {
    fn new(seed: u64, slot: usize, session: u64) -> Plan {
        let mut r = Rng::new(mix(mix(seed) ^ slot as u64) ^ session);
        let n = r.range(1, MAX_CHUNKS);
        let chunks: Vec<usize> = (0..n)
            .map(|_| match r.below(4) {
                0 => r.size(1, MAX_WRITE),
                1 => r.size(1, 8 * 1024),
                _ => r.size(1, 512),
            })
            .collect();
        let end = match r.below(10) {
            0..=3 => End::HalfClose,
            4..=6 => End::Close,
            _ => {
                // At most `RESET_IN_FLIGHT` left unread when the reset comes, so the writer
                // always finishes: the server's receive buffer alone holds that much.
                let total: usize = chunks.iter().sum();
                End::Reset {
                    stop_at: r.size(total.saturating_sub(RESET_IN_FLIGHT), total),
                }
            }
        };
        Plan {
            bytes: r.next(),
            ops: r.next(),
            chunks,
            end,
            nodelay: r.chance(1, 2),
            small_buffers: r.chance(1, 4),
        }
    }

    fn total(&self) -> usize {
        self.chunks.iter().sum()
    }
}

/// A client slot's buffers, made once and touched at once (so RSS does not creep up as
/// larger writes come).
struct Bufs {
    write: Vec<u8>,
    read: Vec<u8>,
    expect: Vec<u8>,
}

impl Bufs {
    fn new() -> Bufs {
        Bufs {
            write: vec![1; MAX_WRITE],
            read: vec![1; READ_BUF],
            expect: vec![1; READ_BUF],
        }
    }
}

/// Runs `op`, under a timeout when `cancel` is given: `Ok(None)` when the timeout won and
/// `op` was dropped while pending (having consumed nothing, lwt's rule).
async fn maybe_cancel<T>(
    cancel: Option<Duration>,
    op: impl Future<Output = io::Result<T>>,
) -> io::Result<Option<T>> {
    match cancel {
        None => op.await.map(Some),
        Some(d) => {
            match lwt::unix::with_timeout(d, async { op.await.map_err(Error::from) }).await {
                Ok(v) => Ok(Some(v)),
                Err(Error::Timeout) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// One session of a client slot: connect, write the script's chunks while checking the echo
/// byte for byte, end as the script says.
async fn session(
    addr: SocketAddr,
    plan: &Plan,
    bufs: &mut Bufs,
    st: &Arc<Stats>,
) -> Result<(), String> {
    // Counted from before `connect` (whose socket exists while it waits), so the descriptor
    // samples see every client socket; declared first, dropped after the stream.
    let _open = Gauge::enter(st, |s| &s.client_open);
    let mut stream = if plan.small_buffers {
        // A small send buffer, set before `connect`: writes fill it and wait, and a timeout
        // then cancels a pending write.
        let fd = unix::socket(SocketDomain::Inet, SocketType::Stream, 0)
            .map_err(|e| format!("socket: {e}"))?;
        unix::setsockopt_int(&fd, unix::SocketIntOption::SoSndbuf, SMALL_BUFFER)
            .map_err(|e| format!("SO_SNDBUF: {e}"))?;
        unix::connect(&fd, &SockAddr::from(addr))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        TcpStream::from_file_descr(fd).map_err(|e| format!("TcpStream::from_file_descr: {e}"))?
    } else {
        TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?
    };
    bump(&st.connects, 1);
    stream
        .set_nodelay(plan.nodelay)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let total = plan.total();
    let (mut r, mut w) = stream.split();
    let Bufs {
        write: wbuf,
        read: rbuf,
        expect,
    } = bufs;
    let writer = async {
        let mut ops = Rng::new(plan.ops);
        let mut bytes = ByteStream::new(plan.bytes);
        let mut sent = 0;
        for &size in &plan.chunks {
            let chunk = &mut wbuf[..size];
            bytes.fill(chunk);
            let mut off = 0;
            while off < size {
                let cancel = ops.chance(1, 2).then(|| ops.cancel_after());
                match maybe_cancel(cancel, w.write(&chunk[off..])).await {
                    Ok(Some(0)) => return Err(format!("write returned 0 at byte {}", sent + off)),
                    Ok(Some(n)) => off += n,
                    Ok(None) => bump(&st.client_write_cancels, 1),
                    Err(e) => return Err(format!("write at byte {}: {e}", sent + off)),
                }
            }
            sent += size;
            bump(&st.bytes_sent, size);
        }
        if plan.end == End::HalfClose {
            w.close()
                .await
                .map_err(|e| format!("shutdown(SHUT_WR): {e}"))?;
        }
        Ok(())
    };
    let reader = async {
        let mut ops = Rng::new(!plan.ops);
        let mut bytes = ByteStream::new(plan.bytes);
        let want = match plan.end {
            End::Reset { stop_at } => stop_at,
            _ => total,
        };
        let mut got = 0;
        while got < want || plan.end == End::HalfClose {
            if ops.chance(1, 16) {
                // A slow reader now and then: the echo backs up into the server's buffers,
                // the server stops reading, and the client's writes wait (and some are
                // canceled) until this reader goes on.
                lwt::sleep(ops.cancel_after()).await;
            }
            let len = if ops.chance(1, 2) {
                READ_BUF
            } else {
                ops.size(1, READ_BUF)
            };
            // Shorter timeouts than elsewhere: the echo of what was written is usually on its
            // way, so only a short wait is often cut.
            let cancel = ops
                .chance(1, 2)
                .then(|| Duration::from_micros(ops.range(1, CLIENT_READ_CANCEL_US)));
            let n = match maybe_cancel(cancel, r.read(&mut rbuf[..len])).await {
                Ok(Some(n)) => n,
                Ok(None) => {
                    bump(&st.client_read_cancels, 1);
                    continue;
                }
                Err(e) => return Err(format!("read at byte {got} of {total}: {e}")),
            };
            if n == 0 {
                if plan.end == End::HalfClose && got == total {
                    break;
                }
                return Err(format!("early EOF at byte {got} of {total}"));
            }
            if got + n > total {
                return Err(format!(
                    "{} bytes beyond the {total} written",
                    got + n - total
                ));
            }
            bytes.fill(&mut expect[..n]);
            if rbuf[..n] != expect[..n] {
                bump(&st.mismatches, 1);
                let i = (0..n).find(|&i| rbuf[i] != expect[i]).unwrap_or(0);
                return Err(format!(
                    "MISMATCH at byte {} of {total}: got {:#04x}, expected {:#04x}",
                    got + i,
                    rbuf[i],
                    expect[i]
                ));
            }
            got += n;
            bump(&st.bytes_checked, n);
        }
        Ok(())
    };
    let (written, read) = lwt::join2(writer, reader).await;
    written?;
    read?;
    match plan.end {
        End::HalfClose => bump(&st.half_closes, 1),
        End::Close => bump(&st.closes, 1),
        End::Reset { .. } => {
            unix::setsockopt_optint(
                stream.as_file_descr(),
                unix::SocketOptintOption::SoLinger,
                Some(0),
            )
            .map_err(|e| format!("SO_LINGER 0: {e}"))?;
            bump(&st.resets, 1);
        }
    }
    unix::close(stream.as_file_descr())
        .await
        .map_err(|e| format!("close: {e}"))?;
    Ok(())
}

/// The sessions of one connection slot, one after another, until the deadline.
async fn slot(i: usize, addr: SocketAddr, seed: u64, deadline: Instant, st: Arc<Stats>) {
    let mut bufs = Bufs::new();
    for n in 0..MAX_SESSIONS_PER_SLOT {
        if Instant::now() >= deadline || st.failed() {
            break;
        }
        let plan = Plan::new(seed, i, n);
        let run = async { Ok(session(addr, &plan, &mut bufs, &st).await) };
        let began = Instant::now();
        let outcome = lwt::unix::with_timeout(SESSION_LIMIT, run).await;
        let took = began.elapsed().as_micros() as u64;
        if st.longest_session_us.fetch_max(took, Ordering::Relaxed) < took {
            let what = format!(
                "slot {i}, session {n}: {} writes, {} bytes, {:?}, small buffers {}, nodelay {}",
                plan.chunks.len(),
                plan.total(),
                plan.end,
                plan.small_buffers,
                plan.nodelay
            );
            *st.longest_session.lock().unwrap_or_else(|e| e.into_inner()) = what;
        }
        let why = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(msg)) => msg,
            Err(Error::Timeout) => format!("stalled: not done after {SESSION_LIMIT:?}"),
            Err(e) => e.to_string(),
        };
        st.fail(format!(
            "client slot {i}, session {n} ({} writes, {} bytes, {:?}): {why}",
            plan.chunks.len(),
            plan.total(),
            plan.end
        ));
    }
}

/// Whether `e` is what a peer's reset gives a reader or a writer.
fn is_reset(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::ECONNRESET | libc::EPIPE))
}

/// How a server connection ended.
enum ServerEnd {
    Eof,
    Reset,
    Failed,
}

/// Echoes one connection: reads of random sizes, some under `pick [timeout; read]`, and
/// writes of random slices, some under `with_timeout`; a canceled read or write consumed or
/// wrote nothing, so the echo stays exact.
async fn serve(conn: FileDescr, mut rng: Rng, st: Arc<Stats>, open: Gauge) {
    let mut buf = vec![0u8; MAX_WRITE];
    if rng.chance(1, 4) {
        // A small send buffer: the echo's writes fill it and wait (and some are canceled).
        // The receive buffer keeps its size: it holds what a resetting client leaves unread.
        if let Err(e) = unix::setsockopt_int(&conn, unix::SocketIntOption::SoSndbuf, SMALL_BUFFER) {
            st.fail(format!("server SO_SNDBUF: {e}"));
        }
    }
    let end = 'conn: loop {
        let len = if rng.chance(1, 2) {
            MAX_WRITE
        } else {
            rng.size(1, MAX_WRITE)
        };
        let read = if rng.chance(1, 4) {
            // The seed's shape: exactly one of the two completes; a lost read took nothing.
            type Op<'a> = Pin<Box<dyn Future<Output = lwt::Result<usize>> + Send + 'a>>;
            let ops: [Op<'_>; 2] = [
                Box::pin(lwt::timeout::<usize>(rng.cancel_after())),
                Box::pin(unix::read(&conn, &mut buf[..len])),
            ];
            match lwt::pick(ops).await {
                Err(Error::Timeout) => {
                    bump(&st.server_read_cancels, 1);
                    continue;
                }
                r => r,
            }
        } else {
            unix::read(&conn, &mut buf[..len]).await
        };
        let n = match read {
            Ok(0) => break ServerEnd::Eof,
            Ok(n) => n,
            Err(e) if is_reset(&e) => break ServerEnd::Reset,
            Err(e) => {
                st.fail(format!("server read: {e}"));
                break ServerEnd::Failed;
            }
        };
        let mut off = 0;
        while off < n {
            let end = if rng.chance(1, 4) {
                off + rng.size(1, n - off)
            } else {
                n
            };
            let write = if rng.chance(1, 8) {
                match lwt::unix::with_timeout(
                    rng.cancel_after(),
                    unix::write(&conn, &buf[off..end]),
                )
                .await
                {
                    Err(Error::Timeout) => {
                        bump(&st.server_write_cancels, 1);
                        continue;
                    }
                    r => r,
                }
            } else {
                unix::write(&conn, &buf[off..end]).await
            };
            match write {
                Ok(k) => off += k,
                Err(e) if is_reset(&e) => break 'conn ServerEnd::Reset,
                Err(e) => {
                    st.fail(format!("server write: {e}"));
                    break 'conn ServerEnd::Failed;
                }
            }
        }
        bump(&st.bytes_echoed, n);
    };
    match end {
        ServerEnd::Eof => bump(&st.server_eofs, 1),
        ServerEnd::Reset => bump(&st.server_resets, 1),
        ServerEnd::Failed => {}
    }
    if let Err(e) = unix::close(&conn).await {
        st.fail(format!("server close: {e}"));
    }
    drop(open);
}

/// Accepts connections in batches and serves each in a task of its own. Ends when the run
/// stops it (its task is canceled).
async fn acceptor(l: FileDescr, seed: u64, st: Arc<Stats>) {
    let mut k = 0u64;
    loop {
        let (batch, err) = unix::accept_n(&l, 32).await;
        for (conn, _) in batch {
            k += 1;
            bump(&st.accepted, 1);
            let open = Gauge::enter(&st, |s| &s.server_open);
            let rng = Rng::new(mix(seed ^ 0x5e77e) ^ k);
            drop(lwt::spawn(serve(conn, rng, st.clone(), open)));
        }
        match err {
            None => {}
            // A connection reset while it waited in the backlog (BSD reports it; Linux may).
            Some(e) if e.errno() == Some(libc::ECONNABORTED) => bump(&st.accept_aborted, 1),
            Some(e) => {
                st.fail(format!("accept: {e}"));
                lwt::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the jobs tasks work on: this program's own file and its size.
struct JobTarget {
    path: std::path::PathBuf,
    size: i64,
}

/// One job of a kind through `lwt::unix`'s own functions (kinds 0 to 2), checked.
///
/// These run on the server's `block_on` future, not in a spawned task: a future that awaits
/// `lwt::unix::stat` or `getaddrinfo` is not `Send` to rustc (see [`server_main`]).
async fn unix_job(kind: usize, target: &JobTarget) -> Result<(), String> {
    let stat = match kind {
        0 => unix::with_async_detach(unix::stat(&target.path)).await,
        1 => unix::with_async_switch(unix::stat(&target.path)).await,
        _ => {
            let opts = [unix::GetaddrinfoOption::AiFamily(SocketDomain::Inet)];
            return match unix::getaddrinfo("localhost", "", &opts).await {
                Ok(v)
                    if !v.is_empty()
                        && v.iter().all(
                            |a| matches!(a.addr, SockAddr::Inet(ip, _) if ip.is_loopback()),
                        ) =>
                {
                    Ok(())
                }
                Ok(v) => Err(format!("not loopback addresses: {v:?}")),
                Err(e) => Err(e.to_string()),
            };
        }
    };
    match stat {
        Ok(s) if s.st_size == target.size => Ok(()),
        Ok(s) => Err(format!("size {} instead of {}", s.st_size, target.size)),
        Err(e) => Err(e.to_string()),
    }
}

/// One `run_job` of a kind (3 to 5) on the value `x`, checked.
async fn run_job_kind(kind: usize, x: u64) -> Result<(), String> {
    let (got, want) = match kind {
        3 => {
            let job = move || {
                std::thread::sleep(SWITCH_BLOCK);
                x.rotate_left(7)
            };
            (
                unix::run_job(Some(AsyncMethod::Switch), job).await,
                x.rotate_left(7),
            )
        }
        4 => (
            unix::run_job(Some(AsyncMethod::Detach), move || x.wrapping_mul(3)).await,
            x.wrapping_mul(3),
        ),
        _ => (
            unix::run_job(Some(AsyncMethod::None), move || x ^ 0xff).await,
            x ^ 0xff,
        ),
    };
    match got {
        Ok(v) if v == want => Ok(()),
        Ok(v) => Err(format!("{v} instead of {want}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Issues jobs one after another with short pauses, each checked, until the load is done:
/// `one(kind, x)` runs a job of kind `first_kind + 0..3` on a random `x`.
async fn jobs_loop<Fut: Future<Output = Result<(), String>>>(
    first_kind: usize,
    mut one: impl FnMut(usize, u64) -> Fut,
    rng_seed: u64,
    done: Arc<AtomicBool>,
    st: Arc<Stats>,
) {
    let mut rng = Rng::new(rng_seed);
    for _ in 0..MAX_JOBS_PER_TASK {
        if done.load(Ordering::SeqCst) {
            break;
        }
        let kind = first_kind + rng.below(3) as usize;
        match one(kind, rng.next()).await {
            Ok(()) => bump(&st.jobs[kind], 1),
            Err(e) => st.fail(format!("job {}: {e}", JOB_NAMES[kind])),
        }
        lwt::sleep(Duration::from_micros(rng.range(0, 3_000))).await;
    }
}

/// Counts the arrivals of `signum` (handled by lwt in the server's loop) until canceled.
async fn count_signals(mut arrivals: lwt::signal::Signals, k: usize, st: Arc<Stats>) {
    loop {
        arrivals.recv().await;
        bump(&st.signals_seen[k], 1);
    }
}

/// The two signals, by index into `Stats::signals_*`.
const SIGNALS: [(i32, &str); 2] = [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGUSR2, "SIGUSR2")];

fn send_signal(k: usize, st: &Stats) {
    let sig = if k == 0 {
        rustix::process::Signal::USR1
    } else {
        rustix::process::Signal::USR2
    };
    rustix::process::kill_process(rustix::process::getpid(), sig).expect("kill(getpid())");
    bump(&st.signals_sent[k], 1);
}

/// Sends SIGUSR1 or SIGUSR2 to the process at random intervals until `stop`.
fn signal_sender(seed: u64, stop: &AtomicBool, st: &Stats) {
    let mut rng = Rng::new(mix(seed ^ 0x5160));
    for _ in 0..MAX_SIGNALS {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_micros(
            rng.range(SIGNAL_GAP_US.0, SIGNAL_GAP_US.1),
        ));
        send_signal(rng.below(2) as usize, st);
    }
}

/// The server's side of the run, on its runtime: listen, count signals, run jobs, accept and
/// echo until `stop`; then stop accepting, wait for the jobs tasks, drop the signal streams.
async fn server_main(
    seed: u64,
    st: Arc<Stats>,
    target: Arc<JobTarget>,
    load_done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<SocketAddr, String>>,
) {
    let setup = async {
        let l = unix::socket(SocketDomain::Inet, SocketType::Stream, 0)?;
        unix::setsockopt(&l, unix::SocketBoolOption::SoReuseaddr, true)?;
        unix::bind(&l, &SockAddr::Inet(Ipv4Addr::LOCALHOST.into(), 0)).await?;
        unix::listen(&l, 1024)?;
        let addr = match unix::getsockname(&l)? {
            SockAddr::Inet(ip, port) => SocketAddr::new(ip, port),
            other => panic!("a TCP listener bound to {other:?}"),
        };
        let mut streams = Vec::new();
        for (signum, _) in SIGNALS {
            streams.push(lwt::signal::signal(signum)?);
        }
        Ok::<_, io::Error>((l, addr, streams))
    };
    let (l, addr, streams) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(format!("server setup: {e}")));
            return;
        }
    };
    let counters: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(k, s)| lwt::spawn(count_signals(s, k, st.clone())))
        .collect();
    let jobs: Vec<_> = (0..JOB_TASKS)
        .map(|k| {
            let rng_seed = mix(seed ^ 0x70b5) ^ k as u64;
            let one = |kind, x| run_job_kind(kind, x);
            lwt::spawn(jobs_loop(3, one, rng_seed, load_done.clone(), st.clone()))
        })
        .collect();
    let accepting = lwt::spawn(acceptor(l.clone(), seed, st.clone()));
    let _ = ready.send(Ok(addr));
    // `lwt::unix::stat` and `getaddrinfo` run here, on the `block_on` future, because a
    // spawned task cannot await them: rustc finds such a future not `Send` ("implementation
    // of `Send` is not general enough"), for a `&str` or `&Path` argument as for an owned
    // `PathBuf`. The job closure inside those functions is typed after the caller's argument
    // (or after its borrow), and `run_job` asks that closure to be `'static`, which rustc
    // cannot show for every lifetime it erases in a spawned future.
    let one = |kind, _| {
        let target = target.clone();
        async move { unix_job(kind, &target).await }
    };
    jobs_loop(0, one, mix(seed ^ 0x0b5), load_done.clone(), st.clone()).await;
    while !stop.load(Ordering::SeqCst) {
        lwt::sleep(Duration::from_millis(5)).await;
    }
    accepting.cancel().await;
    for j in jobs {
        let _ = j.await;
    }
    for c in counters {
        c.cancel().await;
    }
    if let Err(e) = unix::close(&l).await {
        st.fail(format!("close the listener: {e}"));
    }
}

/// The clients' side of the run, on their runtime: `conns` slots until `deadline`.
async fn clients_main(
    conns: usize,
    addr: SocketAddr,
    seed: u64,
    deadline: Instant,
    st: Arc<Stats>,
) {
    let slots: Vec<_> = (0..conns)
        .map(|i| lwt::spawn(slot(i, addr, seed, deadline, st.clone())))
        .collect();
    for s in slots {
        if let Err(e) = s.await {
            st.fail(format!("a client slot's task: {e}"));
        }
    }
}

/// One look at the process.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Since the start of the run.
    pub at: Duration,
    /// Open descriptors (`/proc/self/fd`).
    pub fds: i64,
    /// Client and server sockets open then (the gauges, averaged over the reading).
    pub conns: i64,
    /// Threads (`/proc/self/status`).
    pub threads: i64,
    /// Resident set size in KiB (`/proc/self/status`).
    pub rss_kib: i64,
    /// Tasks alive on the server's and the clients' runtime.
    pub tasks: (usize, usize),
    /// Bytes checked by the clients so far.
    pub checked: u64,
}

impl Sample {
    /// Descriptors beyond the open connections: flat when nothing leaks.
    pub fn fd_excess(&self) -> i64 {
        self.fds - self.conns
    }
}

fn status_field(status: &str, name: &str) -> i64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn sample(started: Instant, st: &Stats, server: &Runtime, client: &Runtime) -> Sample {
    let gauges = || st.client_open.load(Ordering::SeqCst) + st.server_open.load(Ordering::SeqCst);
    // Connections open and close while `/proc/self/fd` is read (a millisecond or two, with
    // thousands of connections a second): of five readings, the median excess is kept.
    let mut looks: Vec<(i64, i64)> = (0..5)
        .map(|_| {
            let before = gauges();
            // The count includes the descriptor read_dir itself holds: the same every time.
            let fds = std::fs::read_dir("/proc/self/fd").map_or(-1, |d| d.count() as i64);
            (fds, (before + gauges()) / 2)
        })
        .collect();
    looks.sort_by_key(|(fds, conns)| fds - conns);
    let (fds, conns) = looks[looks.len() / 2];
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let tasks = |m: RuntimeMetrics| m.num_alive_tasks;
    Sample {
        at: started.elapsed(),
        fds,
        conns,
        threads: status_field(&status, "Threads:"),
        rss_kib: status_field(&status, "VmRSS:"),
        tasks: (tasks(server.metrics()), tasks(client.metrics())),
        checked: get(&st.bytes_checked),
    }
}

fn print_sample_header() {
    println!(
        "soak: {:>8} {:>6} {:>6} {:>9} {:>7} {:>9} {:>12} {:>12}",
        "t(s)", "fds", "conns", "fd-excess", "threads", "rss(MiB)", "tasks(s/c)", "checked(MB)"
    );
}

fn print_sample(s: &Sample) {
    println!(
        "soak: {:>8.1} {:>6} {:>6} {:>9} {:>7} {:>9.1} {:>12} {:>12.1}",
        s.at.as_secs_f64(),
        s.fds,
        s.conns,
        s.fd_excess(),
        s.threads,
        s.rss_kib as f64 / 1024.0,
        format!("{}/{}", s.tasks.0, s.tasks.1),
        s.checked as f64 / 1e6
    );
}

/// Waits up to `limit` for `cond`, looking every millisecond; whether it held.
fn settle(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Makes the descriptor limit room for two descriptors per connection.
fn raise_fd_limit(conns: usize) -> Result<(), String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let need = 2 * conns as u64 + 256;
    if lim.current.is_none_or(|c| c >= need) {
        return Ok(());
    }
    if lim.maximum.is_some_and(|m| m < need) {
        return Err(format!(
            "RLIMIT_NOFILE's hard limit {:?} is below the {need} descriptors {conns} connections need",
            lim.maximum
        ));
    }
    let raised = Rlimit {
        current: Some(need),
        maximum: lim.maximum,
    };
    setrlimit(Resource::Nofile, raised).map_err(|e| format!("setrlimit(RLIMIT_NOFILE): {e}"))
}

/// Exits the process if the run is still going at `limit`: a hang fails, it never stalls CI.
fn arm_watchdog(limit: Duration) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("soak-watchdog".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("soak: FAIL: still running after {limit:?}: a hang; exiting");
                std::process::exit(3);
            }
        })
        .expect("the watchdog thread");
    tx
}

fn build_runtime(backend: Option<BackendKind>) -> Result<Runtime, String> {
    let b = match backend {
        Some(k) => Builder::new().backend(k),
        None => Builder::from_env(),
    };
    b.build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

/// The outcome of a run.
pub struct Report {
    config: Config,
    backend: &'static str,
    elapsed: Duration,
    stats: Arc<Stats>,
    samples: Vec<Sample>,
    /// The first sample after warm-up, by index into `samples`.
    reference: Option<usize>,
    /// Before the load (both runtimes up, the listener and signal streams made).
    before: Option<Sample>,
    /// After the load (every connection closed, both runtimes still up).
    after: Option<Sample>,
    hand_offs: u64,
    /// From the end of the load to the last session's end.
    wind_down: Duration,
    problems: Vec<String>,
}

/// Runs the soak as `cfg` says; returns its report, or why it could not start.
pub fn run(cfg: &Config) -> Result<Report, String> {
    raise_fd_limit(cfg.conns)?;
    let server_rt = build_runtime(cfg.backend)?;
    let client_rt = build_runtime(cfg.backend)?;
    let backend = server_rt.backend_name();
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let size = std::fs::metadata(&exe).map_err(|e| format!("stat {}: {e}", exe.display()))?;
    let target = Arc::new(JobTarget {
        path: exe,
        size: size.len() as i64,
    });
    let watchdog = arm_watchdog(cfg.duration + SESSION_LIMIT + HANG_GRACE);
    let st = Arc::new(Stats::default());
    let (load_done, stop_signals, stop_server) = (
        Arc::new(AtomicBool::new(false)),
        AtomicBool::new(false),
        Arc::new(AtomicBool::new(false)),
    );
    let mut problems = Vec::new();
    let mut samples = Vec::new();
    let (mut before, mut after) = (None, None);
    let mut wind_down = Duration::ZERO;
    let started = Instant::now();
    let deadline = started + cfg.duration;
    std::thread::scope(|s| -> Result<(), String> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let server = {
            let (st, target, load_done, stop) = (
                st.clone(),
                target.clone(),
                load_done.clone(),
                stop_server.clone(),
            );
            let rt = &server_rt;
            let seed = cfg.seed;
            std::thread::Builder::new()
                .name("soak-server".into())
                .spawn_scoped(s, move || {
                    rt.block_on(server_main(seed, st, target, load_done, stop, ready_tx))
                })
                .map_err(|e| format!("spawn the server thread: {e}"))?
        };
        // On an error from here on, the server is told to stop before the scope joins it.
        let give_up = |why: String| {
            load_done.store(true, Ordering::SeqCst);
            stop_server.store(true, Ordering::SeqCst);
            why
        };
        let addr = match ready_rx.recv_timeout(SETTLE_LIMIT) {
            Ok(r) => r.map_err(give_up)?,
            Err(e) => return Err(give_up(format!("the server did not start: {e}"))),
        };
        before = Some(sample(started, &st, &server_rt, &client_rt));
        let clients = {
            let (st, rt, conns, seed) = (st.clone(), &client_rt, cfg.conns, cfg.seed);
            std::thread::Builder::new()
                .name("soak-clients".into())
                .spawn_scoped(s, move || {
                    rt.block_on(clients_main(conns, addr, seed, deadline, st))
                })
                .map_err(|e| give_up(format!("spawn the clients' thread: {e}")))?
        };
        let sender = std::thread::Builder::new()
            .name("soak-signals".into())
            .spawn_scoped(s, || signal_sender(cfg.seed, &stop_signals, &st))
            .map_err(|e| give_up(format!("spawn the signal thread: {e}")))?;

        if cfg.verbose {
            print_sample_header();
        }
        let every = cfg.sample_every();
        for k in 1u32.. {
            let at = started + every * k;
            if at >= deadline {
                break;
            }
            while Instant::now() < at && !st.failed() && !clients.is_finished() {
                std::thread::sleep(
                    Duration::from_millis(10).min(at.saturating_duration_since(Instant::now())),
                );
            }
            if st.failed() || clients.is_finished() {
                break;
            }
            let smp = sample(started, &st, &server_rt, &client_rt);
            if cfg.verbose {
                print_sample(&smp);
            }
            samples.push(smp);
        }
        if clients.join().is_err() {
            problems.push("the clients' thread panicked".into());
        }
        wind_down = Instant::now().saturating_duration_since(deadline);
        load_done.store(true, Ordering::SeqCst);
        stop_signals.store(true, Ordering::SeqCst);
        if sender.join().is_err() {
            problems.push("the signal thread panicked".into());
        }
        // After the storm, each signal is still handled.
        for (k, (_, name)) in SIGNALS.iter().enumerate() {
            let seen = get(&st.signals_seen[k]);
            send_signal(k, &st);
            if !settle(SETTLE_LIMIT, || get(&st.signals_seen[k]) > seen) {
                problems.push(format!(
                    "{name} sent after the load was not handled within {SETTLE_LIMIT:?}"
                ));
            }
        }
        // Every connection closed on both sides, and every connection task gone.
        // The acceptor, the signal counters and the (finished) jobs tasks: a task is alive
        // until its handle has taken its output.
        let fixed_tasks = 1 + SIGNALS.len() + JOB_TASKS;
        let settled = settle(SETTLE_LIMIT, || {
            st.client_open.load(Ordering::SeqCst) == 0
                && st.server_open.load(Ordering::SeqCst) == 0
                && server_rt.metrics().num_alive_tasks <= fixed_tasks
                && client_rt.metrics().num_alive_tasks == 0
        });
        let end = sample(started, &st, &server_rt, &client_rt);
        if !settled {
            problems.push(format!(
                "not settled {SETTLE_LIMIT:?} after the load: {} client and {} server sockets open, tasks alive (server/clients) {:?}, {} expected on the server",
                st.client_open.load(Ordering::SeqCst),
                st.server_open.load(Ordering::SeqCst),
                end.tasks,
                fixed_tasks
            ));
        }
        after = Some(end);
        stop_server.store(true, Ordering::SeqCst);
        if server.join().is_err() {
            problems.push("the server's thread panicked".into());
        }
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let _ = watchdog.send(());
    let hand_offs = server_rt.metrics().switch_hand_offs;
    let mut report = Report {
        config: cfg.clone(),
        backend,
        elapsed,
        stats: st,
        reference: samples.iter().position(|s| s.at >= cfg.warm_up()),
        samples,
        before,
        after,
        hand_offs,
        wind_down,
        problems,
    };
    report.check();
    Ok(report)
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The command that replays this run's scripts.
    pub fn replay_command(&self) -> String {
        self.config.replay_command(self.backend)
    }

    /// Compares the counters and the samples; each check that fails adds a problem.
    fn check(&mut self) {
        let st = &self.stats;
        let mut p = std::mem::take(&mut self.problems);
        let failures = st.failure_count.load(Ordering::SeqCst);
        if failures > 0 {
            p.push(format!("{failures} unexpected outcome(s), the first ones:"));
            let f = st.failures.lock().unwrap_or_else(|e| e.into_inner());
            p.extend(f.iter().map(|m| format!("  {m}")));
        }
        if get(&st.mismatches) > 0 {
            p.push(format!("{} echo mismatch(es)", get(&st.mismatches)));
        }
        // Each connection ends once on the server: a reset only where a client reset.
        let clean = get(&st.half_closes) + get(&st.closes);
        if get(&st.server_resets) > get(&st.resets) {
            p.push(format!(
                "the server saw {} resets, the clients made {}: a clean close was seen as a reset",
                get(&st.server_resets),
                get(&st.resets)
            ));
        }
        if failures == 0 && get(&st.server_eofs) < clean {
            p.push(format!(
                "the server saw {} EOFs for {clean} clean closes",
                get(&st.server_eofs)
            ));
        }
        if failures == 0 && get(&st.accepted) + get(&st.accept_aborted) != get(&st.connects) {
            p.push(format!(
                "{} connections made, {} accepted and {} aborted in the backlog",
                get(&st.connects),
                get(&st.accepted),
                get(&st.accept_aborted)
            ));
        }
        if get(&st.bytes_echoed) < get(&st.bytes_checked) {
            p.push("clients checked more bytes than the server echoed".into());
        }
        // Everything the run is meant to exercise happened.
        let exercised = [
            ("connections", get(&st.connects)),
            ("half-closes", get(&st.half_closes)),
            ("closes", get(&st.closes)),
            ("resets", get(&st.resets)),
            ("bytes checked", get(&st.bytes_checked)),
            // Each side and each direction: a loaded loop seldom lets the clients' short
            // timeouts win over the echo (a few a second on poll), so they are summed.
            (
                "read cancellations",
                get(&st.client_read_cancels) + get(&st.server_read_cancels),
            ),
            (
                "write cancellations",
                get(&st.client_write_cancels) + get(&st.server_write_cancels),
            ),
            (
                "client cancellations",
                get(&st.client_read_cancels) + get(&st.client_write_cancels),
            ),
            (
                "server cancellations",
                get(&st.server_read_cancels) + get(&st.server_write_cancels),
            ),
        ];
        for (what, n) in exercised {
            if n == 0 {
                p.push(format!("no {what} happened: the run exercised too little"));
            }
        }
        for (k, (_, name)) in SIGNALS.iter().enumerate() {
            let (sent, seen) = (get(&st.signals_sent[k]), get(&st.signals_seen[k]));
            if seen == 0 || seen > sent {
                p.push(format!("{name}: {sent} sent, {seen} handled"));
            }
        }
        for (k, name) in JOB_NAMES.iter().enumerate() {
            if get(&st.jobs[k]) == 0 {
                p.push(format!("no job {name} ran"));
            }
        }
        // Flat: the first sample after warm-up against the last.
        match self.reference {
            Some(r) if self.samples.len() >= r + 2 => {
                let (a, b) = (&self.samples[r], &self.samples[self.samples.len() - 1]);
                if b.fd_excess() - a.fd_excess() > FD_TOLERANCE {
                    p.push(format!(
                        "descriptors grew: {} beyond the connections at {:.1} s, {} at {:.1} s (tolerance {FD_TOLERANCE})",
                        a.fd_excess(),
                        a.at.as_secs_f64(),
                        b.fd_excess(),
                        b.at.as_secs_f64()
                    ));
                }
                if b.threads - a.threads > THREAD_TOLERANCE {
                    p.push(format!(
                        "threads grew: {} at {:.1} s, {} at {:.1} s (tolerance {THREAD_TOLERANCE})",
                        a.threads,
                        a.at.as_secs_f64(),
                        b.threads,
                        b.at.as_secs_f64()
                    ));
                }
                let peak = self.samples[r..]
                    .iter()
                    .map(|s| s.conns)
                    .max()
                    .unwrap_or(a.conns);
                let rss_tol = rss_tolerance(a.rss_kib, peak - a.conns);
                if b.rss_kib - a.rss_kib > rss_tol {
                    p.push(format!(
                        "RSS grew: {} KiB at {:.1} s, {} KiB at {:.1} s (tolerance {rss_tol} KiB, with {} sockets open at the peak beyond the {} at the start)",
                        a.rss_kib,
                        a.at.as_secs_f64(),
                        b.rss_kib,
                        b.at.as_secs_f64(),
                        (peak - a.conns).max(0),
                        a.conns
                    ));
                }
            }
            _ if p.is_empty() => p.push(format!(
                "fewer than two samples after the warm-up of {:?}: run longer",
                self.config.warm_up()
            )),
            _ => {}
        }
        // After the load, back to the descriptors from before it.
        if let (Some(b), Some(a)) = (&self.before, &self.after) {
            if a.fds - b.fds > END_FD_TOLERANCE {
                p.push(format!(
                    "descriptors left open: {} before the load, {} after it (tolerance {END_FD_TOLERANCE})",
                    b.fds, a.fds
                ));
            }
        }
        self.problems = p;
    }

    /// Prints the summary, the verdict and the replay command.
    pub fn print(&self) {
        let st = &self.stats;
        let g = |c: &AtomicU64| get(c);
        let c = &self.config;
        println!(
            "soak: summary: backend {}, {} connection slots, {:.1} s of load ({:.1} s in all), seed {}",
            self.backend,
            c.conns,
            c.duration.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            c.seed
        );
        println!(
            "  connections:   {} made, {} accepted ({} aborted in the backlog); longest session {:.1} ms, last one done {:.1} ms after the load",
            g(&st.connects),
            g(&st.accepted),
            g(&st.accept_aborted),
            g(&st.longest_session_us) as f64 / 1e3,
            self.wind_down.as_secs_f64() * 1e3
        );
        println!(
            "  longest:       {}",
            st.longest_session.lock().unwrap_or_else(|e| e.into_inner())
        );
        println!(
            "  sessions:      {} half-closes, {} closes, {} resets (SO_LINGER 0); the server saw {} EOFs, {} resets",
            g(&st.half_closes),
            g(&st.closes),
            g(&st.resets),
            g(&st.server_eofs),
            g(&st.server_resets)
        );
        println!(
            "  bytes:         {} written by clients, {} echoed by the server, {} checked byte for byte ({} mismatches)",
            g(&st.bytes_sent),
            g(&st.bytes_echoed),
            g(&st.bytes_checked),
            g(&st.mismatches)
        );
        println!(
            "  cancellations: client reads {}, client writes {}, server reads {} (pick), server writes {} (with_timeout)",
            g(&st.client_read_cancels),
            g(&st.client_write_cancels),
            g(&st.server_read_cancels),
            g(&st.server_write_cancels)
        );
        let sigs: Vec<String> = SIGNALS
            .iter()
            .enumerate()
            .map(|(k, (_, n))| {
                format!(
                    "{n} {} sent, {} handled",
                    g(&st.signals_sent[k]),
                    g(&st.signals_seen[k])
                )
            })
            .collect();
        println!("  signals:       {}", sigs.join("; "));
        let jobs: Vec<String> = JOB_NAMES
            .iter()
            .enumerate()
            .map(|(k, n)| format!("{n} {}", g(&st.jobs[k])))
            .collect();
        println!(
            "  jobs:          {}; switch hand-offs {}",
            jobs.join(", "),
            self.hand_offs
        );
        let ops: u64 = g(&st.connects)
            + JOB_NAMES
                .iter()
                .enumerate()
                .map(|(k, _)| g(&st.jobs[k]))
                .sum::<u64>()
            + SIGNALS
                .iter()
                .enumerate()
                .map(|(k, _)| g(&st.signals_seen[k]))
                .sum::<u64>();
        println!("  operations:    {ops} (connections + jobs + signals handled)");
        println!(
            "  samples:       {} every {:?}, warm-up {:?}; tolerances: descriptors +{FD_TOLERANCE} beyond the open connections ({END_FD_TOLERANCE} after the load), threads +{THREAD_TOLERANCE}, RSS +max({} MiB, {:.0}%) + {RSS_PER_EXTRA_SOCKET_KIB} KiB per socket open at the peak beyond the first sample's",
            self.samples.len(),
            c.sample_every(),
            c.warm_up(),
            RSS_TOLERANCE_KIB / 1024,
            RSS_TOLERANCE_FRACTION * 100.0
        );
        let show = |what: &str, s: &Sample| {
            println!(
                "    {what:<22} t {:>6.1} s  fds {:>5} (conns {:>4}, excess {:>3})  threads {:>3}  RSS {:>7.1} MiB",
                s.at.as_secs_f64(),
                s.fds,
                s.conns,
                s.fd_excess(),
                s.threads,
                s.rss_kib as f64 / 1024.0
            )
        };
        if let Some(b) = &self.before {
            show("before the load", b);
        }
        if let Some(r) = self.reference {
            show("first after warm-up", &self.samples[r]);
            let post = &self.samples[r..];
            let range = |f: fn(&Sample) -> i64| {
                let v = post.iter().map(f);
                (v.clone().min().unwrap_or(0), v.max().unwrap_or(0))
            };
            let (fe, th, rss) = (
                range(Sample::fd_excess),
                range(|s| s.threads),
                range(|s| s.rss_kib),
            );
            println!(
                "    {:<22} fd excess {}..{}, threads {}..{}, RSS {:.1}..{:.1} MiB",
                "range after warm-up",
                fe.0,
                fe.1,
                th.0,
                th.1,
                rss.0 as f64 / 1024.0,
                rss.1 as f64 / 1024.0
            );
        }
        if let Some(last) = self.samples.last() {
            show("last under load", last);
        }
        if let Some(a) = &self.after {
            show("after the load", a);
        }
        if self.passed() {
            println!("soak: PASS");
        } else {
            println!("soak: FAIL:");
            for p in &self.problems {
                println!("  {p}");
            }
        }
        println!("soak: replay: {}", self.replay_command());
    }
}

fn rss_tolerance(first_kib: i64, extra_sockets: i64) -> i64 {
    RSS_TOLERANCE_KIB.max((first_kib as f64 * RSS_TOLERANCE_FRACTION) as i64)
        + extra_sockets.max(0) * RSS_PER_EXTRA_SOCKET_KIB
}
