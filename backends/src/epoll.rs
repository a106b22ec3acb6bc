//! The epoll backend (Linux, Android): persistent, edge-triggered registrations.
//!
//! Each source is added once with `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`: readiness after
//! an `EAGAIN` always makes a new edge, so [`Backend::arm`] costs nothing and a readiness cycle
//! costs no `epoll_ctl`.
//!
//! The wake-up channel is an `eventfd`, also edge-triggered: every write makes an edge, so it
//! is never read back (except to reset a counter that would overflow).
//!
//! Timeouts finer than a millisecond use `epoll_pwait2` (Linux 5.11); on an older kernel a
//! `timerfd` armed for the timeout wakes the wait instead (plain `epoll_wait` rounds up to the
//! millisecond).

use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use rustix::event::{epoll, eventfd, EventfdFlags};
use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use rustix::time::{timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId};
use rustix::time::{TimerfdFlags, TimerfdTimerFlags, Timespec};
use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The token of the wake-up eventfd; never a source's (tokens are addresses).
const WAKE_TOKEN: u64 = u64::MAX;
/// The token of the timeout timerfd.
const TIMER_TOKEN: u64 = u64::MAX - 1;
/// Events collected per `epoll_wait`.
const BATCH: usize = 256;

/// An epoll instance with its wake-up eventfd (and, on kernels without `epoll_pwait2`, a
/// timerfd for sub-millisecond timeouts).
///
/// # Examples
///
/// ```
/// use lwt_core::Backend;
/// let b = lwt_backends::epoll::Epoll::new().unwrap();
/// assert_eq!(b.name(), "epoll");
/// ```
#[derive(Debug)]
pub struct Epoll {
    epfd: OwnedFd,
    wake: OwnedFd,
    /// `None`: the kernel has `epoll_pwait2`.
    timer: Option<OwnedFd>,
    /// System calls made (for metrics).
    calls: AtomicU64,
}

fn source_flags() -> epoll::EventFlags {
    epoll::EventFlags::IN
        | epoll::EventFlags::OUT
        | epoll::EventFlags::RDHUP
        | epoll::EventFlags::ET
}

impl Epoll {
    /// Creates the epoll instance and its eventfd (both close-on-exec).
    ///
    /// # Errors
    ///
    /// The errors of `epoll_create1`, `eventfd` and `timerfd_create` (e.g. `EMFILE`).
    pub fn new() -> io::Result<Epoll> {
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let timer = if has_pwait2(&epfd) {
            None
        } else {
            Some(new_timer(&epfd)?)
        };
        Epoll::finish(epfd, timer)
    }

    /// An instance that uses a timerfd for sub-millisecond timeouts even where the kernel
    /// has `epoll_pwait2` (to test that path).
    #[cfg(test)]
    fn with_timerfd() -> io::Result<Epoll> {
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let timer = Some(new_timer(&epfd)?);
        Epoll::finish(epfd, timer)
    }

    fn finish(epfd: OwnedFd, timer: Option<OwnedFd>) -> io::Result<Epoll> {
        let wake = new_wake(&epfd)?;
        Ok(Epoll {
            epfd,
            wake,
            timer,
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

    /// One `epoll_wait` (millisecond timeout, -1: none) or `epoll_pwait2` (exact timeout).
    fn sys_wait(
        &self,
        buf: &mut [MaybeUninit<libc::epoll_event>],
        timeout: Wait,
    ) -> io::Result<usize> {
        let (ptr, len) = (
            buf.as_mut_ptr().cast::<libc::epoll_event>(),
            buf.len() as i32,
        );
        let n = match timeout {
            // SAFETY: `ptr` points to `len` writable events; epoll writes at most `len`.
            Wait::Millis(ms) => unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), ptr, len, ms) },
            Wait::Exact(ts) => {
                // SAFETY: as above; `ts` is a valid timespec and the signal mask is null (the
                // size argument is then ignored).
                unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        self.epfd.as_raw_fd(),
                        ptr,
                        len,
                        &ts as *const libc::timespec,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    ) as i32
                }
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// How one wait is made.
enum Wait {
    Millis(i32),
    Exact(libc::timespec),
}

fn new_wake(epfd: &OwnedFd) -> io::Result<OwnedFd> {
    let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
    epoll::add(
        epfd,
        &wake,
        epoll::EventData::new_u64(WAKE_TOKEN),
        epoll::EventFlags::IN | epoll::EventFlags::ET,
    )?;
    Ok(wake)
}

fn new_timer(epfd: &OwnedFd) -> io::Result<OwnedFd> {
    let timer = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
    )?;
    epoll::add(
        epfd,
        &timer,
        epoll::EventData::new_u64(TIMER_TOKEN),
        epoll::EventFlags::IN | epoll::EventFlags::ET,
    )?;
    Ok(timer)
}

/// Whether the kernel has `epoll_pwait2` (Linux 5.11; a seccomp filter may also refuse it).
fn has_pwait2(epfd: &OwnedFd) -> bool {
    let mut ev = MaybeUninit::<libc::epoll_event>::uninit();
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: one writable event; a zero timeout, a null signal mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epfd.as_raw_fd(),
            ev.as_mut_ptr(),
            1i32,
            &ts as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    r >= 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// `d` in whole milliseconds, rounded up, at most `i32::MAX` (the driver waits again).
fn ceil_millis(d: Duration) -> i32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128) as i32
}

