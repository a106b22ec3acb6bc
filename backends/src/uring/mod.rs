//! The io_uring backend (Linux 5.13+): readiness through the ring, one kernel entry per turn.
//!
//! Sources keep the readiness contract of every other backend ("arm, then report",
//! `lwt_core::backend`): each registered descriptor gets **one multishot `IORING_OP_POLL_ADD`**
//! (`POLLIN | POLLOUT | POLLRDHUP`), submitted with the next `wait`. The kernel posts a
//! completion for every wake-up of the descriptor's wait queue, as epoll's edge-triggered mode
//! reports an edge, so [`Backend::arm`] costs nothing while the poll is in flight; the reactor
//! then makes the same non-blocking calls as on epoll, and a cancelled read consumes nothing.
//! A multishot poll the kernel ends (a completion without `IORING_CQE_F_MORE`: an error, an
//! overflow) is reported as readable and writable, and submitted again at the next `arm`, never
//! before, so a source nobody waits for costs nothing.
//!
//! Submissions are batched: `register`, `arm` and the re-polls only write entries into the
//! submission queue, and [`Backend::wait`] submits them and waits in the same
//! `io_uring_enter`, with an exact timeout (`IORING_ENTER_EXT_ARG`, so sub-millisecond
//! timeouts are not rounded). A `wait` with a zero timeout and nothing to submit makes no
//! system call at all: it reads the completion queue in memory. Two calls are not batched:
//! `deregister` cancels the poll at once and waits for it to let go of the file
//! (`IORING_REGISTER_SYNC_CANCEL`, Linux 6.0; before it, an `IORING_OP_POLL_REMOVE` submitted
//! at once and again if it found the poll busy, `EALREADY`), because a poll holds a reference
//! to the file: the descriptor's owner may close it right after and the file is really closed,
//! as after `epoll_ctl(EPOLL_CTL_DEL)` (a peer sees end of file). And a `register`/`arm` made
//! by another thread while the loop is blocked in `wait` submits itself, so it takes effect for
//! that wait.
//!
//! The wake-up channel is an `eventfd` watched by a multishot poll of its own and never read
//! back (every write wakes its wait queue, as epoll's edge does).
//!
//! # Who owns what
//!
//! - [`Uring`] owns one ring per runtime: the ring moves with the loop when `switch` hands it
//!   to a stand-in thread. It is a plain ring (no `SINGLE_ISSUER`, no `DEFER_TASKRUN`, no
//!   `COOP_TASKRUN`): any thread may submit, and the kernel interrupts the thread that
//!   submitted a poll to post its completions, so they arrive while that thread is blocked in
//!   an interruptible call (a thread in uninterruptible disk sleep delays the completions of
//!   the polls *it* submitted until it returns).
//! - The **submission queue** is written only under the `state` lock, which also holds the
//!   registration table. The **completion queue** is read only by `wait`, which one thread
//!   calls at a time (the backend contract), without the lock.
//! - Each registration has an entry in the table: its token, its descriptor, a generation and
//!   whether a poll is in flight. A completion's `user_data` names the entry and its
//!   generation; a completion of a registration that is gone (its removal raced with a
//!   report) is dropped, so a token is never reported after the `wait` that follows its
//!   `deregister` (the contract's "Deregister"), and an address reused by a new source never
//!   receives an old poll's completions.
//! - Poll requests lend the kernel no buffer. File operations ([`Completions`], the extension
//!   beside the readiness contract) do: each [`Completion`] owns its buffer and the guard that
//!   keeps its descriptor open, and the table holds an `Arc` to it from `start` until its
//!   completion, whatever happens to its future (a dropped future only queues an
//!   `IORING_OP_ASYNC_CANCEL`). Dropping the backend cancels what is still in flight and waits
//!   for every completion (at most 10 s, then leaks the buffers rather than free memory the
//!   kernel may still write).
//!
//! # Locks
//!
//! One lock, `state`: a leaf, taken under the reactor's source locks (`arm`), never held
//! while waiting in the kernel, nor while a completed file operation is finished (finishing
//! it releases its descriptor's guard, which may close the descriptor).
//!
//! # Fork
//!
//! The ring's memory is mapped `MADV_DONTFORK`, so a child process never shares the parent's
//! queues. [`Backend::after_fork`] (in the child) builds a new ring and eventfd, closes the
//! child's copies of the parent's, and forgets the parent's mappings (they are not in the
//! child). A child that did not call it gets an error from every method (a `pthread_atfork`
//! handler counts forks), never a write into a ring that is not its own.

