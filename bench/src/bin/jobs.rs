//! Jobs benchmark: a trivial job's round trip and 100 000 `stat` calls of a cached file, under
//! lwt's async methods none, detach and switch, side by side with tokio's `spawn_blocking`
//! (current-thread runtime) and smol's `blocking::unblock`.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml --bin jobs`
//! (`JOBS_BENCH_N=20000` for a shorter run; unset, `BENCH_SCALE` scales the default 100 000).
//! The contenders take turns, one round each, for `JOBS_BENCH_ROUNDS` (5) rounds, so a busy
//! spell of the machine hits them alike; each figure is a contender's best and median round. `JOBS_BENCH_VERBOSE=1` prints every round.
//!
//! Each round is timed twice: wall time per call, and the process's CPU time per call (every
//! thread: the loop, the workers, the runtime's helpers). Wall time alone flatters whoever
//! spins: lwt's detach spins on both sides (see bench/README.md), so its CPU figure is the
//! honest cost.
//!
//! Besides the tables it writes `bench/plots/jobs-round-trip.svg`: both figures of every
//! contender, on a logarithmic time axis (see bench/README.md).

use lwt::unix::{run_job, AsyncMethod};
use lwt_bench::plot;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lwt_rt() -> lwt::Runtime {
    lwt::Builder::new().build().expect("lwt runtime")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn stat(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The CPU time used so far by every thread of the process.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; the clock id is a constant the OS defines.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU time of a round.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

/// Times `f`: wall clock and process CPU time.
fn timed(f: impl FnOnce()) -> Took {
    let (t, c) = (Instant::now(), cpu_now());
    f();
    Took {
        wall: t.elapsed(),
        cpu: cpu_now() - c,
    }
}

/// One contender: runs `n` calls and says how long they took.
type Round = Box<dyn FnMut(usize) -> Took>;

fn lwt_round(m: AsyncMethod, path: Option<PathBuf>) -> Round {
    let rt = lwt_rt();
    Box::new(move |n| {
        timed(|| {
            rt.block_on(async {
                match &path {
                    None => {
                        for i in 0..n {
                            black_box(run_job(Some(m), move || black_box(i)).await.unwrap());
                        }
                    }
                    Some(p) => {
                        for _ in 0..n {
                            let p = p.clone();
                            black_box(run_job(Some(m), move || stat(&p)).await.unwrap());
                        }
                    }
                }
            })
        })
    })
}

fn tokio_round(path: Option<PathBuf>) -> Round {
    let rt = tokio_rt();
    Box::new(move |n| {
        timed(|| {
            rt.block_on(async {
                match &path {
                    None => {
                        for i in 0..n {
                            let r = tokio::task::spawn_blocking(move || black_box(i)).await;
                            black_box(r.unwrap());
                        }
                    }
                    Some(p) => {
                        for _ in 0..n {
                            let p = p.clone();
                            let r = tokio::task::spawn_blocking(move || stat(&p)).await;
                            black_box(r.unwrap());
                        }
                    }
                }
            })
        })
    })
}

fn smol_round(path: Option<PathBuf>) -> Round {
    Box::new(move |n| {
        timed(|| {
            smol::block_on(async {
                match &path {
                    None => {
                        for i in 0..n {
                            black_box(blocking::unblock(move || black_box(i)).await);
                        }
                    }
                    Some(p) => {
                        for _ in 0..n {
                            let p = p.clone();
                            black_box(blocking::unblock(move || stat(&p)).await);
                        }
                    }
                }
            })
        })
    })
}

fn plain_round(path: PathBuf) -> Round {
    Box::new(move |n| {
        timed(|| {
            for _ in 0..n {
                black_box(stat(&path));
            }
        })
    })
}

/// A contender's ns per call: its best round and its median round (wall), and its median
/// round's CPU time (all threads).
#[derive(Clone, Copy)]
struct Figure {
    best: f64,
    median: f64,
    cpu: f64,
}

/// Runs the contenders in turn, `rounds` times; returns each one's figure.
fn measure(
    title: &str,
    contenders: Vec<(&'static str, Round)>,
    n: usize,
) -> Vec<(&'static str, Figure)> {
    let rounds = env_usize("JOBS_BENCH_ROUNDS", 5);
    let verbose = std::env::var_os("JOBS_BENCH_VERBOSE").is_some();
    let mut contenders: Vec<_> = contenders
        .into_iter()
        .map(|(name, f)| (name, f, Vec::with_capacity(rounds)))
        .collect();
    // One short warm-up each: threads started, caches and pools warm.
    for (_, f, _) in contenders.iter_mut() {
        f(n / 20 + 1);
    }
    let steals = lwt::core::switch::steals();
    for _ in 0..rounds {
        for (_, f, all) in contenders.iter_mut() {
            let took = f(n);
            all.push((
                took.wall.as_nanos() as f64 / n as f64,
                took.cpu.as_nanos() as f64 / n as f64,
            ));
        }
    }
    println!("\n{title}");
    if verbose {
        for (name, _, all) in &contenders {
            println!("    {name}: every round (wall, cpu ns/call) {all:.0?}");
        }
    }
    println!(
        "    (switch calls handed off to a stand-in meanwhile: {})",
        lwt::core::switch::steals() - steals
    );
    contenders
        .into_iter()
        .map(|(name, _, mut all)| {
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut cpu: Vec<f64> = all.iter().map(|r| r.1).collect();
            cpu.sort_by(f64::total_cmp);
            let fig = Figure {
                best: all[0].0,
                median: all[all.len() / 2].0,
                cpu: cpu[cpu.len() / 2],
            };
            (name, fig)
        })
        .collect()
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:8.2} us", ns / 1000.0)
    } else {
        format!("{:8.1} ns", ns)
    }
}

fn get(rows: &[(&str, Figure)], name: &str) -> Figure {
    let missing = Figure {
        best: f64::NAN,
        median: f64::NAN,
        cpu: f64::NAN,
    };
    rows.iter()
        .find(|(n, _)| *n == name)
        .map_or(missing, |r| r.1)
}

fn table(rows: &[(&str, Figure)]) {
    let (tokio, smol, none) = (
        get(rows, "tokio spawn_blocking"),
        get(rows, "smol blocking::unblock"),
        get(rows, "lwt none"),
    );
    println!(
        "  {:<24} {:>11} {:>11} {:>11}   {:>15} {:>15} {:>15} {:>10}",
        "",
        "wall best",
        "wall median",
        "cpu median",
        "/tokio b|m",
        "/smol b|m",
        "/none b|m",
        "cpu/tokio"
    );
    for (name, f) in rows {
        println!(
            "  {:<24} {} {} {}   {:>6.3}x|{:>6.3}x {:>6.3}x|{:>6.3}x {:>6.2}x|{:>6.2}x {:>9.3}x",
            name,
            fmt(f.best),
            fmt(f.median),
            fmt(f.cpu),
            f.best / tokio.best,
            f.median / tokio.median,
            f.best / smol.best,
            f.median / smol.median,
            f.best / none.best,
            f.median / none.median,
            f.cpu / tokio.cpu,
        );
    }
}

/// Writes `jobs-round-trip.svg`: each contender's median wall and CPU time per call, for the
/// trivial job and for the `stat`.
fn jobs_plot(n: usize, panels: [(&str, &[(&str, Figure)]); 2], load: (Option<f64>, Option<f64>)) {
    let Some(path) = lwt_bench::plot_path("jobs-round-trip.svg") else {
        return;
    };
    let rounds = env_usize("JOBS_BENCH_ROUNDS", 5);
    let notes = [
        format!(
            "{} · {} · {}",
            lwt_bench::utc_now(),
            lwt_bench::machine(),
            lwt_bench::load_note(load.0, load.1)
        ),
        format!(
            "{n} calls in a row per round, awaited one at a time from the loop's thread; median \
             of {rounds} interleaved rounds"
        ),
        "wall: elapsed per call · CPU: every thread of the process per call (loop, workers, \
         helpers)"
            .into(),
        "lwt detach spins after each job (worker 50 µs, awaiting task 20 µs): wall bought \
         with CPU"
            .into(),
    ];
    let panels: Vec<plot::Panel> = panels
        .iter()
        .map(|(caption, rows)| plot::Panel {
            caption: caption.to_string(),
            bars: rows
                .iter()
                .map(|(name, f)| plot::Bar {
                    label: name.to_string(),
                    values: vec![Some(f.median), Some(f.cpu)],
                })
                .collect(),
        })
        .collect();
    let frame = plot::Frame {
        title: "Job round trip by async method: time per call (log scale)",
        notes: &notes,
        x_desc: "time per call (log scale)",
        y_desc: "",
    };
    let measures = [("wall (median)", 0x1f77b4), ("CPU, all threads", 0xff7f0e)];
    match plot::bars_log_ns(&path, &frame, "per call", &measures, &panels) {
        Ok(()) => println!("\nplot: {}", path.display()),
        Err(e) => eprintln!("plot {}: {e}", path.display()),
    }
}

fn main() {
    let t0 = Instant::now();
    let load0 = lwt_bench::load_average();
    let n = env_usize(
        "JOBS_BENCH_N",
        ((100_000.0 * lwt_bench::scale()) as usize).max(100),
    );
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "jobs benchmark: {n} calls per round, best of {} interleaved rounds, {cpus} CPUs",
        env_usize("JOBS_BENCH_ROUNDS", 5)
    );

    let trivial = measure(
        "trivial job round trip",
        vec![
            ("lwt none", lwt_round(AsyncMethod::None, None)),
            ("lwt detach", lwt_round(AsyncMethod::Detach, None)),
            ("lwt switch", lwt_round(AsyncMethod::Switch, None)),
            ("tokio spawn_blocking", tokio_round(None)),
            ("smol blocking::unblock", smol_round(None)),
        ],
        n,
    );
    table(&trivial);

    let path = std::env::current_exe().expect("own path");
    let p = || Some(path.clone());
    let stats = measure(
        &format!("stat of a cached file ({})", path.display()),
        vec![
            ("plain std::fs::metadata", plain_round(path.clone())),
            ("lwt none", lwt_round(AsyncMethod::None, p())),
            ("lwt detach", lwt_round(AsyncMethod::Detach, p())),
            ("lwt switch", lwt_round(AsyncMethod::Switch, p())),
            ("tokio spawn_blocking", tokio_round(p())),
            ("smol blocking::unblock", smol_round(p())),
        ],
        n,
    );
    table(&stats);

    println!("\ntargets:");
    let check = |what: &str, (b, m): (f64, f64), limit: f64| {
        let verdict = |v: f64| if v <= limit { "met" } else { "NOT met" };
        println!(
            "  {what}: best {b:.3}x ({}), median {m:.3}x ({}) (target <= {limit}x)",
            verdict(b),
            verdict(m)
        )
    };
    let ratio = |rows: &[(&str, Figure)], a: &str, b: &str| {
        let (a, b) = (get(rows, a), get(rows, b));
        (a.best / b.best, a.median / b.median)
    };
    check(
        "detach / tokio, trivial job",
        ratio(&trivial, "lwt detach", "tokio spawn_blocking"),
        0.3,
    );
    check(
        "detach / tokio, stat",
        ratio(&stats, "lwt detach", "tokio spawn_blocking"),
        0.3,
    );
    let cpu = |rows: &[(&str, Figure)], a: &str, b: &str| get(rows, a).cpu / get(rows, b).cpu;
    println!(
        "  CPU time per call (every thread), detach / tokio: trivial {:.3}x, stat {:.3}x (no target: \
         shows what the spinning costs)",
        cpu(&trivial, "lwt detach", "tokio spawn_blocking"),
        cpu(&stats, "lwt detach", "tokio spawn_blocking")
    );
    let stat_caption = "stat of a cached file (std::fs::metadata of the bench binary)";
    check(
        "switch / none, trivial job",
        ratio(&trivial, "lwt switch", "lwt none"),
        2.0,
    );
    check(
        "switch / none, stat",
        ratio(&stats, "lwt switch", "lwt none"),
        2.0,
    );
    jobs_plot(
        n,
        [
            ("trivial job (returns its argument)", &trivial),
            (stat_caption, &stats),
        ],
        (load0, lwt_bench::load_average()),
    );
    println!("\ntotal run time {:.1} s", t0.elapsed().as_secs_f64());
}
