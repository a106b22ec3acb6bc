//! The contract between the runtime and an event-loop backend.
//!
//! A backend is a readiness notifier: the reactor registers a source (a file descriptor on
//! Unix, a socket on Windows) under a `key` with an [`Interest`], and [`Backend::wait`] reports
//! [`Event`]s carrying those keys. Every backend guarantees:
//!
//! - **Keys.** Events carry the key given at registration; the reactor maps keys to sources.
//!   A backend never reports its own internal sources (its wake-up channel).
//! - **Spurious events are allowed.** An event means "try the operation"; the reactor always
//!   tries the system call and handles `EAGAIN`. A backend may report readiness that has gone.
//! - **Edge or level.** [`Backend::edge_triggered`] says which. An edge-triggered backend
//!   reports a source again only after new readiness arrives; the reactor registers both
//!   directions once and never re-arms. A level-triggered backend reports a source as long as
//!   it is ready *and* interest in that direction is set; the reactor calls
//!   [`Backend::modify`] to set interest only while some operation waits in that direction.
//! - **Errors and hang-ups** are reported as readable *and* writable, so every waiter retries
//!   its call and sees the error itself.
//! - **EINTR.** `wait` may return `Err` of kind `Interrupted`; the runtime treats it as "no
//!   events" and loops. Backends do not retry themselves (the shared policy is in the core).
//! - **Notify.** [`Backend::notify`] can be called from any thread at any time and makes a
//!   `wait` in progress (or the next one) return promptly. The runtime de-duplicates notifies:
//!   it only notifies a loop that is (about to be) blocked in `wait`.
//! - **Threads.** Methods take `&self`. `wait` is called by one thread at a time (the thread
//!   that owns the loop); `register`, `modify`, `deregister` and `notify` may be called from any
//!   thread, concurrently with `wait`.
//! - **Fork.** After `fork(2)` the child shares the parent's kernel objects (an epoll or kqueue
//!   instance, the wake-up eventfd or pipe): a change made by the child would change the
//!   parent's loop. [`Backend::after_fork`], called in the child only, gives the backend fresh
//!   kernel objects: it creates a new instance and a new wake-up channel and `dup2`s them onto
//!   the old descriptor numbers, so no field has to change. The child's instance then watches
//!   nothing; the runtime registers every source again right after.

use std::io;
use std::time::Duration;

/// The source type a backend registers: a file descriptor on Unix.
#[cfg(unix)]
pub type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;
/// The source type a backend registers: a socket on Windows.
#[cfg(windows)]
pub type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// Which directions of readiness a registration asks for.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::Interest;
/// let both = Interest::READ.add(Interest::WRITE);
/// assert!(both.readable() && both.writable());
/// assert!(!Interest::NONE.readable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Interest(u8);

impl Interest {
    /// No interest: the source stays registered but is not reported.
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
    /// Whether readability is asked for.
    pub const fn readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Whether writability is asked for.
    pub const fn writable(self) -> bool {
        self.0 & 2 != 0
    }
}

/// One readiness report from [`Backend::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The key the source was registered under.
    pub key: usize,
    /// The source is (or may be) readable, or has hung up or failed.
    pub readable: bool,
    /// The source is (or may be) writable, or has failed.
    pub writable: bool,
}

/// A reusable buffer of events filled by [`Backend::wait`].
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Event, Events};
/// let mut events = Events::with_capacity(8);
/// events.push(Event { key: 3, readable: true, writable: false });
/// assert_eq!(events.iter().count(), 1);
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
    /// How many events fit before the buffer grows (backends ask for at most this many).
    pub fn capacity(&self) -> usize {
        self.list.capacity()
    }
}

/// An event-loop backend: see the [module documentation](self) for the contract.
pub trait Backend: Send + Sync + 'static {
    /// The backend's name as `LWT_BACKEND` spells it (`"epoll"`, `"poll"`, ...).
    fn name(&self) -> &'static str;

    /// Whether readiness is reported once per change (true) or as long as it lasts (false).
    fn edge_triggered(&self) -> bool;

    /// Starts watching `source` under `key` with `interest`.
    fn register(
        &self,
        source: BorrowedSource<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Changes the interest of a registered source.
    fn modify(&self, source: BorrowedSource<'_>, key: usize, interest: Interest) -> io::Result<()>;

    /// Stops watching a source. After it returns, `wait` no longer reports `key` (an event
    /// already collected by a concurrent `wait` may still be reported once).
    fn deregister(&self, source: BorrowedSource<'_>, key: usize) -> io::Result<()>;

    /// Waits for events for at most `timeout` (`None`: without limit), appending them to
    /// `events` (at most `events.capacity()` of them). Returns early after [`Backend::notify`].
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()>;

    /// Wakes a thread blocked in `wait`, or makes the next `wait` return at once.
    fn notify(&self) -> io::Result<()>;

    /// Recreates the backend's kernel objects in a child process after `fork(2)` (see the
    /// module documentation, "Fork"): a new instance and a new wake-up channel, put in place of
    /// the old ones (`dup2` onto the same numbers). Afterwards the backend watches no source;
    /// the runtime registers them all again. Called in the child only, by one thread.
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
