//! Signals: `on_signal`, `on_signal_full`, `disable_signal_handler`, `signal_count`,
//! `reinstall_signal_handler`.
//!
//! # How a signal reaches a handler
//!
//! The OS-level handler is installed through `signal-hook-registry`, so lwt shares each signal
//! with every other library that uses it (they all run). In signal context lwt's action does
//! only async-signal-safe work: it sets a per-signal atomic flag and writes one byte to a
//! process-wide self-pipe (no lock, no allocation). A dispatcher thread (`lwt-signal`) reads
//! the pipe, takes the flags, and sends the notification of every handler of each signal that
//! arrived; each handler then runs in the loop of the runtime it was registered in, like any
//! notification. Signals that arrive together may be coalesced into one call, as the kernel
//! itself coalesces them.
//!
//! The same flag and wake-up drive child processes (`SIGCHLD`, see `waitpid`).
//!
//! # When the last handler goes
//!
//! `signal-hook-registry` never uninstalls its OS handler. So lwt keeps its action installed
//! and, while a signal has no lwt handler, the action performs the disposition the signal had
//! before lwt installed it: nothing if it was ignored or another handler (which
//! `signal-hook-registry` already called), else the default action (terminate, stop, or
//! nothing for signals ignored by default) by restoring `SIG_DFL` and re-raising the signal.

use lwt_core::{
    make_notification, send_notification, stop_notification, Error, NotificationId, Result,
};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::Waker;

/// One more than the highest signal number lwt can handle.
const NSIG: usize = 65;

/// What a signal's disposition was before lwt installed its action.
const PREV_UNKNOWN: u8 = 0;
const PREV_DEFAULT: u8 = 1;
const PREV_OTHER: u8 = 2;

static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
/// How many users (lwt handlers, child waits) a signal has; 0 means "act as before lwt".
static USERS: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static PREV: [AtomicU8; NSIG] = [const { AtomicU8::new(PREV_UNKNOWN) }; NSIG];
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
}

#[derive(Default)]
struct Registry {
    next: u64,
    handlers: HashMap<u64, HandlerEntry>,
    /// The OS-level action of each signal, saved for `reinstall_signal_handler`.
    installed: HashMap<i32, libc::sigaction>,
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

/// Checks a signal number against what lwt can handle.
fn check_signum(call: &'static str, signum: i32) -> Result<usize> {
    let max = max_signal().min(NSIG as i32 - 1);
    if signum < 1 || signum > max || signal_hook_registry::FORBIDDEN.contains(&signum) {
        return Err(Error::invalid(
            call,
            format!("unavailable signal {signum} (valid: 1..={max}, except SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV)"),
        ));
    }
    Ok(signum as usize)
}

/// The highest signal number of this system.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn max_signal() -> i32 {
    libc::SIGRTMAX()
}
/// The highest signal number of this system (the classic signals; real-time ones are not
/// handled here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn max_signal() -> i32 {
    31
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

