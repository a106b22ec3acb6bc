//! Notifications: the thread-safe way for other threads to run a callback in a loop
//! (Lwt's `make_notification`, `send_notification`, ...).
//!
//! A notification belongs to the runtime that made it. [`send_notification`] may be called
//! from any thread: it queues the id in that runtime's driver and wakes its loop, which then
//! calls the handler on the loop's thread. Sends that arrive before the loop runs are each
//! delivered. One turn of the loop delivers the sends queued when it started, so a handler
//! that sends its own notification again runs once per turn and cannot starve timers or I/O.
//!
//! # Handlers run with no lock held
//!
//! The registry (one process-wide map, id -> entry) is locked only to look an entry up. While
//! a handler runs, its entry is marked *running* and the handler itself is out of the map, so
//! the handler may call any notification function, on itself too: [`set_notification`] takes
//! effect when it returns, [`stop_notification`] drops it when it returns, and
//! [`call_notification`] runs it once more right after (a handler cannot run inside itself).
//!
//! # Panics
//!
//! A handler that panics while the loop delivers a notification is contained, like a
//! panicking task: the panic is reported (the panic hook prints it, and `tracing` logs it),
//! the notification stays registered, and the loop goes on. [`call_notification`] runs the
//! handler on the calling thread, where a panic propagates to the caller.

use crate::context;
use crate::driver::io::lock;
use crate::driver::Driver;
use crate::{Error, Result};
use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, Weak};

/// The id of a notification, as returned by [`make_notification`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotificationId(usize);

impl NotificationId {
    /// The id as an integer (Lwt's notifications are `int`s).
    pub fn as_usize(self) -> usize {
        self.0
    }
    /// The notification with this integer id.
    pub fn from_usize(id: usize) -> NotificationId {
        NotificationId(id)
    }
}

type Handler = Box<dyn FnMut() + Send>;

enum Slot {
    /// The handler, not running.
    Idle(Handler),
    /// The handler is out, running; what happened to the entry meanwhile.
    Running {
        replacement: Option<Handler>,
        again: usize,
    },
}

struct Entry {
    slot: Slot,
    once: bool,
    rt: Weak<Driver>,
}

#[derive(Default)]
struct Registry {
    next: usize,
    map: HashMap<usize, Entry>,
}

/// The registry's lock, held by a forking thread across `fork(2)` (see `crate::fork`): a
/// `send_notification` on another thread must not leave it locked in the child.
pub(crate) struct RegistryHold(#[allow(dead_code)] std::sync::MutexGuard<'static, Registry>);

/// Takes the registry's lock until the value drops.
pub(crate) fn hold_for_fork() -> RegistryHold {
    RegistryHold(lock(registry()))
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Default::default)
}

static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many notification handlers (on_signal handlers included) have panicked while a loop
/// delivered them, since the process started. The loop contains those panics.
///
/// # Examples
///
/// ```
/// let _so_far: u64 = lwt::core::notification::handler_panics();
/// ```
pub fn handler_panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Registers `f` as the handler of a new notification of the current runtime and returns its
/// id. With `once`, the notification stops after its first delivery.
///
/// # Errors
///
/// `InvalidArgument` outside of a runtime.
///
/// # Examples
///
/// ```
/// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// lwt::run(async {
///     let hits = Arc::new(AtomicUsize::new(0));
///     let h = hits.clone();
///     let id = lwt::make_notification(false, move || { h.fetch_add(1, Ordering::SeqCst); }).unwrap();
///     std::thread::spawn(move || lwt::send_notification(id).unwrap()).join().unwrap();
///     while hits.load(Ordering::SeqCst) == 0 {
///         lwt::sleep(std::time::Duration::from_millis(1)).await.unwrap();
///     }
///     lwt::stop_notification(id);
/// });
/// ```
pub fn make_notification(once: bool, f: impl FnMut() + Send + 'static) -> Result<NotificationId> {
    let rt = context::current_driver().ok_or_else(|| {
        Error::invalid("make_notification", "not inside an lwt runtime".to_string())
    })?;
    let mut r = lock(registry());
    // Ids are never reused while alive; like Lwt, skip ids still in use after wrapping.
    loop {
        r.next = r.next.wrapping_add(1);
        if !r.map.contains_key(&r.next) {
            break;
        }
    }
    let id = r.next;
    r.map.insert(
        id,
        Entry {
            slot: Slot::Idle(Box::new(f)),
            once,
            rt: std::sync::Arc::downgrade(&rt),
        },
    );
    Ok(NotificationId(id))
}

/// Sends a notification: its handler will run in its runtime's loop. Thread-safe; cheap when
/// the loop is awake.
///
/// # Errors
///
/// `NotFound` if the notification was stopped (or never existed), `Canceled` if its runtime
/// is gone.
pub fn send_notification(id: NotificationId) -> Result<()> {
    let rt = {
        let r = lock(registry());
        match r.map.get(&id.0) {
            Some(e) => e.rt.upgrade(),
            None => return Err(not_found("send_notification", id)),
        }
    };
    match rt {
        Some(rt) => {
            rt.queue_notification(id.0);
            Ok(())
        }
        None => Err(Error::Canceled),
    }
}

