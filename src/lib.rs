//! lwt: OCaml's `Lwt_unix` — cooperative system calls that never block the program — for Rust,
//! on event-loop backends chosen at run time.
//!
//! ```
//! lwt::run(async {
//!     let (r, w) = lwt::unix::pipe().unwrap();
//!     let reader = lwt::spawn(async move {
//!         let mut buf = [0u8; 5];
//!         let n = lwt::unix::read(&r, &mut buf).await.unwrap();
//!         buf[..n].to_vec()
//!     });
//!     lwt::unix::write(&w, b"hello").await.unwrap();
//!     assert_eq!(reader.await.unwrap(), b"hello");
//! });
//! ```
//!
//! See the README for the backend table, the environment variables and the table from each
//! `Lwt_unix` name to its Rust item.
#![doc(test(attr(deny(warnings))))]

pub use lwt_backends as backends;
pub use lwt_backends::BackendKind;
pub use lwt_core as core;
pub use lwt_core::{
    auto_yield, choose, duration_of_secs, handle_unix_error, join, join2, pick, sleep, sleep_secs,
    sleep_until, spawn, spawn_local, timeout, with_timeout, yield_now, AutoYield, Error, Handle,
    JoinHandle, Key, Result, Runtime,
};
pub use lwt_core::{
    call_notification, make_notification, send_notification, set_notification, stop_notification,
    NotificationId,
};

/// `Lwt_unix` for Rust: every function of the seed by its name.
pub mod unix {
    pub use lwt_core::{
        auto_yield, call_notification, handle_unix_error, make_notification, send_notification,
        set_notification, sleep, sleep_secs, stop_notification, timeout, with_timeout, yield_now,
        Error, NotificationId,
    };
    pub use lwt_jobs::*;
    #[cfg(unix)] // the Unix surface; absent on Windows (docs/portable.md)
    pub use lwt_syscalls::*;
}

mod builder;
pub mod net;
pub use builder::{run, Builder};
