//! Fork support: what `lwt::unix::fork` does around `fork(2)` so that the child gets a working
//! loop ([`prepare`], [`ForkGuard`], [`runtime_after_fork`]), the hooks the other layers
//! register ([`register_fork_hook`]), the process [`generation`], and [`Renewable`], the cell
//! that lets a child rebuild process-wide state instead of reusing the parent's.
//!
//! # What a fork interrupts
//!
//! `fork(2)` copies the whole address space but only the calling thread. In the child every
//! other thread of the parent is gone, stopped wherever it was: a lock it held stays locked,
//! a structure it was changing stays half-changed, and what only it could reach (the loop's
//! state, if it was a switch stand-in) is out of reach. So nothing in the child may wait for
//! what another thread of the parent was doing at the fork:
//!
//! - **The loop.** [`prepare`] makes the forking thread hold its runtime's `Box<Core>` across
//!   the fork: it takes it back from a switch call in progress (from the stand-in, if the call
//!   was handed off, the way the call's own end does), so the watchdog cannot steal it during
//!   the fork and the child has it; the guard puts it back into the call afterwards, in the
//!   parent and in the child. A fork from a thread that cannot hold the loop is refused: a
//!   switch stand-in (the child would have no thread to run the loop's main future and
//!   `spawn_local` tasks, which belong to the home thread blocked in its call) or a thread
//!   waiting for a loop that another thread drives.
//! - **The driver.** [`runtime_after_fork`] gives the backend fresh kernel objects, and fresh
//!   user-space state where the parent's has locks another thread may have held (see
//!   `Backend::after_fork`), registers and arms every source again, and wakes every task of
//!   the runtime once, so an operation waiting for a thread the child lacks (a job) finds out.
//! - **Other threads' pushes and locks.** A job finishing on a worker, a `Handle::spawn` or a
//!   `send_notification` on another thread pushes onto one of the runtime's lock-free queues;
//!   a fork that cut such a push in half would leave the child's loop waiting forever for the
//!   rest of it. [`prepare`] takes the notification registry's lock and the driver's timer and
//!   I/O-set locks (in that order), then closes the driver's fork gate and waits for the pushes
//!   in progress (`driver::ForkGate`); the guard releases them after the fork, in the child
//!   before the reset. Still not covered: a descriptor's own lock, held for a few instructions
//!   by a thread closing or waking that descriptor at the instant of the fork.
//! - **Process-wide state with threads.** The switch watchdog starts again at the next switch
//!   call, with no call handed off; the jobs layer's hook gives the child a new pool and job
//!   registry. Each is a [`Renewable`] that the child fills with a fresh value: the parent's
//!   value is leaked untouched, so no lock of it is ever taken and no destructor of it runs.
//!
//! # Who owns what
//!
//! A [`Renewable`]'s values are shared, read-only, by every thread; the cell only ever swaps its
//! pointer and never frees a value it replaced. The hooks are function pointers in atomics (a
//! lock held by another thread at the fork would stay held in the child). The [`ForkGuard`]
//! owns the loop's core while it lives, in its thread's context, and the locks above; it takes
//! no lock of its own.

use crate::context;
use crate::driver::ForkHold;
use crate::notification;
use crate::scheduler::Shared;
use crate::switch;
use crate::Error;
use std::io;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many forks lie between this process and the first one that ran lwt: 0 there, and one
/// more in each child after [`runtime_after_fork`]. State stamped with an older generation
/// belongs to a parent (e.g. a job whose worker thread the child lacks).
///
/// # Examples
///
/// ```
/// assert_eq!(lwt_core::fork::generation(), 0); // no fork led here
/// ```
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// A shared value that can be replaced wholesale while other threads read it: the replaced
/// value is leaked, never dropped, so every reference handed out stays valid. Made for
/// process-wide state that a forked child must rebuild rather than reuse (its locks may be
/// held forever by threads the child does not have), e.g. the job pool or a backend's tables.
///
/// # Examples
///
/// ```
/// use lwt_core::fork::Renewable;
/// static COUNTERS: Renewable<Vec<u32>> = Renewable::empty();
/// let old = COUNTERS.get_or_init(|| vec![1, 2]);
/// COUNTERS.renew(Some(vec![3])); // e.g. in a forked child
/// assert_eq!(old, &[1, 2]); // still valid: the old value was leaked
/// assert_eq!(COUNTERS.get().unwrap(), &[3]);
/// ```
///
/// # Invariant
///
/// `ptr` is null or comes from `Box::into_raw`; a value is freed only by `Drop` (which has the
/// cell to itself), and a value replaced by [`Renewable::renew`] is never freed.
pub struct Renewable<T> {
    ptr: AtomicPtr<T>,
    _owns: PhantomData<Box<T>>,
}

