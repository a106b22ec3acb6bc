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
//! contract, never a replacement for the readiness path: [`Backend::completions`] gives a
//! backend's [`Completions`] (none by default), which start a [`Completion`] and hand back its
//! waker after the `wait` that saw it complete.
//!
//! # Completions: who owns what
//!
//! A [`Completion`] owns its buffer and whatever keeps its descriptor open (the `keep` value,
//! e.g. a descriptor guard). The operation's future holds one `Arc` to it and the backend
//! another from [`Completions::start`] until the kernel's completion: dropping the future (a
//! cancel) never frees memory the kernel may still write, and never lets the descriptor's
//! number be reused under the request. The backend must not free an in-flight completion even
//! when it is dropped itself (it waits for the kernel, or leaks the buffer).

use std::any::Any;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::Waker;
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

    /// The backend's completion extension (operations the kernel completes itself), if it has
    /// one; `None` by default. See the module documentation, "Completions".
    fn completions(&self) -> Option<&dyn Completions> {
        None
    }
}

/// Operations a completion backend's kernel does itself, beside the readiness contract.
///
/// Like the rest of the contract, a backend never calls back into the reactor: it records a
/// completion's result in the [`Completion`] during `wait` and keeps the waker that returns,
/// which the driver collects with [`Completions::take_woken`] after that `wait`.
///
/// # Examples
///
/// ```
/// // Only io_uring has the extension; every other backend says `None`.
/// for kind in lwt::BackendKind::available() {
///     let b = lwt::backends::open(Some(kind)).unwrap();
///     assert_eq!(b.completions().is_some(), kind == lwt::BackendKind::IoUring);
/// }
/// ```
pub trait Completions: Send + Sync {
    /// Starts `op`, batched like a registration (it goes to the kernel with the next `wait`,
    /// or at once while another thread is blocked in one). The backend keeps a clone of `op`
    /// until the kernel has completed it.
    fn start(&self, op: &Arc<Completion>) -> io::Result<()>;

    /// Asks the kernel to cancel `op` if it is still in flight. Best effort: the operation may
    /// complete anyway; its buffer is freed only after its completion either way.
    fn cancel(&self, op: &Arc<Completion>);

    /// Moves the wakers of the operations completed by the last `wait` into `out`.
    fn take_woken(&self, out: &mut Vec<Waker>);
}

/// What a [`Completion`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    /// Read up to the buffer's length at `offset` (`u64::MAX`: at the file position, which it
    /// moves), like `pread(2)` / `read(2)`.
    Read,
    /// Write the buffer at `offset` (`u64::MAX`: at the file position), like `pwrite(2)` /
    /// `write(2)`.
    Write,
    /// Flush the file to its device, like `fsync(2)` (no buffer).
    Fsync,
    /// Flush the file's data, like `fdatasync(2)` (no buffer).
    Fdatasync,
    /// Open the file named by the buffer (a path ending with its NUL byte), relative to the
    /// directory descriptor (`AT_FDCWD`: the working directory), like `openat(2)` with these
    /// `O_*` flags and mode; the result is the new descriptor. If the waiting future is gone
    /// when the kernel completes it (a canceled open), [`Completion`] closes that descriptor
    /// itself, so a canceled open leaks nothing (a file it created stays created).
    OpenAt {
        /// The `O_*` flags.
        flags: i32,
        /// The mode of a file it creates.
        mode: u32,
    },
    /// Close the descriptor, like `close(2)` (no buffer). Never canceled: a future dropped
    /// while it is in flight leaves it to finish, and one the kernel drops anyway (its ring
    /// going away) is completed by closing the descriptor on the spot, so the descriptor is
    /// closed exactly once either way.
    Close,
    /// The status of a file, like `statx(2)` with these `AT_*` flags and `STATX_*` mask: the
    /// buffer holds [`STATX_SIZE`] bytes the kernel fills with a `struct statx`, followed by
    /// the path ending with its NUL byte (empty, with `AT_EMPTY_PATH`, for the descriptor
    /// itself), relative to the directory descriptor. The result is 0.
    Statx {
        /// The `AT_*` flags (`AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`).
        flags: i32,
        /// The `STATX_*` fields asked for.
        mask: u32,
    },
}

/// The bytes at the start of a [`CompletionKind::Statx`] buffer that the kernel fills (the
/// size of Linux's `struct statx`).
pub const STATX_SIZE: usize = 256;