mod completions;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use lwt_core::backend::{Backend, BorrowedSource, Event, Events, Interest};
use lwt_core::backend::{Completion, Completions};
use rustix::event::{eventfd, EventfdFlags};
use slab::Slab;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

/// Submission queue entries (the queue is submitted whenever it fills up).
const SQ_ENTRIES: u32 = 256;
/// Completion queue entries: room for many reports between two waits (the kernel keeps the
/// rest on its overflow list, `IORING_FEAT_NODROP`, and the next wait flushes them).
const CQ_ENTRIES: u32 = 4096;

/// What a completion is for, in the low byte of its `user_data`.
const TAG_POLL: u64 = 1;
const TAG_REMOVE: u64 = 2;
const TAG_WAKE: u64 = 3;
const TAG_OP: u64 = 4;
const TAG_CANCEL: u64 = 5;
/// The largest read or write one request makes (the caller sees a short count).
const MAX_OP_LEN: usize = 1 << 30;

/// The poll mask of every source.
const POLL_MASK: u32 = (libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP) as u32;

fn user_data(key: usize, gen: u32, tag: u64) -> u64 {
    ((key as u64) << 40) | ((gen as u64) << 8) | tag
}

fn decode(ud: u64) -> (usize, u32, u64) {
    ((ud >> 40) as usize, (ud >> 8) as u32, ud & 0xff)
}

/// How many `fork(2)`s this process has made (counted in the child by a `pthread_atfork`
/// handler): a ring made before the latest one belongs to the parent.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

fn watch_forks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `count_fork` is async-signal-safe (one atomic add) and lives forever. A
        // failure (ENOMEM) only loses the check, which the docs of `after_fork` describe.
        unsafe {
            libc::pthread_atfork(None, None, Some(count_fork));
        }
    });
}

/// One registration in the table.
struct Reg {
    token: usize,
    gen: u32,
    /// # Invariant
    ///
    /// Open while registered (the reactor deregisters before the owner closes it).
    fd: RawFd,
    /// A multishot poll is in flight for it.
    polling: bool,
}

#[derive(Default)]
struct State {
    regs: Slab<Reg>,
    by_token: HashMap<usize, usize>,
    next_gen: u32,
    wake_polling: bool,
    /// File operations in flight, with their generation: each is kept (its buffer with it)
    /// until its completion.
    ops: Slab<(u32, Arc<Completion>)>,
    /// Wakers of the operations completed by the last `wait`, for the driver.
    woken: Vec<std::task::Waker>,
}

/// The ring and what goes with it; replaced whole in a forked child.
struct Inner {
    ring: IoUring,
    wake: OwnedFd,
    state: Mutex<State>,
    /// The loop is (about to be) blocked in `io_uring_enter`: a submission from another thread
    /// must enter the kernel itself to take effect for that wait.
    in_wait: AtomicBool,
    /// How many registrations have no poll in flight (their multishot poll ended): while it is
    /// zero, `arm` returns without taking the lock.
    idle: AtomicUsize,
    /// `IORING_REGISTER_SYNC_CANCEL` works here (until it fails with `EINVAL`).
    sync_cancel: AtomicBool,
    /// The value of [`FORKS`] when the ring was made.
    forks: u64,
}

/// An io_uring instance with its wake-up eventfd and registration table.
///
/// # Examples
///
/// ```
/// use lwt_core::Backend;
/// # if lwt_backends::BackendKind::IoUring.is_available() {
/// let b = lwt_backends::uring::Uring::new().unwrap();
/// assert_eq!(b.name(), "io_uring");
/// # }
/// ```
pub struct Uring {
    /// # Invariant
    ///
    /// Written only by [`Backend::after_fork`], in a child process that has one thread, while
    /// no other reference into it exists; read through [`Uring::inner`] everywhere else.
    inner: UnsafeCell<Box<Inner>>,
}

