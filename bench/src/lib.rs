//! What the bench binaries share: the TCP echo benchmark of `--bin loop` and `--bin uring`
//! ([`echo`]); the settings every binary reads the same way (`BENCH_SCALE`, `BENCH_ONLY`,
//! `BENCH_TIMEOUT`); the note that dates a run and names the machine it ran on, where plots
//! go, and the SVG plots themselves ([`plot`]).

pub mod echo;
pub mod plot;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The whole run's bound when `BENCH_TIMEOUT` (seconds) is unset: past it the run stops.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(1800);

/// `BENCH_SCALE`, the factor on every iteration count (1 when unset or not above 0).
pub fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

/// `n` times [`scale`], at least 1.
pub fn scaled(n: usize) -> usize {
    ((n as f64 * scale()) as usize).max(1)
}

/// Whether `BENCH_ONLY` (a comma-separated list of substrings of benchmark names, e.g.
/// `echo` or `yield,timer`) lets benchmark `name` run; unset runs everything.
pub fn selected(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(v) if !v.is_empty() => v.split(',').any(|w| name.contains(w.trim())),
        _ => true,
    }
}

/// Prints `msg`, after the binary's name, and ends the run with status 2: a setting this run
/// cannot honour, or a run that outlasted its bound.
pub fn fail(msg: &str) -> ! {
    let bin = std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "lwt-bench".into());
    eprintln!("{bin}: {msg}");
    std::process::exit(2)
}

/// Ends the process when the run outlasts `BENCH_TIMEOUT` seconds ([`RUN_TIMEOUT`] when
/// unset): every loop of a run is bounded in count, and this bounds it in time, so a stuck
/// server or a machine far slower than expected cannot hold a `bench/run` forever.
pub fn watchdog() {
    let limit = std::env::var("BENCH_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(RUN_TIMEOUT, Duration::from_secs_f64);
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            fail(&format!(
                "the run took longer than {limit:?} (BENCH_TIMEOUT): stopped"
            ));
        })
        .expect("the watchdog thread");
}

/// The current UTC date and time, `2026-12-01 18:55 UTC` (no date crate: the civil date from
/// the days since the epoch, after H. Hinnant's `civil_from_days`).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The machine in a few words: CPU model, CPU count, kernel (`AMD EPYC, 2 CPUs, Linux 6.18`).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    format!("{cpu}, {cpus} CPUs, {kernel}")
}

/// The one-minute load average (`/proc/loadavg`), if the OS tells it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `load average 1.02 at start, 1.10 at end` (or that it is unknown).
pub fn load_note(start: Option<f64>, end: Option<f64>) -> String {
    match (start, end) {
        (Some(a), Some(b)) => format!("load average {a:.2} at start, {b:.2} at end"),
        _ => "load average unknown".into(),
    }
}

/// Where the plots go: `BENCH_PLOTS` unset or empty: `bench/plots/` (this crate's `plots/`);
/// `BENCH_PLOTS=off` (or `0`, `none`): nowhere; anything else: that directory.
pub fn plot_dir() -> Option<PathBuf> {
    match std::env::var("BENCH_PLOTS") {
        Ok(v) if matches!(v.trim(), "off" | "0" | "none") => None,
        Ok(v) if !v.trim().is_empty() => Some(PathBuf::from(v.trim())),
        _ => Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/plots"))),
    }
}

/// The path of plot `file` in [`plot_dir`], the directory created; `None` when plots are off.
pub fn plot_path(file: &str) -> Option<PathBuf> {
    let dir = plot_dir()?;
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create plot directory {}: {e}", dir.display());
        return None;
    }
    Some(dir.join(file))
}

/// Reads the file at `path` to its end through `lwt::unix` in `chunk`-byte reads (opened and
/// closed with `openfile`/`close`), on the runtime this future runs on; how many bytes.
pub async fn lwt_read_all(path: &std::path::Path, chunk: usize) -> usize {
    use lwt::unix::{close, openfile, OpenFlags};
    let fd = openfile(path, OpenFlags::RDONLY, 0).await.unwrap();
    let total = lwt_read_to_end(&fd, chunk).await;
    close(&fd).await.unwrap();
    total
}

/// Reads `fd` to its end through `lwt::unix::read` in `chunk`-byte reads; how many bytes.
pub async fn lwt_read_to_end(fd: &lwt::unix::FileDescr, chunk: usize) -> usize {
    let mut buf = vec![0u8; chunk];
    let mut total = 0;
    loop {
        let n = lwt::unix::read(fd, &mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_now_is_a_date() {
        let s = super::utc_now();
        assert_eq!(s.len(), "2026-12-01 18:55 UTC".len(), "{s}");
        assert!(s.starts_with("20"), "{s}");
    }
}