// SAFETY: the cell hands out `&T` to every thread (so `T: Sync`) and the value it holds may be
// dropped on another thread than the one that made it (so `T: Send`).
unsafe impl<T: Send + Sync> Sync for Renewable<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Renewable<T> {}

impl<T> Renewable<T> {
    /// An empty cell (for a `static`; fill it with [`Renewable::get_or_init`]).
    pub const fn empty() -> Renewable<T> {
        Renewable {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// A cell holding `value`.
    pub fn new(value: T) -> Renewable<T> {
        Renewable {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// The current value, if any.
    pub fn get(&self) -> Option<&T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` and its value is never freed
        // while the cell lives (the invariant), so it outlives this borrow of the cell.
        unsafe { p.as_ref() }
    }

    /// The current value, made by `init` if the cell is empty. When several threads fill it at
    /// once, one value wins and the others are dropped unused.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        let fresh = Box::into_raw(Box::new(init()));
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `fresh` is now the cell's value, which lives as long as the cell.
            Ok(_) => unsafe { &*fresh },
            Err(winner) => {
                // SAFETY: the CAS failed, so `fresh` was never shared: this is its only owner.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: `winner` is the cell's value (non-null: the cell is never emptied by
                // another path than `renew`, whose old value stays alive).
                unsafe { &*winner }
            }
        }
    }

    /// Replaces the value (`None`: empties the cell, so the next [`Renewable::get_or_init`]
    /// makes a new one). The old value is leaked: references to it stay valid, its locks are
    /// never taken, its destructor never runs.
    pub fn renew(&self, value: Option<T>) {
        let new = value.map_or(ptr::null_mut(), |v| Box::into_raw(Box::new(v)));
        // The old pointer is dropped on purpose without freeing its value (the invariant).
        let _leaked = self.ptr.swap(new, Ordering::AcqRel);
    }
}

impl<T> Drop for Renewable<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw`, is the current value, and `&mut self`
            // means no reference from `get` is alive.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Renewable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Renewable").field(&self.get()).finish()
    }
}

/// What [`prepare`] did, undone when it drops: it holds the loop's core in this thread's
/// context across the fork, and gives it back to the switch call it came from, if any.
///
/// # Examples
///
/// ```
/// // Outside a runtime there is nothing to hold.
/// let guard = lwt_core::fork::prepare().unwrap();
/// drop(guard); // in the parent, or when fork(2) failed
/// ```
#[must_use = "keep the guard across fork(2): dropping it gives the loop back"]
pub struct ForkGuard {
    /// The runtime whose core was taken back from a switch call of this thread.
    call: Option<Arc<Shared>>,
    /// The locks and the gate held across the fork.
    held: Held,
    /// The core is in this thread's context: the guard must drop here.
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for ForkGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkGuard")
            .field("in_switch_call", &self.call.is_some())
            .finish()
    }
}

/// Readies lwt for a `fork(2)` by this thread (see the module documentation): afterwards this
/// thread holds its runtime's loop, if it is in one, and the switch watchdog cannot take it
/// until the returned guard drops. `lwt::unix::fork` calls it; call it yourself only around a
/// `fork` made by other means, and in the child call [`ForkGuard::child`].
///
/// # Errors
///
/// `InvalidArgument` (call `"fork"`) on a thread that cannot hold its runtime's loop: a task
/// running on a switch stand-in, or a thread waiting for a loop that another thread drives.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let guard = lwt_core::fork::prepare().unwrap(); // the home thread holds its loop
///     drop(guard);
/// });
/// ```
pub fn prepare() -> Result<ForkGuard, Error> {
    let guard = |call, rt: Option<Arc<Shared>>| ForkGuard {
        call,
        held: Held::take(rt),
        _not_send: PhantomData,
    };
    let Some(rt) = context::current() else {
        return Ok(guard(None, None));
    };
    let holds = context::holds(Arc::as_ptr(&rt));
    match (context::is_home(), holds) {
        (true, true) => Ok(guard(None, Some(rt))),
        // The home thread lacks its core only inside a switch call: take it back.
        (true, false) => {
            context::put_core(switch::take_back(&rt));
            Ok(guard(Some(rt.clone()), Some(rt)))
        }
        (false, true) => Err(Error::invalid(
            "fork",
            "called from a task running on a switch stand-in thread: the loop's home thread \
             is blocked in a switch call, and the child would have no thread to run the \
             loop's main future or its spawn_local tasks; fork from the main future, a \
             spawn_local task or a switch job (they run on the home thread), or while no \
             switch call is handed off",
        )),
        (false, false) => Err(Error::invalid(
            "fork",
            "this thread waits for a runtime whose loop another thread drives (a second \
             block_on of one runtime): the child would have no thread holding that loop; \
             fork from the thread that drives it",
        )),
    }
}

impl ForkGuard {
    /// In the child: resets lwt ([`runtime_after_fork`]), then gives the loop back to the
    /// switch call it came from (now watched by the child's own watchdog).
    ///
    /// # Errors
    ///
    /// The error of [`runtime_after_fork`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// let guard = lwt_core::fork::prepare().unwrap();
    /// // SAFETY: fork has no memory-safety preconditions; the child only resets lwt and exits.
    /// let pid = unsafe { libc::fork() };
    /// if pid == 0 {
    ///     let ok = guard.child().is_ok();
    ///     // SAFETY: ends the child at once, without the parent's at-exit handlers.
    ///     unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    /// }
    /// drop(guard); // the parent
    /// let mut status = 0;
    /// // SAFETY: waits for our own child, writing its status into a local.
    /// assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    /// assert_eq!(status, 0);
    /// # }
    /// ```
    pub fn child(mut self) -> io::Result<()> {
        self.held.release(true);
        runtime_after_fork()
        // Dropping `self` gives the loop back.
    }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        self.held.release(false);
        if let Some(rt) = self.call.take() {
            match context::take_core() {
                Some(core) => switch::resume_call(&rt, core),
                None => tracing::error!("lwt: the loop's state was lost across a fork"),
            }
        }
    }
}

/// What [`prepare`] holds across the fork beside the loop (see the module documentation):
/// the notification registry's lock, the runtime's driver locks, and its fork gate closed.
struct Held {
    notes: Option<notification::RegistryHold>,
    /// Borrows `rt`'s driver (see `Held::take`); released before `rt` goes.
    driver: Option<ForkHold<'static>>,
    /// The runtime whose gate is closed.
    rt: Option<Arc<Shared>>,
}

impl Held {
    /// Takes the locks in their order (the registry, then the driver's timers and I/O set),
    /// then closes `rt`'s gate and waits for the pushes in progress. Nobody holding one of
    /// these locks waits at the gate, and nobody passing the gate takes a lock, so this cannot
    /// deadlock.
    fn take(rt: Option<Arc<Shared>>) -> Held {
        let notes = Some(notification::hold_for_fork());
        let driver = rt.as_ref().map(|rt| {
            let hold = rt.driver.hold_for_fork();
            // SAFETY: `hold` borrows the driver inside `rt`'s allocation, which `Held` keeps
            // alive (the `Arc` in `Held::rt`) until after `release` has dropped `hold`; the
            // lifetime is only widened to store the two side by side.
            unsafe { std::mem::transmute::<ForkHold<'_>, ForkHold<'static>>(hold) }
        });
        if let Some(rt) = &rt {
            rt.driver.fork_gate.close();
        }
        Held { notes, driver, rt }
    }

