//! The one error type of lwt: a failed system call keeps its errno, the call's name and its
//! argument (like OCaml's `Unix.Unix_error`), beside lwt's own outcomes (closed, aborted,
//! timeout, canceled).

use std::fmt;
use std::io;
use std::sync::Arc;

/// A `Result` whose error is lwt's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an lwt operation can fail with.
///
/// A failed system call is [`Error::Unix`], which keeps the errno, the name of the call and its
/// argument, as OCaml's `Unix.Unix_error (err, call, arg)` does. The other variants are the
/// outcomes lwt itself produces. `Error` converts to [`std::io::Error`] (a `Unix` error keeps
/// its errno there, so `raw_os_error()` still answers).
///
/// # Examples
///
/// ```
/// use lwt_core::Error;
///
/// let e = Error::from_errno(2, "openfile", "/no/such/file");
/// assert_eq!(e.errno(), Some(2));
/// assert_eq!(e.call(), Some("openfile"));
/// assert!(e.to_string().contains("/no/such/file"));
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed with `errno`; `call` is its name and `arg` its argument (often a
    /// path, or empty).
    Unix {
        /// The raw OS error number.
        errno: i32,
        /// The name of the call, as Lwt names it (`"read"`, `"openfile"`, ...).
        call: &'static str,
        /// The argument of the call that failed, for the message (a path, an address...).
        arg: String,
    },
    /// The file descriptor was closed with `close` (Lwt's `Unix_error (EBADF, ...)` on a closed
    /// channel); pending operations on it fail with this too.
    Closed,
    /// The file descriptor was aborted with `abort`; the cause is the error given to `abort`.
    Aborted(Arc<Error>),
    /// A `timeout` expired (Lwt's `Timeout` exception).
    Timeout,
    /// The operation was canceled (Lwt's `Canceled` exception), e.g. a job rejected by
    /// `cancel_jobs`, or a task canceled through its handle.
    Canceled,
    /// An argument was invalid (OCaml's `Invalid_argument`): `call` names the function.
    InvalidArgument {
        /// The function that rejected its argument.
        call: &'static str,
        /// What was wrong.
        msg: String,
    },
    /// Something looked up does not exist (OCaml's `Not_found`).
    NotFound {
        /// The function that looked it up.
        call: &'static str,
        /// What was looked up.
        what: String,
    },
    /// The capability is not available on this system (Lwt's `Lwt_sys.Not_available`); the
    /// string names what is missing.
    Unsupported(&'static str),
    /// A wrapped action asks to be retried when the descriptor is readable or writable
    /// (Lwt's `Retry`). Only meaningful as the result of an action given to `wrap_syscall`.
    Retry,
    /// A wrapped action asks to be retried when the descriptor is readable (`Retry_read`).
    RetryRead,
    /// A wrapped action asks to be retried when the descriptor is writable (`Retry_write`).
    RetryWrite,
    /// Any other error, e.g. one given by a user to `abort`.
    Other(Arc<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A system-call error from a raw errno, the call's name and its argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = lwt_core::Error::from_errno(9, "read", "");
    /// assert_eq!(e.errno(), Some(9));
    /// ```
    pub fn from_errno(errno: i32, call: &'static str, arg: impl Into<String>) -> Error {
        Error::Unix {
            errno,
            call,
            arg: arg.into(),
        }
    }

    /// A system-call error from `io::Error::last_os_error()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = lwt_core::Error::last_os_error("getcwd", "");
    /// assert_eq!(e.call(), Some("getcwd"));
    /// ```
    pub fn last_os_error(call: &'static str, arg: impl Into<String>) -> Error {
        Error::from_io(io::Error::last_os_error(), call, arg)
    }

    /// A system-call error from an `io::Error`: keeps its errno if it has one, and gives back
    /// an lwt error that was wrapped whole (by `From<Error> for io::Error`) as itself.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = std::io::Error::from_raw_os_error(13);
    /// let e = lwt_core::Error::from_io(io, "access", "/root");
    /// assert_eq!(e.errno(), Some(13));
    /// let io: std::io::Error = lwt::Error::Timeout.into();
    /// assert!(matches!(lwt_core::Error::from_io(io, "read", ""), lwt::Error::Timeout));
    /// ```
    pub fn from_io(e: io::Error, call: &'static str, arg: impl Into<String>) -> Error {
        if let Some(errno) = e.raw_os_error() {
            return Error::from_errno(errno, call, arg);
        }
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = e.kind();
            return match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(lwt)) => *lwt,
                // Not reached: `is` said so. Kept whole anyway.
                _ => Error::Other(Arc::new(io::Error::from(kind))),
            };
        }
        Error::Other(Arc::new(e))
    }

    /// An `InvalidArgument` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = lwt_core::Error::invalid("sleep", "negative duration");
    /// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn invalid(call: &'static str, msg: impl Into<String>) -> Error {
        Error::InvalidArgument {
            call,
            msg: msg.into(),
        }
    }

    /// The errno of a system-call error, or of an `Other` error that carries one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Unix { errno, .. } => Some(*errno),
            Error::Aborted(cause) => cause.errno(),
            Error::Other(e) => e.downcast_ref::<io::Error>().and_then(|e| e.raw_os_error()),
            _ => None,
        }
    }

    /// The name of the call that failed, for `Unix`, `InvalidArgument` and `NotFound` errors.
    pub fn call(&self) -> Option<&'static str> {
        match self {
            Error::Unix { call, .. }
            | Error::InvalidArgument { call, .. }
            | Error::NotFound { call, .. } => Some(call),
            _ => None,
        }
    }

    /// Whether the error is the would-block errno (EAGAIN / EWOULDBLOCK).
    pub fn is_would_block(&self) -> bool {
        self.kind() == io::ErrorKind::WouldBlock
    }

    /// The `std::io::ErrorKind` this error maps to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Unix { errno, .. } => io::Error::from_raw_os_error(*errno).kind(),
            Error::Closed => io::ErrorKind::NotConnected,
            Error::Aborted(cause) => cause.kind(),
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Canceled => io::ErrorKind::Interrupted,
            Error::InvalidArgument { .. } => io::ErrorKind::InvalidInput,
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::Unsupported(_) => io::ErrorKind::Unsupported,
            Error::Retry | Error::RetryRead | Error::RetryWrite => io::ErrorKind::WouldBlock,
            Error::Other(e) => match e.downcast_ref::<io::Error>() {
                Some(e) => e.kind(),
                None => io::ErrorKind::Other,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unix { errno, call, arg } => {
                let msg = io::Error::from_raw_os_error(*errno);
                if arg.is_empty() {
                    write!(f, "{call}: {msg}")
                } else {
                    write!(f, "{call}({arg:?}): {msg}")
                }
            }
            Error::Closed => f.write_str("operation on a closed file descriptor"),
            Error::Aborted(cause) => write!(f, "file descriptor aborted: {cause}"),
            Error::Timeout => f.write_str("timeout expired"),
            Error::Canceled => f.write_str("operation canceled"),
            Error::InvalidArgument { call, msg } => write!(f, "{call}: invalid argument: {msg}"),
            Error::NotFound { call, what } => write!(f, "{call}: not found: {what}"),
            Error::Unsupported(what) => write!(f, "not available on this system: {what}"),
            Error::Retry => f.write_str("retry when the descriptor is ready"),
            Error::RetryRead => f.write_str("retry when the descriptor is readable"),
            Error::RetryWrite => f.write_str("retry when the descriptor is writable"),
            Error::Other(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Aborted(cause) => Some(&**cause),
            Error::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// A `Unix` error keeps its errno (`raw_os_error()` answers). On Unix, [`Error::Closed`]
    /// becomes `EBADF`, what a system call on a closed descriptor reports and what code ported
    /// from Lwt (`Unix_error (EBADF, ..)`) or from plain Unix checks for; its `kind()` is then
    /// the one std gives `EBADF`, while [`Error::kind`] still says `NotConnected`. Every other
    /// error (and `Closed` on Windows) is wrapped whole, with [`Error::kind`] as its kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let io: std::io::Error = lwt::Error::Closed.into();
    /// # #[cfg(unix)]
    /// assert_eq!(io.raw_os_error(), Some(libc::EBADF));
    /// let io: std::io::Error = lwt::Error::Timeout.into();
    /// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    /// ```
    fn from(e: Error) -> io::Error {
        match e {
            Error::Unix { errno, .. } => io::Error::from_raw_os_error(errno),
            #[cfg(unix)]
            Error::Closed => io::Error::from_raw_os_error(libc::EBADF),
            other => io::Error::new(other.kind(), other),
        }
    }
}

impl From<io::Error> for Error {
    /// An `io::Error` with an errno becomes a `Unix` error with an unknown call (`"io"`);
    /// prefer [`Error::from_io`], which names the call.
    fn from(e: io::Error) -> Error {
        Error::from_io(e, "io", "")
    }
}

/// Runs `fut`; if it fails, prints the error on standard error the way OCaml's
/// `Unix.handle_unix_error` does (`program: call(arg): message`) and exits with status 2.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let n: u32 = lwt::handle_unix_error(async { Ok::<u32, lwt::Error>(7) }).await;
///     assert_eq!(n, 7);
/// });
/// ```
pub async fn handle_unix_error<T>(fut: impl std::future::Future<Output = Result<T>>) -> T {
    match fut.await {
        Ok(v) => v,
        Err(e) => {
            let prog = std::env::args().next().unwrap_or_else(|| "lwt".into());
            let prog = std::path::Path::new(&prog)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(prog);
            eprintln!("{prog}: {e}");
            std::process::exit(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_error_keeps_errno_call_and_arg() {
        let e = Error::from_errno(2, "stat", "/x");
        assert_eq!(e.errno(), Some(2));
        assert_eq!(e.call(), Some("stat"));
        let s = e.to_string();
        assert!(s.starts_with("stat(\"/x\"): "), "{s}");
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(2));
    }

    #[test]
    fn aborted_reports_its_cause() {
        let e = Error::Aborted(Arc::new(Error::from_errno(104, "read", "")));
        assert_eq!(e.errno(), Some(104));
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn lwt_outcomes_map_to_io_kinds() {
        assert_eq!(Error::Timeout.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            Error::Unsupported("fd_passing").kind(),
            io::ErrorKind::Unsupported
        );
        assert_eq!(Error::Closed.kind(), io::ErrorKind::NotConnected);
        let io: io::Error = Error::Timeout.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn closed_converts_to_ebadf() {
        let io: io::Error = Error::Closed.into();
        #[cfg(unix)]
        assert_eq!(io.raw_os_error(), Some(libc::EBADF));
        #[cfg(windows)]
        assert_eq!(io.kind(), io::ErrorKind::NotConnected);
    }
}
