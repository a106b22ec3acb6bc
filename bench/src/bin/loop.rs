//! The loop benchmark of issue 2: lwt side by side with tokio (current-thread runtime), smol
//! (an `async-executor` `LocalExecutor` driven by `smol::block_on`, i.e. async-io's reactor)
//! and, for the echo server, a hand-written edge-triggered epoll loop.
//!
//! Run it with `cargo run --release --manifest-path bench/Cargo.toml --bin loop`.
//! `BENCH_SCALE=0.2` shortens every measurement (for a quick look); `LWT_BACKEND` picks lwt's
//! backend as usual. Every figure is measured in this run; nothing is hard-coded but the
//! targets of the issue.

#[path = "../echo.rs"]
mod echo;

use echo::{clock_ns, echo, lwt_runtime, median, tokio_runtime, Peer, REPS};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long the timers of the "timer armed then cancelled" benchmark are armed for.
const TIMER: Duration = Duration::from_secs(1);

fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

fn scaled(n: usize) -> usize {
    ((n as f64 * scale()) as usize).max(1)
}

/// Whether `BENCH_ONLY` (a comma-separated list of substrings of benchmark names, e.g.
/// `echo` or `yield,timer`) lets benchmark `name` run; unset runs everything.
fn selected(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(v) if !v.is_empty() => v.split(',').any(|w| name.contains(w.trim())),
        _ => true,
    }
}

/// Whether `BENCH_PEERS` (e.g. `lwt,epoll`) lets `peer` run; unset runs every peer.
fn peer_selected(peer: &str) -> bool {
    match std::env::var("BENCH_PEERS") {
        Ok(v) if !v.is_empty() => v.split(',').any(|w| w.trim() == peer),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Micro benchmarks: spawn+join, yield, timer armed then cancelled.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Micro {
    SpawnJoin,
    Yield,
    Timer,
}

impl Micro {
    fn iters(self) -> usize {
        scaled(match self {
            Micro::SpawnJoin => 400_000,
            Micro::Yield => 600_000,
            Micro::Timer => 600_000,
        })
    }
}

/// Polls `fut` exactly once with the caller's context (so a timer registers itself), then
/// drops it (so the timer is cancelled).
async fn poll_once_then_drop<F: Future>(fut: F) {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// Runs a tenth of `iters` operations as a warm-up, then `iters` timed ones; returns the
/// process CPU time per operation (ns). CPU time, not wall time: the machine is shared, and
/// time spent preempted by other processes is not the runtime's cost.
macro_rules! micro_loop {
    ($kind:expr, $iters:expr, $spawn_join:expr, $yield_:expr, $timer:expr) => {{
        let mut t0 = 0;
        for batch in 0..2 {
            let iters = if batch == 0 { $iters / 10 } else { $iters };
            if batch == 1 {
                t0 = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
            }
            for _ in 0..iters {
                match $kind {
                    Micro::SpawnJoin => $spawn_join,
                    Micro::Yield => $yield_,
                    Micro::Timer => poll_once_then_drop($timer).await,
                }
            }
        }
        (clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - t0) as f64 / $iters as f64
    }};
}

/// A peer's name and its micro benchmark runner.
type MicroRunner = (&'static str, fn(Micro) -> f64);

fn micro_lwt(kind: Micro) -> f64 {
    let iters = kind.iters();
    let rt = lwt_runtime();
    rt.block_on(async move {
        // The loop runs in a spawned task, as it does for every peer.
        lwt::spawn(async move {
            micro_loop!(
                kind,
                iters,
                lwt::spawn(async {}).await.unwrap(),
                lwt::yield_now().await,
                lwt::sleep(TIMER)
            )
        })
        .await
        .unwrap()
    })
}

fn micro_tokio(kind: Micro) -> f64 {
    let iters = kind.iters();
    let rt = tokio_runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            micro_loop!(
                kind,
                iters,
                tokio::spawn(async {}).await.unwrap(),
                tokio::task::yield_now().await,
                tokio::time::sleep(TIMER)
            )
        })
        .await
        .unwrap()
    })
}

