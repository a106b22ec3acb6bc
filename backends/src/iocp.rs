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

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use polling::PollMode;
use std::io;
use std::num::NonZeroUsize;
use std::os::windows::io::AsRawSocket;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The most completions taken from the port in one wait.
const BATCH: usize = 1024;

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
pub struct Iocp {
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

impl Iocp {
    /// Creates the completion port and checks that the AFD driver can be used.
    ///
    /// # Errors
    ///
    /// `Unsupported` when `\Device\Afd` or the `ntdll` functions polling needs are missing;
    /// the error of `CreateIoCompletionPort` otherwise.
    pub fn new() -> io::Result<Iocp> {
        let poller = polling::Poller::new()?;
        Ok(Iocp {
            poller,
            buf: Mutex::new(polling::Events::with_capacity(batch(BATCH))),
        })
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
        // SAFETY: polling requires the socket to be deleted from the poller before it is
        // closed; the reactor deregisters every source before its owner closes it (the
        // invariant of `lwt_core::reactor::Registration`).
        unsafe {
            self.poller.add_with_mode(
                source.as_raw_socket(),
                event(key, interest),
                PollMode::Level,
            )
        }
    }

    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.poller
            .modify_with_mode(source, event(key, interest), PollMode::Level)
    }

    fn deregister(&self, source: BorrowedSource<'_>, _key: usize) -> io::Result<()> {
        self.poller.delete(source)
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut buf = lock(&self.buf);
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
