//! Signals: `on_signal`, `on_signal_full`, `disable_signal_handler`, `signal_count`,
//! `reinstall_signal_handler`.
//!
//! # How a signal reaches a handler
//!
//! lwt installs one OS-level action per signal it handles (`sigaction`, `SA_SIGINFO |
//! SA_RESTART`), the first time a handler (or a child wait, for `SIGCHLD`) needs it. In signal
//! context that action does only async-signal-safe work: it sets a per-signal atomic flag,
//! writes one byte to a process-wide self-pipe (no lock, no allocation), and calls the action
//! that was installed before lwt's, if that was a function (so a library that was there first
//! keeps getting the signal). A dispatcher thread (`lwt-signal`) reads the pipe, takes the
//! flags, and sends the notification of every handler of each signal that arrived; each
//! handler then runs in the loop of its runtime, like any notification. Signals that arrive
//! together may be coalesced into one call, as the kernel itself coalesces them.
//!
//! The same flag and wake-up drive child processes (`SIGCHLD`, see `waitpid`).
//!
//! # When the last handler goes
//!
//! When the last lwt handler of a signal is disabled, lwt puts back the action the signal had
//! before lwt's, if lwt's is still the installed one. If another library installed its own
//! action over lwt's meanwhile (as `signal-hook-registry` does when it registers after lwt),
//! lwt leaves its action where it is, since that library calls it as the action it replaced,
//! and from then on lwt's action only passes the signal on to the action before lwt's.
//!
//! What a signal that arrives while lwt has no user for it does is decided when it arrives,
//! never earlier: lwt's action calls the earlier action if that was a function, does nothing
//! if it was "ignore", and performs the default action (terminate, stop, or nothing for the
//! signals ignored by default) only if lwt's action is still the installed one, that is, if
//! nobody registered an action over it. It never performs a default action over another
//! library's handler. (`signal-hook-registry`, which lwt used before, cannot say whether
//! other actions are registered with it, and never restores a default, so lwt installs its
//! action itself.)
//!
//! # Handlers and runtimes
//!
//! A handler belongs to the runtime it was registered in: it runs in that runtime's loop,
//! whenever that runtime runs (a signal that arrives while its runtime is alive but not being
//! driven, e.g. between two `block_on`s, is delivered by the next one), and it is removed
//! with the runtime: when the runtime is dropped (the end of `lwt::run`), each of its handlers
//! is disabled as by [`disable_signal_handler`], so the signal gets back its disposition from
//! before lwt (Ctrl-C ends a program whose `lwt::run` has returned, instead of being swallowed
//! by a handler that can never run). Another runtime never runs it. (Lwt has one loop, whose
//! handlers run whenever it runs; with several runtimes in one process, tying a handler to
//! the runtime that made it is the form of that rule that cannot leave a signal swallowed.)
//!
//! # SIGPIPE
//!
//! lwt never changes SIGPIPE's disposition (see `crate::sigpipe`): its writes fail with
//! `EPIPE` and raise no SIGPIPE, so an `on_signal(SIGPIPE, ..)` handler only sees SIGPIPEs
//! that others send.
//!
//! # Who owns what, and the lock order
//!
//! The per-signal atomics (`PENDING`, `USERS`, `INSTALLED`, `PREV_*`) are what signal context
//! reads. The registry (handlers, the saved earlier actions, child waiters) is behind one
//! mutex, taken only outside signal context; installing and uninstalling an OS action happen
//! under it. No other lock is taken while it is held (notifications are made, sent and
//! stopped, and wakers woken, after it is released), so there is no lock order to keep.

use lwt_core::{
    make_notification, send_notification, stop_notification, Error, NotificationId, Result,
};
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

/// One more than the highest signal number lwt can handle.
const NSIG: usize = 65;

/// The signals lwt refuses to handle: they cannot be caught (`SIGKILL`, `SIGSTOP`), or a
/// handler that returns from them makes no sense (the synchronous faults).
const FORBIDDEN: [i32; 5] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGSEGV,
];