fn micro_smol(kind: Micro) -> f64 {
    let iters = kind.iters();
    // The outer task spawns on the executor, so it holds a reference-counted handle to it.
    let ex = std::rc::Rc::new(smol::LocalExecutor::new());
    let inner = ex.clone();
    smol::block_on(ex.run(async move {
        let ex = inner.clone();
        inner
            .spawn(async move {
                micro_loop!(
                    kind,
                    iters,
                    ex.spawn(async {}).await,
                    futures_lite::future::yield_now().await,
                    async_io::Timer::after(TIMER)
                )
            })
            .await
    }))
}

// ---------------------------------------------------------------------------------------------
// Report.

const PEERS: [Peer; 4] = [Peer::Lwt, Peer::Tokio, Peer::Smol, Peer::Epoll];

/// One line of the table: a figure per peer (`None`: not applicable).
struct Row {
    name: String,
    unit: &'static str,
    /// Whether a larger figure is better (rates) or worse (costs).
    higher_is_better: bool,
    figures: [Option<f64>; 4],
}

impl Row {
    fn get(&self, p: Peer) -> Option<f64> {
        self.figures[PEERS.iter().position(|q| *q == p).unwrap()]
    }
    /// lwt's figure over `peer`'s.
    fn ratio(&self, peer: Peer) -> Option<f64> {
        Some(self.get(Peer::Lwt)? / self.get(peer)?)
    }
}

/// A target of the issue: lwt's figure over `peer`'s figure on row `row` at most `max`.
struct Target {
    row: String,
    peer: Peer,
    max: f64,
}

fn fmt_fig(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 100_000.0 => format!("{:.0}", v),
        Some(v) if v >= 100.0 => format!("{:.0}", v),
        Some(v) => format!("{:.2}", v),
    }
}

fn print_table(rows: &[Row], targets: &[Target]) {
    println!();
    println!(
        "{:<34} {:>8} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9}",
        "benchmark", "unit", "lwt", "tokio", "smol", "epoll", "lwt/tokio", "lwt/smol", "lwt/epoll"
    );
    println!("{}", "-".repeat(34 + 9 + 4 * 10 + 3 + 3 * 10));
    for r in rows {
        let ratio = |p: Peer| match r.ratio(p) {
            None => "-".to_string(),
            Some(x) => {
                let mark = targets
                    .iter()
                    .find(|t| t.row == r.name && t.peer == p)
                    .map(|t| if x <= t.max { "*" } else { "!" })
                    .unwrap_or(" ");
                format!("{x:.2}{mark}")
            }
        };
        println!(
            "{:<34} {:>8} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9}",
            r.name,
            r.unit,
            fmt_fig(r.get(Peer::Lwt)),
            fmt_fig(r.get(Peer::Tokio)),
            fmt_fig(r.get(Peer::Smol)),
            fmt_fig(r.get(Peer::Epoll)),
            ratio(Peer::Tokio),
            ratio(Peer::Smol),
            ratio(Peer::Epoll),
        );
    }
    println!(
        "ratios are lwt / peer: below 1 means lwt is cheaper on cost rows (ns, µs), slower on \
         rate rows (rt/s).\n* = issue target met, ! = target missed (see below)."
    );
    println!();
    println!("targets (issue 2; echo: issue 10):");
    let (mut met, mut evaluated) = (0, 0);
    for t in targets {
        let Some(row) = rows.iter().find(|r| r.name == t.row) else {
            continue;
        };
        assert!(!row.higher_is_better, "targets are on cost rows");
        match row.ratio(t.peer) {
            Some(x) => {
                let ok = x <= t.max;
                met += ok as usize;
                evaluated += 1;
                println!(
                    "  {:<34} lwt/{:<5} = {:>6.3}   target <= {:.2}   {}",
                    t.row,
                    t.peer.name(),
                    x,
                    t.max,
                    if ok { "met" } else { "MISSED" }
                );
            }
            None => println!("  {:<34} lwt/{:<5}: no figure", t.row, t.peer.name()),
        }
    }
    println!("  {met} of {evaluated} targets met");
}

