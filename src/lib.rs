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
    JobMetrics, JoinHandle, Key, Result, Runtime, RuntimeMetrics,
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

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
mod builder;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod net;
#[cfg(unix)]
pub mod process;
#[cfg(unix)]
pub mod signal;
pub use builder::{run, Builder};

/// Runs an `async fn main` on a runtime built from the environment, as [`run`] does.
///
/// ```
/// #[lwt::main]
/// async fn main() {
///     lwt::sleep(std::time::Duration::from_millis(1)).await.unwrap();
///     println!("slept on {}", lwt::Handle::current().backend_name());
/// }
/// ```
///
/// The function may return what a `main` may, e.g. `Result<(), E>` with `E: Debug` (an `Err`
/// makes the process exit with status 1 after printing it):
///
/// ```
/// #[lwt::main]
/// async fn main() -> Result<(), lwt::Error> {
///     let (r, w) = lwt::unix::pipe()?;
///     lwt::unix::write(&w, b"x").await?;
///     let mut b = [0u8; 1];
///     assert_eq!(lwt::unix::read(&r, &mut b).await?, 1);
///     Ok(())
/// }
/// ```
///
/// The runtime comes from [`Builder::from_env`] (`LWT_BACKEND`, `LWT_ASYNC_METHOD`,
/// `LWT_POOL_SIZE`); the attribute takes no arguments. Build a runtime with [`Builder`] for
/// settings made in code.
///
/// # Panics
///
/// Like [`run`]: when the environment asks for something impossible, with the message of
/// `run` (`lwt::run: cannot start the runtime: ...`, naming the value and what is valid).
///
/// # Compile errors
///
/// On a function that is not `async`, takes arguments, is generic, or when given arguments:
///
/// ```compile_fail
/// #[lwt::main]
/// fn main() {}
/// ```
///
/// ```compile_fail
/// #[lwt::main(backend = "poll")]
/// async fn main() {}
/// ```
#[doc(inline)]
pub use lwt_macros::main;

/// Runs an `async fn` test once on every backend this OS has, each on a fresh runtime.
///
/// ```
/// #[lwt::test]
/// async fn pipe_round_trip() {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     lwt::unix::write(&w, b"hi").await.unwrap();
///     let mut b = [0u8; 2];
///     assert_eq!(lwt::unix::read(&r, &mut b).await.unwrap(), 2);
/// }
///
/// #[lwt::test(backend = "poll", timeout_secs = 10)]
/// async fn only_on_poll() -> Result<(), lwt::Error> {
///     assert_eq!(lwt::Handle::current().backend_name(), "poll");
///     lwt::sleep(std::time::Duration::from_millis(1)).await?;
///     Ok(())
/// }
/// ```
///
/// What it does, for each backend in turn:
///
/// - The backends are [`BackendKind::available`], restricted to `LWT_BACKEND` when that is
///   set (an `LWT_BACKEND` this OS lacks fails the test with the message naming what it has).
///   With `backend = "NAME"`, only that backend runs, whatever `LWT_BACKEND` says (settings
///   in code win over the environment, as in [`Builder`]); a name lwt does not know is a
///   compile error. **A pinned backend this OS lacks skips the test**: it passes, printing
///   `lwt::test: ... skipped: backend "kqueue" is not available on this OS` on standard error
///   (the platform gap is stated, not failed: such a test is written for the OSes that have the
///   backend).
/// - The body runs on a runtime of its own (`Builder::new().backend(kind)`) on a thread of its
///   own (`lwt-test-NAME`), so its future need not be `Send`.
/// - Each run has a deadline: 60 s, or `timeout_secs = N`. A run past it fails the test (its
///   thread is left behind; the test binary goes on with the next tests).
/// - Every backend runs even after one failed; the test then panics with one message naming
///   each backend that failed and why: `lwt::test: path::name failed on backend poll:
///   panicked: ...`, `... returned Err(...)`, or `... did not finish within 60s`.
///
/// The body may return `()` or `Result<(), E>` with `E: Debug` (an `Err` fails). Other
/// attributes pass through: `#[ignore]` works as usual, and with `#[should_panic]` the body must
/// panic on **every** backend (when one did not, the test fails and the message on standard
/// error names it); `expected = "..."` is matched against the combined message, which
/// contains each backend's panic message.
///
/// ```
/// #[lwt::test]
/// #[should_panic(expected = "boom")]
/// async fn panics_everywhere() {
///     panic!("boom");
/// }
/// ```
///
/// # Compile errors
///
/// On a function that is not `async`, takes arguments or is generic; on an unknown attribute
/// argument or backend name; on an extra `#[test]`:
///
/// ```compile_fail
/// #[lwt::test(backend = "uring")] // unknown backend "uring"; lwt knows: epoll, ...
/// async fn t() {}
/// ```
///
/// ```compile_fail
/// #[lwt::test(flavor = "current_thread")] // unknown attribute `flavor`
/// async fn t() {}
/// ```
///
/// ```compile_fail
/// #[lwt::test]
/// fn not_async() {} // the `async` keyword is missing
/// ```
///
/// A body returning anything else than `()` or `Result<(), E: Debug>` is an error at its
/// return type when the tests are compiled: "an `#[lwt::test]` function must return `()` or
/// `Result<(), E>` where `E: Debug`".
#[doc(inline)]
pub use lwt_macros::test;