static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
/// How many users (lwt handlers, child waits) a signal has; 0 means "act as before lwt".
static USERS: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
/// Whether lwt's OS-level action was installed for the signal and not removed since.
static INSTALLED: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
/// The action before lwt's (`sa_sigaction`: `SIG_DFL`, `SIG_IGN` or a function), for signal
/// context; the full `sigaction` is kept in the registry to put it back.
static PREV_ACTION: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
/// Whether that earlier action takes `siginfo_t` (`SA_SIGINFO`).
static PREV_SIGINFO: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
/// The write end of the self-pipe (-1 before it exists).
///
/// # Invariant
///
/// Once set, the number stays open for the life of the process (after a fork the child puts a
/// new pipe onto the same numbers).
static WAKE_W: AtomicI32 = AtomicI32::new(-1);
static WAKE_R: AtomicI32 = AtomicI32::new(-1);
/// Bumped by the dispatcher at every `SIGCHLD`.
static CHILD_TICK: AtomicU64 = AtomicU64::new(0);

/// The id of a handler registered by [`on_signal`] or [`on_signal_full`] (Lwt's
/// `signal_handler_id`); give it to [`disable_signal_handler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalHandlerId(u64);

struct HandlerEntry {
    signum: i32,
    notification: NotificationId,
    /// The waker of the task that ties the handler to its runtime (see `RuntimeGuard`).
    guard: Option<Waker>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    handlers: HashMap<u64, HandlerEntry>,
    /// The action each signal had before lwt installed its own, to put it back.
    prev: HashMap<i32, libc::sigaction>,
    child_waiters: HashMap<u64, Waker>,
    next_waiter: u64,
}

// SAFETY: `libc::sigaction` is plain data (a handler address, a mask and flags); it is only
// copied around under the registry's lock.
unsafe impl Send for Registry {}

fn registry() -> MutexGuard<'static, Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    // Every critical section leaves the maps consistent, so poisoning is ignored.
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Checks a signal number against what lwt can handle: the numbers of [`signal_ranges`],
/// except [`FORBIDDEN`]. The error names exactly those ranges.
fn check_signum(call: &'static str, signum: i32) -> Result<usize> {
    let ranges = signal_ranges();
    let valid = ranges.iter().any(|r| r.contains(&signum));
    if !valid || FORBIDDEN.contains(&signum) {
        let list: Vec<String> = ranges
            .iter()
            .map(|r| format!("{}..={}", r.start(), r.end()))
            .collect();
        return Err(Error::invalid(
            call,
            format!(
                "unavailable signal {signum} (valid: {}, except SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV)",
                list.join(" and ")
            ),
        ));
    }
    Ok(signum as usize)
}

/// The signal numbers of this system that a program may handle: the classic signals, and on
/// Linux the real-time ones the C library leaves to programs, `SIGRTMIN()..=SIGRTMAX()`
/// (glibc keeps 32 and 33 for its threads, so `sigaction` refuses them).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn signal_ranges() -> Vec<std::ops::RangeInclusive<i32>> {
    let max = libc::SIGRTMAX().min(NSIG as i32 - 1);
    vec![1..=31, libc::SIGRTMIN()..=max]
}
/// The signal numbers of this system that a program may handle (the classic signals;
/// real-time ones are not handled here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn signal_ranges() -> Vec<std::ops::RangeInclusive<i32>> {
    vec![1..=31]
}

/// A new self-pipe: both ends close-on-exec, the write end non-blocking (a full pipe already
/// holds a wake-up), the read end blocking (only the dispatcher thread reads it). `pipe` and
/// `fcntl` rather than `pipe2`, which macOS lacks; it runs once per process (and per fork).
fn self_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = crate::cvt(rustix::pipe::pipe(), "pipe", "signal self-pipe")?;
    for end in [&r, &w] {
        crate::cvt(
            rustix::io::fcntl_setfd(end, rustix::io::FdFlags::CLOEXEC),
            "fcntl",
            "FD_CLOEXEC",
        )?;
    }
    crate::cvt(rustix::io::ioctl_fionbio(&w, true), "ioctl", "FIONBIO")?;
    Ok((r, w))
}