// SAFETY: `Inner` is `Send + Sync` (the ring's queues are accessed as its module doc says: the
// submission queue under `state`, the completion queue by the one waiting thread), and the
// cell is only written in a forked child with no other thread (see `inner`'s invariant).
unsafe impl Sync for Uring {}
// SAFETY: as above; nothing in `Inner` is tied to a thread.
unsafe impl Send for Uring {}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("ring", &self.inner().ring.as_raw_fd())
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every critical section leaves the table consistent (a few container operations).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// Why the kernel refuses io_uring, for the error messages.
fn why(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "ENOSYS: this kernel has no io_uring",
        Some(libc::EPERM) => {
            "EPERM: refused by a seccomp filter (containers' default) or kernel.io_uring_disabled"
        }
        Some(libc::ENOMEM) => "ENOMEM: no memory for the ring (memlock or memory cgroup limit)",
        Some(libc::EINVAL) => "EINVAL: this kernel lacks a feature lwt needs",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP: io_uring is not supported here",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "too many open files",
        _ => "unexpected error",
    }
}

impl Inner {
    fn new() -> io::Result<Inner> {
        watch_forks();
        let forks = FORKS.load(Ordering::Relaxed);
        let ring = IoUring::builder()
            .dontfork()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(|e| annotate(e, "io_uring_setup"))?;
        let p = ring.params();
        if !p.is_feature_ext_arg() || !p.is_feature_nodrop() || !p.is_feature_resource_tagging() {
            // EXT_ARG (5.11): exact wait timeouts; NODROP (5.5): no lost completion; resource
            // tagging is 5.13, the release of multishot poll.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring: this kernel lacks IORING_FEAT_EXT_ARG, NODROP or the 5.13 features \
                 (multishot poll); Linux 5.13 or later is needed",
            ));
        }
        let mut probe = io_uring::Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| annotate(e, "io_uring_register(PROBE)"))?;
        for (code, name) in [
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
            (opcode::PollRemove::CODE, "IORING_OP_POLL_REMOVE"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring: the kernel lacks the opcode {name}"),
                ));
            }
        }
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let inner = Inner {
            ring,
            wake,
            state: Mutex::new(State::default()),
            in_wait: AtomicBool::new(false),
            idle: AtomicUsize::new(0),
            sync_cancel: AtomicBool::new(true),
            forks,
        };
        inner.check_works()?;
        Ok(inner)
    }

    /// Probes what the backend uses on the real ring: a multishot poll of the eventfd must
    /// report a write and stay armed (`IORING_CQE_F_MORE`); a kernel or sandbox that lets the
    /// ring be made but refuses `io_uring_enter`, or lacks multishot poll, fails here.
    fn check_works(&self) -> io::Result<()> {
        {
            let mut st = lock(&self.state);
            self.push_wake_poll(&mut st)?;
        }
        rustix::io::write(&self.wake, &1u64.to_ne_bytes())?;
        let ts = types::Timespec::from(Duration::from_secs(5));
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) => return Err(annotate(e, "io_uring_enter")),
        }
        // SAFETY: no other completion queue exists: the ring is not shared yet.
        let mut cq = unsafe { self.ring.completion_shared() };
        match cq.next() {
            Some(c) if c.result() >= 0 && cqueue::more(c.flags()) => Ok(()),
            Some(c) if c.result() < 0 => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "io_uring: multishot IORING_OP_POLL_ADD failed ({}); Linux 5.13 or later \
                     is needed",
                    errno(-c.result())
                ),
            )),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring: multishot IORING_OP_POLL_ADD is not kept armed by this kernel",
            )),
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "io_uring: the probe poll did not complete",
            )),
        }
    }

    fn check_fork(&self) -> io::Result<()> {
        if FORKS.load(Ordering::Relaxed) != self.forks {
            return Err(io::Error::other(
                "io_uring: this ring belongs to the parent process; lwt::unix::fork (or \
                 lwt_core::runtime_after_fork) gives the child its own",
            ));
        }
        Ok(())
    }

    /// Writes `sqe` into the submission queue (the caller holds the `state` lock), submitting
    /// first if the queue is full.
    fn push(&self, _st: &mut State, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the `state` lock, held by the caller (`_st`), is what every writer of
            // the submission queue holds, so no other `SubmissionQueue` exists.
            let mut sq = unsafe { self.ring.submission_shared() };
            // SAFETY: polls name a descriptor that stays open while it is registered
            // (`Reg::fd`); removals and cancels only a `user_data`; file operations point into
            // their `Completion`'s buffer, which the `ops` table keeps alive (and unmoved) until
            // the completion, with the guard that keeps the descriptor open (`Completion::fd`).
            if unsafe { sq.push(sqe) }.is_ok() {
                return Ok(());
            }
            drop(sq);
            match self.ring.submitter().submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The completion queue is full: the kernel takes no more until the loop
                    // reads it. Let the entry wait for the next turn rather than spin.
                    return Err(e);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn push_poll(&self, st: &mut State, key: usize) -> io::Result<()> {
        let reg = &st.regs[key];
        let sqe = opcode::PollAdd::new(types::Fd(reg.fd), POLL_MASK)
            .multi(true)
            .build()
            .user_data(user_data(key, reg.gen, TAG_POLL));
        self.push(st, &sqe)?;
        st.regs[key].polling = true;
        Ok(())
    }

    /// Queues the removal of the poll whose `user_data` is `poll` (its key and generation go
    /// into the removal's own `user_data`, to try again on `EALREADY`).
    fn push_remove(&self, st: &mut State, poll: u64) -> io::Result<()> {
        let (key, gen, _) = decode(poll);
        let sqe = opcode::PollRemove::new(poll)
            .build()
            .user_data(user_data(key, gen, TAG_REMOVE));
        self.push(st, &sqe)
    }

    /// Cancels the request whose `user_data` is `ud` and waits until it has let go of its
    /// file (`IORING_REGISTER_SYNC_CANCEL`, Linux 6.0), for at most a second. A removal
    /// through the queue can find the poll busy posting a report (`EALREADY`) and leave it
    /// armed; this one waits for the report to be posted and removes it then.
    fn cancel_now(&self, ud: u64) -> io::Result<()> {
        #[repr(C)]
        struct SyncCancelReg {
            addr: u64,
            fd: i32,
            flags: u32,
            timeout: [i64; 2],
            opcode: u8,
            pad: [u8; 7],
            pad2: [u64; 3],
        }
        const IORING_REGISTER_SYNC_CANCEL: libc::c_long = 24;
        let reg = SyncCancelReg {
            addr: ud,
            fd: -1,
            flags: 0,
            timeout: [1, 0],
            opcode: 0,
            pad: [0; 7],
            pad2: [0; 3],
        };
        // SAFETY: `reg` is the kernel's `io_uring_sync_cancel_reg` (64 bytes, all fields set),
        // read during the call only; the ring descriptor is open (owned by `self.ring`).
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.ring.as_raw_fd(),
                IORING_REGISTER_SYNC_CANCEL,
                &reg as *const SyncCancelReg,
                1,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn push_wake_poll(&self, st: &mut State) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(self.wake.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(TAG_WAKE);
        self.push(st, &sqe)?;
        st.wake_polling = true;
        Ok(())
    }

    /// Submits at once if the loop is blocked in the kernel (a change from another thread).
    fn submit_if_waiting(&self) -> io::Result<()> {
        // Pairs with the fence in `wait`: either this thread sees the loop waiting, or the
        // loop's `io_uring_enter` sees the entry just written.
        fence(Ordering::SeqCst);
        if self.in_wait.load(Ordering::SeqCst) {
            self.ring.submitter().submit()?;
        }
        Ok(())
    }

    /// Reads the completion queue into `events` (at most `room` reports; the rest stay in the
    /// queue for the next wait).
    fn reap(&self, events: &mut Events) -> io::Result<()> {
        let mut room = events.room();
        let mut st = lock(&self.state);
        // SAFETY: only `wait` reads the completion queue, and one thread at a time waits.
        let mut cq = unsafe { self.ring.completion_shared() };
        let mut repoll_wake = false;
        let mut retry = Vec::new();
        let mut done = Vec::new();
        let mut again = Vec::new();
        while room > 0 {
            let Some(c) = cq.next() else { break };
            let (key, gen, tag) = decode(c.user_data());
            let more = cqueue::more(c.flags());
            match tag {
                TAG_POLL => {
                    let Some(reg) = st.regs.get_mut(key).filter(|r| r.gen == gen) else {
                        continue; // a registration that is gone
                    };
                    let res = c.result();
                    let ev = if res < 0 {
                        Event {
                            token: reg.token,
                            readable: true,
                            writable: true,
                            hup: false,
                        }
                    } else {
                        let m = res as u32 as i16;
                        let err = m & (libc::POLLERR | libc::POLLHUP) != 0;
                        Event {
                            token: reg.token,
                            readable: err
                                || m & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0,
                            writable: err || m & libc::POLLOUT != 0,
                            hup: err || m & libc::POLLRDHUP != 0,
                        }
                    };
                    if !more {
                        // The kernel ended the poll: polled again at the next `arm`.
                        reg.polling = false;
                        self.idle.fetch_add(1, Ordering::SeqCst);
                    }
                    events.push(ev);
                    room -= 1;
                }
                TAG_WAKE if !more => repoll_wake = true,
                TAG_OP if st.ops.get(key).is_some_and(|(g, _)| *g == gen) => {
                    let (_, op) = st.ops.remove(key);
                    if Inner::resubmittable(&op, c.result()) {
                        again.push((op, c.result()));
                    } else {
                        done.push((op, c.result()));
                    }
                }
                TAG_REMOVE if c.result() == -libc::EALREADY => {
                    // The poll was busy posting a report and is still armed: remove it again.
                    retry.push(user_data(key, gen, TAG_POLL));
                }
                // The removal's own completion (0, or ENOENT if the poll had ended): nothing
                // to do.
                _ => {}
            }
        }
        drop(cq);
        if repoll_wake {
            st.wake_polling = false;
        }
        if !st.wake_polling {
            self.push_wake_poll(&mut st)?;
        }
        let retried = !retry.is_empty();
        for poll in retry {
            self.push_remove(&mut st, poll)?;
        }
        drop(st);
        if retried {
            self.ring.submitter().submit()?;
        }
        if !again.is_empty() {
            // Submitted by the next `io_uring_enter`, from this thread, which holds the loop.
            let wakers = self.resubmit(again);
            lock(&self.state).woken.extend(wakers);
        }
        if !done.is_empty() {
            // Outside the lock. The wakers release each operation's `keep` (the descriptor's
            // guard, which may close it) when the driver runs them, after the turn.
            let wakers: Vec<_> = done
                .into_iter()
                .flat_map(|(op, res)| op.complete(res))
                .collect();
            lock(&self.state).woken.extend(wakers);
        }
        Ok(())
    }

    fn cq_has_entries(&self) -> bool {
        // SAFETY: called only by `wait` (see `reap`); the queue is dropped at once.
        let cq = unsafe { self.ring.completion_shared() };
        !cq.is_empty()
    }

    fn sq_has_entries(&self) -> bool {
        let st = lock(&self.state);
        // SAFETY: under the `state` lock (see `push`).
        let sq = unsafe { self.ring.submission_shared() };
        let pending = !sq.is_empty() || sq.cq_overflow();
        drop(sq);
        drop(st);
        pending
    }
}

/// Submits the queue, again after an `EINTR`.
fn submit_retrying_eintr(ring: &IoUring) -> io::Result<usize> {
    loop {
        match ring.submitter().submit() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            r => return r,
        }
    }
}

