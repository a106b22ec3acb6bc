//! The thread-local context: which runtime this thread is in, and the loop's private state
//! (`Core`) while this thread holds it.
//!
//! A thread is *in* a runtime while it runs `block_on` (its home thread), drives it as a
//! switch stand-in, or shuts it down; `spawn`, `sleep` and registrations made there go to that
//! runtime. It *holds the loop* when the runtime's `Box<Core>` sits in its `core` slot: only
//! then does it run tasks, and a task scheduled from it goes straight to the loop's own queue.
//! A home thread inside a switch call stays in the runtime but gives the core away, so what it
//! schedules meanwhile goes through the runtime's injector like any other thread's work.

use crate::driver::Driver;
use crate::scheduler::{Core, Shared};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

struct Context {
    /// The runtime this thread is in.
    shared: RefCell<Option<Arc<Shared>>>,
    /// The address of `shared` (null: none), for identity checks without touching the `Arc`.
    ptr: Cell<*const Shared>,
    /// The loop's private state, while this thread holds it.
    core: RefCell<Option<Box<Core>>>,
    /// The address of `shared`'s driver (0: none), for registrations and timers.
    driver: Cell<usize>,
    /// This thread is the home thread of `shared` (it runs its `block_on`).
    home: Cell<bool>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            shared: RefCell::new(None),
            ptr: Cell::new(std::ptr::null()),
            core: RefCell::new(None),
            driver: Cell::new(0),
            home: Cell::new(false),
        }
    };
}

/// A thread's context as [`enter`] found it: runtime, core, home, driver address.
struct Saved {
    shared: Option<Arc<Shared>>,
    core: Option<Box<Core>>,
    home: bool,
    driver: usize,
}

/// What [`enter`] replaced, put back by [`Entered`]'s drop.
pub(crate) struct Entered {
    prev: Option<Saved>,
}

/// Makes this thread be in `shared`, holding `core` if given; the previous context is put back
/// when the guard drops (the core then held, if any, must have been taken out first).
pub(crate) fn enter(shared: Arc<Shared>, core: Option<Box<Core>>, home: bool) -> Entered {
    let prev = CONTEXT.with(|c| {
        c.ptr.set(Arc::as_ptr(&shared));
        Saved {
            driver: c.driver.replace(Arc::as_ptr(&shared.driver) as usize),
            shared: c.shared.replace(Some(shared)),
            core: c.core.replace(core),
            home: c.home.replace(home),
        }
    });
    Entered { prev: Some(prev) }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            // Ignored when the thread-local is being destroyed (thread exit).
            let _ = CONTEXT.try_with(|c| {
                c.ptr
                    .set(prev.shared.as_ref().map_or(std::ptr::null(), Arc::as_ptr));
                c.driver.set(prev.driver);
                let mine = c.shared.replace(prev.shared);
                let core = c.core.replace(prev.core);
                c.home.set(prev.home);
                debug_assert!(core.is_none(), "a context was left holding a core");
                drop(core);
                drop(mine);
            });
        }
    }
}

/// Whether this thread is in some runtime.
pub(crate) fn in_runtime() -> bool {
    CONTEXT
        .try_with(|c| !c.ptr.get().is_null())
        .unwrap_or(false)
}

/// The runtime this thread is in.
pub(crate) fn current() -> Option<Arc<Shared>> {
    CONTEXT
        .try_with(|c| c.shared.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with the runtime this thread is in.
pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> Option<R> {
    CONTEXT
        .try_with(|c| c.shared.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The address of the runtime this thread is in (null: none).
pub(crate) fn current_ptr() -> *const Shared {
    CONTEXT
        .try_with(|c| c.ptr.get())
        .unwrap_or(std::ptr::null())
}

/// The address of the driver of the runtime this thread is in (identity only).
#[inline]
pub(crate) fn current_driver_id() -> Option<usize> {
    CONTEXT
        .try_with(|c| c.driver.get())
        .ok()
        .filter(|&d| d != 0)
}

/// The driver of the runtime this thread is in.
pub(crate) fn current_driver() -> Option<Arc<Driver>> {
    with_current(|sh| sh.driver.clone())
}

/// Whether this thread holds the loop of the runtime whose driver is `driver`.
pub(crate) fn holds_driver(driver: &Driver) -> bool {
    CONTEXT
        .try_with(|c| {
            c.driver.get() == driver as *const Driver as usize && c.core.borrow().is_some()
        })
        .unwrap_or(false)
}

/// Whether this thread is the home thread of the runtime it is in.
pub(crate) fn is_home() -> bool {
    CONTEXT.try_with(|c| c.home.get()).unwrap_or(false)
}

/// Whether this thread holds the loop of the runtime at `shared`.
pub(crate) fn holds(shared: *const Shared) -> bool {
    CONTEXT
        .try_with(|c| std::ptr::eq(c.ptr.get(), shared) && c.core.borrow().is_some())
        .unwrap_or(false)
}

/// Runs `f` on the core if this thread holds the loop of the runtime at `shared`. `f` must not
/// run user code (no polls, wakes or drops of tasks).
pub(crate) fn with_core<R>(shared: *const Shared, f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    CONTEXT
        .try_with(|c| {
            if !std::ptr::eq(c.ptr.get(), shared) {
                return None;
            }
            c.core.borrow_mut().as_mut().map(|core| f(core))
        })
        .ok()
        .flatten()
}

/// Runs `f` on the core this thread holds (the run loop's own accesses). `f` must not run user
/// code.
pub(crate) fn with_held_core<R>(f: impl FnOnce(&mut Core) -> R) -> R {
    CONTEXT.with(|c| {
        let mut core = c.core.borrow_mut();
        f(core
            .as_mut()
            .expect("lwt: the loop's core is not held here"))
    })
}

/// Takes the core out of this thread's context (it stops holding the loop).
pub(crate) fn take_core() -> Option<Box<Core>> {
    CONTEXT.try_with(|c| c.core.take()).ok().flatten()
}

/// Puts the core back into this thread's context (it holds the loop again).
pub(crate) fn put_core(core: Box<Core>) {
    CONTEXT.with(|c| {
        let old = c.core.replace(Some(core));
        debug_assert!(old.is_none(), "a context held two cores");
    });
}
