//! An idle loop sleeps: descriptors that stay ready in a direction nobody waits for (a
//! writable socket with a pending read) make no stream of events, on every backend.
#![cfg(unix)]
mod util;

use lwt::unix::{of_unix_file_descr, read};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Four writable sockets, each with a reader waiting: while the loop idles 50 ms it makes a
/// few events and turns at most, before the readers' first byte and again after it.
#[test]
fn a_writable_socket_with_a_pending_read_does_not_keep_the_loop_awake() {
    util::for_each_backend(|kind| async move {
        let mut peers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..4 {
            let (a, b) = UnixStream::pair().unwrap();
            let a = of_unix_file_descr(a.into(), None, true).unwrap();
            peers.push(b);
            // Registered (and writable all along); only reading is waited for. Twice: after
            // the first report (which the reader takes) the source must again be watched for
            // reading only.
            readers.push(lwt::spawn(async move {
                for _ in 0..2 {
                    let mut buf = [0u8; 1];
                    assert_eq!(read(&a, &mut buf).await.unwrap(), 1);
                }
            }));
        }
        for round in 0..2 {
            lwt::sleep(Duration::from_millis(5)).await; // the readers wait
            let before = lwt::Handle::current().metrics();
            lwt::sleep(Duration::from_millis(50)).await;
            let after = lwt::Handle::current().metrics();
            // A few events at most (a spurious one is allowed), not one per turn of a busy
            // loop.
            let events = after.events_dispatched - before.events_dispatched;
            let turns = after.turns - before.turns;
            assert!(
                events < 50 && turns < 50,
                "{kind}, round {round}: {events} events and {turns} turns while idle for 50 ms"
            );
            for p in &peers {
                std::io::Write::write_all(&mut &*p, b"x").unwrap();
            }
        }
        for r in readers {
            r.await.unwrap();
        }
    });
}

/// With no timer armed the loop blocks until something happens, however long that is: a read
/// that another thread satisfies after 50 ms costs a turn or two, not one per millisecond
/// (a "no timeout" passed to the backend as a short one would poll, and so would a wake-up
/// channel left full).
#[test]
fn a_loop_with_no_timer_blocks_until_woken() {
    util::for_each_backend(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let a = of_unix_file_descr(a.into(), None, true).unwrap();
        // A wake-up from another thread first: its channel must be emptied, or a
        // level-triggered backend would find it ready at every later wait.
        let h = lwt::Handle::current();
        let spawner = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            h.spawn(async { 5 }) // the loop sleeps (below): this wakes it
        });
        lwt::sleep(Duration::from_millis(30)).await;
        assert_eq!(spawner.join().unwrap().await.unwrap(), 5);
        let before = lwt::Handle::current().metrics();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::io::Write::write_all(&mut &b, b"x").unwrap();
            b
        });
        let mut buf = [0u8; 1];
        assert_eq!(read(&a, &mut buf).await.unwrap(), 1);
        let after = lwt::Handle::current().metrics();
        let turns = after.turns - before.turns;
        assert!(
            turns < 10,
            "{kind}: {turns} turns for one read that waited 50 ms"
        );
        drop(writer.join().unwrap());
    });
}