/// lwt's OS-level action. Async-signal-safe only: atomics, `write`, `sigaction`, `raise`,
/// and the earlier action (which was itself a signal handler). errno is saved and restored.
extern "C" fn os_handler(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let errno = errno();
    on_os_signal(signum, info, ctx);
    set_errno(errno);
}

fn os_handler_address() -> usize {
    os_handler as *const () as usize
}

fn on_os_signal(signum: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let s = signum as usize;
    if s >= NSIG {
        return;
    }
    let prev = PREV_ACTION[s].load(Ordering::SeqCst);
    if USERS[s].load(Ordering::SeqCst) > 0 {
        PENDING[s].store(true, Ordering::SeqCst);
        let w = WAKE_W.load(Ordering::SeqCst);
        if w >= 0 {
            // SAFETY: `w` is open for the life of the process (invariant of `WAKE_W`); a full
            // pipe (EAGAIN) already holds a wake-up.
            unsafe {
                libc::write(w, [1u8].as_ptr().cast(), 1);
            }
        }
        call_prev(s, prev, signum, info, ctx);
        return;
    }
    // No lwt user: what happens is decided now, as if lwt's action were not there.
    if prev != libc::SIG_DFL {
        call_prev(s, prev, signum, info, ctx);
        return;
    }
    // The default action, but only if nobody installed an action over lwt's since: such a
    // library called this one as the action it replaced, and owns the signal now.
    // SAFETY: a query into a zeroed, valid out-parameter; sigaction is async-signal-safe.
    let installed_now = unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signum, std::ptr::null(), &mut cur) == 0
            && cur.sa_sigaction == os_handler_address()
    };
    if !installed_now {
        return;
    }
    match signum {
        libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH => {}
        libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => {
            // SAFETY: raise is async-signal-safe; SIGSTOP performs the default "stop".
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
        _ => {
            INSTALLED[s].store(false, Ordering::SeqCst);
            // SAFETY: sigaction and raise are async-signal-safe. The signal is blocked while
            // this handler runs, so the re-raised one is delivered, with the default action
            // (termination), as soon as the handler returns.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signum, &dfl, std::ptr::null_mut());
                libc::raise(signum);
            }
        }
    }
}

/// Calls the action that was installed before lwt's, if it was a function (not `SIG_DFL` or
/// `SIG_IGN`), the way the kernel would have.
fn call_prev(
    s: usize,
    prev: usize,
    signum: i32,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    if prev == libc::SIG_DFL || prev == libc::SIG_IGN || prev == os_handler_address() {
        return;
    }
    if PREV_SIGINFO[s].load(Ordering::SeqCst) {
        // SAFETY: `prev` is the `sa_sigaction` of the earlier action, which had SA_SIGINFO:
        // a function of this type, installed by its owner as a signal handler, called with
        // the arguments the kernel gave lwt's.
        let f = unsafe {
            std::mem::transmute::<
                *const (),
                extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
            >(prev as *const ())
        };
        f(signum, info, ctx);
    } else {
        // SAFETY: as above, for an earlier action without SA_SIGINFO (a plain handler).
        let f = unsafe {
            std::mem::transmute::<*const (), extern "C" fn(libc::c_int)>(prev as *const ())
        };
        f(signum);
    }
}

#[cfg(not(any(
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns this thread's errno slot; no preconditions.
    unsafe { libc::__errno_location() }
}
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: as above.
    unsafe { libc::__error() }
}
#[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: as above.
    unsafe { libc::__errno() }
}

fn errno() -> libc::c_int {
    // SAFETY: this thread's errno slot is valid for reads for the thread's life.
    unsafe { *errno_location() }
}

