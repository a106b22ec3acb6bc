//! The signal numbers `on_signal` accepts, and its error naming them: the message's ranges
//! are exactly what is accepted (issue 11, item 6: signals 32 and 33, reserved by the C
//! library on Linux, were refused by `sigaction` behind a message that said "valid: 1..=64").
//! Only bad numbers are tried, so no disposition changes.
#![cfg(unix)]
mod util;

use lwt::unix::{on_signal, reinstall_signal_handler, signal_count};

/// The ranges in an error message such as "valid: 1..=31 and 34..=64, except ...".
fn ranges(msg: &str) -> Vec<(i32, i32)> {
    let list = msg
        .split("valid: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no ranges in {msg:?}"));
    let list = list.split(',').next().unwrap().trim_end_matches(')');
    list.split(" and ")
        .map(|r| {
            let (a, b) = r
                .split_once("..=")
                .unwrap_or_else(|| panic!("{r:?} in {msg:?}"));
            (a.trim().parse().unwrap(), b.trim().parse().unwrap())
        })
        .collect()
}

#[test]
fn the_refusal_of_a_signal_number_names_exactly_what_is_accepted() {
    util::for_each_backend(|kind| async move {
        let before = signal_count();
        let e = on_signal(0, |_| {}).unwrap_err();
        assert!(
            matches!(e, lwt::Error::InvalidArgument { .. }),
            "{kind}: {e:?}"
        );
        let valid = ranges(&e.to_string());
        let in_ranges = |n: i32| valid.iter().any(|&(a, b)| (a..=b).contains(&n));
        assert!(
            in_ranges(libc::SIGUSR1) && in_ranges(libc::SIGHUP),
            "{kind}: {valid:?}"
        );
        // Every number outside the ranges is refused with the same clear error (none of
        // them reaches sigaction, so none fails with a bare EINVAL).
        for n in -1..=70 {
            if in_ranges(n) {
                continue;
            }
            let e = on_signal(n, |_| {}).unwrap_err();
            assert!(
                matches!(
                    e,
                    lwt::Error::InvalidArgument {
                        call: "on_signal",
                        ..
                    }
                ),
                "{kind}: signal {n}: {e:?}"
            );
            assert!(reinstall_signal_handler(n).is_err(), "{kind}: signal {n}");
        }
        #[cfg(target_os = "linux")]
        {
            // The C library keeps 32 and 33 for itself: they are outside the ranges.
            assert!(!in_ranges(32) && !in_ranges(33), "{kind}: {valid:?}");
            assert!(
                in_ranges(libc::SIGRTMIN()) && in_ranges(libc::SIGRTMAX()),
                "{kind}"
            );
        }
        assert_eq!(signal_count(), before);
    });
}
