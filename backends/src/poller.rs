//! What the kqueue and IOCP backends share: both are a `polling::Poller` behind the
//! [`Backend`](lwt_core::Backend) contract ("arm, then report"), differing only in their
//! [`PollMode`]: kqueue's `EV_CLEAR` is edge-triggered, so both directions are registered once
//! and arming is free; IOCP's AFD polls are oneshot, so an arm submits a poll for what is
//! armed and a report ends it. Each backend file keeps its name, its mode and its
//! documentation.
//!
//! # Who owns what, and fork
//!
//! The poller and its event buffer (`Inner`) are shared by every thread that registers, arms,
//! notifies or waits; only the loop's thread waits, so the buffer's lock is uncontended. They
//! sit in a [`Renewable`] so that a forked child can replace them whole ([`Poller::after_fork`],
//! Unix only: Windows has no `fork`). A kqueue is not inherited by a child at all, so the
//! parent's poller is useless there, and its locks (the buffer's, polling's own) may be held
//! forever by a thread the child lacks; the child makes a new one and leaks the old one: its
//! destructor must never run there, since it would delete an event from, and close, a
//! descriptor number that the new kqueue may have been given.

use lwt_core::backend::{BorrowedSource, Event, Events, Interest};
use lwt_core::fork::Renewable;
use polling::PollMode;
use std::io;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

/// The most events taken from the kernel in one wait.
const BATCH: usize = 1024;

/// A `polling::Poller` with its event buffer and the mode of every registration.
#[derive(Debug)]
pub(crate) struct Poller {
    inner: Renewable<Inner>,
    mode: PollMode,
    /// The backend's name, for the messages of `after_fork` (Windows has no fork).
    #[cfg(unix)]
    what: &'static str,
}

/// What a forked child replaces (see the module documentation).
#[derive(Debug)]
struct Inner {
    poller: polling::Poller,
    /// The buffer polling fills; only the loop's thread waits, so the lock is uncontended.
    buf: Mutex<polling::Events>,
}

impl Inner {
    fn new(mode: PollMode, what: &str) -> io::Result<Inner> {
        let poller = polling::Poller::new()?;
        if mode == PollMode::Edge && !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this {what} lacks edge-triggered events"),
            ));
        }
        Ok(Inner {
            poller,
            buf: Mutex::new(polling::Events::with_capacity(batch(BATCH))),
        })
    }
}

fn event(token: usize, interest: Interest) -> polling::Event {
    polling::Event::new(token, interest.readable(), interest.writable())
}

fn batch(cap: usize) -> NonZeroUsize {
    NonZeroUsize::new(cap.clamp(1, BATCH)).unwrap_or(NonZeroUsize::MIN)
}

impl Poller {
    /// The poller, with `mode` for every registration; `Unsupported` if the system lacks it.
    pub(crate) fn new(mode: PollMode, what: &'static str) -> io::Result<Poller> {
        Ok(Poller {
            inner: Renewable::new(Inner::new(mode, what)?),
            mode,
            #[cfg(unix)]
            what,
        })
    }

    fn inner(&self) -> &Inner {
        self.inner
            .get()
            .expect("lwt: a poller is never left without its instance")
    }

    /// Gives the child of a `fork(2)` a new poller, watching nothing (the driver registers
    /// every source again). The parent's is leaked, never dropped (see the module
    /// documentation): with polling's pipe-based wake-up (NetBSD, OpenBSD) that keeps the
    /// parent's two pipe descriptors open in the child.
    ///
    /// # Errors
    ///
    /// The errors of `kqueue` and `kevent` (e.g. `EMFILE`).
    #[cfg(unix)]
    pub(crate) fn after_fork(&self) -> io::Result<()> {
        self.inner.renew(Some(Inner::new(self.mode, self.what)?));
        Ok(())
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
            self.inner()
                .poller
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
        self.inner()
            .poller
            .modify_with_mode(source, event(token, interest), self.mode)
    }

    pub(crate) fn deregister(&self, source: BorrowedSource<'_>) -> io::Result<()> {
        self.inner().poller.delete(source)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let inner = self.inner();
        // The buffer is cleared before every use, so poisoning is ignored.
        let mut buf = inner.buf.lock().unwrap_or_else(|e| e.into_inner());
        // Ask for no more than the caller has room for: with edge-triggered registrations an
        // event left in a too-small buffer would be lost.
        let room = batch(events.room());
        if buf.capacity() != room {
            *buf = polling::Events::with_capacity(room);
        }
        buf.clear();
        inner.poller.wait(&mut buf, timeout)?;
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
        self.inner().poller.notify()
    }

