//! The switch watchdog, which hands a blocked loop to a stand-in, parks once no switch call
//! has run for a while: an idle program does not keep a thread waking every tick. (Linux: it
//! counts the watchdog thread's context switches in `/proc`.) In a child process of its own,
//! so no other test's switch calls wake the watchdog meanwhile.
#![cfg(target_os = "linux")]
mod util;

use lwt::unix::{run_job, AsyncMethod};
use std::time::Duration;

/// The watchdog thread's voluntary context switches (each tick's sleep is one), or `None` if
/// no thread of this process is the watchdog.
fn watchdog_switches() -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // The kernel keeps 15 bytes of a thread's name.
        if comm.trim_end() != &"lwt-switch-watchdog"[..15] {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

#[test]
fn an_idle_switch_watchdog_parks() {
    let (ok, out) = util::run_child_test("idle_watchdog_child", &[], Duration::from_secs(60));
    assert!(ok, "{out}");
}

#[test]
#[ignore = "run by an_idle_switch_watchdog_parks in a child process"]
fn idle_watchdog_child() {
    if !util::in_child() {
        return;
    }
    for kind in util::backends() {
        util::runtime(kind).block_on(async {
            // A blocking switch call starts the watchdog (and is handed off by it)...
            run_job(Some(AsyncMethod::Switch), || {
                std::thread::sleep(Duration::from_millis(20))
            })
            .await
            .unwrap();
            // ... then nothing for far longer than it lingers.
            lwt::sleep(Duration::from_millis(150)).await;
        });
        // The watchdog lingers for 200 of its ticks (20 ms if each tick gets the CPU on time,
        // longer on a loaded machine), then parks: some 100 ms window must then see it still.
        let mut windows = Vec::new();
        let parked = (0..50).any(|_| {
            let before = watchdog_switches().expect("no watchdog thread after a switch call");
            std::thread::sleep(Duration::from_millis(100));
            let woke = watchdog_switches().unwrap() - before;
            windows.push(woke);
            woke <= 5
        });
        // A watchdog left ticking wakes about a thousand times per window.
        assert!(
            parked,
            "{kind}: the idle watchdog never parked; its wake-ups per 100 ms: {windows:?}"
        );
    }
}
