//! The IOCP backend (Windows): oneshot socket readiness through I/O completion ports and the
//! AFD driver, by the [`polling`] crate.
//!
//! Windows has no readiness API for sockets that scales; polling submits an
//! `IOCTL_AFD_POLL` per socket (as libuv and wepoll do) whose completion is queued to one
//! completion port. Such a poll is oneshot ([`PollMode::Oneshot`]): [`Backend::arm`] submits
//! one for the directions the reactor waits for, and its completion is the report, after which
//! the socket is watched no more until the next arm (the backend contract's oneshot case). The
//! wake-up is a packet posted to the port; it is never reported as an event.
//!
//! Only sockets can be registered (the source type is `BorrowedSocket`). Errors (`ABORT`,
//! `CONNECT_FAIL`) are reported as readable and writable, for the directions that are armed.
//!
//! Windows has no `fork`, so this backend keeps the contract's default
//! [`Backend::after_fork`], which says it is unsupported.

use crate::poller::Poller;
use lwt_core::backend::{Backend, BorrowedSource, Events, Interest};
use polling::PollMode;
use std::io;
use std::time::Duration;

/// A completion port with its AFD polls (polling's `Poller`) and its buffer of completions.
///
/// # Examples
///
/// ```
/// # #[cfg(windows)] {
/// use lwt_core::Backend;
/// let b = lwt_backends::iocp::Iocp::new().unwrap();
/// assert_eq!(b.name(), "iocp");
/// # }
/// ```
#[derive(Debug)]
pub struct Iocp(Poller);

impl Iocp {
    /// Creates the completion port and checks that the AFD driver can be used.
    ///
    /// # Errors
    ///
    /// `Unsupported` when `\Device\Afd` or the `ntdll` functions polling needs are missing;
    /// the error of `CreateIoCompletionPort` otherwise.
    pub fn new() -> io::Result<Iocp> {
        Poller::new(PollMode::Oneshot, "iocp").map(Iocp)
    }
}

impl Backend for Iocp {
    fn name(&self) -> &'static str {
        "iocp"
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
}
