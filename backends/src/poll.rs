//! The poll(2) backend: level-triggered, for every Unix, with no limit on descriptor numbers
//! (unlike `select`, whose `FD_SETSIZE` of 1024 broke Lwt's default engine).
//!
//! The registered sources live in a table; each `wait` polls the sources that have interest,
//! plus the wake-up channel (an `eventfd` on Linux and Android, a pipe elsewhere).

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A poll(2) backend.
///
/// # Examples
///
/// ```
/// use lwt_core::Backend;
/// let b = lwt_backends::poll::Poll::new().unwrap();
/// assert_eq!(b.name(), "poll");
/// assert!(!b.edge_triggered());
/// ```
#[derive(Debug)]
pub struct Poll {
    table: Mutex<Table>,
    wake_read: OwnedFd,
    wake_write: Option<OwnedFd>,
}

/// # Invariant
///
/// Every raw fd in the table is open: the reactor deregisters a source before its owner
/// closes it. A descriptor closed by another thread while `poll` runs is reported as
/// `POLLNVAL`, which becomes a (spurious) event.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<(RawFd, usize, Interest)>,
    index: HashMap<usize, usize>,
}

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
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
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::event::{eventfd, EventfdFlags};
            let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            Ok(Poll {
                table: Mutex::default(),
                wake_read: fd,
                wake_write: None,
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let (r, w) = wake_pipe()?;
            Ok(Poll {
                table: Mutex::default(),
                wake_read: r,
                wake_write: Some(w),
            })
        }
    }

    fn set(&self, raw: RawFd, key: usize, interest: Interest) {
        let mut t = lock(&self.table);
        match t.index.get(&key) {
            Some(&pos) => t.entries[pos] = (raw, key, interest),
            None => {
                let pos = t.entries.len();
                t.entries.push((raw, key, interest));
                t.index.insert(key, pos);
            }
        }
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

    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = rustix::io::read(&self.wake_read, &mut buf) {
            if n < buf.len() || self.wake_write.is_none() {
                break;
            }
        }
    }
}

impl Backend for Poll {
    fn name(&self) -> &'static str {
        "poll"
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
        self.set(source.as_raw_fd(), key, interest);
        Ok(())
    }

    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.set(source.as_raw_fd(), key, interest);
        Ok(())
    }

    fn deregister(&self, _source: BorrowedSource<'_>, key: usize) -> io::Result<()> {
        let mut t = lock(&self.table);
        if let Some(pos) = t.index.remove(&key) {
            t.entries.swap_remove(pos);
            if let Some(&(_, moved, _)) = t.entries.get(pos) {
                t.index.insert(moved, pos);
            }
        }
        Ok(())
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let watched: Vec<(RawFd, usize, Interest)> = lock(&self.table)
            .entries
            .iter()
            .filter(|e| e.2 != Interest::NONE)
            .copied()
            .collect();
        let mut fds = Vec::with_capacity(watched.len() + 1);
        fds.push(PollFd::new(&self.wake_read, PollFlags::IN));
        for &(raw, _, interest) in &watched {
            let mut f = PollFlags::empty();
            if interest.readable() {
                f |= PollFlags::IN | PollFlags::PRI;
            }
            if interest.writable() {
                f |= PollFlags::OUT;
            }
            // SAFETY: the table's invariant: `raw` is open until deregistered (see `Table`).
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            fds.push(PollFd::from_borrowed_fd(fd, f));
        }
        let ts = timeout.map(|d| {
            Timespec::try_from(d).unwrap_or(Timespec {
                tv_sec: i64::MAX / 1000,
                tv_nsec: 0,
            })
        });
        let n = rustix::event::poll(&mut fds, ts.as_ref())?;
        if n == 0 {
            return Ok(());
        }
        if !fds[0].revents().is_empty() {
            self.drain_wake();
        }
        for (pfd, &(_, key, _)) in fds[1..].iter().zip(&watched) {
            let r = pfd.revents();
            if r.is_empty() {
                continue;
            }
            if events.len() >= events.capacity() {
                break; // the rest is reported by the next wait (level-triggered)
            }
            let err = r.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
            events.push(Event {
                key,
                readable: err || r.intersects(PollFlags::IN | PollFlags::PRI),
                writable: err || r.contains(PollFlags::OUT),
            });
        }
        Ok(())
    }

    fn notify(&self) -> io::Result<()> {
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
        // The table lives in this process's memory; only the wake-up channel is shared with
        // the parent and must be replaced.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::event::{eventfd, EventfdFlags};
            let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            Poll::replace_fd(&self.wake_read, wake)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let (r, w) = wake_pipe()?;
            Poll::replace_fd(&self.wake_read, r)?;
            match &self.wake_write {
                Some(old) => Poll::replace_fd(old, w),
                None => Ok(()),
            }
        }
    }
}

/// The wake-up pipe, both ends close-on-exec and non-blocking.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pipe::{pipe_with, PipeFlags};
    Ok(pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?)
}

/// The wake-up pipe, both ends close-on-exec and non-blocking (Apple's systems lack
/// `pipe2`, so the flags are set with `fcntl`).
#[cfg(target_vendor = "apple")]
fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use rustix::io::{fcntl_setfd, FdFlags};
    let (r, w) = rustix::pipe::pipe()?;
    for fd in [&r, &w] {
        fcntl_setfd(fd, FdFlags::CLOEXEC)?;
        fcntl_setfl(fd, fcntl_getfl(fd)? | OFlags::NONBLOCK)?;
    }
    Ok((r, w))
}
