//! The epoll backend (Linux, Android): persistent, edge-triggered registrations.
//!
//! Each source is added once with `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`, so a readiness
//! cycle costs no `epoll_ctl`. The wake-up channel is an `eventfd`.

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use rustix::event::{epoll, eventfd, EventfdFlags, Timespec};
use rustix::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

/// The key of the wake-up eventfd; never a slab key.
const WAKE_KEY: u64 = u64::MAX;
/// Events collected per `epoll_wait`.
const BATCH: usize = 256;

/// An epoll instance with its wake-up eventfd.
///
/// # Examples
///
/// ```
/// use lwt_core::Backend;
/// let b = lwt_backends::epoll::Epoll::new().unwrap();
/// assert_eq!(b.name(), "epoll");
/// assert!(b.edge_triggered());
/// ```
#[derive(Debug)]
pub struct Epoll {
    epfd: OwnedFd,
    wake: OwnedFd,
}

fn flags(interest: Interest) -> epoll::EventFlags {
    let mut f = epoll::EventFlags::ET | epoll::EventFlags::RDHUP;
    if interest.readable() {
        f |= epoll::EventFlags::IN;
    }
    if interest.writable() {
        f |= epoll::EventFlags::OUT;
    }
    f
}

impl Epoll {
    /// Creates the epoll instance and its eventfd (both close-on-exec).
    ///
    /// # Errors
    ///
    /// The errors of `epoll_create1` and `eventfd` (e.g. `EMFILE`).
    pub fn new() -> io::Result<Epoll> {
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epfd,
            &wake,
            epoll::EventData::new_u64(WAKE_KEY),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Ok(Epoll { epfd, wake })
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
        let mut buf = [0u8; 8];
        // Non-blocking: EAGAIN means it was already drained, which is fine.
        let _ = rustix::io::read(&self.wake, &mut buf);
    }
}

impl Backend for Epoll {
    fn name(&self) -> &'static str {
        "epoll"
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
        epoll::add(
            &self.epfd,
            source,
            epoll::EventData::new_u64(key as u64),
            flags(interest),
        )?;
        Ok(())
    }

    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()> {
        epoll::modify(
            &self.epfd,
            source,
            epoll::EventData::new_u64(key as u64),
            flags(interest),
        )?;
        Ok(())
    }

    fn deregister(&self, source: BorrowedSource<'_>, _key: usize) -> io::Result<()> {
        epoll::delete(&self.epfd, source)?;
        Ok(())
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut buf = [MaybeUninit::<epoll::Event>::uninit(); BATCH];
        let cap = events.capacity().clamp(1, BATCH);
        let ts = timeout.map(|d| {
            Timespec::try_from(d).unwrap_or(Timespec {
                tv_sec: i64::MAX / 1000,
                tv_nsec: 0,
            })
        });
        let (ready, _) = epoll::wait(&self.epfd, &mut buf[..cap], ts.as_ref())?;
        for ev in ready.iter() {
            let key = ev.data.u64();
            if key == WAKE_KEY {
                self.drain_wake();
                continue;
            }
            let f = ev.flags;
            let err = f.intersects(epoll::EventFlags::ERR | epoll::EventFlags::HUP);
            events.push(Event {
                key: key as usize,
                readable: err
                    || f.intersects(
                        epoll::EventFlags::IN | epoll::EventFlags::PRI | epoll::EventFlags::RDHUP,
                    ),
                writable: err || f.contains(epoll::EventFlags::OUT),
            });
        }
        Ok(())
    }

    fn notify(&self) -> io::Result<()> {
        match rustix::io::write(&self.wake, &1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is saturated: the loop is woken anyway.
            Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn after_fork(&self) -> io::Result<()> {
        // The wake-up eventfd first, so the new instance watches the final descriptor.
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Epoll::replace_fd(&self.wake, wake)?;
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &epfd,
            &self.wake,
            epoll::EventData::new_u64(WAKE_KEY),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Epoll::replace_fd(&self.epfd, epfd)
    }
}
