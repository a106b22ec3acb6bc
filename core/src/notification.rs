//! Notifications: the thread-safe way for other threads to run a callback in a loop
//! (Lwt's `make_notification`, `send_notification`, ...).
//!
//! A notification belongs to the runtime that made it. [`send_notification`] may be called
//! from any thread: it queues the id in that runtime and wakes its loop, which then calls the
//! handler on the loop's thread. Sends that arrive before the loop runs are each delivered.

use crate::runtime::{current_inner, lock, Inner};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

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

type Handler = Arc<Mutex<Box<dyn FnMut() + Send>>>;

struct Entry {
    handler: Handler,
    once: bool,
    rt: Weak<Inner>,
}

#[derive(Default)]
struct Registry {
    next: usize,
    map: HashMap<usize, Entry>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Default::default)
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
    let rt = current_inner("make_notification")?;
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
            handler: Arc::new(Mutex::new(Box::new(f))),
            once,
            rt: Arc::downgrade(&rt),
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
            let _ = rt.notifications.push(id.0);
            rt.wake_loop();
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

/// Stops a notification: its handler is dropped and later sends fail with `NotFound`.
/// Stopping an unknown id does nothing.
pub fn stop_notification(id: NotificationId) {
    let removed = lock(registry()).map.remove(&id.0);
    drop(removed); // the handler is dropped outside the registry lock
}

/// Calls the handler of a notification now, on this thread; a `once` notification is then
/// stopped.
///
/// # Errors
///
/// `NotFound` for an unknown or stopped id.
pub fn call_notification(id: NotificationId) -> Result<()> {
    let handler = take_handler(id.0).ok_or_else(|| not_found("call_notification", id))?;
    (*lock(&handler))();
    Ok(())
}

/// Replaces the handler of a notification.
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
    let handler = {
        let r = lock(registry());
        match r.map.get(&id.0) {
            Some(e) => e.handler.clone(),
            None => return Err(not_found("set_notification", id)),
        }
    };
    let old = std::mem::replace(&mut *lock(&handler), Box::new(f));
    drop(old);
    Ok(())
}

fn take_handler(id: usize) -> Option<Handler> {
    let mut r = lock(registry());
    let e = r.map.get(&id)?;
    let h = e.handler.clone();
    if e.once {
        r.map.remove(&id);
    }
    Some(h)
}

/// Delivers one queued notification (called by the loop).
pub(crate) fn dispatch(id: usize) {
    if let Some(h) = take_handler(id) {
        (*lock(&h))();
    }
}