fn annotate(e: io::Error, call: &str) -> io::Error {
    match e.raw_os_error() {
        Some(_) => io::Error::new(e.kind(), format!("{call} failed: {e} ({})", why(&e))),
        None => e,
    }
}

impl Uring {
    /// Creates the ring (256 submission and 4096 completion entries, close-on-exec, mapped
    /// `MADV_DONTFORK`) and its eventfd, and checks that multishot poll works on it.
    ///
    /// # Errors
    ///
    /// `io_uring_setup`'s error (`ENOSYS`, `EPERM` from a seccomp filter or
    /// `kernel.io_uring_disabled`, `ENOMEM`, `EINVAL`...), named with its likely cause;
    /// `Unsupported` when the kernel lacks a feature or opcode the backend uses (Linux 5.13 is
    /// needed).
    pub fn new() -> io::Result<Uring> {
        Ok(Uring {
            inner: UnsafeCell::new(Box::new(Inner::new()?)),
        })
    }

    fn inner(&self) -> &Inner {
        // SAFETY: the cell is written only by `after_fork`, when no reference from here is
        // alive (its invariant).
        unsafe { &*self.inner.get() }
    }
}

/// Whether this kernel lets a process use the io_uring backend (the answer of a probe made
/// once per process), and why not.
pub(crate) fn probe() -> Result<(), String> {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| Inner::new().map(drop).map_err(|e| e.to_string()))
        .clone()
}