    /// Releases the locks and opens the gate (`in_child`: after the fork, in the child).
    fn release(&mut self, in_child: bool) {
        self.driver.take();
        self.notes.take();
        if let Some(rt) = self.rt.take() {
            rt.driver.fork_gate.open(in_child);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release(false);
    }
}

/// How many hooks [`register_fork_hook`] keeps.
const FORK_HOOKS: usize = 16;
/// The hooks run in a forked child, as function pointers (0: free slot). Atomics, not a lock:
/// a lock held by another thread at fork time would stay locked forever in the child.
static FORK_HOOK_SLOTS: [AtomicUsize; FORK_HOOKS] = [const { AtomicUsize::new(0) }; FORK_HOOKS];

/// Registers `hook` to run in every child process right after `lwt::unix::fork`, once the
/// runtime has been reset (e.g. the job pool replaces itself with an empty one). Registering
/// the same function twice keeps one. Hooks run in registration order, on the child's only
/// thread.
///
/// # Panics
///
/// When more than 16 distinct hooks are registered.
///
/// # Examples
///
/// ```
/// fn reset() {}
/// lwt_core::register_fork_hook(reset);
/// lwt_core::register_fork_hook(reset); // kept once
/// ```
pub fn register_fork_hook(hook: fn()) {
    let v = hook as usize;
    for slot in &FORK_HOOK_SLOTS {
        match slot.compare_exchange(0, v, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return,
            Err(cur) if cur == v => return,
            Err(_) => {}
        }
    }
    panic!("lwt: more than {FORK_HOOKS} fork hooks registered");
}

/// Resets lwt in a child process after `fork(2)` (see the module documentation): bumps the
/// [`generation`], restarts the switch watchdog (lazily, with no call handed off), resets the
/// current runtime if this thread is in one (`Handle::after_fork`), then runs every hook of
/// [`register_fork_hook`]. `lwt::unix::fork` calls it (through [`ForkGuard::child`]); call it
/// yourself only after a `fork` made by other means, after [`prepare`].
///
/// # Errors
///
/// The error of `Handle::after_fork`; the hooks still run.
///
/// # Examples
///
/// ```
/// // Outside a runtime, only the process-wide state is reset and the hooks run.
/// lwt_core::runtime_after_fork().unwrap();
/// assert_eq!(lwt_core::fork::generation(), 1);
/// ```
pub fn runtime_after_fork() -> io::Result<()> {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    switch::after_fork_child();
    let res = match crate::Handle::try_current() {
        Some(h) => h.after_fork(),
        None => Ok(()),
    };
    for slot in &FORK_HOOK_SLOTS {
        let v = slot.load(Ordering::SeqCst);
        if v == 0 {
            break;
        }
        // SAFETY: every non-zero slot value was stored by `register_fork_hook` from a `fn()`,
        // and function pointers and `usize` have the same size on every supported target.
        let hook: fn() = unsafe { std::mem::transmute::<usize, fn()>(v) };
        hook();
    }
    res
}

#[cfg(test)]
mod tests {
    use super::Renewable;
    use std::sync::Arc;

    #[test]
    fn a_renewed_value_stays_valid_and_the_new_one_is_seen() {
        let cell = Renewable::new(vec![1]);
        let old = cell.get().unwrap();
        cell.renew(Some(vec![2]));
        assert_eq!(old, &[1]);
        assert_eq!(cell.get().unwrap(), &[2]);
        cell.renew(None);
        assert!(cell.get().is_none());
        assert_eq!(cell.get_or_init(|| vec![3]), &[3]);
        assert_eq!(cell.get_or_init(|| vec![4]), &[3]);
    }

    #[test]
    fn drop_frees_only_the_current_value() {
        let (a, b) = (Arc::new(()), Arc::new(()));
        let cell = Renewable::new(a.clone());
        cell.renew(Some(b.clone()));
        drop(cell);
        assert_eq!(Arc::strong_count(&a), 2, "the replaced value is leaked");
        assert_eq!(Arc::strong_count(&b), 1, "the current value is dropped");
    }
}
