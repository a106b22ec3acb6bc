//! Operations the kernel completes itself, on a backend that has them (io_uring): the future
//! of a [`Completion`](crate::backend::Completion), beside the readiness path.
//!
//! [`start`] gives `None` when the runtime this thread is in has no completion extension (every
//! backend but io_uring), so the caller takes its usual path (a job). The future starts the
//! operation on its first poll; the driver wakes it after the `wait` that saw it complete
//! (`Completions::take_woken`, in `Driver::turn`).
//!
//! # Who owns what
//!
//! The [`CompletionFuture`] and the backend each hold an `Arc` to the operation; the buffer and
//! the descriptor's guard live in it until the kernel's completion. Dropping the future before
//! then asks the backend to cancel (best effort) and returns at once: the buffer goes when the
//! backend lets go of its `Arc`, after the completion. The outcome of a canceled operation is
//! therefore "it may have happened": a canceled read's bytes are discarded, a read or write
//! at the file position may have moved it, and a canceled open may have created its file (the
//! descriptor it made is closed: [`Completion::abandon`](crate::backend::Completion::abandon)).

use crate::backend::Completion;
use crate::context;
use crate::driver::Driver;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Starts `op` on the current runtime's completion extension when it has one.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Completion, CompletionKind};
/// lwt::run(async {
///     let op = Completion::new(CompletionKind::Read, 0, u64::MAX, vec![0; 8], Box::new(()));
///     // On a backend without completions (epoll, poll, ...), the caller takes another path.
///     if lwt::Handle::current().backend_name() != "io_uring" {
///         assert!(lwt_core::completion::start(op).is_none());
///     }
/// });
/// ```
pub fn start(op: Arc<Completion>) -> Option<CompletionFuture> {
    let driver = context::current_driver()?;
    driver.backend.completions()?;
    Some(CompletionFuture {
        op,
        driver,
        started: false,
        done: false,
    })
}

/// Whether the runtime this thread is in completes operations itself (its backend has the
/// completion extension): a cheap test before preparing an operation for [`start`].
///
/// # Examples
///
/// ```
/// assert!(!lwt_core::completion::available()); // not inside a runtime
/// lwt::run(async {
///     let uring = lwt::Handle::current().backend_name() == "io_uring";
///     assert_eq!(lwt_core::completion::available(), uring);
/// });
/// ```
pub fn available() -> bool {
    context::with_current(|sh| sh.driver.backend.completions().is_some()).unwrap_or(false)
}

/// The future of an operation started by [`start`]: the kernel's result (a byte count) and
/// the buffer (read into, or written from).
///
/// # Errors
///
/// The operation's `errno`; the backend's error if it cannot start it.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::{Completion, CompletionKind};
/// use std::os::fd::AsRawFd;
/// use lwt::BackendKind;
/// let kind = if BackendKind::IoUring.is_available() { BackendKind::IoUring } else { BackendKind::best() };
/// let rt = lwt::Builder::new().backend(kind).build().unwrap();
/// rt.block_on(async {
///     let file = std::fs::File::open("/proc/self/exe").unwrap();
///     let op = Completion::new(CompletionKind::Read, file.as_raw_fd(), 0, vec![0; 4], Box::new(file));
///     if let Some(read) = lwt_core::completion::start(op) {
///         let (n, bytes) = read.await.unwrap(); // the kernel read it (io_uring)
///         assert_eq!(&bytes[..n], b"\x7fELF");
///     }
/// });
/// ```
#[must_use = "a completion does nothing until polled"]
pub struct CompletionFuture {
    op: Arc<Completion>,
    driver: Arc<Driver>,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for CompletionFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionFuture")
            .field("op", &self.op)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Future for CompletionFuture {
    type Output = io::Result<(usize, Vec<u8>)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(Err(io::Error::other(
                "lwt: completion polled after it ended",
            )));
        }
        let Some(ext) = this.driver.backend.completions() else {
            return Poll::Ready(Err(io::ErrorKind::Unsupported.into()));
        };
        // The waker first: the completion may be seen by another thread's `wait` at once.
        if this.op.set_waker(cx.waker()) {
            if !this.started {
                if let Err(e) = ext.start(&this.op) {
                    this.done = true;
                    #[cfg(unix)]
                    if this.op.kind() == crate::backend::CompletionKind::Close {
                        // A close the ring cannot take is done on the spot (completing it
                        // as canceled closes the descriptor): the descriptor was given up.
                        // Here, in a poll (user code may run): released at once.
                        drop(this.op.complete(-crate::backend::libc_ecanceled()));
                        return Poll::Ready(match this.op.take_result() {
                            Some((r, buf)) if r >= 0 => Ok((r as usize, buf)),
                            _ => Err(e),
                        });
                    }
                    return Poll::Ready(Err(e));
                }
                this.started = true;
                // A loop that is blocked in the kernel on another thread submits it (the
                // backend's job); this thread's loop submits it with its next wait.
            }
            return Poll::Pending;
        }
        this.done = true;
        match this.op.take_result() {
            Some((r, buf)) if r >= 0 => Poll::Ready(Ok((r as usize, buf))),
            Some((r, _)) => Poll::Ready(Err(io::Error::from_raw_os_error(-r))),
            None => Poll::Ready(Err(io::Error::other("lwt: completion result taken twice"))),
        }
    }
}

impl Drop for CompletionFuture {
    fn drop(&mut self) {
        if self.started && !self.done {
            // First say nobody takes the result (a descriptor an open makes is then closed,
            // now or at its completion), then ask for the cancel.
            self.op.abandon();
            // A close is never canceled (see `CompletionKind::Close`).
            if self.op.kind() != crate::backend::CompletionKind::Close && !self.op.is_complete() {
                if let Some(ext) = self.driver.backend.completions() {
                    ext.cancel(&self.op);
                }
            }
        }
    }
}
