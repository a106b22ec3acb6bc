//! Signals as futures and streams: [`ctrl_c`] and [`signal`], on top of
//! [`lwt::unix::on_signal`](crate::unix::on_signal) (Unix).
//!
//! ```
//! use futures_lite::StreamExt;
//! use lwt::signal::{signal, SIGUSR1};
//! lwt::run(async {
//!     let mut usr1 = signal(SIGUSR1).unwrap();
//!     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR1).unwrap();
//!     assert_eq!(usr1.next().await, Some(SIGUSR1));
//! });
//! ```
//!
//! # Who owns what
//!
//! A [`Signals`] stream owns one lwt signal handler (its [`SignalHandlerId`]) and the count of
//! arrivals that handler saw and the stream has not yet yielded (shared with the handler,
//! under a lock held only to bump or take the count). The handler runs in the loop of the
//! runtime the stream was made in, as every `on_signal` handler does. Dropping the stream
//! disables the handler; when it was the last lwt handler of its signal, the signal gets back
//! the disposition it had before lwt (see `lwt::unix::disable_signal_handler`): for `SIGINT`
//! and `SIGTERM`, usually the default action, which ends the process.
//!
//! Arrivals are counted, not queued: the kernel coalesces a signal that arrives while one is
//! pending, and lwt may coalesce arrivals that reach its dispatcher together, so a burst of
//! signals may be seen as fewer items. Each item means "at least one arrival since the
//! previous item".
//!
//! # Portability
//!
//! Unix only: lwt has no Windows signal path (there is no `on_signal` there; Windows has
//! console control events instead of signals), so this module is absent on Windows.

use crate::unix::{disable_signal_handler, on_signal, SignalHandlerId};
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// `SIGHUP`: the terminal hung up, or (by convention) "reload the configuration".
pub const SIGHUP: i32 = libc::SIGHUP;
/// `SIGINT`: interrupt from the keyboard (Ctrl-C); see [`ctrl_c`].
pub const SIGINT: i32 = libc::SIGINT;
/// `SIGQUIT`: quit from the keyboard (Ctrl-\\).
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// `SIGTERM`: a polite request to end (what `kill` and service managers send).
pub const SIGTERM: i32 = libc::SIGTERM;
/// `SIGUSR1`: for the program's own use.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// `SIGUSR2`: for the program's own use.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// `SIGALRM`: a timer set by `alarm`/`setitimer` expired.
pub const SIGALRM: i32 = libc::SIGALRM;
/// `SIGCHLD`: a child process stopped or ended (lwt's own child waits use it too, and are
/// not disturbed by a stream of it).
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// `SIGWINCH`: the terminal's window size changed.
pub const SIGWINCH: i32 = libc::SIGWINCH;
/// `SIGPIPE`: a write to a pipe or socket without a reader (lwt ignores it otherwise).
pub const SIGPIPE: i32 = libc::SIGPIPE;

#[derive(Default)]
struct Shared {
    /// Arrivals seen by the handler and not yet yielded.
    arrivals: u64,
    waker: Option<Waker>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Every critical section leaves `Shared` consistent; poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The arrivals of one signal, as a [`Stream`] (`futures_core`) that never ends: each item is
/// the signal's number. Made by [`signal`]; dropping it disables its handler.
///
/// # Examples
///
/// ```
/// use lwt::signal::{signal, SIGUSR2};
/// lwt::run(async {
///     let mut s = signal(SIGUSR2).unwrap();
///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR2).unwrap();
///     assert_eq!(s.recv().await, SIGUSR2);
/// });
/// ```
pub struct Signals {
    signum: i32,
    id: SignalHandlerId,
    shared: Arc<Mutex<Shared>>,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signum", &self.signum)
            .field("id", &self.id)
            .field("arrivals", &lock(&self.shared).arrivals)
            .finish()
    }
}

/// A stream of the arrivals of signal `signum`, from now on (`signum` is e.g. [`SIGTERM`]).
/// Immediate: it registers an lwt handler (`lwt::unix::on_signal`), so from this call on the
/// signal no longer has its default action while the stream lives.
///
/// # Errors
///
/// `InvalidInput` for a signal lwt cannot handle (out of range, `SIGKILL`, `SIGSTOP`,
/// `SIGILL`, `SIGFPE`, `SIGSEGV`) or when called outside of a runtime; the OS error of
/// installing the handler.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use lwt::signal::{signal, SIGHUP};
/// lwt::run(async {
///     let mut hups = signal(SIGHUP).unwrap();
///     for _ in 0..2 {
///         rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::HUP).unwrap();
///         assert_eq!(hups.next().await, Some(SIGHUP));
///     }
///     assert!(signal(libc::SIGKILL).is_err());
/// });
/// ```
pub fn signal(signum: i32) -> io::Result<Signals> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let s = shared.clone();
    let id = on_signal(signum, move |_| {
        let waker = {
            let mut g = lock(&s);
            g.arrivals += 1;
            g.waker.take()
        };
        // Woken outside the lock: the waker may run code that polls the stream.
        if let Some(w) = waker {
            w.wake();
        }
    })?;
    Ok(Signals { signum, id, shared })
}

impl Signals {
    /// The signal this stream counts.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     assert_eq!(lwt::signal::signal(lwt::signal::SIGUSR1).unwrap().signum(), lwt::signal::SIGUSR1);
    /// });
    /// ```
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Waits for the next arrival and returns the signal's number (the stream's next item,
    /// without `StreamExt`).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut s = lwt::signal::signal(lwt::signal::SIGWINCH).unwrap();
    ///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::WINCH).unwrap();
    ///     assert_eq!(s.recv().await, lwt::signal::SIGWINCH);
    /// });
    /// ```
    pub async fn recv(&mut self) -> i32 {
        Recv(self).await
    }

    fn poll_arrival(&self, cx: &mut Context<'_>) -> Poll<i32> {
        let mut g = lock(&self.shared);
        if g.arrivals > 0 {
            g.arrivals -= 1;
            return Poll::Ready(self.signum);
        }
        if !g.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            g.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

struct Recv<'a>(&'a mut Signals);

impl Future for Recv<'_> {
    type Output = i32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i32> {
        self.0.poll_arrival(cx)
    }
}

impl Stream for Signals {
    type Item = i32;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        self.poll_arrival(cx).map(Some)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        disable_signal_handler(self.id);
    }
}

/// Completes at the next `SIGINT` (Ctrl-C in a terminal) after its first poll.
///
/// While the future lives (from its first poll), `SIGINT` does not end the process; once it
/// completes or is dropped, its handler is disabled, and `SIGINT` gets back its earlier
/// disposition (usually: ending the process) unless another handler remains. So a program that
/// handles Ctrl-C more than once should keep one [`signal`]`(SIGINT)` stream for its whole life
/// rather than call `ctrl_c` in a loop, which leaves a moment between two calls where a
/// `SIGINT` has the default action.
///
/// # Errors
///
/// As [`signal`] (e.g. outside of a runtime).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let waiting = lwt::spawn(lwt::signal::ctrl_c());
///     // Here a terminal's Ctrl-C would complete it; the example sends SIGINT itself, once the
///     // task has registered its handler.
///     while lwt::unix::signal_count() == 0 {
///         lwt::yield_now().await;
///     }
///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::INT).unwrap();
///     waiting.await.unwrap().unwrap();
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    signal(SIGINT)?.recv().await;
    Ok(())
}
