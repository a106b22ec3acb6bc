//! A backend that fails to wait does not take the loop down: the operations waiting then get
//! the error and the loop goes on. Reproduced with the poll backend, whose `poll(2)` fails with
//! `EINVAL` once it watches more descriptors than `RLIMIT_NOFILE` allows (other backends have
//! no such limit to provoke; the fault-injecting backend covers them). Alone in its binary: it
//! changes the process's descriptor limit.
#![cfg(unix)]
mod util;

use lwt::unix::*;
use lwt::BackendKind;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use std::os::unix::net::UnixStream;
use std::time::Duration;

#[test]
fn a_failing_poll_gives_its_error_to_the_waiting_operations_and_the_loop_goes_on() {
    if !util::backends().contains(&BackendKind::Poll) {
        return; // LWT_BACKEND names another backend
    }
    let _d = util::deadline(util::test_name(), Duration::from_secs(60));
    let rt = util::runtime(BackendKind::Poll);
    rt.block_on(async {
        const N: usize = 64;
        let mut keep = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..N {
            let (a, b) = UnixStream::pair().unwrap();
            let a = of_unix_file_descr(a.into(), None, true).unwrap();
            keep.push(b);
            readers.push(lwt::spawn(async move {
                let mut buf = [0u8; 1];
                read(&a, &mut buf).await
            }));
        }
        lwt::sleep(Duration::from_millis(5)).await; // every read waits
        let turns = || lwt::Handle::current().metrics().turns;
        let before = turns();
        let lim = getrlimit(Resource::Nofile);
        // poll(2) refuses more descriptors than the soft limit: the loop's next wait fails.
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some((N / 2) as u64),
                maximum: lim.maximum,
            },
        )
        .unwrap();
        let mut failed_after = None;
        for r in readers {
            let got =
                lwt::unix::with_timeout(Duration::from_secs(10), async { Ok(r.await.unwrap()) })
                    .await
                    .expect("a waiting read was left waiting");
            failed_after.get_or_insert(turns() - before);
            match got {
                Err(e) => assert_eq!(e.errno(), Some(libc::EINVAL), "{e:?}"),
                Ok(n) => panic!("read {n} bytes from a silent socket"),
            }
        }
        // EINVAL is no transient failure: the first failed wait gives it to the reads, without
        // the retries an out-of-memory failure gets.
        let failed_after = failed_after.unwrap();
        assert!(
            failed_after <= 3,
            "the reads got a lasting error only after {failed_after} turns"
        );
        setrlimit(Resource::Nofile, lim).unwrap();
        // The loop is alive: timers and I/O work again.
        lwt::sleep(Duration::from_millis(2)).await;
        let (r, w) = pipe().unwrap();
        let t = lwt::spawn(async move {
            let mut buf = [0u8; 2];
            read(&r, &mut buf).await.map(|n| buf[..n].to_vec())
        });
        lwt::sleep(Duration::from_millis(2)).await;
        write(&w, b"ok").await.unwrap();
        assert_eq!(t.await.unwrap().unwrap(), b"ok");
        drop(keep);
    });
}