fn set_errno(v: libc::c_int) {
    // SAFETY: this thread's errno slot is valid for writes for the thread's life.
    unsafe { *errno_location() = v };
}

/// Creates the self-pipe (non-blocking, close-on-exec) once, and starts the dispatcher.
fn ensure_dispatcher() -> Result<()> {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if *started {
        return Ok(());
    }
    let (r, w) = self_pipe()?;
    WAKE_R.store(r.as_raw_fd(), Ordering::SeqCst);
    WAKE_W.store(w.as_raw_fd(), Ordering::SeqCst);
    // The pipe lives as long as the process (invariant of `WAKE_W`).
    std::mem::forget(r);
    std::mem::forget(w);
    spawn_dispatcher()?;
    *started = true;
    Ok(())
}

fn spawn_dispatcher() -> Result<()> {
    std::thread::Builder::new()
        .name("lwt-signal".into())
        .spawn(dispatch_loop)
        .map(drop)
        .map_err(|e| Error::from_io(e, "pthread_create", "lwt-signal"))
}

fn dispatch_loop() {
    let mut buf = [0u8; 256];
    loop {
        let r = WAKE_R.load(Ordering::SeqCst);
        // SAFETY: `r` stays open for the life of the process (see `WAKE_W`).
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(r) };
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return,
            Ok(_) | Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(e) => {
                tracing::error!("lwt: the signal self-pipe failed: {e}");
                return;
            }
        }
        deliver_pending();
    }
}

/// Sends the notifications of every signal that arrived (runs on the dispatcher thread).
fn deliver_pending() {
    for (s, flag) in PENDING.iter().enumerate() {
        if !flag.swap(false, Ordering::SeqCst) {
            continue;
        }
        let (ids, wakers) = {
            let mut reg = registry();
            let ids: Vec<NotificationId> = reg
                .handlers
                .values()
                .filter(|h| h.signum as usize == s)
                .map(|h| h.notification)
                .collect();
            let wakers: Vec<Waker> = if s == libc::SIGCHLD as usize {
                CHILD_TICK.fetch_add(1, Ordering::SeqCst);
                reg.child_waiters.drain().map(|(_, w)| w).collect()
            } else {
                Vec::new()
            };
            (ids, wakers)
        };
        for id in ids {
            // A handler disabled meanwhile (its notification stopped) is simply skipped.
            let _ = send_notification(id);
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// lwt's action for `sigaction`: `os_handler`, with `siginfo_t`, restarting interrupted
/// calls, blocking nothing more than the signal itself.
fn lwt_action() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is valid (an empty mask, no flags) before it is filled.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = os_handler_address();
    act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    act
}

fn remember_prev(s: usize, prev: &libc::sigaction) {
    PREV_SIGINFO[s].store(prev.sa_flags & libc::SA_SIGINFO != 0, Ordering::SeqCst);
    PREV_ACTION[s].store(prev.sa_sigaction, Ordering::SeqCst);
}

/// Installs lwt's OS-level action for `signum` if it is not installed (under the registry
/// lock), saving the action it replaces.
fn ensure_installed(call: &'static str, signum: i32) -> Result<()> {
    ensure_dispatcher()?;
    let s = signum as usize;
    let mut reg = registry();
    if INSTALLED[s].load(Ordering::SeqCst) {
        return Ok(());
    }
    // SAFETY: an all-zero sigaction is a valid out-parameter; the query changes nothing.
    let mut before: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `before` is a valid out-pointer; a null new action only queries.
    if unsafe { libc::sigaction(signum, std::ptr::null(), &mut before) } != 0 {
        return Err(Error::last_os_error(call, signum.to_string()));
    }
    // Published before the switch, so a signal that arrives at once already chains to it.
    remember_prev(s, &before);
    let new = lwt_action();
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `new` installs `os_handler`, which is async-signal-safe (see `on_os_signal`);
    // the number was checked against FORBIDDEN; `old` is a valid out-pointer.
    if unsafe { libc::sigaction(signum, &new, &mut old) } != 0 {
        return Err(Error::last_os_error(call, signum.to_string()));
    }
    if old.sa_sigaction != before.sa_sigaction {
        // Another thread changed the action between the query and the switch.
        remember_prev(s, &old);
    }
    reg.prev.insert(signum, old);
    INSTALLED[s].store(true, Ordering::SeqCst);
    Ok(())
}

/// Puts back the action `signum` had before lwt's, now that lwt has no user for it, if lwt's
/// is still the installed one (under the registry lock). If another action was installed
/// over lwt's, lwt's stays, as the action that one chains to (see the module doc).
fn uninstall_if_unused(reg: &mut Registry, signum: i32) {
    let s = signum as usize;
    if USERS[s].load(Ordering::SeqCst) > 0 || !INSTALLED[s].load(Ordering::SeqCst) {
        return;
    }
    let Some(prev) = reg.prev.get(&signum).copied() else {
        return;
    };
    // SAFETY: a query into a zeroed, valid out-parameter.
    let ours = unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signum, std::ptr::null(), &mut cur) == 0
            && cur.sa_sigaction == os_handler_address()
    };
    if !ours {
        return;
    }
    // SAFETY: `prev` is the action the OS reported before lwt's was installed; putting it
    // back installs what was there (a default, "ignore", or its owner's handler).
    if unsafe { libc::sigaction(signum, &prev, std::ptr::null_mut()) } == 0 {
        INSTALLED[s].store(false, Ordering::SeqCst);
    }
}