/// The signal-context action: async-signal-safe only (atomics, `write`, `sigaction`, `raise`).
fn on_os_signal(signum: i32) {
    let s = signum as usize;
    if s >= NSIG {
        return;
    }
    if USERS[s].load(Ordering::SeqCst) > 0 {
        PENDING[s].store(true, Ordering::SeqCst);
        let w = WAKE_W.load(Ordering::SeqCst);
        if w >= 0 {
            // SAFETY: `w` is open for the life of the process (invariant of `WAKE_W`); a full
            // pipe (EAGAIN) already holds a wake-up, and errno is restored by the registry.
            unsafe {
                libc::write(w, [1u8].as_ptr().cast(), 1);
            }
        }
        return;
    }
    if PREV[s].load(Ordering::SeqCst) != PREV_DEFAULT {
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
            // A handler whose runtime is gone cannot run; it is dropped when disabled.
            let _ = send_notification(id);
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Installs lwt's OS-level action for `signum` once (it then stays, see the module doc).
fn ensure_installed(call: &'static str, signum: i32) -> Result<()> {
    ensure_dispatcher()?;
    let s = signum as usize;
    let mut reg = registry();
    if reg.installed.contains_key(&signum) {
        return Ok(());
    }
    // SAFETY: an all-zero sigaction is a valid out-parameter; the query changes nothing.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a valid out-pointer; a null new action only queries.
    if unsafe { libc::sigaction(signum, std::ptr::null(), &mut old) } != 0 {
        return Err(Error::last_os_error(call, signum.to_string()));
    }
    let prev = if old.sa_sigaction == libc::SIG_DFL {
        PREV_DEFAULT
    } else {
        PREV_OTHER
    };
    PREV[s].store(prev, Ordering::SeqCst);
    // SAFETY: the action is async-signal-safe (atomics and `write`, `sigaction`, `raise`;
    // see `on_os_signal`), and the number was checked against FORBIDDEN.
    unsafe { signal_hook_registry::register(signum, move || on_os_signal(signum)) }
        .map_err(|e| Error::from_io(e, call, signum.to_string()))?;
    // SAFETY: as above, a query into a valid out-pointer.
    let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signum, std::ptr::null(), &mut now) } != 0 {
        return Err(Error::last_os_error(call, signum.to_string()));
    }
    reg.installed.insert(signum, now);
    Ok(())
}

/// Calls `f(id, signum)` in the loop each time the process receives signal `signum`, until
/// [`disable_signal_handler`]`(id)` (Lwt's `on_signal_full`). Like [`on_signal`], but `f` also
/// gets its own id so it can disable itself.
///
/// Immediate: installs the OS handler (through `signal-hook-registry`, chained with other
/// libraries) on the first handler of `signum`; `f` runs later on the loop's thread, never in
/// signal context. See [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html).
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
///         lwt::sleep(std::time::Duration::from_millis(1)).await.unwrap();
///     }
/// });
/// ```
pub fn on_signal_full(
    signum: i32,
    mut f: impl FnMut(SignalHandlerId, i32) + Send + 'static,
) -> Result<SignalHandlerId> {
    let s = check_signum("on_signal", signum)?;
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
                },
            );
            Ok(id)
        }
        Err(e) => {
            USERS[s].fetch_sub(1, Ordering::SeqCst);
            Err(e)
        }
    }
}

/// Calls `f(signum)` in the loop each time the process receives signal `signum` (Lwt's
/// `on_signal`). Several handlers of one signal all run. Returns the id that
/// [`disable_signal_handler`] takes. See [`on_signal_full`] for how it cooperates.
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
/// of its signal, the signal gets back the disposition it had before lwt (the default action,
/// unless it was ignored or handled by someone else). Immediate; removing an unknown or already
/// removed id does nothing. It may be called from inside the handler itself.
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
    let removed = registry().handlers.remove(&id.0);
    if let Some(h) = removed {
        USERS[h.signum as usize].fetch_sub(1, Ordering::SeqCst);
        stop_notification(h.notification);
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

/// Installs lwt's OS-level handler for `signum` again, if lwt handles it, in case other code
/// replaced it with `sigaction`/`signal` (Lwt's `reinstall_signal_handler`). Immediate. See
/// [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html).
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
    check_signum("reinstall_signal_handler", signum)?;
    let reg = registry();
    if !reg.handlers.values().any(|h| h.signum == signum) {
        return Ok(());
    }
    if let Some(act) = reg.installed.get(&signum) {
        // SAFETY: `act` is the action the OS reported for lwt's installed handler; putting it
        // back installs the same (async-signal-safe) handler.
        if unsafe { libc::sigaction(signum, act, std::ptr::null_mut()) } != 0 {
            return Err(Error::last_os_error(
                "reinstall_signal_handler",
                signum.to_string(),
            ));
        }
    }
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
