//! The poll(2) backend: for every Unix, with no limit on descriptor numbers (unlike
//! `select`, whose `FD_SETSIZE` of 1024 broke Lwt's default engine).
//!
//! The registered sources live in a table with what is armed for each. A `wait` polls the
//! armed directions (plus the wake-up channel: an `eventfd` on Linux and Android, a pipe
//! elsewhere) and disarms what it reports, as the backend contract allows ("arm, then report",
//! oneshot): the reactor arms again what it still waits for.
//!
//! # Who owns what, and the poll in flight
//!
//! The table is behind one lock, held only to copy or change it, never during `poll(2)`. While
//! a `poll(2)` runs, the descriptors it watches are numbers copied out of the table, so
//! [`Backend::deregister`] waits for that call to return (it wakes it first): after it returns
//! the caller may close the descriptor, and a reused number is never polled for the old
//! source. An arm made during a poll restarts it, so the new interest is watched at once.
//!
//! # Fork
//!
//! The table, its condition variable and the poll buffers (`State`) are this process's memory,
//! but a forked child cannot use the parent's: a thread the child lacks may have held the
//! table's lock at the fork (a descriptor deregistered from another thread), or the buffers'
//! (a switch stand-in in `poll(2)`). So [`Backend::after_fork`] gives the child a new, empty
//! `State` (a [`Renewable`]; the parent's is leaked) which the driver refills, and puts a new
//! wake-up channel under the old descriptor numbers (the parent's is shared with the child).

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use lwt_core::fork::Renewable;
use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A poll(2) backend.
///
/// # Examples
///
/// ```
/// use lwt_core::Backend;
/// let b = lwt_backends::poll::Poll::new().unwrap();
/// assert_eq!(b.name(), "poll");
/// ```
#[derive(Debug)]
pub struct Poll {
    state: Renewable<State>,
    wake_read: OwnedFd,
    wake_write: Option<OwnedFd>,
    /// System calls made (for metrics).
    calls: AtomicU64,
}

/// The table and the poll in flight (a forked child gets a new one, see "Fork").
#[derive(Debug, Default)]
struct State {
    table: Mutex<Table>,
    /// Signalled when a `poll(2)` in flight returns.
    poll_done: Condvar,
    /// The buffers of the poll in flight, the pollfds and their tokens (only the waiting
    /// thread uses them).
    fds: Mutex<(Vec<libc::pollfd>, Vec<usize>)>,
}

/// # Invariant
///
/// Every raw fd in the table is open: the reactor deregisters a source before its owner
/// closes it, and deregistration waits for a poll in flight. A descriptor closed behind the
/// reactor's back is reported as `POLLNVAL`, which becomes a (spurious) event.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    /// Token -> position in `entries`.
    index: HashMap<usize, usize>,
    /// A `poll(2)` runs with a copy of the table.
    polling: bool,
    /// Counts the polls started: a deregistration waits for the poll in flight when it
    /// removed its entry, not for later ones (which no longer hold the descriptor).
    polls: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fd: RawFd,
    token: usize,
    armed: Interest,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The table is consistent after every operation, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Poll {
    /// Creates the table and the wake-up channel.
    ///
    /// # Errors
    ///
    /// The errors of `eventfd`/`pipe2` (e.g. `EMFILE`).
    pub fn new() -> io::Result<Poll> {
        let (wake_read, wake_write) = wake_channel()?;
        Ok(Poll {
            state: Renewable::new(State::default()),
            wake_read,
            wake_write,
            calls: AtomicU64::new(0),
        })
    }

    /// Puts `new` in place of `target`: `dup2(new, target's number)`, close-on-exec, then closes
    /// `new`. `target` keeps its number and now refers to `new`'s object.
    fn replace_fd(target: &OwnedFd, new: OwnedFd) -> io::Result<()> {
        // SAFETY: the `OwnedFd` made here aliases `target`'s number only for the `dup2`, and
        // `ManuallyDrop` keeps it from closing that number: `target` stays its sole owner.
        let mut alias =
            std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(target.as_raw_fd()) });
        rustix::io::dup2(&new, &mut alias)?;
        rustix::io::fcntl_setfd(&*alias, rustix::io::FdFlags::CLOEXEC)?;
        Ok(())
    }

    fn state(&self) -> &State {
        self.state
            .get()
            .expect("lwt: the poll backend is never left without its table")
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        self.calls.fetch_add(1, Ordering::Relaxed);
        while let Ok(n) = rustix::io::read(&self.wake_read, &mut buf) {
            if n < buf.len() || self.wake_write.is_none() {
                break;
            }
        }
    }

    /// Makes a poll in flight return (a change it must see).
    fn interrupt(&self, t: &Table) -> io::Result<()> {
        if t.polling {
            self.notify()?;
        }
        Ok(())
    }
}

