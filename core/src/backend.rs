//! The contract between the runtime and an event-loop backend.
//!
//! A backend is a readiness notifier. The reactor (`crate::reactor`) registers a source (a file
//! descriptor on Unix, a socket on Windows) under a *token*, tells the backend which directions
//! it waits for with [`Backend::arm`], and [`Backend::wait`] reports [`Event`]s carrying those
//! tokens. There is one protocol for every backend, "arm, then report":
//!
//! - **Register once.** [`Backend::register`] starts tracking a source under its token; it asks
//!   for nothing yet. The token is the reactor's: it identifies the source without any lookup
//!   table, so a backend must give it back unchanged and must never invent one.
//! - **Arm, then report.** The reactor arms a direction only after an operation in that
//!   direction failed with `EAGAIN` (or found the source not ready). From [`Backend::arm`] on,
//!   the backend must report that direction at least once when the source is ready in it,
//!   including readiness that arose between the failed attempt and the arm. Arming with
//!   [`Interest::NONE`] withdraws the interest.
//!   - An edge-triggered backend satisfies this by registering both directions once (epoll with
//!     `EPOLLET`, kqueue with `EV_CLEAR`): readiness after `EAGAIN` always makes a new edge, so
//!     `arm` costs nothing there.
//!   - A oneshot backend (poll(2), IOCP's AFD polls) watches what was armed, and may stop
//!     watching the source entirely once it has reported it. The reactor re-arms the
//!     directions that still have waiters after every report, so a report never has to cover
//!     more than what was armed.
//!   - An arm takes effect for a `wait` already in progress on another thread (a backend whose
//!     kernel call cannot see it, like poll(2), restarts that call).
//! - **Spurious reports are allowed.** An event means "try the operation"; the reactor always
//!   retries the system call and handles `EAGAIN`. A source may be reported when nothing was
//!   armed, twice for one readiness, or with readiness that has gone since.
//! - **Errors and hang-ups** are reported as readable *and* writable, so every waiter retries
//!   its call and sees the error itself, and with [`Event::hup`] set: the reactor remembers that
//!   the source's read side is finished (a read will return at once, with end of file or an
//!   error), which a later edge would never say again.
//! - **Deregister.** After [`Backend::deregister`] returns, the backend no longer uses the
//!   source's descriptor, so its owner may close it at once (a backend that polls descriptor
//!   numbers, like poll(2), waits for a `wait` in progress to return first). A `wait` in
//!   progress may still report the token once: the reactor keeps every token valid until the
//!   loop has started a later `wait`.
//! - **Wait.** [`Backend::wait`] blocks for at most its timeout (`None`: without limit), with a
//!   resolution finer than a millisecond where the system call allows it (all but poll(2) on
//!   Apple's systems, which has no `ppoll`), and appends at most `events.capacity() -
//!   events.len()` events (a oneshot or level-triggered backend keeps the rest for the next
//!   wait; an edge-triggered one must not lose them). It may return `Err` of kind
//!   `Interrupted` (the driver treats it as "no events"); any other error is given by the
//!   driver to the operations waiting then, and the loop goes on, except a transient one
//!   (`OutOfMemory` or `WouldBlock`: `ENOMEM`, `EAGAIN`), which the driver retries, backing
//!   off, and gives to the operations only once it has persisted. Backends never retry
//!   themselves: the shared policy is in the driver.
//! - **Notify.** [`Backend::notify`] can be called from any thread at any time and makes a
//!   `wait` in progress, or the next one, return promptly. It is never reported as an event.
//!   The driver de-duplicates notifies: it only notifies a loop that is (about to be) blocked in
//!   `wait`.
//! - **Threads.** Methods take `&self`. `wait` is called by one thread at a time, the thread
//!   that holds the loop; `register`, `arm`, `deregister` and `notify` may be called from any
//!   thread, concurrently with `wait`. A backend never calls back into the reactor; its
//!   internal locks are leaves (the reactor may call it while holding a source's lock).
//! - **Fork.** After `fork(2)` the child shares the parent's kernel objects (an epoll instance,
//!   the wake-up eventfd or pipe): a change made by the child would change the parent's loop;
//!   a kqueue is not inherited at all. [`Backend::after_fork`], called in the child only, by
//!   its only thread, gives the backend fresh kernel objects, watching nothing, and fresh
//!   user-space state wherever a lock of it may have been held by another thread of the parent
//!   (which the child lacks; `crate::fork::Renewable` replaces a value without touching the
//!   old one); the driver then registers and arms every source again. It must not close or
//!   change anything the parent's instance holds in a way the parent can see.
//!
//! A completion backend (io_uring) fits the same contract: readiness is a poll request
//! submitted at `register` (multishot) or at `arm` (oneshot), reported as an [`Event`] like any
//! other, and batched so that one `wait` is one kernel entry. Operations the kernel completes
//! itself (file reads into a buffer the operation owns) are an extension beside this
//! contract, never a replacement for the readiness path.