/// The task that ties a handler to its runtime: a task of that runtime that stays pending (a
/// runtime's drop drops every task it owns, wherever it waits, so this one too), whose waker
/// sits in the handler's entry (so [`disable_signal_handler`] ends it). Dropping it disables
/// the handler.
struct RuntimeGuard {
    id: u64,
}

impl Future for RuntimeGuard {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut reg = registry();
        match reg.handlers.get_mut(&self.id) {
            Some(h) => {
                h.guard = Some(cx.waker().clone());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        // Its runtime was dropped (or the handler disabled already: then nothing happens).
        disable_signal_handler(SignalHandlerId(self.id));
    }
}

/// Calls `f(id, signum)` in the loop each time the process receives signal `signum`, until
/// [`disable_signal_handler`]`(id)` or until the runtime it was registered in is dropped
/// (Lwt's `on_signal_full`). Like [`on_signal`], but `f` also gets its own id so it can
/// disable itself.
///
/// Immediate: installs lwt's OS-level action (chained to the one it replaces) on the first
/// handler of `signum`; `f` runs later on the loop's thread of this runtime, never in signal
/// context (see the module doc for what happens between two runs and after the runtime). See
/// [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a signal number lwt cannot handle (out of range, `SIGKILL`,
/// `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`) or outside of a runtime; the error of
/// `sigaction` or of creating the self-pipe.
///
/// # Examples
///
/// ```
/// use std::sync::{atomic::{AtomicBool, Ordering}, Arc};
/// lwt::run(async {
///     let seen = Arc::new(AtomicBool::new(false));
///     let s = seen.clone();
///     lwt::unix::on_signal_full(libc::SIGUSR2, move |id, _signum| {
///         s.store(true, Ordering::SeqCst);
///         lwt::unix::disable_signal_handler(id); // one call only
///     })
///     .unwrap();
///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR2).unwrap();
///     while !seen.load(Ordering::SeqCst) {
///         lwt::sleep(std::time::Duration::from_millis(1)).await;
///     }
/// });
/// ```
pub fn on_signal_full(
    signum: i32,
    mut f: impl FnMut(SignalHandlerId, i32) + Send + 'static,
) -> Result<SignalHandlerId> {
    let s = check_signum("on_signal", signum)?;
    let handle = lwt_core::Handle::try_current()
        .ok_or_else(|| Error::invalid("on_signal", "not inside an lwt runtime"))?;
    // Counted first: a signal that arrives while the handler is being set up is then queued
    // for it, never given the default action (which may be termination).
    USERS[s].fetch_add(1, Ordering::SeqCst);
    let made = ensure_installed("on_signal", signum).and_then(|()| {
        let id = {
            let mut reg = registry();
            reg.next += 1;
            SignalHandlerId(reg.next)
        };
        let notification = make_notification(false, move || f(id, signum))?;
        Ok((id, notification))
    });
    match made {
        Ok((id, notification)) => {
            registry().handlers.insert(
                id.0,
                HandlerEntry {
                    signum,
                    notification,
                    guard: None,
                },
            );
            drop(handle.spawn(RuntimeGuard { id: id.0 }));
            Ok(id)
        }
        Err(e) => {
            USERS[s].fetch_sub(1, Ordering::SeqCst);
            uninstall_if_unused(&mut registry(), signum);
            Err(e)
        }
    }
}

/// Calls `f(signum)` in the loop each time the process receives signal `signum` (Lwt's
/// `on_signal`), until the handler is disabled or its runtime dropped. Several handlers of one
/// signal all run. Returns the id that [`disable_signal_handler`] takes. See
/// [`on_signal_full`] for how it cooperates.
///
/// # Errors
///
/// As [`on_signal_full`].
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let id = lwt::unix::on_signal(libc::SIGWINCH, |_| println!("resized")).unwrap();
///     assert!(lwt::unix::signal_count() >= 1);
///     lwt::unix::disable_signal_handler(id);
///     assert!(lwt::unix::on_signal(0, |_| {}).is_err()); // not a signal
/// });
/// ```
pub fn on_signal(signum: i32, mut f: impl FnMut(i32) + Send + 'static) -> Result<SignalHandlerId> {
    on_signal_full(signum, move |_, s| f(s))
}

/// Removes a signal handler (Lwt's `disable_signal_handler`). When it was the last lwt handler
/// of its signal, the signal gets back the action it had before lwt's, unless another library
/// installed one over lwt's meanwhile (see the module doc). Immediate; removing an unknown or
/// already removed id does nothing. It may be called from inside the handler itself, and from
/// any thread.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let id = lwt::unix::on_signal(libc::SIGUSR1, |_| {}).unwrap();
///     lwt::unix::disable_signal_handler(id);
///     lwt::unix::disable_signal_handler(id); // no effect
/// });
/// ```
pub fn disable_signal_handler(id: SignalHandlerId) {
    let removed = {
        let mut reg = registry();
        let removed = reg.handlers.remove(&id.0);
        if let Some(h) = &removed {
            USERS[h.signum as usize].fetch_sub(1, Ordering::SeqCst);
            uninstall_if_unused(&mut reg, h.signum);
        }
        removed
    };
    if let Some(h) = removed {
        stop_notification(h.notification);
        if let Some(w) = h.guard {
            w.wake(); // ends the runtime guard task
        }
    }
}

/// The number of signal handlers registered with [`on_signal`] and [`on_signal_full`] and not
/// yet disabled (Lwt's `signal_count`). Immediate.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let before = lwt::unix::signal_count();
///     let id = lwt::unix::on_signal(libc::SIGUSR2, |_| {}).unwrap();
///     assert_eq!(lwt::unix::signal_count(), before + 1);
///     lwt::unix::disable_signal_handler(id);
/// });
/// ```
pub fn signal_count() -> usize {
    registry().handlers.len()
}

/// Installs lwt's OS-level action for `signum` again, if lwt handles it, in case other code
/// replaced it with `sigaction`/`signal` (Lwt's `reinstall_signal_handler`). Immediate. The
/// replacing action is dropped, not chained (lwt keeps chaining to the action from before
/// lwt's). See [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a signal number lwt cannot handle; the error of `sigaction`.
/// A signal lwt never handled is left alone (`Ok`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let id = lwt::unix::on_signal(libc::SIGUSR1, |_| {}).unwrap();
///     lwt::unix::reinstall_signal_handler(libc::SIGUSR1).unwrap();
///     lwt::unix::disable_signal_handler(id);
/// });
/// ```
pub fn reinstall_signal_handler(signum: i32) -> Result<()> {
    let s = check_signum("reinstall_signal_handler", signum)?;
    let reg = registry();
    if !reg.handlers.values().any(|h| h.signum == signum) {
        return Ok(());
    }
    let act = lwt_action();
    // SAFETY: installs `os_handler` (async-signal-safe) again; the number was checked.
    if unsafe { libc::sigaction(signum, &act, std::ptr::null_mut()) } != 0 {
        return Err(Error::last_os_error(
            "reinstall_signal_handler",
            signum.to_string(),
        ));
    }
    INSTALLED[s].store(true, Ordering::SeqCst);
    Ok(())
}

/// Makes sure `SIGCHLD` wakes child waits (lazily, at the first wait). Crate-internal.
pub(crate) fn ensure_sigchld() -> Result<()> {
    static COUNTED: AtomicBool = AtomicBool::new(false);
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.load(Ordering::SeqCst) {
        return Ok(());
    }
    if !COUNTED.swap(true, Ordering::SeqCst) {
        // Child waits use SIGCHLD for the life of the process (counted before the install, so
        // the first SIGCHLD already wakes the waits).
        USERS[libc::SIGCHLD as usize].fetch_add(1, Ordering::SeqCst);
    }
    // Idempotent; a failed install is tried again by the next wait.
    ensure_installed("waitpid", libc::SIGCHLD)?;
    INSTALLED.store(true, Ordering::SeqCst);
    Ok(())
}

/// The number of `SIGCHLD`s seen so far.
pub(crate) fn child_tick() -> u64 {
    CHILD_TICK.load(Ordering::SeqCst)
}

/// Registers `waker` to be woken at the next `SIGCHLD`, if none came since `tick`. Returns the
/// waiter's key, or `None` if one already came (try again at once).
pub(crate) fn add_child_waiter(tick: u64, waker: &Waker, key: Option<u64>) -> Option<u64> {
    let mut reg = registry();
    if CHILD_TICK.load(Ordering::SeqCst) != tick {
        if let Some(k) = key {
            reg.child_waiters.remove(&k);
        }
        return None;
    }
    let k = match key {
        Some(k) => k,
        None => {
            reg.next_waiter += 1;
            reg.next_waiter
        }
    };
    reg.child_waiters.insert(k, waker.clone());
    Some(k)
}

/// Forgets a child waiter (its wait completed or was dropped).
pub(crate) fn remove_child_waiter(key: u64) {
    registry().child_waiters.remove(&key);
}

/// In a forked child: a new self-pipe in place of the one shared with the parent, and a new
/// dispatcher thread (the parent's did not survive the fork).
pub(crate) fn after_fork_child() -> Result<()> {
    let r = WAKE_R.load(Ordering::SeqCst);
    let w = WAKE_W.load(Ordering::SeqCst);
    if r < 0 || w < 0 {
        return Ok(());
    }
    let (nr, nw) = self_pipe()?;
    for (new, old) in [(nr, r), (nw, w)] {
        // SAFETY: `old` is the self-pipe's number, open for the life of the process; the alias
        // is never dropped (`ManuallyDrop`), so only `dup2` changes what the number refers to.
        let mut alias = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(old) });
        crate::cvt(
            rustix::io::dup2(&new, &mut alias),
            "dup2",
            "signal self-pipe",
        )?;
        crate::cvt(
            rustix::io::fcntl_setfd(&*alias, rustix::io::FdFlags::CLOEXEC),
            "fcntl",
            "FD_CLOEXEC",
        )?;
    }
    spawn_dispatcher()
}
