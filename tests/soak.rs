//! The soak (`examples/soak`, whose docs say what it does and checks) for five seconds on
//! every backend, so `cargo test` runs the same engine as the two-minute run of `.ci/run`:
//! 500 connections of random writes, cancellations, resets and half-closes against an lwt
//! echo server while signals arrive and jobs run, every byte checked, descriptors, threads
//! and RSS flat. `LWT_SOAK_SEED` picks the seed (default 15); a failure prints the command
//! that replays it at length.
#![cfg(target_os = "linux")]
mod util;

#[path = "../examples/soak/soak.rs"]
mod soak;

use std::time::Duration;

const SECS: u64 = 5;

#[test]
fn soak_for_five_seconds_on_every_backend() {
    let seed = std::env::var("LWT_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    for kind in util::backends() {
        // The run's own watchdog allows minutes for stalled sessions to be reported; this
        // one stops a hung test binary sooner than the suite's deadline.
        let _deadline = util::deadline(
            format!("the soak on {}", kind.name()),
            Duration::from_secs(SECS + 60),
        );
        let cfg = soak::Config {
            duration: Duration::from_secs(SECS),
            conns: 500,
            seed,
            backend: Some(kind),
            verbose: false,
        };
        let report = soak::run(&cfg).expect("the soak could not start");
        report.print();
        assert!(
            report.passed(),
            "the soak failed on {}; replay: {}",
            kind.name(),
            report.replay_command()
        );
    }
}
