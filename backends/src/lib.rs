//! lwt-backends: the event-loop backends of lwt behind [`lwt_core::Backend`], and their
//! run-time selection with `LWT_BACKEND`.
//!
//! | backend | OS | module |
//! |---|---|---|
//! | epoll | Linux, Android | `epoll` |
//! | io_uring | Linux 5.13+, where the kernel allows it | `uring` |
//! | kqueue | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly | `kqueue` |
//! | iocp | Windows | `iocp` |
//! | poll | every Unix | `poll` |
//!
//! ```
//! let kinds = lwt_backends::BackendKind::available();
//! let rt = lwt_core::Runtime::new(lwt_backends::open(Some(kinds[0])).unwrap());
//! assert_eq!(rt.backend_name(), kinds[0].name());
//! ```
#![doc(test(attr(deny(warnings))))]

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod epoll;
#[cfg(windows)]
pub mod iocp;
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub mod kqueue;
#[cfg(unix)]
pub mod poll;
#[cfg(any(
    windows,
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    // Its tests run on Linux too, where polling is over epoll: the kqueue code path, tested.
    all(test, target_os = "linux")
))]
mod poller;
mod select;
#[cfg(target_os = "linux")]
pub mod uring;

pub use select::{open, AnyBackend, BackendKind, ENV_VAR};
