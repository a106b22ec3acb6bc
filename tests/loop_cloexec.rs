//! A program started from a running loop inherits none of lwt's own descriptors, on every
//! backend: the backend's instance (epoll, io_uring), its wake-up descriptor (eventfd, pipe)
//! and its timer are all close-on-exec, in the parent and in a forked child (which makes
//! them afresh). A descriptor that leaked into every child would keep the loop's wake-ups reachable from
//! programs that have nothing to do with it, and count against their descriptor limit. Alone
//! in its binary: it compares what a child inherits before and after the runtimes exist, which
//! other tests opening descriptors meanwhile would spoil.
#![cfg(target_os = "linux")]
mod util;

use lwt::unix::*;
use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The descriptor numbers a program started now inherits (read by `ls` in its own
/// `/proc/self/fd`, less the one `ls` opens to read it).
fn inherited() -> BTreeSet<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec ls /proc/self/fd")
        .output()
        .expect("sh");
    assert!(out.status.success(), "{out:?}");
    let mut fds: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // ls's own directory descriptor: the highest number, and not inherited.
    let own = fds
        .iter()
        .max_by_key(|s| s.parse::<u32>().unwrap_or(0))
        .cloned();
    if let Some(own) = own {
        fds.remove(&own);
    }
    fds
}

#[test]
fn a_program_started_from_the_loop_inherits_none_of_its_descriptors() {
    let before = inherited();
    // Every backend's runtime alive at once, each having waited (a timer, a read), so every
    // descriptor a backend opens lazily exists too.
    let runtimes: Vec<_> = util::backends()
        .into_iter()
        .map(|kind| {
            let rt = util::runtime(kind);
            rt.block_on(async {
                let (a, b) = UnixStream::pair().unwrap();
                let a = of_unix_file_descr(a.into(), None, true).unwrap();
                let reader = lwt::spawn(async move {
                    let mut buf = [0u8; 1];
                    read(&a, &mut buf).await.unwrap()
                });
                lwt::sleep(Duration::from_millis(2)).await;
                std::io::Write::write_all(&mut &b, b"x").unwrap();
                assert_eq!(reader.await.unwrap(), 1);
            });
            rt
        })
        .collect();
    let during = inherited();
    assert_eq!(
        during,
        before,
        "a program started while runtimes on {:?} exist inherits more descriptors",
        util::backends()
    );
    // After `fork` each runtime's child makes its backend's descriptors afresh: those must be
    // close-on-exec too.
    for rt in &runtimes {
        let kind = rt.backend_name();
        rt.block_on(async {
            let pid = fork().unwrap();
            if pid == 0 {
                let code = lwt::unix::with_timeout(Duration::from_secs(10), async {
                    let (a, b) = UnixStream::pair().unwrap();
                    let a = of_unix_file_descr(a.into(), None, true).unwrap();
                    let reader = lwt::spawn(async move {
                        let mut buf = [0u8; 1];
                        read(&a, &mut buf).await
                    });
                    lwt::sleep(Duration::from_millis(2)).await;
                    std::io::Write::write_all(&mut &b, b"x").unwrap();
                    reader.await??;
                    drop(b);
                    let inherited = inherited();
                    if inherited == before {
                        Ok(0)
                    } else {
                        eprintln!("child on {kind}: inherits {inherited:?}, not {before:?}");
                        Ok(5)
                    }
                })
                .await
                .unwrap_or(4);
                // SAFETY: `_exit` only ends the forked child.
                unsafe { libc::_exit(code) };
            }
            let (_, st) =
                lwt::unix::with_timeout(Duration::from_secs(30), waitpid(WaitFlags::empty(), pid))
                    .await
                    .unwrap_or_else(|e| panic!("{kind}: the child: {e}"));
            assert_eq!(
                st,
                ProcessStatus::Exited(0),
                "{kind}: a program the forked child starts inherits more descriptors (5), or \
                 the child failed (4)"
            );
        });
    }
    drop(runtimes);
}
