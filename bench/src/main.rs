//! The `lwt-bench` crate holds one binary per benchmark (`src/bin/*.rs`); this default binary
//! only lists them. Run one with
//! `cargo run --release --manifest-path bench/Cargo.toml --bin <name>`, or all with `bench/run`.

fn main() {
    println!("lwt benchmarks (see bench/README.md):");
    for (name, what) in [
        (
            "loop",
            "the event loop: TCP echo, spawn+join, yield, timer armed then cancelled",
        ),
        ("jobs", "the job pool (blocking calls run off the loop)"),
        ("files", "file system calls"),
        (
            "hyper",
            "hyper hello world on lwt vs hyper on tokio (CPU per request)",
        ),
        (
            "uring",
            "the io_uring backend: echo CPU and system calls, cached and cold reads",
        ),
    ] {
        let present = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/bin")
            .join(format!("{name}.rs"))
            .exists();
        let status = if present { "" } else { " (not built yet)" };
        println!("  --bin {name:<6} {what}{status}");
    }
    println!("run them all: bench/run");
}