fn main() {
    let t0 = Instant::now();
    let backend = lwt_runtime().backend_name();
    println!(
        "lwt loop benchmark: lwt ({backend} backend) vs tokio (current_thread runtime) vs smol \
         (LocalExecutor in smol::block_on) vs a raw edge-triggered epoll loop"
    );
    println!(
        "median of {REPS} timed repetitions after a warm-up; BENCH_SCALE={}",
        scale()
    );
    if let Ok(cpu) = std::env::var("BENCH_PIN") {
        println!("BENCH_PIN={cpu}: echo client and servers pinned to that CPU");
    }
    if std::env::var_os("LWT_BENCH_RECV").is_some() {
        println!("LWT_BENCH_RECV is set: lwt's echo server uses recv/send, not read/write");
    }
    let mut rows = Vec::new();

    for (kind, name) in [
        (Micro::SpawnJoin, "spawn+join"),
        (Micro::Yield, "yield"),
        (Micro::Timer, "timer armed+cancelled"),
    ] {
        if !selected(name) {
            continue;
        }
        eprint!("{name} ...");
        let runners: [MicroRunner; 3] = [
            ("lwt", micro_lwt),
            ("tokio", micro_tokio),
            ("smol", micro_smol),
        ];
        let mut samples = vec![Vec::new(); 3];
        // Round-robin over the peers, so a burst of load elsewhere hits every peer alike.
        for _ in 0..REPS {
            for (i, (peer, run)) in runners.iter().enumerate() {
                if peer_selected(peer) {
                    samples[i].push(run(kind));
                }
            }
        }
        eprintln!();
        let mut figures = [None; 4];
        for (i, v) in samples.into_iter().enumerate() {
            if !v.is_empty() {
                figures[i] = Some(median(v));
            }
        }
        rows.push(Row {
            name: name.into(),
            unit: "ns/op",
            higher_is_better: false,
            figures,
        });
    }

    for (n, rounds) in [(1usize, scaled(30_000)), (50, scaled(2_000))] {
        if !selected(&format!("echo-{n}conn")) {
            continue;
        }
        let mut cpu = [None; 4];
        let mut all = [None; 4];
        let mut rate = [None; 4];
        eprintln!("echo, {n} connection(s) ...");
        let peers: Vec<Peer> = PEERS
            .iter()
            .copied()
            .filter(|p| peer_selected(p.name()))
            .collect();
        for (p, s) in peers.iter().zip(echo(&peers, n, rounds)) {
            let i = PEERS.iter().position(|q| q == p).unwrap();
            cpu[i] = Some(median(s.iter().map(|s| s.cpu_ns / 1000.0).collect()));
            all[i] = Some(median(s.iter().map(|s| s.all_cpu_ns / 1000.0).collect()));
            rate[i] = Some(median(s.iter().map(|s| s.rt_per_s).collect()));
        }
        rows.push(Row {
            name: format!("echo {n} conn: server CPU/rt"),
            unit: "µs",
            higher_is_better: false,
            figures: cpu,
        });
        rows.push(Row {
            name: format!("echo {n} conn: non-client CPU/rt"),
            unit: "µs",
            higher_is_better: false,
            figures: all,
        });
        rows.push(Row {
            name: format!("echo {n} conn: round trips"),
            unit: "rt/s",
            higher_is_better: true,
            figures: rate,
        });
    }

    let mut targets = vec![
        Target {
            row: "timer armed+cancelled".into(),
            peer: Peer::Tokio,
            max: 0.5,
        },
        Target {
            row: "yield".into(),
            peer: Peer::Tokio,
            max: 1.0,
        },
        Target {
            row: "spawn+join".into(),
            peer: Peer::Smol,
            max: 1.0,
        },
    ];
    for n in [1, 50] {
        targets.push(Target {
            row: format!("echo {n} conn: server CPU/rt"),
            peer: Peer::Tokio,
            max: 1.0,
        });
        // Issue 10 tightened this from 1.1 (issue 2) to 1.05.
        targets.push(Target {
            row: format!("echo {n} conn: server CPU/rt"),
            peer: Peer::Epoll,
            max: 1.05,
        });
    }
    print_table(&rows, &targets);
    println!("\ntotal run time {:.1} s", t0.elapsed().as_secs_f64());
}
