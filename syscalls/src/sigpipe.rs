//! Writes that never raise a visible SIGPIPE, without touching SIGPIPE's disposition.
//!
//! A write to a pipe or socket whose reader is gone fails with `EPIPE` and, unless told
//! otherwise, also raises SIGPIPE in the writing thread, whose default action kills the
//! process. lwt used to ignore SIGPIPE for the whole process on its first write, which
//! silently replaced any handler of the program's (its own `on_signal(SIGPIPE, ..)`
//! included) and left every child started by `fork` + `exec` with SIGPIPE ignored. Now the
//! disposition is never changed:
//!
//! - sockets are sent to with `MSG_NOSIGNAL` (`send`, `sendto`, `send_msg`...), which raises
//!   nothing; on Apple systems, which lack it, lwt's own sockets get `SO_NOSIGPIPE` and the
//!   sends go through [`without_sigpipe`] too;
//! - `write` and `writev` ([`write`], [`writev`] here) on a socket become `send`/`sendmsg`
//!   with `MSG_NOSIGNAL` (the same call for a socket, minus the signal, and cheaper in the
//!   kernel than `write(2)`): a descriptor's [`SocketHint`] says whether it is one (known when
//!   lwt made it, else learnt from the first call: `ENOTSOCK` on a pipe, a FIFO, a terminal or
//!   a file), and one that is not gets the plain call through [`without_sigpipe`];
//! - [`without_sigpipe`] blocks SIGPIPE in the calling thread around the call, and if the call
//!   failed with `EPIPE`, consumes the SIGPIPE it left pending on the thread (with
//!   `sigtimedwait` and a zero timeout; `sigwait` where there is none, once `sigpending` said
//!   it is there), unless one was already pending before the call (someone else's, which is
//!   left for them). Then the thread's mask is put back.
//!
//! Cost, measured with `bench/src/bin/sigpipe.rs` (`cargo run --release --manifest-path
//! bench/Cargo.toml --bin sigpipe`; figures in docs/process.md): the guard is two
//! `pthread_sigmask` calls around the write (one and a `sigpending` when the thread already
//! blocks SIGPIPE, as job workers do), plus a `sigpending` and a `sigtimedwait` on the `EPIPE`
//! path only; a non-socket pays the failed `send` that tells it is not a socket once. On a
//! socket the common path costs nothing: one `send` instead of one `write`. Nothing is
//! allocated. `pwrite` cannot raise SIGPIPE (`ESPIPE` on pipes and sockets) and is not
//! guarded.
//!
//! What a child started by `fork` + `exec` inherits is now the program's own disposition: a
//! Rust program starts with SIGPIPE ignored (std does that before `main`, and
//! `std::process::Command` restores the default in its children, but `lwt::unix::fork`
//! followed by an `exec` does not); a program that set it to the default passes the default
//! on.

use lwt_core::Result;
use rustix::fd::BorrowedFd;
use std::io::IoSlice;

/// A signal set holding SIGPIPE only.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: `sigemptyset` initialises the set, `sigaddset` adds a valid signal to it; both
    // only write the local given to them.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
    }
}