/// One operation a completion backend's kernel does: the descriptor, the offset, the buffer it
/// owns and, once done, the result (see the module documentation, "Completions").
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Completion, CompletionKind};
/// let op = Completion::new(CompletionKind::Read, 0, u64::MAX, vec![0; 16], Box::new(()));
/// assert_eq!(op.kind(), CompletionKind::Read);
/// assert_eq!(op.buffer().1, 16);
/// drop(op.complete(5)); // nobody waits yet (dropping it releases `keep`)
/// assert_eq!(op.take_result().map(|(r, b)| (r, b.len())), Some((5, 16)));
/// ```
pub struct Completion {
    kind: CompletionKind,
    /// # Invariant
    ///
    /// Open, and not reused for another file, until the completion: `keep` holds what keeps
    /// it so, and is dropped only after the result is recorded.
    fd: RawSourceNum,
    offset: u64,
    state: Mutex<CompletionState>,
    /// The backend's name for the request in flight (for `cancel`).
    id: std::sync::atomic::AtomicU64,
    /// How many times the backend submitted it again (see [`Completion::count_resubmit`]).
    resubmits: std::sync::atomic::AtomicU32,
}

#[cfg(unix)]
type RawSourceNum = std::os::fd::RawFd;
#[cfg(windows)]
type RawSourceNum = std::os::windows::io::RawSocket;

struct CompletionState {
    /// The kernel reads from it or writes into it while the operation is in flight; it is
    /// never resized or replaced until the result is recorded.
    buf: Vec<u8>,
    result: Option<i32>,
    waker: Option<Waker>,
    keep: Option<Box<dyn Any + Send>>,
    /// Nobody will take the result (the future was dropped): a descriptor it makes is closed.
    abandoned: bool,
}

/// What [`Completion::complete`] hands back: the waker of the task that waits (if one does)
/// and the release of what kept the descriptor open, as a waker too, so that a backend adds
/// both to the wakers the driver runs after its turn, outside the loop's private state (a drop
/// may run any code: close a descriptor, or wake a task, as `wait_for_jobs`'s count of kernel
/// jobs does). Dropping it releases `keep` at once.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Completion, CompletionKind};
/// let op = Completion::new(CompletionKind::Fsync, 0, 0, Vec::new(), Box::new(()));
/// let wakers: Vec<_> = op.complete(0).into_iter().collect();
/// assert_eq!(wakers.len(), 1); // no task waits: only the release of `keep`
/// ```
#[must_use = "dropping it releases `keep` here; a backend hands it to the driver"]
pub struct Completed {
    waker: Option<Waker>,
    release: Option<Waker>,
}

impl IntoIterator for Completed {
    type Item = Waker;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<Waker>, 2>>;

    /// The task's waker first (it only schedules the task), then the release.
    fn into_iter(self) -> Self::IntoIter {
        [self.waker, self.release].into_iter().flatten()
    }
}

impl std::fmt::Debug for Completed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completed")
            .field("waits", &self.waker.is_some())
            .field("keeps", &self.release.is_some())
            .finish()
    }
}

/// Drops a completed operation's `keep` when woken (or dropped).
struct Release(Mutex<Option<Box<dyn Any + Send>>>);

impl std::task::Wake for Release {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let keep = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(keep);
    }
}

/// `ECANCELED`: 125 on Linux, the only system with a completion backend (89 on the BSDs and
/// macOS, which have none; kept right there for the day they do).
#[cfg(unix)]
pub(crate) const fn libc_ecanceled() -> i32 {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        125
    } else {
        89
    }
}

/// Closes the descriptor a completed [`CompletionKind::OpenAt`] made, when nobody will take
/// it.
fn close_unclaimed(kind: CompletionKind, result: i32) {
    #[cfg(unix)]
    if matches!(kind, CompletionKind::OpenAt { .. }) && result >= 0 {
        // SAFETY: the kernel just made descriptor `result` for this operation, and nothing
        // else has seen it: this is its only owner.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(result) });
    }
    #[cfg(not(unix))]
    let _ = (kind, result);
}