    /// The poller's own descriptor (the kqueue instance): readable while it has events.
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.inner().poller)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::Poller;
    use lwt_core::backend::{Events, Interest};
    use polling::PollMode;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    /// Waits up to `limit` for a readable event with `token`.
    fn readable(p: &Poller, token: usize, limit: Duration) -> bool {
        let start = Instant::now();
        let mut events = Events::with_capacity(8);
        while start.elapsed() < limit {
            events.clear();
            if p.wait(&mut events, Some(Duration::from_millis(20)))
                .is_err()
            {
                return false;
            }
            if events.iter().any(|e| e.token == token && e.readable) {
                return true;
            }
        }
        false
    }

    /// What a forked child gets from `after_fork`: a poller watching nothing, in which a source
    /// registered again is reported and a notify wakes a wait; the parent's poller is untouched.
    #[test]
    fn a_forked_child_gets_a_poller_of_its_own() {
        let p = Poller::new(PollMode::Edge, "test").unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        p.register(b.as_fd(), 7).unwrap();
        // SAFETY: the child uses only this poller, its sockets and `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = (|| {
                if p.after_fork().is_err() {
                    return 1;
                }
                if a.write_all(b"x").is_err() {
                    return 1;
                }
                if readable(&p, 7, Duration::from_millis(100)) {
                    return 2; // the new poller reports a source nobody registered with it
                }
                if p.register(b.as_fd(), 7).is_err() || !readable(&p, 7, Duration::from_secs(5)) {
                    return 3;
                }
                if p.notify().is_err() {
                    return 1;
                }
                let start = Instant::now();
                let mut events = Events::with_capacity(8);
                if p.wait(&mut events, Some(Duration::from_secs(10))).is_err()
                    || start.elapsed() >= Duration::from_secs(5)
                {
                    return 4;
                }
                0
            })();
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0);
        let mut status = 0;
        let start = Instant::now();
        loop {
            // SAFETY: waits for our own child without blocking, into a local.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                // SAFETY: kills and reaps our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed: {status:#x} (2: the new poller reported an unregistered source, 3: a \
             source registered again was not reported, 4: notify did not wake a wait)"
        );
        // The child's byte makes `b` readable in the parent's own poller.
        assert!(readable(&p, 7, Duration::from_secs(5)));
        p.arm(b.as_fd(), 7, Interest::READ).unwrap();
        p.deregister(b.as_fd()).unwrap();
    }

    /// One wait of up to `limit` into a buffer of `cap` events.
    fn wait_once(p: &Poller, cap: usize, limit: Duration) -> Vec<lwt_core::backend::Event> {
        let mut events = Events::with_capacity(cap);
        p.wait(&mut events, Some(limit)).unwrap();
        events.iter().copied().collect()
    }

    /// A connected pair of non-blocking Unix sockets.
    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// IOCP's mode: a registration reports nothing until armed, an arm is reported once (the
    /// report ends it), and arming again reports again what still holds.
    #[test]
    fn a_oneshot_registration_reports_what_is_armed_once_per_arm() {
        let p = Poller::new(PollMode::Oneshot, "test").unwrap();
        let (mut a, b) = pair();
        p.register(b.as_fd(), 3).unwrap();
        a.write_all(b"x").unwrap();
        assert!(
            wait_once(&p, 8, Duration::from_millis(50)).is_empty(),
            "a source nothing was armed for was reported"
        );
        p.arm(b.as_fd(), 3, Interest::READ).unwrap();
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert_eq!(evs.len(), 1, "{evs:?}");
        let ev = evs[0];
        assert!(ev.token == 3 && ev.readable && !ev.hup, "{ev:?}");
        assert!(
            wait_once(&p, 8, Duration::from_millis(50)).is_empty(),
            "a oneshot arm was reported twice"
        );
        p.arm(b.as_fd(), 3, Interest::READ).unwrap();
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert!(evs.iter().any(|e| e.token == 3 && e.readable), "{evs:?}");
        // Writable only: armed for writing, a socket with room is reported writable, and not
        // as hung up.
        p.arm(b.as_fd(), 3, Interest::WRITE).unwrap();
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert_eq!(evs.len(), 1, "{evs:?}");
        assert!(
            evs[0].writable && !evs[0].readable && !evs[0].hup,
            "{:?}",
            evs[0]
        );
        // Both at once (it has a byte to read and room to write): still not a hang-up.
        p.arm(b.as_fd(), 3, Interest::BOTH).unwrap();
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert_eq!(evs.len(), 1, "{evs:?}");
        assert!(
            evs[0].readable && evs[0].writable && !evs[0].hup,
            "{:?}",
            evs[0]
        );
        p.deregister(b.as_fd()).unwrap();
    }

    /// A hang-up (the peer closed) and an error alone (a pipe's write end whose reader closed:
    /// `EPOLLERR` without `EPOLLHUP` here) are both reported as hung up.
    #[test]
    fn a_hang_up_and_an_error_are_reported_as_hung_up() {
        let p = Poller::new(PollMode::Oneshot, "test").unwrap();
        let (a, b) = pair();
        p.register(b.as_fd(), 4).unwrap();
        p.arm(b.as_fd(), 4, Interest::READ).unwrap();
        drop(a);
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert!(evs.iter().any(|e| e.token == 4 && e.hup), "{evs:?}");
        p.deregister(b.as_fd()).unwrap();

        let (r, w) = rustix::pipe::pipe().unwrap();
        p.register(w.as_fd(), 5).unwrap();
        p.arm(w.as_fd(), 5, Interest::WRITE).unwrap();
        drop(r);
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert!(evs.iter().any(|e| e.token == 5 && e.hup), "{evs:?}");
        p.deregister(w.as_fd()).unwrap();
    }

    /// A wait takes no more events than the caller has room for (with edge-triggered
    /// registrations an event taken from the kernel and not delivered would be lost), the rest
    /// come in the next waits, and with room enough one wait takes all that are ready.
    #[test]
    fn a_wait_takes_as_many_events_as_there_is_room_for() {
        let p = Poller::new(PollMode::Oneshot, "test").unwrap();
        let socks: Vec<_> = (0..5).map(|_| pair()).collect();
        for (i, (a, b)) in socks.iter().enumerate() {
            p.register(b.as_fd(), 10 + i).unwrap();
            p.arm(b.as_fd(), 10 + i, Interest::READ).unwrap();
            (&*a).write_all(b"x").unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            let evs = wait_once(&p, 2, Duration::from_secs(5));
            assert!(
                evs.len() <= 2,
                "{} events into a buffer with room for 2",
                evs.len()
            );
            seen.extend(evs.iter().map(|e| e.token));
            if seen.len() >= 5 || evs.is_empty() {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, [10, 11, 12, 13, 14]);
        for (i, (_, b)) in socks.iter().enumerate() {
            p.arm(b.as_fd(), 10 + i, Interest::READ).unwrap();
        }
        let evs = wait_once(&p, 8, Duration::from_secs(5));
        assert_eq!(evs.len(), 5, "one wait with room for 8 took {evs:?}");
        for (_, b) in &socks {
            p.deregister(b.as_fd()).unwrap();
        }
    }

    /// Deregistering really removes the source: it can be registered again, and is not
    /// reported meanwhile.
    #[test]
    fn a_deregistered_source_can_be_registered_again() {
        for mode in [PollMode::Oneshot, PollMode::Edge] {
            let p = Poller::new(mode, "test").unwrap();
            let (mut a, b) = pair();
            p.register(b.as_fd(), 6).unwrap();
            p.arm(b.as_fd(), 6, Interest::READ).unwrap();
            p.deregister(b.as_fd()).unwrap();
            a.write_all(b"x").unwrap();
            assert!(
                wait_once(&p, 8, Duration::from_millis(50)).is_empty(),
                "{mode:?}: a deregistered source was reported"
            );
            p.register(b.as_fd(), 6).unwrap();
            p.arm(b.as_fd(), 6, Interest::READ).unwrap();
            let evs = wait_once(&p, 8, Duration::from_secs(5));
            assert!(
                evs.iter().any(|e| e.token == 6 && e.readable),
                "{mode:?}: {evs:?}"
            );
            p.deregister(b.as_fd()).unwrap();
        }
    }
}