/// Whether SIGPIPE is pending for this thread (or the process).
fn sigpipe_pending() -> bool {
    // SAFETY: `sigpending` fills the set it is given (a zeroed local); `sigismember` reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

/// Takes the pending SIGPIPE off this thread (the caller saw it pending, with SIGPIPE
/// blocked here).
#[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))]
fn consume_sigpipe(set: &libc::sigset_t) {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` is a valid signal set, a null info pointer is allowed, and the zero
    // timeout makes the call return at once whether or not a SIGPIPE is still pending.
    unsafe {
        libc::sigtimedwait(set, std::ptr::null_mut(), &zero);
    }
}

/// Takes the pending SIGPIPE off this thread. No `sigtimedwait` here: `sigwait` returns at
/// once because the caller saw SIGPIPE pending with it blocked in this thread, where the
/// `EPIPE` write left it (a signal of this thread that no other thread can take).
#[cfg(any(target_vendor = "apple", target_os = "openbsd"))]
fn consume_sigpipe(set: &libc::sigset_t) {
    let mut sig = 0;
    // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
    unsafe {
        libc::sigwait(set, &mut sig);
    }
}

/// Runs `write`, a call that may write to a broken pipe, so that the SIGPIPE it may raise is
/// never delivered (see the module doc): `EPIPE` is then its only outcome.
pub(crate) fn without_sigpipe<T>(write: impl FnOnce() -> Result<T>) -> Result<T> {
    let set = sigpipe_set();
    // SAFETY: a zeroed sigset_t is a valid out-parameter for the old mask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid; the call only changes this thread's mask.
    let blocked_here = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } == 0;
    // SAFETY: `old` was filled by the call above.
    let was_blocked = !blocked_here || unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
    // A SIGPIPE can only be pending for this thread already if it was blocked before.
    let pending_before = was_blocked && sigpipe_pending();
    struct Unblock<'a>(Option<&'a libc::sigset_t>);
    impl Drop for Unblock<'_> {
        fn drop(&mut self) {
            if let Some(set) = self.0 {
                // SAFETY: unblocks SIGPIPE again in this thread, as it was before.
                unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut()) };
            }
        }
    }
    let _unblock = Unblock((!was_blocked).then_some(&set));
    let r = write();
    if let Err(e) = &r {
        if e.errno() == Some(libc::EPIPE) && !pending_before && sigpipe_pending() {
            consume_sigpipe(&set);
        }
    }
    r
}

/// Whether a descriptor is a socket, as far as lwt knows: learnt when it is made (lwt's own
/// sockets and pipes) or from the first write or read that tries a socket call on it (and
/// then never tried again on a descriptor that is not one).
#[derive(Debug, Default)]
pub(crate) struct SocketHint(std::sync::atomic::AtomicU8);

impl SocketHint {
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;

    pub(crate) fn new(socket: Option<bool>) -> SocketHint {
        SocketHint(std::sync::atomic::AtomicU8::new(match socket {
            None => Self::UNKNOWN,
            Some(true) => Self::YES,
            Some(false) => Self::NO,
        }))
    }

    /// `None`: not known yet.
    #[inline]
    pub(crate) fn get(&self) -> Option<bool> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            Self::YES => Some(true),
            Self::NO => Some(false),
            _ => None,
        }
    }

    /// Back to "not known" (the descriptor's number now refers to another file).
    pub(crate) fn forget(&self) {
        self.0
            .store(Self::UNKNOWN, std::sync::atomic::Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set(&self, socket: bool) {
        let v = if socket { Self::YES } else { Self::NO };
        // Only stored when it changes: the hint is read on every call, from any thread.
        if self.0.load(std::sync::atomic::Ordering::Relaxed) != v {
            self.0.store(v, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// `write(2)` of `buf` to `fd`, raising no visible SIGPIPE (see the module doc): `send` with
/// `MSG_NOSIGNAL` on a socket, else the guarded `write`. Errors are named `call`.
#[inline]
pub(crate) fn write(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    call: &'static str,
    hint: &SocketHint,
) -> Result<usize> {
    #[cfg(not(target_vendor = "apple"))]
    if hint.get() != Some(false) {
        match rustix::net::send(fd, buf, crate::net::NOSIGNAL) {
            Err(rustix::io::Errno::NOTSOCK) => hint.set(false),
            r => {
                hint.set(true);
                return crate::cvt(r, call, "");
            }
        }
    }
    #[cfg(target_vendor = "apple")]
    let _ = hint;
    without_sigpipe(|| crate::cvt(rustix::io::write(fd, buf), call, ""))
}

/// `writev(2)` of `bufs` to `fd`, raising no visible SIGPIPE: `sendmsg` with `MSG_NOSIGNAL`
/// on a socket, else the guarded `writev`. Errors are named `call`.
pub(crate) fn writev(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    call: &'static str,
    hint: &SocketHint,
) -> Result<usize> {
    #[cfg(not(target_vendor = "apple"))]
    if hint.get() != Some(false) {
        let mut no_control = rustix::net::SendAncillaryBuffer::default();
        match rustix::net::sendmsg(fd, bufs, &mut no_control, crate::net::NOSIGNAL) {
            Err(rustix::io::Errno::NOTSOCK) => hint.set(false),
            r => {
                hint.set(true);
                return crate::cvt(r, call, "");
            }
        }
    }
    #[cfg(target_vendor = "apple")]
    let _ = hint;
    without_sigpipe(|| crate::cvt(rustix::io::writev(fd, bufs), call, ""))
}
