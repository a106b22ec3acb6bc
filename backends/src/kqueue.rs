//! The kqueue backend (macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly): persistent,
//! edge-triggered registrations, through the [`polling`] crate.
//!
//! Each source gets one `EVFILT_READ` and one `EVFILT_WRITE` filter with `EV_CLEAR`
//! (polling's [`PollMode::Edge`]), so, as with epoll, a readiness cycle costs no `kevent`
//! change. The wake-up channel is polling's own (an `EVFILT_USER` event, or a pipe where the
//! system lacks it); its events are never reported.
//!
//! End of file on a read filter (`EV_EOF`, e.g. the peer hung up) is reported as readable and
//! writable, so every waiter retries its call and sees the outcome itself.

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use polling::PollMode;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The most events asked of one `kevent` call.
const BATCH: usize = 1024;

/// A kqueue instance (polling's `Poller`) with its buffer of kernel events.
///
/// # Examples
///
/// ```
/// # #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd",
/// #     target_os = "openbsd", target_os = "dragonfly"))] {
/// use lwt_core::Backend;
/// let b = lwt_backends::kqueue::Kqueue::new().unwrap();
/// assert_eq!(b.name(), "kqueue");
/// assert!(b.edge_triggered());
/// # }
/// ```
#[derive(Debug)]
pub struct Kqueue {
    poller: polling::Poller,
    /// The buffer polling fills; only the loop's thread waits, so the lock is uncontended.
    buf: Mutex<polling::Events>,
}

fn lock(m: &Mutex<polling::Events>) -> MutexGuard<'_, polling::Events> {
    // The buffer is cleared before every use, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn event(key: usize, interest: Interest) -> polling::Event {
    polling::Event::new(key, interest.readable(), interest.writable())
}

fn batch(cap: usize) -> NonZeroUsize {
    NonZeroUsize::new(cap.clamp(1, BATCH)).unwrap_or(NonZeroUsize::MIN)
}

impl Kqueue {
    /// Creates the kqueue (close-on-exec) and its wake-up event.
    ///
    /// # Errors
    ///
    /// The errors of `kqueue` and `kevent` (e.g. `EMFILE`).
    pub fn new() -> io::Result<Kqueue> {
        let poller = polling::Poller::new()?;
        if !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kqueue lacks edge-triggered (EV_CLEAR) events",
            ));
        }
        Ok(Kqueue {
            poller,
            buf: Mutex::new(polling::Events::with_capacity(batch(BATCH))),
        })
    }
}

impl Backend for Kqueue {
    fn name(&self) -> &'static str {
        "kqueue"
    }

    fn edge_triggered(&self) -> bool {
        true
    }

    fn register(
        &self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        // SAFETY: polling requires the descriptor to be deleted from the poller before it is
        // closed; the reactor deregisters every source before its owner closes it (the
        // invariant of `lwt_core::reactor::Registration`).
        unsafe {
            self.poller
                .add_with_mode(source.as_raw_fd(), event(key, interest), PollMode::Edge)
        }
    }

    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.poller
            .modify_with_mode(source, event(key, interest), PollMode::Edge)
    }

    fn deregister(&self, source: BorrowedSource<'_>, _key: usize) -> io::Result<()> {
        self.poller.delete(source)
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut buf = lock(&self.buf);
        // Ask the kernel for no more than the caller has room for: with edge-triggered
        // filters an event left in a too-small buffer would be lost.
        let room = batch(events.capacity().saturating_sub(events.len()));
        if buf.capacity() != room {
            *buf = polling::Events::with_capacity(room);
        }
        buf.clear();
        self.poller.wait(&mut buf, timeout)?;
        for ev in buf.iter() {
            events.push(Event {
                key: ev.key,
                readable: ev.readable,
                writable: ev.writable,
            });
        }
        buf.clear();
        Ok(())
    }

    fn notify(&self) -> io::Result<()> {
        self.poller.notify()
    }
}