impl Backend for Uring {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        let mut st = lock(&inner.state);
        if st.by_token.contains_key(&token) {
            return Err(errno(libc::EEXIST));
        }
        if st.regs.len() >= 1 << 24 {
            return Err(errno(libc::ENOSPC));
        }
        st.next_gen = st.next_gen.wrapping_add(1);
        let gen = st.next_gen;
        let key = st.regs.insert(Reg {
            token,
            gen,
            fd: source.as_raw_fd(),
            polling: false,
        });
        if let Err(e) = inner.push_poll(&mut st, key) {
            st.regs.remove(key);
            return Err(e);
        }
        st.by_token.insert(token, key);
        drop(st);
        inner.submit_if_waiting()
    }

    fn arm(&self, _source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()> {
        let inner = self.inner();
        // While every registration has its multishot poll in flight, arming is free.
        if interest.is_none() || inner.idle.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        inner.check_fork()?;
        let mut st = lock(&inner.state);
        let Some(&key) = st.by_token.get(&token) else {
            return Err(errno(libc::ENOENT));
        };
        if st.regs[key].polling {
            return Ok(());
        }
        inner.push_poll(&mut st, key)?;
        inner.idle.fetch_sub(1, Ordering::SeqCst);
        drop(st);
        inner.submit_if_waiting()
    }

    fn deregister(&self, _source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        let mut st = lock(&inner.state);
        let Some(key) = st.by_token.remove(&token) else {
            return Err(errno(libc::ENOENT));
        };
        let reg = st.regs.remove(key);

        if !reg.polling {
            inner.idle.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
        let poll = user_data(key, reg.gen, TAG_POLL);
        // The poll may still be in the submission queue (queued by `register` or `arm` since
        // the last `wait`), where a synchronous cancel does not find it (`ENOENT`): the queue
        // would then submit it later, on this descriptor's number, closed by then or reused by
        // a new file, whose file the poll would hold open for ever (closing that file would
        // send its peer no end of file). Submit it first, so the cancel finds it; if that
        // fails, the removal goes through the queue, behind the poll.
        // SAFETY: under the `state` lock (`st`), as `push` says.
        let queued = !unsafe { inner.ring.submission_shared() }.is_empty();
        let submitted = !queued || submit_retrying_eintr(&inner.ring).is_ok();
        if submitted && inner.sync_cancel.load(Ordering::Relaxed) {
            match inner.cancel_now(poll) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // A kernel before 6.0: cancel through the queue from now on.
                    inner.sync_cancel.store(false, Ordering::Relaxed);
                }
                // ETIME (the poll's completion is held by a thread that does not return to
                // user space) or another error: cancel through the queue.
                Err(_) => {}
            }
        }
        inner.push_remove(&mut st, poll)?;
        // At once, so the poll lets go of the file before the owner closes the descriptor.
        inner.ring.submitter().submit()?;
        Ok(())
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        let ready = inner.cq_has_entries();
        let res = if ready || timeout == Some(Duration::ZERO) {
            if inner.sq_has_entries() {
                inner.ring.submitter().submit()
            } else {
                Ok(0)
            }
        } else {
            inner.in_wait.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let r = match timeout {
                None => inner.ring.submitter().submit_and_wait(1),
                Some(d) => {
                    let ts = types::Timespec::from(d);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    inner.ring.submitter().submit_with_args(1, &args)
                }
            };
            inner.in_wait.store(false, Ordering::SeqCst);
            r
        };
        match res {
            Ok(_) => {}
            // The timeout expired, a signal came, or the completion queue is full (reading it
            // below makes room): none is a failure.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        inner.reap(events)
    }

    fn notify(&self) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        let one = 1u64.to_ne_bytes();
        match rustix::io::write(&inner.wake, &one) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::AGAIN) => {
                // The counter is full (after 2^64 - 2 wake-ups): reset it and write again.
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&inner.wake, &mut buf);
                match rustix::io::write(&inner.wake, &one) {
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn host_fds(&self, out: &mut Vec<(RawFd, Interest)>) {
        let inner = self.inner();
        if inner.check_fork().is_err() {
            return;
        }
        // A host blocks in its own poll(2), not in `wait`: what is batched (registrations,
        // re-polls) goes to the kernel now, or the host would wait for polls never submitted.
        if inner.sq_has_entries() {
            if let Err(e) = inner.ring.submitter().submit() {
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) {
                    tracing::warn!("lwt: io_uring submit for a host loop failed: {e}");
                }
            }
        }
        // The ring's descriptor is readable while its completion queue has entries (wake-ups
        // included: the eventfd has a poll of its own).
        out.push((inner.ring.as_raw_fd(), Interest::READ));
    }

    fn completions(&self) -> Option<&dyn Completions> {
        Some(self)
    }

    fn after_fork(&self) -> io::Result<()> {
        let fresh = Box::new(Inner::new()?);
        // SAFETY: called in the child, which has one thread, outside of every other method of
        // this backend: no reference into the old `Inner` is alive (`inner`'s invariant).
        let old = std::mem::replace(unsafe { &mut *self.inner.get() }, fresh);
        // The parent's ring memory is not mapped here (MADV_DONTFORK), and its addresses may
        // have been reused since the fork: never unmap it. Close the child's copies of the
        // parent's ring and eventfd descriptors, and forget the rest.
        let old = std::mem::ManuallyDrop::new(old);
        // SAFETY: the child's own copies of the descriptors, closed once, never used again:
        // the `ManuallyDrop` keeps the old ring and eventfd from closing them a second time.
        unsafe {
            libc::close(old.ring.as_raw_fd());
            libc::close(old.wake.as_raw_fd());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn backend() -> Option<Uring> {
        match probe() {
            Ok(()) => Some(Uring::new().unwrap()),
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}): nothing to test");
                None
            }
        }
    }

    #[test]
    fn sub_millisecond_timeouts_are_not_rounded_to_a_millisecond() {
        let Some(b) = backend() else { return };
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        for _ in 0..200 {
            b.wait(&mut events, Some(Duration::from_micros(50)))
                .unwrap();
            assert!(events.is_empty());
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(10), "{took:?}");
        assert!(
            took < Duration::from_millis(150),
            "200 waits of 50 us took {took:?}"
        );
    }

    #[test]
    fn notify_wakes_a_wait_without_reporting_anything() {
        let Some(b) = backend() else { return };
        for _ in 0..3 {
            b.notify().unwrap();
            let mut events = Events::with_capacity(8);
            let start = Instant::now();
            b.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
            assert!(start.elapsed() < Duration::from_secs(5));
            assert!(events.is_empty());
        }
    }

    #[test]
    fn a_zero_timeout_wait_with_nothing_to_submit_reports_what_is_queued() {
        let Some(b) = backend() else { return };
        let (r, w) = rustix::pipe::pipe().unwrap();
        b.register(rustix::fd::AsFd::as_fd(&r), 0x1000).unwrap();
        rustix::io::write(&w, b"x").unwrap();
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        while events.is_empty() {
            b.wait(&mut events, Some(Duration::ZERO)).unwrap();
            assert!(start.elapsed() < Duration::from_secs(10), "never reported");
        }
        let ev = events.iter().next().unwrap();
        assert_eq!(ev.token, 0x1000);
        assert!(ev.readable);
        b.deregister(rustix::fd::AsFd::as_fd(&r), 0x1000).unwrap();
        // After the wait that follows the deregistration, the token is never reported.
        rustix::io::write(&w, b"y").unwrap();
        let mut events = Events::with_capacity(8);
        b.wait(&mut events, Some(Duration::from_millis(1))).unwrap();
        b.wait(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(events.iter().all(|e| e.token != 0x1000), "{events:?}");
    }

    #[test]
    fn user_data_round_trips() {
        for (k, g, t) in [
            (0, 0, TAG_POLL),
            ((1 << 24) - 1, u32::MAX, TAG_REMOVE),
            (5, 7, 3),
        ] {
            assert_eq!(decode(user_data(k, g, t)), (k, g, t));
        }
    }
}