fn not_found(call: &'static str, id: NotificationId) -> Error {
    Error::NotFound {
        call,
        what: format!("notification {}", id.0),
    }
}

/// Stops a notification: its handler is dropped (when it returns, if it is running) and later
/// sends fail with `NotFound`. Stopping an unknown id does nothing.
pub fn stop_notification(id: NotificationId) {
    let removed = lock(registry()).map.remove(&id.0);
    drop(removed); // the handler (if idle) is dropped outside the registry lock
}

/// Calls the handler of a notification now, on this thread; a `once` notification is then
/// stopped. If the handler is running (this is a call from inside it, or from another thread
/// while the loop runs it), it runs once more right after, on the thread running it.
///
/// # Errors
///
/// `NotFound` for an unknown or stopped id.
///
/// # Panics
///
/// If the handler panics (the panic is the caller's, on this thread).
pub fn call_notification(id: NotificationId) -> Result<()> {
    match run(id.0) {
        Ran::Unknown => Err(not_found("call_notification", id)),
        Ran::Deferred | Ran::Done => Ok(()),
        Ran::Panicked(p) => resume_unwind(p),
    }
}

/// Replaces the handler of a notification; while it runs, the new one takes over when it
/// returns.
///
/// # Errors
///
/// `NotFound` for an unknown or stopped id (Lwt raises `Not_found`).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let id = lwt::make_notification(false, || {}).unwrap();
///     lwt::set_notification(id, || println!("new handler")).unwrap();
///     lwt::stop_notification(id);
///     assert!(lwt::set_notification(id, || {}).is_err());
/// });
/// ```
pub fn set_notification(id: NotificationId, f: impl FnMut() + Send + 'static) -> Result<()> {
    let old = {
        let mut r = lock(registry());
        let Some(e) = r.map.get_mut(&id.0) else {
            return Err(not_found("set_notification", id));
        };
        match &mut e.slot {
            Slot::Idle(h) => Some(std::mem::replace(h, Box::new(f))),
            Slot::Running { replacement, .. } => replacement.replace(Box::new(f)),
        }
    };
    drop(old); // outside the lock: a handler's drop may run any code
    Ok(())
}

enum Ran {
    Unknown,
    /// The handler was running: it will run again when it returns.
    Deferred,
    Done,
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Runs the handler of `id` with no lock held, as many times as it was asked meanwhile.
fn run(id: usize) -> Ran {
    let (mut handler, once) = {
        let mut r = lock(registry());
        let Some(e) = r.map.get_mut(&id) else {
            return Ran::Unknown;
        };
        if e.once {
            // A once-notification leaves the map as it is taken (Lwt stops it first).
            match r.map.remove(&id).map(|e| e.slot) {
                Some(Slot::Idle(h)) => (h, true),
                _ => return Ran::Unknown,
            }
        } else {
            let running = Slot::Running {
                replacement: None,
                again: 0,
            };
            match std::mem::replace(&mut e.slot, running) {
                Slot::Idle(h) => (h, false),
                Slot::Running { replacement, again } => {
                    e.slot = Slot::Running {
                        replacement,
                        again: again + 1,
                    };
                    return Ran::Deferred;
                }
            }
        }
    };
    loop {
        if let Err(p) = catch_unwind(AssertUnwindSafe(&mut handler)) {
            // Put the handler back before reporting, so the notification keeps working.
            if !once {
                let (_, dropped) = finish(id, handler, false);
                drop(dropped);
            }
            return Ran::Panicked(p);
        }
        if once {
            return Ran::Done;
        }
        let (again, dropped) = finish(id, handler, true);
        drop(dropped);
        match again {
            Some(h) => handler = h,
            None => return Ran::Done,
        }
    }
}

/// After a run: installs the handler (or its replacement) back, unless the entry was stopped.
/// With `rerun`, returns the handler to run again if a call came meanwhile (else such calls
/// are dropped). Also returns what must be dropped outside the lock.
fn finish(id: usize, handler: Handler, rerun: bool) -> (Option<Handler>, Option<Handler>) {
    let mut r = lock(registry());
    let Some(e) = r.map.get_mut(&id) else {
        return (None, Some(handler)); // stopped meanwhile
    };
    let (replacement, again) = match std::mem::replace(
        &mut e.slot,
        Slot::Running {
            replacement: None,
            again: 0,
        },
    ) {
        Slot::Running { replacement, again } => (replacement, again),
        // Not ours (cannot happen: only the runner leaves `Running`); keep what is there.
        idle => {
            e.slot = idle;
            return (None, Some(handler));
        }
    };
    let (current, dropped) = match replacement {
        Some(new) => (new, Some(handler)),
        None => (handler, None),
    };
    if rerun && again > 0 {
        e.slot = Slot::Running {
            replacement: None,
            again: again - 1,
        };
        (Some(current), dropped)
    } else {
        e.slot = Slot::Idle(current);
        (None, dropped)
    }
}

/// Delivers one queued notification (called by the loop); a panic of the handler is
/// contained and reported.
pub(crate) fn deliver(id: usize) {
    if let Ran::Panicked(p) = run(id) {
        PANICS.fetch_add(1, Ordering::Relaxed);
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_string());
        tracing::error!("lwt: notification {id}'s handler panicked ({msg}); the loop goes on");
    }
}