fn poll_events(armed: Interest) -> libc::c_short {
    let mut f = 0;
    if armed.readable() {
        f |= libc::POLLIN | libc::POLLPRI;
    }
    if armed.writable() {
        f |= libc::POLLOUT;
    }
    f
}

impl Backend for Poll {
    fn name(&self) -> &'static str {
        "poll"
    }

    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        let st = self.state();
        let mut t = lock(&st.table);
        let entry = Entry {
            fd: source.as_raw_fd(),
            token,
            armed: Interest::NONE,
        };
        match t.index.get(&token) {
            Some(&pos) => t.entries[pos] = entry,
            None => {
                let pos = t.entries.len();
                t.entries.push(entry);
                t.index.insert(token, pos);
            }
        }
        Ok(())
    }

    fn arm(&self, _source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()> {
        let st = self.state();
        let mut t = lock(&st.table);
        let Some(&pos) = t.index.get(&token) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "poll backend: arm of an unregistered source",
            ));
        };
        let grew = !t.entries[pos].armed.contains(interest);
        t.entries[pos].armed = interest;
        if grew {
            self.interrupt(&t)?;
        }
        Ok(())
    }

    fn deregister(&self, _source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        let st = self.state();
        let mut t = lock(&st.table);
        if let Some(pos) = t.index.remove(&token) {
            t.entries.swap_remove(pos);
            if let Some(moved) = t.entries.get(pos).map(|e| e.token) {
                t.index.insert(moved, pos);
            }
        }
        if t.polling {
            // The poll in flight may hold this descriptor's number: wait until it returns, so
            // the caller can close it.
            self.interrupt(&t)?;
            let in_flight = t.polls;
            while t.polling && t.polls == in_flight {
                t = st.poll_done.wait(t).unwrap_or_else(|e| e.into_inner());
            }
        }
        Ok(())
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let st = self.state();
        let mut bufs = lock(&st.fds);
        let (fds, tokens) = &mut *bufs;
        {
            let mut t = lock(&st.table);
            fds.clear();
            tokens.clear();
            fds.push(libc::pollfd {
                fd: self.wake_read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            tokens.push(usize::MAX);
            for e in t.entries.iter().filter(|e| !e.armed.is_none()) {
                fds.push(libc::pollfd {
                    fd: e.fd,
                    events: poll_events(e.armed),
                    revents: 0,
                });
                tokens.push(e.token);
            }
            t.polling = true;
            t.polls = t.polls.wrapping_add(1);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let n = sys_poll(fds, timeout);
        let err = (n < 0).then(io::Error::last_os_error);
        let mut t = lock(&st.table);
        t.polling = false;
        st.poll_done.notify_all();
        if let Some(e) = err {
            return Err(e);
        }
        if fds[0].revents != 0 {
            self.drain_wake();
        }
        if n == 0 {
            return Ok(());
        }
        for (pfd, &token) in fds.iter().zip(tokens.iter()).skip(1) {
            let r = pfd.revents;
            if r == 0 {
                continue;
            }
            // Deregistered (or registered anew) during the poll: not this source any more.
            let Some(&pos) = t.index.get(&token) else {
                continue;
            };
            if t.entries[pos].fd != pfd.fd {
                continue;
            }
            if events.len() >= events.capacity() {
                break; // still armed: reported by the next wait
            }
            let failed = r & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
            let readable = failed || r & (libc::POLLIN | libc::POLLPRI) != 0;
            let writable = failed || r & libc::POLLOUT != 0;
            // Oneshot: a reported source is disarmed until the reactor arms it again.
            t.entries[pos].armed = Interest::NONE;
            events.push(Event {
                token,
                readable,
                writable,
                hup: failed,
            });
        }
        Ok(())
    }

    fn host_fds(&self, out: &mut Vec<(RawFd, Interest)>) {
        // What the next wait would poll: the wake-up channel and every armed descriptor.
        out.push((self.wake_read.as_raw_fd(), Interest::READ));
        let t = lock(&self.state().table);
        out.extend(
            t.entries
                .iter()
                .filter(|e| !e.armed.is_none())
                .map(|e| (e.fd, e.armed)),
        );
    }

    fn syscalls(&self) -> Option<u64> {
        Some(self.calls.load(Ordering::Relaxed))
    }

    fn notify(&self) -> io::Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let res = match &self.wake_write {
            Some(w) => rustix::io::write(w.as_fd(), &[1u8]),
            None => rustix::io::write(&self.wake_read, &1u64.to_ne_bytes()),
        };
        match res {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn after_fork(&self) -> io::Result<()> {
        // A new, empty state (see "Fork"; the driver registers everything again), and a new
        // wake-up channel under the old numbers.
        self.state.renew(Some(State::default()));
        let (r, w) = wake_channel()?;
        Poll::replace_fd(&self.wake_read, r)?;
        match (&self.wake_write, w) {
            (Some(old), Some(new)) => Poll::replace_fd(old, new),
            _ => Ok(()),
        }
    }
}

/// `ppoll(2)`: a timeout with nanosecond resolution.
///
/// The caller guarantees what poll needs: every descriptor of `fds` is open (the table's
/// invariant: deregister waits for a poll in flight).
#[cfg(not(target_vendor = "apple"))]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> libc::c_int {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `fds` holds `fds.len()` initialised pollfds that poll may write `revents` into;
    // the descriptors are open (above); `ts_ptr` is null or points to a live timespec; the
    // signal mask is null.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    }
}

/// `poll(2)`: Apple's systems have no `ppoll`, so the timeout is rounded up to the millisecond
/// there (kqueue, the default backend on those systems, has the finer resolution).
#[cfg(target_vendor = "apple")]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> libc::c_int {
    let ms = timeout.map_or(-1, |d| {
        d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
    });
    // SAFETY: as for `ppoll` above.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }
}

/// The wake-up channel: an eventfd (its read end is also its write end).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn wake_channel() -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    use rustix::event::{eventfd, EventfdFlags};
    Ok((
        eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
        None,
    ))
}

