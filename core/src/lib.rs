//! lwt-core: the runtime of [lwt](https://docs.rs/lwt) — the executor, the [`Backend`]
//! contract, the reactor, timers, cancellation, task-local keys, notifications and the error
//! type. Use it through the `lwt` facade, which adds the backends, jobs and system calls.
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
mod combine;
mod error;
mod key;
pub mod notification;
pub mod reactor;
mod runtime;
pub mod switch;
mod time;
mod timer;

pub use backend::Backend;
pub use combine::{choose, join, join2, pick};
pub use error::{handle_unix_error, Error, Result};
pub use key::{Key, WithValue};
pub use notification::{
    call_notification, make_notification, send_notification, set_notification, stop_notification,
    NotificationId,
};
pub use runtime::{
    register_fork_hook, runtime_after_fork, spawn, spawn_local, Handle, JoinHandle, Runtime,
};
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