fn lock_state(m: &Mutex<CompletionState>) -> std::sync::MutexGuard<'_, CompletionState> {
    // The critical sections are a few assignments: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Completion {
    /// An operation on descriptor `fd` at `offset` with `buf` (the bytes to write, or the
    /// space to read into); `keep` is dropped once the operation has completed (pass what
    /// keeps `fd` open).
    pub fn new(
        kind: CompletionKind,
        fd: RawSourceNum,
        offset: u64,
        buf: Vec<u8>,
        keep: Box<dyn Any + Send>,
    ) -> Arc<Completion> {
        Arc::new(Completion {
            kind,
            fd,
            offset,
            state: Mutex::new(CompletionState {
                buf,
                result: None,
                waker: None,
                keep: Some(keep),
                abandoned: false,
            }),
            id: std::sync::atomic::AtomicU64::new(0),
            resubmits: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// What it does.
    pub fn kind(&self) -> CompletionKind {
        self.kind
    }

    /// The descriptor (open until the completion, see [`Completion::new`]).
    pub fn fd(&self) -> RawSourceNum {
        self.fd
    }

    /// The file offset (`u64::MAX`: the file position).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The buffer's address and length, for the kernel. They stay valid while this value
    /// lives and no result is recorded (the buffer is neither resized nor replaced before).
    pub fn buffer(&self) -> (*mut u8, usize) {
        let mut st = lock_state(&self.state);
        (st.buf.as_mut_ptr(), st.buf.len())
    }

    /// Records the kernel's result (a byte count, or `-errno`); returns the waker of the task
    /// that waits for it and the release of `keep` (called by the backend during `wait`, which
    /// hands both to the driver with [`Completions::take_woken`]: `keep`'s drop may run any
    /// code, so it runs with the wakers, after the turn, not inside it).
    pub fn complete(&self, result: i32) -> Completed {
        #[cfg(unix)]
        let result = if self.kind == CompletionKind::Close && result == -libc_ecanceled() {
            // SAFETY: the descriptor was handed to this operation to close, and the kernel
            // did not: closing it here is its one close.
            unsafe { drop(<std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(self.fd)) };
            0
        } else {
            result
        };
        let (waker, keep, unclaimed) = {
            let mut st = lock_state(&self.state);
            let unclaimed = st.abandoned;
            if !unclaimed {
                st.result = Some(result);
            } else {
                // Recorded as taken: nobody will ask.
                st.result = None;
            }
            (st.waker.take(), st.keep.take(), unclaimed)
        };
        if unclaimed {
            close_unclaimed(self.kind, result);
        }
        Completed {
            waker,
            release: keep.map(|k| Waker::from(Arc::new(Release(Mutex::new(Some(k)))))),
        }
    }

    /// Whether nobody will take the result ([`Completion::abandon`] was called): a backend
    /// then knows that a cancellation it sees was asked for.
    pub fn is_abandoned(&self) -> bool {
        lock_state(&self.state).abandoned
    }

    /// Counts one more submission of the operation after the first (a backend submits it
    /// again when it failed for a reason of the backend's own, e.g. io_uring's submitting
    /// thread exited); returns the new count, so the backend can give up after a few.
    pub fn count_resubmit(&self) -> u32 {
        self.resubmits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(1)
    }

    /// Says that nobody will take the result (the waiting future is gone): what the
    /// operation makes (an [`CompletionKind::OpenAt`]'s descriptor) is closed at its
    /// completion, or now if it has completed already.
    pub fn abandon(&self) {
        let unclaimed = {
            let mut st = lock_state(&self.state);
            st.abandoned = true;
            st.result.take()
        };
        if let Some(r) = unclaimed {
            close_unclaimed(self.kind, r);
        }
    }

    /// The result and the buffer, once completed (taken: a second call gives `None`).
    pub fn take_result(&self) -> Option<(i32, Vec<u8>)> {
        let mut st = lock_state(&self.state);
        let r = st.result.take()?;
        Some((r, std::mem::take(&mut st.buf)))
    }

    /// Whether the result is recorded (taken or not).
    pub fn is_complete(&self) -> bool {
        let st = lock_state(&self.state);
        st.result.is_some() || st.keep.is_none()
    }

    /// Sets the waker to wake at completion; false if it has completed already.
    pub fn set_waker(&self, waker: &Waker) -> bool {
        let mut st = lock_state(&self.state);
        if st.result.is_some() {
            return false;
        }
        match &st.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => st.waker = Some(waker.clone()),
        }
        true
    }

    /// The backend's id of the request (0: not started); set by the backend.
    pub fn id(&self) -> u64 {
        self.id.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records the backend's id of the request.
    pub fn set_id(&self, id: u64) {
        self.id.store(id, std::sync::atomic::Ordering::Release);
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("kind", &self.kind)
            .field("fd", &self.fd)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}
