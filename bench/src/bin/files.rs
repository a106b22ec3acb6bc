//! Files side by side: reading a 256 MiB cached file in 64 KiB reads (lwt, tokio::fs,
//! std::fs) and listing a 100 000-entry directory (lwt's `files_of_directory`,
//! `std::fs::read_dir`). Every figure is the best of a few rounds, measured in one run.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml --bin files`

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILE_SIZE: usize = 256 << 20;
const CHUNK: usize = 64 << 10;
const ENTRIES: usize = 100_000;
const ROUNDS: usize = 11;

/// One timed run, checking the result.
fn best1(f: impl FnOnce() -> usize, expect: usize) -> Duration {
    let t = Instant::now();
    assert_eq!(f(), expect);
    t.elapsed()
}

fn std_read(path: &Path) -> usize {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn tokio_read(rt: &tokio::runtime::Runtime, path: &Path) -> usize {
    use tokio::io::AsyncReadExt;
    rt.block_on(async {
        let mut f = tokio::fs::File::open(path).await.unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            let n = f.read(&mut buf).await.unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    })
}

fn lwt_read(path: &Path) -> usize {
    lwt::run(lwt_bench::lwt_read_all(path, CHUNK))
}

fn std_list(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.is_empty())
        .count()
}

fn lwt_list(dir: &Path) -> usize {
    lwt::run(async {
        let mut s = lwt::unix::files_of_directory(dir);
        let mut n = 0;
        while let Some(name) = s.next().await {
            let name = name.unwrap();
            // std::fs::read_dir skips the two dot entries that Lwt (and lwt) list.
            if name != "." && name != ".." {
                n += 1;
            }
        }
        n
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("lwt-bench-files-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let big = root.join("big");
    let data: Vec<u8> = (0..FILE_SIZE).map(|i| (i % 253) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    drop(data);
    std_read(&big); // make sure it is all in the page cache

    let rt = tokio::runtime::Runtime::new().unwrap();
    // Rounds interleave the peers, so a burst of load elsewhere hits them alike.
    let (mut t_std, mut t_tokio, mut t_lwt) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        t_std = t_std.min(best1(|| std_read(&big), FILE_SIZE));
        t_tokio = t_tokio.min(best1(|| tokio_read(&rt, &big), FILE_SIZE));
        t_lwt = t_lwt.min(best1(|| lwt_read(&big), FILE_SIZE));
    }
    let gib = |d: Duration| FILE_SIZE as f64 / d.as_secs_f64() / (1u64 << 30) as f64;
    println!("read 256 MiB cached file, 64 KiB reads (best of {ROUNDS}):");
    println!("  std::fs   {:8.1} ms  {:5.2} GiB/s", ms(t_std), gib(t_std));
    println!(
        "  tokio::fs {:8.1} ms  {:5.2} GiB/s",
        ms(t_tokio),
        gib(t_tokio)
    );
    println!("  lwt       {:8.1} ms  {:5.2} GiB/s", ms(t_lwt), gib(t_lwt));
    println!(
        "  lwt/std = {:.2}x (target <= 1.2x)   lwt/tokio = {:.2}x (target <= 0.5x)",
        t_lwt.as_secs_f64() / t_std.as_secs_f64(),
        t_lwt.as_secs_f64() / t_tokio.as_secs_f64()
    );
    std::fs::remove_file(&big).unwrap();

    let dir = root.join("dir");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..ENTRIES {
        std::fs::File::create(dir.join(format!("entry-{i:06}"))).unwrap();
    }
    let (mut t_std, mut t_lwt) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        t_std = t_std.min(best1(|| std_list(&dir), ENTRIES));
        t_lwt = t_lwt.min(best1(|| lwt_list(&dir), ENTRIES));
    }
    println!("list a {ENTRIES}-entry directory (best of {ROUNDS}):");
    println!("  std::fs::read_dir        {:8.2} ms", ms(t_std));
    println!("  lwt files_of_directory   {:8.2} ms", ms(t_lwt));
    println!(
        "  lwt/std = {:.2}x (target <= 2x)",
        t_lwt.as_secs_f64() / t_std.as_secs_f64()
    );
    std::fs::remove_dir_all(&root).unwrap();
}
