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
//!
//! A forked child does not inherit a kqueue at all (unlike epoll's instance, which it shares
//! with the parent), so [`Backend::after_fork`] cannot put a new one under the old number: it
//! makes a new poller and leaks the parent's (see `poller.rs`); the driver then registers
//! every source again. This is the same code as on every other system that polling serves
//! (`poller.rs`), tested on Linux, where polling runs over epoll.

use crate::poller::Poller;
use lwt_core::backend::{Backend, BorrowedSource, Events, Interest};
use polling::PollMode;
use std::io;
use std::time::Duration;

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
/// # }
/// ```
#[derive(Debug)]
pub struct Kqueue(Poller);

impl Kqueue {
    /// Creates the kqueue (close-on-exec) and its wake-up event.
    ///
    /// # Errors
    ///
    /// The errors of `kqueue` and `kevent` (e.g. `EMFILE`).
    pub fn new() -> io::Result<Kqueue> {
        Poller::new(PollMode::Edge, "kqueue").map(Kqueue)
    }
}

impl Backend for Kqueue {
    fn name(&self) -> &'static str {
        "kqueue"
    }

    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        self.0.register(source, token)
    }

    fn arm(&self, source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()> {
        self.0.arm(source, token, interest)
    }

    fn deregister(&self, source: BorrowedSource<'_>, _token: usize) -> io::Result<()> {
        self.0.deregister(source)
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.0.wait(events, timeout)
    }

    fn notify(&self) -> io::Result<()> {
        self.0.notify()
    }

    fn host_fds(&self, out: &mut Vec<(std::os::fd::RawFd, Interest)>) {
        // A kqueue descriptor is readable while it has events pending.
        out.push((self.0.raw_fd(), Interest::READ));
    }

    fn after_fork(&self) -> io::Result<()> {
        self.0.after_fork()
    }
}
