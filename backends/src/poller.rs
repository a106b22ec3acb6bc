//! What the kqueue and IOCP backends share: both are a `polling::Poller` behind the
//! [`Backend`](lwt_core::Backend) contract ("arm, then report"), differing only in their
//! [`PollMode`]: kqueue's `EV_CLEAR` is edge-triggered, so both directions are registered once
//! and arming is free; IOCP's AFD polls are oneshot, so an arm submits a poll for what is
//! armed and a report ends it. Each backend file keeps its name, its mode and its
//! documentation.

use lwt_core::backend::{BorrowedSource, Event, Events, Interest};
use polling::PollMode;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The most events taken from the kernel in one wait.
const BATCH: usize = 1024;

/// A `polling::Poller` with its event buffer and the mode of every registration.
#[derive(Debug)]
pub(crate) struct Poller {
    poller: polling::Poller,
    /// The buffer polling fills; only the loop's thread waits, so the lock is uncontended.
    buf: Mutex<polling::Events>,
    mode: PollMode,
}

fn event(token: usize, interest: Interest) -> polling::Event {
    polling::Event::new(token, interest.readable(), interest.writable())
}

fn batch(cap: usize) -> NonZeroUsize {
    NonZeroUsize::new(cap.clamp(1, BATCH)).unwrap_or(NonZeroUsize::MIN)
}

impl Poller {
    /// The poller, with `mode` for every registration; `Unsupported` if the system lacks it.
    pub(crate) fn new(mode: PollMode, what: &str) -> io::Result<Poller> {
        let poller = polling::Poller::new()?;
        if mode == PollMode::Edge && !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this {what} lacks edge-triggered events"),
            ));
        }
        Ok(Poller {
            poller,
            buf: Mutex::new(polling::Events::with_capacity(batch(BATCH))),
            mode,
        })
    }

    fn buf(&self) -> MutexGuard<'_, polling::Events> {
        // The buffer is cleared before every use, so poisoning is ignored.
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        let interest = if self.mode == PollMode::Edge {
            Interest::BOTH
        } else {
            Interest::NONE
        };
        // SAFETY: polling requires the source to be deleted from the poller before it is
        // closed; the reactor deregisters every source before its owner closes it (the
        // invariant of `lwt_core::reactor::Source`).
        unsafe {
            self.poller
                .add_with_mode(&source, event(token, interest), self.mode)
        }
    }

    pub(crate) fn arm(
        &self,
        source: BorrowedSource<'_>,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        if self.mode == PollMode::Edge {
            return Ok(()); // both directions registered once, edge-triggered
        }
        self.poller
            .modify_with_mode(source, event(token, interest), self.mode)
    }

    pub(crate) fn deregister(&self, source: BorrowedSource<'_>) -> io::Result<()> {
        self.poller.delete(source)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut buf = self.buf();
        // Ask for no more than the caller has room for: with edge-triggered registrations an
        // event left in a too-small buffer would be lost.
        let room = batch(events.room());
        if buf.capacity() != room {
            *buf = polling::Events::with_capacity(room);
        }
        buf.clear();
        self.poller.wait(&mut buf, timeout)?;
        for ev in buf.iter() {
            // polling reports kqueue's `EV_EOF` on a read filter as readable and writable (the
            // two filters are separate events otherwise); IOCP's disconnect and abort as an
            // interrupt or an error.
            let hup = ev.is_interrupt()
                || ev.is_err().unwrap_or(false)
                || (self.mode == PollMode::Edge && ev.readable && ev.writable);
            events.push(Event {
                token: ev.key,
                readable: ev.readable,
                writable: ev.writable,
                hup,
            });
        }
        buf.clear();
        Ok(())
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.poller.notify()
    }

    /// The poller's own descriptor (the kqueue instance).
    #[cfg(unix)]
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.poller)
    }
}
