//! Jobs benchmark: a trivial job's round trip and 100 000 `stat` calls of a cached file, under
//! lwt's async methods none, detach and switch, side by side with tokio's `spawn_blocking`
//! (current-thread runtime) and smol's `blocking::unblock`.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml --bin jobs`
//! (`JOBS_BENCH_N=20000` for a shorter run). Each figure is the best of `JOBS_BENCH_ROUNDS` (5) rounds;
//! `JOBS_BENCH_VERBOSE=1` prints every round.

use lwt::unix::{run_job, AsyncMethod};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

fn rounds() -> usize {
    std::env::var("JOBS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn best(mut f: impl FnMut() -> Duration, n: usize) -> f64 {
    let mut all: Vec<f64> = (0..rounds())
        .map(|_| f().as_nanos() as f64 / n as f64)
        .collect();
    all.sort_by(f64::total_cmp);
    if std::env::var_os("JOBS_BENCH_VERBOSE").is_some() {
        eprintln!("    rounds (ns/call): {all:.0?}");
    }
    all[0]
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

/// Prints how many switch calls were handed off while a figure was measured.
struct Steals(u64, AsyncMethod);
impl Drop for Steals {
    fn drop(&mut self) {
        if self.1 == AsyncMethod::Switch {
            println!(
                "    (switch: {} calls handed off to a stand-in meanwhile)",
                lwt::core::switch::steals() - self.0
            );
        }
    }
}

fn lwt_trivial(m: AsyncMethod, n: usize) -> f64 {
    let rt = lwt_rt();
    let _report = Steals(lwt::core::switch::steals(), m);
    best(
        || {
            rt.block_on(async {
                let t = Instant::now();
                for i in 0..n {
                    black_box(run_job(Some(m), move || black_box(i)).await.unwrap());
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn tokio_trivial(n: usize) -> f64 {
    let rt = tokio_rt();
    best(
        || {
            rt.block_on(async {
                let t = Instant::now();
                for i in 0..n {
                    black_box(
                        tokio::task::spawn_blocking(move || black_box(i))
                            .await
                            .unwrap(),
                    );
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn smol_trivial(n: usize) -> f64 {
    best(
        || {
            smol::block_on(async {
                let t = Instant::now();
                for i in 0..n {
                    black_box(blocking::unblock(move || black_box(i)).await);
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn stat(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn inline_stat(p: &Path, n: usize) -> f64 {
    best(
        || {
            let t = Instant::now();
            for _ in 0..n {
                black_box(stat(p));
            }
            t.elapsed()
        },
        n,
    )
}

fn lwt_stat(m: AsyncMethod, p: &Path, n: usize) -> f64 {
    let rt = lwt_rt();
    let steals = lwt::core::switch::steals();
    let _report = Steals(steals, m);
    best(
        || {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    let p = p.to_path_buf();
                    black_box(run_job(Some(m), move || stat(&p)).await.unwrap());
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn tokio_stat(p: &Path, n: usize) -> f64 {
    let rt = tokio_rt();
    best(
        || {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    let p = p.to_path_buf();
                    black_box(tokio::task::spawn_blocking(move || stat(&p)).await.unwrap());
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn smol_stat(p: &Path, n: usize) -> f64 {
    best(
        || {
            smol::block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    let p = p.to_path_buf();
                    black_box(blocking::unblock(move || stat(&p)).await);
                }
                t.elapsed()
            })
        },
        n,
    )
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:8.2} us", ns / 1000.0)
    } else {
        format!("{:8.1} ns", ns)
    }
}

fn table(title: &str, rows: &[(&str, f64)], tokio: f64, smol: f64, none: f64) {
    println!("\n{title}");
    println!(
        "  {:<26} {:>11}   {:>9} {:>9} {:>9}",
        "", "per call", "/tokio", "/smol", "/none"
    );
    for (name, ns) in rows {
        println!(
            "  {:<26} {}   {:>8.3}x {:>8.3}x {:>8.2}x",
            name,
            fmt(*ns),
            ns / tokio,
            ns / smol,
            ns / none
        );
    }
}

fn main() {
    let n: usize = std::env::var("JOBS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "jobs benchmark: {n} calls per figure, best of {} rounds, {cpus} CPUs",
        rounds()
    );

    // A trivial job's round trip.
    let none = lwt_trivial(AsyncMethod::None, n);
    let detach = lwt_trivial(AsyncMethod::Detach, n);
    let switch = lwt_trivial(AsyncMethod::Switch, n);
    let tokio = tokio_trivial(n);
    let smol = smol_trivial(n);
    table(
        "trivial job round trip",
        &[
            ("lwt none", none),
            ("lwt detach", detach),
            ("lwt switch", switch),
            ("tokio spawn_blocking", tokio),
            ("smol blocking::unblock", smol),
        ],
        tokio,
        smol,
        none,
    );

    // stat of a cached file.
    let path = std::env::current_exe().expect("own path");
    let inline = inline_stat(&path, n);
    let s_none = lwt_stat(AsyncMethod::None, &path, n);
    let s_detach = lwt_stat(AsyncMethod::Detach, &path, n);
    let s_switch = lwt_stat(AsyncMethod::Switch, &path, n);
    let s_tokio = tokio_stat(&path, n);
    let s_smol = smol_stat(&path, n);
    table(
        &format!("{n} x stat of a cached file ({})", path.display()),
        &[
            ("plain std::fs::metadata", inline),
            ("lwt none", s_none),
            ("lwt detach", s_detach),
            ("lwt switch", s_switch),
            ("tokio spawn_blocking", s_tokio),
            ("smol blocking::unblock", s_smol),
        ],
        s_tokio,
        s_smol,
        s_none,
    );

    println!("\ntargets:");
    let check = |what: &str, v: f64, limit: f64| {
        println!(
            "  {what}: {v:.3}x (target <= {limit}x) {}",
            if v <= limit { "met" } else { "NOT met" }
        )
    };
    check("detach / tokio, trivial job", detach / tokio, 0.3);
    check("switch / none, trivial job", switch / none, 2.0);
    check("switch / none, stat", s_switch / s_none, 2.0);
    check("detach / tokio, stat", s_detach / s_tokio, 0.3);
}
