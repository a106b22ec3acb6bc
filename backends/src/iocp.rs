//! The IOCP backend (Windows): level-triggered socket readiness through I/O completion ports
//! and the AFD driver, by the [`polling`] crate.
//!
//! Windows has no readiness API for sockets that scales; polling submits an
//! `IOCTL_AFD_POLL` per socket (as libuv and wepoll do) whose completion is queued to one
//! completion port. That has no edge-triggered mode, so this backend is level-triggered
//! ([`PollMode::Level`]): the reactor sets a socket's interest with [`Backend::modify`] only
//! while an operation waits on it, and polling re-submits the poll after each report. The
//! wake-up is a packet posted to the port; it is never reported as an event.
//!
//! Only sockets can be registered (the source type is `BorrowedSocket`). Errors (`ABORT`,
//! `CONNECT_FAIL`) are reported as readable and writable, for the directions that have
//! interest.

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
/// assert!(!b.edge_triggered());
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
        Poller::new(PollMode::Level, "iocp").map(Iocp)
    }
}

impl Backend for Iocp {
    fn name(&self) -> &'static str {
        "iocp"
    }

    fn edge_triggered(&self) -> bool {
        false
    }

    fn register(
        &self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.0.register(source, key, interest)
    }

    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.0.modify(source, key, interest)
    }

    fn deregister(&self, source: BorrowedSource<'_>, _key: usize) -> io::Result<()> {
        self.0.deregister(source)
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.0.wait(events, timeout)
    }

    fn notify(&self) -> io::Result<()> {
        self.0.notify()
    }
}
