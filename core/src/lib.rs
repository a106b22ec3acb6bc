//! lwt-core: the runtime of [lwt](https://docs.rs/lwt) — the executor, the [`Backend`]
//! contract, the reactor, timers, cancellation, task-local keys, notifications and the error
//! type. Use it through the `lwt` facade, which adds the backends, jobs and system calls.
//!
//! # Structure
//!
//! The layers depend one way, each only on those below it:
//!
//! 1. [`backend`]: the contract a backend (epoll, poll, kqueue, IOCP) fulfils.
//! 2. `driver`: the backend with its registered sources, the timers and the notification
//!    queue. One `turn` waits on the backend and hands back what became ready; it never calls
//!    the scheduler.
//! 3. `scheduler` and `context`: the loop's private state (`Core`: run queue, registry of live
//!    tasks, the driver's buffers) as one owned value that exactly one thread holds at a time,
//!    the run loop, and shutdown. [`switch`] hands the same value to a stand-in thread and back;
//!    [`fork`] makes the forking thread hold it across `fork(2)` and resets the rest in the
//!    child.
//! 4. The user-facing API: [`Runtime`] and [`spawn`], [`reactor::Source`] (readiness of a
//!    descriptor in whichever runtime polls it), [`sleep`] and timeouts, [`notification`]s,
//!    [`Key`]s and the combinators.
//!
//! Each module's documentation says who owns its state and which locks it takes.
//!
//! ```
//! lwt::run(async {
//!     let t = lwt::spawn(async { 2 + 2 });
//!     lwt::sleep(std::time::Duration::from_millis(1)).await.unwrap();
//!     assert_eq!(t.await.unwrap(), 4);
//! });
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod backend;
mod cell;
mod combine;
mod context;
mod driver;
pub mod embed;
mod error;
pub mod fork;
mod key;
pub mod metrics;
pub mod notification;
pub mod reactor;
mod runtime;
mod scheduler;
pub mod switch;
mod time;
pub mod trace;

pub use backend::Backend;
pub use combine::{choose, join, join2, pick};
pub use driver::completion;
pub use error::{handle_unix_error, Error, Result};
pub use fork::{register_fork_hook, runtime_after_fork};
pub use key::{Key, WithValue};
pub use metrics::{JobMetrics, RuntimeMetrics};
pub use notification::{
    call_notification, make_notification, send_notification, set_notification, stop_notification,
    NotificationId,
};
pub use runtime::{spawn, spawn_local, Handle, JoinHandle, Runtime};
pub use time::{
    auto_yield, duration_of_secs, sleep, sleep_secs, sleep_until, timeout, with_timeout, yield_now,
    AutoYield, Sleep, YieldNow,
};

#[cfg(test)]
mod assert_traits {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn handles_are_send_and_sync() {
        send_sync::<crate::Runtime>();
        send_sync::<crate::Handle>();
        send_sync::<crate::Error>();
    }
}
