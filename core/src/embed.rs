//! Embedding: driving a runtime from a host loop that lwt does not own (a GUI toolkit's main
//! loop, another runtime), as libuv's `uv_backend_fd`, `uv_backend_timeout` and
//! `uv_run(UV_RUN_NOWAIT)` let Node and Electron do.
//!
//! [`Runtime::embed`](crate::Runtime::embed) makes the calling thread the runtime's *host*: it
//! holds the loop (its `Core`, see `crate::scheduler`) for as long as the [`Embedded`] lives,
//! as a thread in `block_on` does, and drives it only through three calls:
//!
//! 1. [`Embedded::run_once`] runs what is ready now (tasks, I/O, timers, notifications) without
//!    blocking, and says whether more is ready at once;
//! 2. [`Embedded::prepare`], right before the host blocks, says how long it may block, and
//!    from then on a wake-up (a task scheduled from another thread, a job's result, a
//!    notification) makes one of lwt's descriptors readable;
//! 3. [`Embedded::fds`] lists those descriptors: the host watches them for readability beside
//!    its own, then calls `run_once` again.
//!
//! What the host watches depends on the backend: epoll and kqueue give one descriptor (the
//! instance itself, readable when it has events, including wake-ups), io_uring its ring's
//! descriptor (readable while completions are queued; asking for it also submits what the
//! backend batched, since the host blocks in its own call, not in the ring); poll gives its wake-up
//! channel and every descriptor it watches now, with the directions it waits for (the list
//! changes after each `run_once`: ask again each time). IOCP gives none: a completion port is
//! not a waitable handle, so a host on Windows gets only the timeout and must call `run_once`
//! at least that often (and at once after waking a task from another thread); running the
//! runtime on a thread of its own with `block_on` is the better fit there.

use crate::backend::Interest;
use crate::context;
use crate::reactor::RawSource;
use crate::scheduler::Shared;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// A runtime driven by a host loop on this thread (see the [module documentation](self)).
///
/// Not `Send`: the host thread is the runtime's home thread (it runs `spawn_local` tasks).
/// Dropping it ends the embedding like a `block_on` ends: the `spawn_local` tasks still alive
/// are cancelled, and the loop is free for a `block_on` or another `embed`.
///
/// # Examples
///
/// A host loop with `poll(2)` (as in `examples/embed.rs`):
///
/// ```
/// # #[cfg(unix)] {
/// use std::time::Duration;
/// let rt = lwt_core::Runtime::new(lwt::backends::open(None).unwrap());
/// let done = rt.spawn(async {
///     lwt_core::sleep(Duration::from_millis(5)).await;
///     42
/// });
/// let mut host = rt.embed();
/// loop {
///     if host.run_once() {
///         continue; // more is ready at once
///     }
///     if done.is_finished() {
///         break; // checked after run_once, which may have finished it
///     }
///     let timeout = host.prepare();
///     let mut fds: Vec<libc::pollfd> = host
///         .fds()
///         .into_iter()
///         .map(|(fd, _)| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
///         .collect();
///     let ms = timeout.map_or(-1, |d| d.as_millis().min(1000) as i32 + 1);
///     // SAFETY: `fds` holds `fds.len()` pollfds of descriptors the runtime keeps open.
///     unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
/// }
/// drop(host);
/// assert_eq!(rt.block_on(done).unwrap(), 42);
/// # }
/// ```
pub struct Embedded<'rt> {
    shared: &'rt Arc<Shared>,
    scratch: crate::scheduler::Scratch,
    // Fields drop in order: the loop is put back (and local tasks cancelled) while this
    // thread's context still holds it, then the context is restored.
    _home: crate::scheduler::HomeExit<'rt>,
    _enter: context::Entered,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Embedded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("backend", &self.shared.driver.backend.name())
            .finish_non_exhaustive()
    }
}

impl<'rt> Embedded<'rt> {
    pub(crate) fn new(shared: &'rt Arc<Shared>) -> Embedded<'rt> {
        let (enter, home) = shared.host();
        Embedded {
            shared,
            scratch: Default::default(),
            _home: home,
            _enter: enter,
            _not_send: PhantomData,
        }
    }

    /// Runs what is ready now, without blocking: up to a pass of tasks, then one turn of the
    /// driver that waits for nothing (I/O readiness, timers, notifications). Returns whether
    /// more work is ready at once (then call it again before blocking).
    ///
    /// # Panics
    ///
    /// With the payload of a panic of the loop's own work on a `switch` stand-in (as
    /// `block_on` does).
    pub fn run_once(&mut self) -> bool {
        self.shared.run_once(&mut self.scratch)
    }

    /// Announces that the host is about to block, and returns for how long it may: `None`
    /// until one of [`Embedded::fds`] is readable, `Some(Duration::ZERO)` if work is ready
    /// now. From this call until the next [`Embedded::run_once`], a wake-up from another
    /// thread makes one of the descriptors readable.
    pub fn prepare(&mut self) -> Option<Duration> {
        self.shared.prepare_host_wait()
    }

    /// The descriptors the host must watch, each with the directions to watch it for (always
    /// readability for epoll's and kqueue's one descriptor); empty where the backend has none to
    /// give (IOCP: see the module documentation). Ask again after each `run_once`.
    pub fn fds(&self) -> Vec<(RawSource, Interest)> {
        let mut out = Vec::new();
        self.shared.driver.backend.host_fds(&mut out);
        out
    }
}
