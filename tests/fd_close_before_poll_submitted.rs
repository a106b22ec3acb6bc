//! A descriptor closed in the same loop turn that it first waited in is really closed, even
//! when its number is reused at once: the peer sees end of file. On every backend.
//!
//! Found by the soak (`examples/soak`) on io_uring: a registration's multishot poll is only
//! queued until the next `wait` submits it, and `deregister` cancelled it with
//! `IORING_REGISTER_SYNC_CANCEL`, which does not find a request that is still in the
//! submission queue (`ENOENT`). The queued poll was then submitted on the descriptor's number,
//! by then reused for a new socket, and held that socket's file: closing the new socket sent
//! no FIN, and its peer waited for ever.
#![cfg(unix)]
mod util;

use lwt::unix::{close, read, socketpair, with_timeout, SocketDomain, SocketType};
use lwt::Error;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn a_descriptor_closed_before_its_first_poll_was_submitted_is_really_closed() {
    util::for_each_backend(|kind| async move {
        for round in 0..20 {
            let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
            let mut buf = [0u8; 1];
            // A read that waits registers `a` (its poll queued for the loop's next wait); the
            // zero timeout cancels the read before the loop waits.
            assert!(matches!(
                with_timeout(Duration::ZERO, read(&a, &mut buf)).await,
                Err(Error::Timeout)
            ));
            let number = a.as_raw_fd();
            close(&a).await.unwrap();
            close(&b).await.unwrap();
            // The lowest free numbers come back: `c` takes `a`'s.
            let (c, d) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
            if c.as_raw_fd() != number {
                // Another thread took the number meanwhile: nothing to check this round.
                close(&c).await.unwrap();
                close(&d).await.unwrap();
                continue;
            }
            // The loop waits (and submits what it queued).
            lwt::sleep(Duration::from_millis(1)).await;
            close(&c).await.unwrap();
            let n = with_timeout(Duration::from_secs(5), read(&d, &mut buf)).await;
            assert!(
                matches!(n, Ok(0)),
                "{}: round {round}: the peer of a closed socket read {n:?}, not end of file",
                kind.name()
            );
            close(&d).await.unwrap();
        }
    });
}
