//! Operations the kernel runs itself (io_uring's file operations, through
//! [`lwt_core::completion`]), seen by the jobs layer as jobs: [`wait_for_jobs`] waits for them,
//! and [`cancel_jobs`]/[`abort_jobs`] reject them, as they do the pool's jobs. A program that
//! waits for or aborts its jobs before it exits, or before it forks, then gets the same
//! outcome whether a file read ran on a pool thread (epoll, poll) or in the kernel (io_uring).
//!
//! # Who owns what
//!
//! A [`KernelJob`] holds the operation's future and one `Arc` of its slot; the jobs registry
//! holds another from the start until the operation has finished (or the future took its
//! result); the operation itself holds the third, in the [`Finished`] guard it drops when the
//! kernel has completed it (with the descriptor's guard, which goes first), which marks the
//! slot finished and wakes `wait_for_jobs`. A rejection (`abort_jobs`) only records the error
//! and wakes the future, which then gives it; dropping the future asks the kernel to cancel the
//! operation (best effort), whose result is then dropped, as a rejected job's is.
//!
//! Locks: the slot's own, taken alone; the registry's `jobs` lock is never held while it is.
//!
//! [`wait_for_jobs`]: crate::wait_for_jobs
//! [`cancel_jobs`]: crate::cancel_jobs
//! [`abort_jobs`]: crate::abort_jobs

use crate::pool::{lock, registry, Pending, Registry};
use lwt_core::backend::{Completion, CompletionKind};
use lwt_core::completion::CompletionFuture;
use lwt_core::fork::generation;
use lwt_core::Error;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Starts an operation the kernel completes itself on the current runtime (see
/// [`lwt_core::completion::start`]), counted as a job: `None` when the runtime's backend has
/// no completions (every backend but io_uring), so the caller takes its job path.
///
/// The arguments are those of [`Completion::new`]: `keep` (what keeps `fd` open) is dropped
/// once the kernel has completed the operation, whatever happened to the future.
///
/// # Examples
///
/// ```
/// use lwt_core::backend::CompletionKind;
/// use std::os::fd::AsRawFd;
/// lwt::run(async {
///     let file = std::fs::File::open("/proc/self/exe").unwrap();
///     let fd = file.as_raw_fd();
///     if let Some(read) = lwt_jobs::kernel_job(CompletionKind::Read, fd, 0, vec![0; 4], Box::new(file)) {
///         // io_uring: the kernel reads it, and wait_for_jobs would wait for it.
///         let (n, bytes) = read.await.unwrap().unwrap();
///         assert_eq!(&bytes[..n], b"\x7fELF");
///     }
/// });
/// ```
pub fn kernel_job(
    kind: CompletionKind,
    fd: std::os::fd::RawFd,
    offset: u64,
    buf: Vec<u8>,
    keep: Box<dyn std::any::Any + Send>,
) -> Option<KernelJob> {
    if !lwt_core::completion::available() {
        return None;
    }
    let registry = registry();
    let slot = Arc::new(Slot {
        st: Mutex::new(State {
            rejected: None,
            waker: None,
        }),
        finished: AtomicBool::new(false),
        generation: generation(),
    });
    let done = Finished {
        slot: slot.clone(),
        registry,
    };
    // `keep` goes before `done` (a tuple drops in order): the descriptor is released when
    // wait_for_jobs sees the job finished.
    let op = Completion::new(kind, fd, offset, buf, Box::new((keep, done)));
    let fut = lwt_core::completion::start(op)?;
    let key = lock(&registry.jobs).insert(slot.clone());
    Some(KernelJob {
        fut,
        slot,
        key,
        registry,
    })
}

/// The future of a [`kernel_job`]: `Ok` with the operation's outcome (a byte count, or the
/// descriptor an open made, and the buffer), or `Err` with the error of an
/// [`abort_jobs`](crate::abort_jobs) (or `Canceled`, [`cancel_jobs`](crate::cancel_jobs)) that
/// came while it was in flight; the kernel's operation is then canceled, best effort, and may
/// have happened (its result is dropped).
///
/// # Examples
///
/// ```
/// use lwt_core::backend::CompletionKind;
/// use lwt::BackendKind;
/// if BackendKind::IoUring.is_available() {
///     let rt = lwt::Builder::new().backend(BackendKind::IoUring).build().unwrap();
///     rt.block_on(async {
///         // A read of an empty pipe waits in the kernel until abort_jobs rejects it.
///         let (r, _w) = std::io::pipe().unwrap();
///         use std::os::fd::AsRawFd;
///         let fd = r.as_raw_fd();
///         let read = lwt_jobs::kernel_job(CompletionKind::Read, fd, u64::MAX, vec![0; 8], Box::new(r));
///         let read = lwt::spawn(read.unwrap());
///         lwt::yield_now().await;
///         lwt::unix::abort_jobs(lwt::Error::Timeout);
///         assert!(matches!(read.await.unwrap(), Err(lwt::Error::Timeout)));
///     });
/// }
/// ```
#[must_use = "a kernel job does nothing until polled"]
pub struct KernelJob {
    fut: CompletionFuture,
    slot: Arc<Slot>,
    key: usize,
    registry: &'static Registry,
}

impl std::fmt::Debug for KernelJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelJob")
            .field("fut", &self.fut)
            .finish_non_exhaustive()
    }
}

impl Future for KernelJob {
    type Output = Result<io::Result<(usize, Vec<u8>)>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // The outcome first: an operation that completed before a rejection gives its result.
        if let Poll::Ready(r) = Pin::new(&mut this.fut).poll(cx) {
            lock(&this.registry.jobs).remove(this.key, &this.slot);
            return Poll::Ready(Ok(r));
        }
        let mut st = lock(&this.slot.st);
        if let Some(e) = st.rejected.take() {
            return Poll::Ready(Err(e));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A kernel job in the registry.
struct Slot {
    st: Mutex<State>,
    /// The kernel has completed the operation (set by [`Finished`]).
    finished: AtomicBool,
    /// The process generation it was started in (see `lwt_core::fork`).
    generation: u64,
}

struct State {
    /// The error of an `abort_jobs` that came while it was in flight, for the future.
    rejected: Option<Error>,
    waker: Option<Waker>,
}

impl Pending for Slot {
    fn reject(&self, e: &Error) {
        let w = {
            let mut st = lock(&self.st);
            if self.finished.load(Ordering::SeqCst) || st.rejected.is_some() {
                return;
            }
            st.rejected = Some(e.clone());
            st.waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    fn finished(&self) -> bool {
        // An operation of the parent process went with the parent's ring.
        self.finished.load(Ordering::SeqCst) || self.generation != generation()
    }
}

/// Dropped by the operation when the kernel has completed it: marks its slot finished and
/// wakes `wait_for_jobs`.
struct Finished {
    slot: Arc<Slot>,
    registry: &'static Registry,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.slot.finished.store(true, Ordering::SeqCst);
        self.registry.done.notify(usize::MAX);
    }
}