impl Backend for Epoll {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        epoll::add(
            &self.epfd,
            source,
            epoll::EventData::new_u64(token as u64),
            source_flags(),
        )?;
        Ok(())
    }

    fn arm(&self, _source: BorrowedSource<'_>, _token: usize, _: Interest) -> io::Result<()> {
        // Both directions are registered once, edge-triggered: nothing to do.
        Ok(())
    }

    fn deregister(&self, source: BorrowedSource<'_>, _token: usize) -> io::Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        epoll::delete(&self.epfd, source)?;
        Ok(())
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut buf = [MaybeUninit::<libc::epoll_event>::uninit(); BATCH];
        let cap = events.room().min(BATCH);
        let how = match timeout {
            None => Wait::Millis(-1),
            Some(d) if d.subsec_nanos() % 1_000_000 == 0 => Wait::Millis(ceil_millis(d)),
            Some(d) => match &self.timer {
                None => Wait::Exact(timespec(d)),
                Some(timer) => {
                    let spec = Itimerspec {
                        it_interval: Timespec {
                            tv_sec: 0,
                            tv_nsec: 0,
                        },
                        it_value: Timespec::try_from(d).unwrap_or(Timespec {
                            tv_sec: i64::MAX / 2,
                            tv_nsec: 0,
                        }),
                    };
                    self.calls.fetch_add(1, Ordering::Relaxed);
                    timerfd_settime(timer, TimerfdTimerFlags::empty(), &spec)?;
                    // The timerfd ends the wait at the exact time; the rounded-up timeout is
                    // only a backstop.
                    Wait::Millis(ceil_millis(d))
                }
            },
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let n = self.sys_wait(&mut buf[..cap], how)?;
        for ev in &buf[..n] {
            // SAFETY: the kernel initialised the first `n` events.
            let ev = unsafe { ev.assume_init() };
            let token = ev.u64;
            if token == WAKE_TOKEN || token == TIMER_TOKEN {
                continue; // edge-triggered: never read back
            }
            let f = epoll::EventFlags::from_bits_retain(ev.events);
            let err = f.intersects(epoll::EventFlags::ERR | epoll::EventFlags::HUP);
            events.push(Event {
                token: token as usize,
                readable: err
                    || f.intersects(
                        epoll::EventFlags::IN | epoll::EventFlags::PRI | epoll::EventFlags::RDHUP,
                    ),
                writable: err || f.contains(epoll::EventFlags::OUT),
                hup: err || f.contains(epoll::EventFlags::RDHUP),
            });
        }
        Ok(())
    }

    fn host_fds(&self, out: &mut Vec<(std::os::fd::RawFd, Interest)>) {
        // The instance is readable while it has events (wake-ups included).
        out.push((self.epfd.as_raw_fd(), Interest::READ));
    }

    fn syscalls(&self) -> Option<u64> {
        Some(self.calls.load(Ordering::Relaxed))
    }

    fn notify(&self) -> io::Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let one = 1u64.to_ne_bytes();
        match rustix::io::write(&self.wake, &one) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::AGAIN) => {
                // The counter is full (after 2^64 - 2 wake-ups): reset it and write again.
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&self.wake, &mut buf);
                match rustix::io::write(&self.wake, &one) {
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn after_fork(&self) -> io::Result<()> {
        // A new instance first, then new wake-up and timer descriptors registered in it, each
        // put onto the old numbers (so no field changes), then the instance itself.
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Epoll::replace_fd(&self.wake, wake)?;
        epoll::add(
            &epfd,
            self.wake.as_fd(),
            epoll::EventData::new_u64(WAKE_TOKEN),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        if let Some(timer) = &self.timer {
            let fresh = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
            )?;
            Epoll::replace_fd(timer, fresh)?;
            epoll::add(
                &epfd,
                timer.as_fd(),
                epoll::EventData::new_u64(TIMER_TOKEN),
                epoll::EventFlags::IN | epoll::EventFlags::ET,
            )?;
        }
        Epoll::replace_fd(&self.epfd, epfd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Waits `n` times for `d` with nothing to report; the total time.
    fn waits(b: &Epoll, n: u32, d: Duration) -> Duration {
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        for _ in 0..n {
            b.wait(&mut events, Some(d)).unwrap();
            assert!(events.is_empty());
        }
        start.elapsed()
    }

    #[test]
    fn sub_millisecond_timeouts_are_not_rounded_to_a_millisecond() {
        // 200 waits of 50 us take about 200 x 1.05 ms (>= 200 ms) when rounded up to the
        // millisecond; exact ones about 200 x 0.1 ms. The bound leaves a wide margin for a
        // loaded machine while still failing the rounded-up behaviour.
        for b in [Epoll::new().unwrap(), Epoll::with_timerfd().unwrap()] {
            let took = waits(&b, 200, Duration::from_micros(50));
            assert!(took >= Duration::from_millis(10), "{took:?}");
            assert!(
                took < Duration::from_millis(150),
                "200 waits of 50 us took {took:?} (timerfd path: {})",
                b.timer.is_some()
            );
        }
    }

    /// The kernel's release as (major, minor), from `uname`.
    fn kernel() -> (u32, u32) {
        let u = rustix::system::uname();
        let r = u.release().to_string_lossy();
        let mut parts = r
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Linux 5.11 has `epoll_pwait2`: no timerfd is made, and no second system call per
    /// timed wait. (A kernel or a seccomp filter that refuses it gets the timerfd instead:
    /// `tests/backend_fallback.rs` refuses it in a child process.)
    #[test]
    fn a_kernel_with_epoll_pwait2_needs_no_timerfd() {
        if kernel() < (5, 11) {
            return;
        }
        let b = Epoll::new().unwrap();
        assert!(b.timer.is_none(), "a timerfd on Linux {:?}", kernel());
        let before = b.calls.load(Ordering::Relaxed);
        waits(&b, 3, Duration::from_micros(50));
        assert_eq!(
            b.calls.load(Ordering::Relaxed) - before,
            3,
            "one call per wait"
        );
        // What the metrics report.
        assert_eq!(b.syscalls(), Some(b.calls.load(Ordering::Relaxed)));
        assert!(b.syscalls() >= Some(3));
    }

    /// Every descriptor an instance owns is close-on-exec (a program the loop starts must not
    /// inherit them), and the wake-up and timer descriptors are non-blocking (the loop reads
    /// them only to reset them).
    #[test]
    fn every_descriptor_is_close_on_exec_and_the_wake_up_and_timer_non_blocking() {
        use rustix::io::{fcntl_getfd, FdFlags};
        let nonblocking = |fd: &OwnedFd| {
            rustix::fs::fcntl_getfl(fd)
                .unwrap()
                .contains(rustix::fs::OFlags::NONBLOCK)
        };
        for b in [Epoll::new().unwrap(), Epoll::with_timerfd().unwrap()] {
            // As made, and as made afresh by `after_fork` (which works in the parent too).
            for when in ["new", "after fork"] {
                if when == "after fork" {
                    b.after_fork().unwrap();
                }
                let mut fds = vec![("epoll", &b.epfd), ("wake-up", &b.wake)];
                if let Some(t) = &b.timer {
                    fds.push(("timer", t));
                }
                for (what, fd) in fds {
                    assert!(
                        fcntl_getfd(fd).unwrap().contains(FdFlags::CLOEXEC),
                        "{when}: the {what} descriptor is inherited by exec"
                    );
                    if what != "epoll" {
                        assert!(nonblocking(fd), "{when}: the {what} descriptor blocks");
                    }
                }
                // The new instance still wakes and times out.
                b.notify().unwrap();
                let mut events = Events::with_capacity(8);
                let start = Instant::now();
                b.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{when}: notify lost"
                );
                let took = waits(&b, 20, Duration::from_micros(50));
                assert!(took < Duration::from_millis(100), "{when}: {took:?}");
            }
        }
    }

    #[test]
    fn notify_wakes_a_wait_without_reporting_anything() {
        let b = Epoll::new().unwrap();
        for _ in 0..3 {
            b.notify().unwrap();
            let mut events = Events::with_capacity(8);
            let start = Instant::now();
            b.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
            assert!(start.elapsed() < Duration::from_secs(5));
            assert!(events.is_empty());
        }
    }
}