/// The wake-up channel: a pipe, both ends close-on-exec and non-blocking.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn wake_channel() -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    Ok((r, Some(w)))
}

/// The wake-up channel: a pipe, both ends close-on-exec and non-blocking (Apple's systems
/// lack `pipe2`, so the flags are set with `fcntl`).
#[cfg(target_vendor = "apple")]
fn wake_channel() -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use rustix::io::{fcntl_setfd, FdFlags};
    let (r, w) = rustix::pipe::pipe()?;
    for fd in [&r, &w] {
        fcntl_setfd(fd, FdFlags::CLOEXEC)?;
        fcntl_setfl(fd, fcntl_getfl(fd)? | OFlags::NONBLOCK)?;
    }
    Ok((r, Some(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn deregister_waits_for_the_poll_in_flight() {
        let b = Arc::new(Poll::new().unwrap());
        let (a, _peer) = UnixStream::pair().unwrap();
        b.register(a.as_fd(), 7).unwrap();
        b.arm(a.as_fd(), 7, Interest::READ).unwrap();
        let b2 = b.clone();
        let waiter = std::thread::spawn(move || {
            let mut ev = Events::with_capacity(8);
            // Nothing to read: only the deregistration's interrupt ends this wait early.
            b2.wait(&mut ev, Some(Duration::from_secs(20))).unwrap();
            ev.len()
        });
        // Let the thread enter poll(2).
        let start = Instant::now();
        while !lock(&b.state().table).polling {
            assert!(start.elapsed() < Duration::from_secs(10), "never polled");
            std::thread::yield_now();
        }
        b.deregister(a.as_fd(), 7).unwrap();
        // deregister returned: no poll is in flight with the descriptor any more.
        assert!(!lock(&b.state().table).polling);
        assert_eq!(waiter.join().unwrap(), 0);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_report_disarms_until_the_next_arm() {
        let b = Poll::new().unwrap();
        let (a, _peer) = UnixStream::pair().unwrap();
        b.register(a.as_fd(), 9).unwrap();
        b.arm(a.as_fd(), 9, Interest::WRITE).unwrap();
        let mut ev = Events::with_capacity(8);
        b.wait(&mut ev, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ev.iter().filter(|e| e.token == 9 && e.writable).count(), 1);
        ev.clear();
        b.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert!(ev.is_empty(), "reported again without an arm");
        b.arm(a.as_fd(), 9, Interest::WRITE).unwrap();
        b.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_eq!(ev.len(), 1);
    }
}
