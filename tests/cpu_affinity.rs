//! CPU affinity: pinning to one CPU is read back by get_affinity and seen by get_cpu; bad
//! input is a clear error.
#![cfg(unix)]
mod util;

use lwt::unix::{get_affinity, get_cpu, set_affinity};
use lwt::Error;

#[test]
fn pin_to_one_cpu() {
    util::for_each_backend(|kind| async move {
        let all = get_affinity(None).unwrap();
        assert!(!all.is_empty());
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted: {all:?}");
        assert!(all.contains(&get_cpu().unwrap()));
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        assert!(!get_affinity(Some(pid)).unwrap().is_empty());
        for &cpu in [all[0], *all.last().unwrap()].iter() {
            set_affinity(None, &[cpu]).unwrap();
            assert_eq!(get_affinity(None).unwrap(), vec![cpu], "{kind}");
            // The loop still runs, on that CPU.
            lwt::yield_now().await;
            assert_eq!(get_cpu().unwrap(), cpu, "{kind}");
        }
        set_affinity(None, &all).unwrap();
        assert_eq!(get_affinity(None).unwrap(), all);

        // Bad input.
        assert!(matches!(
            set_affinity(None, &[]),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            set_affinity(None, &[1 << 20]),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            get_affinity(Some(-3)),
            Err(Error::InvalidArgument { .. })
        ));
        let e = get_affinity(Some(i32::MAX)).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ESRCH), "{e}");
        assert_eq!(get_affinity(None).unwrap(), all, "unchanged after errors");
    });
}
