//! lwt-syscalls: cooperative system calls — `FileDescr` and the Unix surface of OCaml's
//! `Lwt_unix`. Use it as `lwt::unix`.
//!
//! Each call either completes at once, or waits without blocking the loop: by readiness on
//! non-blocking descriptors (sockets, pipes), or through a job (by the async method in force)
//! for calls that can only block (files, lookups).
//!
//! ```
//! lwt::run(async {
//!     let (a, b) = lwt::unix::socketpair(lwt::unix::SocketDomain::Unix, lwt::unix::SocketType::Stream, 0).unwrap();
//!     lwt::unix::write(&a, b"x").await.unwrap();
//!     let mut buf = [0u8; 1];
//!     assert_eq!(lwt::unix::read(&b, &mut buf).await.unwrap(), 1);
//! });
//! ```
#![doc(test(attr(deny(warnings))))]
// The whole crate is the Unix surface: on Windows it is empty (see docs/portable.md).
#![cfg(unix)]

// One module per area, each re-exported whole: `lwt::unix::NAME` finds every seed name.
mod compat;
mod cpu;
mod dir;
mod fd;
mod fs;
mod io;
mod iovec;
mod msg;
mod net;
mod netdb;
mod pipe;
mod process;
mod signal;
mod sigpipe;
mod sockopt;
mod stream;
mod termios;
mod user;

pub use cpu::*;
pub use dir::*;
pub use fd::*;
pub use fs::*;
pub use io::*;
pub use iovec::*;
use lwt_core::{Error, Result};
pub use msg::*;
pub use net::*;
pub use netdb::*;
pub use pipe::*;
pub use process::*;
pub use signal::*;
pub use sockopt::*;
pub use stream::JOB_IO_MAX;
pub use termios::*;
pub use user::*;

/// Converts a rustix result into lwt's error, naming the call and its argument. The one place
/// where raw syscall returns become errors.
pub(crate) fn cvt<T>(r: rustix::io::Result<T>, call: &'static str, arg: &str) -> Result<T> {
    r.map_err(|e| Error::from_errno(e.raw_os_error(), call, arg))
}

/// Runs `f` again while it fails with EINTR.
pub(crate) fn retry_eintr<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match f() {
            Err(e) if e.errno() == Some(libc::EINTR) => continue,
            r => return r,
        }
    }
}
