//! What the fault-injecting backend's faults do to operations, on every backend it can wrap
//! (feature `fault-injection`): a transient failure of `wait` reaches no operation, a
//! persistent one reaches those waiting, and a failing registration or arm reaches only the
//! operation that asked. The faults the contract allows are checked by the whole suite run
//! with `LWT_BACKEND=faulty` (see `.ci/run`).
#![cfg(unix)]
mod util;

use lwt::backends::faulty::{Faults, Faulty};
use lwt::backends::{AnyBackend, BackendKind};
use lwt::unix::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The real backends the faulty one wraps here (those of `util::backends()`, or every one
/// this OS has under `LWT_BACKEND=faulty`).
fn inner_kinds() -> Vec<BackendKind> {
    let real: Vec<_> = util::backends()
        .into_iter()
        .filter(|k| BackendKind::available().contains(k))
        .collect();
    if real.is_empty() {
        BackendKind::available()
    } else {
        real
    }
}

fn faulty(kind: BackendKind, seed: u64, faults: Faults) -> lwt::Runtime {
    let inner = AnyBackend::open(kind).unwrap();
    lwt::Runtime::new(Box::new(Faulty::new(Box::new(inner), seed, faults)))
}

/// `n` readers, each waiting on its own socket for the bytes a thread writes after `delay`:
/// what each read returned, in order.
async fn readers_of_late_writes(n: usize, delay: Duration) -> Vec<Result<Vec<u8>, lwt::Error>> {
    let mut tasks = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..n {
        let (a, b) = UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        writers.push(b);
        tasks.push(lwt::spawn(async move {
            let mut buf = [0u8; 8];
            read(&a, &mut buf).await.map(|k| buf[..k].to_vec())
        }));
    }
    let writer = std::thread::spawn(move || {
        std::thread::sleep(delay);
        for (i, mut w) in writers.into_iter().enumerate() {
            // A reader that failed has dropped its end: its check below says why.
            let _ = w.write_all(format!("r{i}").as_bytes());
        }
    });
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    writer.join().unwrap();
    out
}

#[test]
fn a_transient_out_of_memory_from_wait_reaches_no_operation() {
    for kind in inner_kinds() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        for seed in 1..=3 {
            let rt = faulty(
                kind,
                seed,
                Faults {
                    out_of_memory: 300,
                    ..Faults::NONE
                },
            );
            rt.block_on(async {
                let got = readers_of_late_writes(16, Duration::from_millis(30)).await;
                for (i, r) in got.into_iter().enumerate() {
                    assert_eq!(
                        r.unwrap_or_else(|e| panic!("{kind}, seed {seed}: read {i}: {e:?}")),
                        format!("r{i}").as_bytes()
                    );
                }
                // Timers go on too.
                lwt::sleep(Duration::from_millis(2)).await;
            });
        }
    }
}

/// `EINTR` from `wait` is no failure at all: no operation sees it, and the loop neither logs
/// it nor backs off (a signal that interrupts the loop's wait is an everyday event).
#[test]
fn an_interrupted_wait_reaches_no_operation_and_is_not_reported() {
    for kind in inner_kinds() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        let ((), warnings) = util::capture_reports(|| {
            let rt = faulty(
                kind,
                7,
                Faults {
                    interrupt: 300,
                    ..Faults::NONE
                },
            );
            rt.block_on(async {
                let got = readers_of_late_writes(16, Duration::from_millis(30)).await;
                for (i, r) in got.into_iter().enumerate() {
                    assert_eq!(
                        r.unwrap_or_else(|e| panic!("{kind}: read {i}: {e:?}")),
                        format!("r{i}").as_bytes()
                    );
                }
                lwt::sleep(Duration::from_millis(2)).await;
            });
            // (At 30% of some tens of waits, the seed's draws inject several EINTRs; the
            // backend's own unit tests check that the rates are kept.)
        });
        assert!(
            warnings.is_empty(),
            "{kind}: an EINTR from wait was reported: {warnings:?}"
        );
    }
}

#[test]
fn a_persistent_wait_failure_still_reaches_the_waiting_operations() {
    for kind in inner_kinds() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        let rt = faulty(
            kind,
            1,
            Faults {
                out_of_memory: 1000,
                ..Faults::NONE
            },
        );
        let ((), reports) = util::capture_reports(|| {
            rt.block_on(async {
                let (a, _keep) = UnixStream::pair().unwrap();
                let a = of_unix_file_descr(a.into(), None, true).unwrap();
                let start = Instant::now();
                let mut buf = [0u8; 1];
                let got = lwt::unix::with_timeout(Duration::from_secs(30), async {
                    Ok(read(&a, &mut buf).await)
                })
                .await
                .expect("a read waiting on a backend that always fails was left waiting");
                // Every wait fails: the 64 retries, then the failure given to the read.
                let turns = lwt::Handle::current().metrics().turns;
                assert_eq!(
                    turns, 65,
                    "{kind}: the read got the error after {turns} failed waits, not 64 retries and one"
                );
                let e = got.expect_err("read a byte from a silent socket");
                assert_eq!(e.errno(), Some(libc::ENOMEM), "{kind}: {e:?}");
                assert_eq!(e.call(), Some("wait"), "{kind}: {e:?}");
                // Retried first (64 waits, backing off), then given to the operation.
                assert!(
                    start.elapsed() >= Duration::from_millis(100),
                    "{kind}: {:?}",
                    start.elapsed()
                );
            })
        });
        // Reported at the 1st, 2nd, 4th, ... 64th failure in a row (7 times before the read
        // got the error), then at each power of two: not once per failure, nor only once.
        let failures = reports
            .iter()
            .filter(|r| r.contains("failed to wait"))
            .count();
        assert!(
            (7..=12).contains(&failures),
            "{kind}: {failures} reports of a persistent failure: {reports:?}"
        );
    }
}

#[test]
fn a_failing_registration_or_arm_reaches_only_the_operation_that_asked() {
    for kind in inner_kinds() {
        let _d = util::deadline(format!("{} on {kind}", util::test_name()), util::DEADLINE);
        let rt = faulty(
            kind,
            7,
            Faults {
                fail_register: 300,
                fail_arm: 300,
                ..Faults::NONE
            },
        );
        rt.block_on(async {
            const N: usize = 40;
            let mut tasks = Vec::new();
            let mut writers = Vec::new();
            for i in 0..N {
                let (a, b) = UnixStream::pair().unwrap();
                let a = of_unix_file_descr(a.into(), None, true).unwrap();
                writers.push(b);
                tasks.push(lwt::spawn(async move {
                    let mut refused = 0;
                    loop {
                        let mut buf = [0u8; 8];
                        match read(&a, &mut buf).await {
                            Ok(k) => return (i, buf[..k].to_vec(), refused),
                            Err(e) => {
                                // Only this operation's own registration or arm failed.
                                assert_eq!(e.errno(), Some(libc::ENOMEM), "{e:?}");
                                assert!(
                                    matches!(e.call(), Some("register") | Some("arm")),
                                    "{e:?}"
                                );
                                refused += 1;
                                lwt::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                }));
            }
            lwt::sleep(Duration::from_millis(20)).await;
            for (i, w) in writers.iter_mut().enumerate() {
                w.write_all(format!("r{i}").as_bytes()).unwrap();
            }
            let mut refused = 0;
            for t in tasks {
                let (i, got, r) = t.await.unwrap();
                assert_eq!(got, format!("r{i}").as_bytes(), "{kind}");
                refused += r;
            }
            assert!(refused > 0, "{kind}: no registration or arm failed");
        });
    }
}