use std::io;
use std::time::Duration;

/// The source type a backend registers: a file descriptor on Unix.
#[cfg(unix)]
pub type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;
/// The source type a backend registers: a socket on Windows.
#[cfg(windows)]
pub type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// Which directions of readiness are waited for.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::Interest;
/// let both = Interest::READ.add(Interest::WRITE);
/// assert!(both.readable() && both.writable());
/// assert_eq!(both.remove(Interest::READ), Interest::WRITE);
/// assert!(!Interest::NONE.readable());
/// assert!(both.contains(Interest::WRITE));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Interest(u8);

impl Interest {
    /// No interest.
    pub const NONE: Interest = Interest(0);
    /// Interest in readability.
    pub const READ: Interest = Interest(1);
    /// Interest in writability.
    pub const WRITE: Interest = Interest(2);
    /// Interest in both directions.
    pub const BOTH: Interest = Interest(3);

    /// Both interests of `self` and `other`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
    /// `self` without the interests of `other`.
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
    /// Whether every interest of `other` is in `self`.
    pub const fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether readability is asked for.
    pub const fn readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Whether writability is asked for.
    pub const fn writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// Whether nothing is asked for.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// One readiness report from [`Backend::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the source was registered under.
    pub token: usize,
    /// The source is (or may be) readable, or has hung up or failed.
    pub readable: bool,
    /// The source is (or may be) writable, or has failed.
    pub writable: bool,
    /// The source hung up or failed (`EPOLLRDHUP`/`EPOLLHUP`/`EPOLLERR`, `POLLHUP`/`POLLERR`,
    /// kqueue's `EV_EOF`): reading it will not block any more.
    pub hup: bool,
}

/// A reusable buffer of events filled by [`Backend::wait`].
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Event, Events};
/// let mut events = Events::with_capacity(8);
/// events.push(Event { token: 3, readable: true, writable: false, hup: false });
/// assert_eq!(events.iter().count(), 1);
/// assert_eq!(events.room(), 7);
/// events.clear();
/// assert!(events.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct Events {
    list: Vec<Event>,
}

impl Events {
    /// An empty buffer that holds `cap` events before growing.
    pub fn with_capacity(cap: usize) -> Events {
        Events {
            list: Vec::with_capacity(cap),
        }
    }
    /// Adds an event (used by backends).
    pub fn push(&mut self, ev: Event) {
        self.list.push(ev);
    }
    /// Removes every event.
    pub fn clear(&mut self) {
        self.list.clear();
    }
    /// The events, in the order the backend reported them.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }
    /// How many events there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// How many events fit before the buffer grows.
    pub fn capacity(&self) -> usize {
        self.list.capacity()
    }
    /// How many more events a backend may append in one wait (at least 1).
    pub fn room(&self) -> usize {
        self.capacity().saturating_sub(self.len()).max(1)
    }
}

/// An event-loop backend: see the [module documentation](self) for the contract.
pub trait Backend: Send + Sync + 'static {
    /// The backend's name as `LWT_BACKEND` spells it (`"epoll"`, `"poll"`, ...).
    fn name(&self) -> &'static str;

    /// Starts tracking `source` under `token`, with nothing armed.
    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()>;

    /// Sets what the reactor waits for on a registered source: every direction of `interest`
    /// must be reported once the source is ready in it (see the module documentation).
    fn arm(&self, source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()>;

    /// Stops tracking a source; afterwards its descriptor may be closed.
    fn deregister(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()>;

    /// Waits for events for at most `timeout` (`None`: without limit), appending them to
    /// `events`. Returns early after [`Backend::notify`].
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()>;

    /// Wakes a thread blocked in `wait`, or makes the next `wait` return at once.
    fn notify(&self) -> io::Result<()>;

    /// The descriptors a host loop must watch to know when this backend has something to
    /// report (see `crate::embed`), each with the directions to watch: appended to `out`. The
    /// default gives none (a backend with nothing a host can wait on, such as IOCP).
    fn host_fds(&self, out: &mut Vec<(crate::reactor::RawSource, Interest)>) {
        let _ = out;
    }

    /// How many system calls the backend has made (waits, registrations, arms, wake-ups), for
    /// metrics; `None` if it does not count them. Counting must cost no more than a relaxed
    /// atomic addition per call.
    fn syscalls(&self) -> Option<u64> {
        None
    }

    /// Gives the backend fresh kernel objects in a child process after `fork(2)`, watching
    /// nothing (see the module documentation, "Fork"). Called in the child only, by its only
    /// thread.
    ///
    /// The default returns `ErrorKind::Unsupported`: every backend that can run in a forked
    /// child must implement it.
    fn after_fork(&self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("the {} backend cannot be reset after fork", self.name()),
        ))
    }
}
