//! Run-time selection of a backend: `LWT_BACKEND`, what this OS has, and the automatic choice.
//! Every platform `cfg` of the backend choice lives here (and in the backend files).

use lwt_core::backend::{Backend, BorrowedSource, Events, Interest};
use lwt_core::Error;
use std::fmt;
use std::io;
use std::time::Duration;

/// The environment variable that picks a backend at run time.
pub const ENV_VAR: &str = "LWT_BACKEND";

/// The backends lwt knows, whether or not this OS has them.
///
/// # Examples
///
/// ```
/// use lwt_backends::BackendKind;
/// # #[cfg(unix)] {
/// assert_eq!("poll".parse::<BackendKind>().unwrap(), BackendKind::Poll);
/// assert!(BackendKind::available().contains(&BackendKind::Poll));
/// # }
/// let err = "nope".parse::<BackendKind>().unwrap_err();
/// assert!(err.to_string().contains("poll")); // the message lists what this OS has
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Linux and Android's epoll, edge-triggered.
    Epoll,
    /// poll(2), on every Unix.
    Poll,
    /// kqueue, on macOS, iOS and the BSDs.
    Kqueue,
    /// I/O completion ports (through AFD), on Windows.
    Iocp,
    /// The fault-injecting backend over a real one (feature `fault-injection`, for tests):
    /// never in [`BackendKind::ALL`] nor [`BackendKind::available`], only chosen by name.
    #[cfg(feature = "fault-injection")]
    Faulty,
    /// Linux's io_uring (5.13+): multishot poll requests for readiness, one kernel entry per
    /// loop turn. Available only where the kernel allows it (not under Docker's default
    /// seccomp profile or `kernel.io_uring_disabled`).
    IoUring,
}

impl BackendKind {
    /// Every kind lwt knows, best first (the automatic choice takes the first available).
    ///
    /// epoll comes before io_uring on Linux: with readiness on both, io_uring saves kernel
    /// entries only when many sources are ready per turn, and costs more per turn with few
    /// (docs/uring.md has the measurements).
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Epoll,
        BackendKind::IoUring,
        BackendKind::Kqueue,
        BackendKind::Iocp,
        BackendKind::Poll,
    ];

    /// The name `LWT_BACKEND` uses.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Epoll => "epoll",
            BackendKind::Poll => "poll",
            BackendKind::Kqueue => "kqueue",
            BackendKind::Iocp => "iocp",
            #[cfg(feature = "fault-injection")]
            BackendKind::Faulty => "faulty",
            BackendKind::IoUring => "io_uring",
        }
    }

    /// The kinds this OS has, best first.
    pub fn available() -> Vec<BackendKind> {
        BackendKind::ALL
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// Whether this OS has this kind.
    pub fn is_available(self) -> bool {
        match self {
            BackendKind::Epoll => cfg!(any(target_os = "linux", target_os = "android")),
            BackendKind::Poll => cfg!(unix),
            BackendKind::Kqueue => cfg!(any(
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly"
            )),
            BackendKind::Iocp => cfg!(windows),
            #[cfg(feature = "fault-injection")]
            BackendKind::Faulty => true,
            BackendKind::IoUring => unavailable_cause(self).is_none(),
        }
    }

    /// The kind chosen when none is asked for: the best this OS has.
    pub fn best() -> BackendKind {
        BackendKind::available()[0]
    }

    /// The kind `LWT_BACKEND` asks for, `None` when it is unset or empty.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` naming the value and the kinds this OS has, when the value is not
    /// one of them (never a silent fallback).
    pub fn from_env() -> Result<Option<BackendKind>, Error> {
        match std::env::var(ENV_VAR) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => v.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(unknown(&v.to_string_lossy())),
        }
    }
}

/// Why this system lacks `kind` when the OS could have it (io_uring refused by the kernel),
/// else `None`.
fn unavailable_cause(kind: BackendKind) -> Option<String> {
    match kind {
        #[cfg(target_os = "linux")]
        BackendKind::IoUring => crate::uring::probe().err(),
        #[cfg(not(target_os = "linux"))]
        BackendKind::IoUring => Some("io_uring is Linux's".to_string()),
        _ => None,
    }
}

/// Whether lwt has `kind` for this OS at all (built in), whether or not the kernel allows it.
fn built_in(kind: BackendKind) -> bool {
    match kind {
        BackendKind::IoUring => cfg!(target_os = "linux"),
        k => k.is_available(),
    }
}

fn not_available(kind: BackendKind) -> Error {
    let cause = match unavailable_cause(kind) {
        Some(c) if built_in(kind) => format!(" ({c})"),
        _ => String::new(),
    };
    Error::invalid(
        "LWT_BACKEND",
        format!(
            "backend {:?} is not available on this system{cause}; it has: {}",
            kind.name(),
            available_list()
        ),
    )
}

fn available_list() -> String {
    BackendKind::available()
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown(v: &str) -> Error {
    Error::invalid(
        "LWT_BACKEND",
        format!(
            "unknown backend {v:?}; this system has: {}",
            available_list()
        ),
    )
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackendKind, Error> {
        #[cfg(feature = "fault-injection")]
        if s.trim().eq_ignore_ascii_case("faulty") {
            return Ok(BackendKind::Faulty);
        }
        let kind = BackendKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| unknown(s))?;
        if !kind.is_available() {
            return Err(not_available(kind));
        }
        Ok(kind)
    }
}

/// One backend of any kind: dispatch by a closed `match`, no virtual call per method.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyBackend {
    /// epoll.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Epoll(crate::epoll::Epoll),
    /// poll(2).
    #[cfg(unix)]
    Poll(crate::poll::Poll),
    /// kqueue.
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    Kqueue(crate::kqueue::Kqueue),
    /// I/O completion ports.
    #[cfg(windows)]
    Iocp(crate::iocp::Iocp),
    /// The fault-injecting backend (feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    Faulty(crate::faulty::Faulty),
    /// io_uring.
    #[cfg(target_os = "linux")]
    IoUring(crate::uring::Uring),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            AnyBackend::Epoll($b) => $e,
            #[cfg(unix)]
            AnyBackend::Poll($b) => $e,
            #[cfg(any(
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly"
            ))]
            AnyBackend::Kqueue($b) => $e,
            #[cfg(windows)]
            AnyBackend::Iocp($b) => $e,
            #[cfg(feature = "fault-injection")]
            AnyBackend::Faulty($b) => $e,
            #[cfg(target_os = "linux")]
            AnyBackend::IoUring($b) => $e,
        }
    };
}

impl AnyBackend {
    /// Opens a backend of the given kind.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` if this OS lacks the kind; the OS error if creating it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt_backends::{AnyBackend, BackendKind};
    /// let kind = BackendKind::best();
    /// let b = AnyBackend::open(kind).unwrap();
    /// assert_eq!(lwt_core::Backend::name(&b), kind.name());
    /// ```
    pub fn open(kind: BackendKind) -> Result<AnyBackend, Error> {
        AnyBackend::create(kind)?.map_err(|e| {
            let e = io::Error::new(
                e.kind(),
                format!(
                    "the {} backend is not available: {}; this system has: {}",
                    kind.name(),
                    cause(&e),
                    available_list()
                ),
            );
            Error::from_io(e, "backend_create", kind.name())
        })
    }

    /// Creates a backend of a kind lwt has for this OS (`Err` if it has not), giving the OS
    /// error of creating it as it is.
    fn create(kind: BackendKind) -> Result<io::Result<AnyBackend>, Error> {
        Ok(match kind {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            BackendKind::Epoll => crate::epoll::Epoll::new().map(AnyBackend::Epoll),
            #[cfg(unix)]
            BackendKind::Poll => crate::poll::Poll::new().map(AnyBackend::Poll),
            #[cfg(any(
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly"
            ))]
            BackendKind::Kqueue => crate::kqueue::Kqueue::new().map(AnyBackend::Kqueue),
            #[cfg(windows)]
            BackendKind::Iocp => crate::iocp::Iocp::new().map(AnyBackend::Iocp),
            #[cfg(feature = "fault-injection")]
            BackendKind::Faulty => crate::faulty::Faulty::from_env().map(AnyBackend::Faulty),
            #[cfg(target_os = "linux")]
            BackendKind::IoUring => crate::uring::Uring::new().map(AnyBackend::IoUring),
            #[allow(unreachable_patterns)] // which arms exist depends on the OS
            other => return Err(not_available(other)),
        })
    }
}

/// An OS error with the name of its errno when the message does not say it already (the
/// errors a kernel or sandbox gives for a refused backend).
fn cause(e: &io::Error) -> String {
    let msg = e.to_string();
    match errno_name(e) {
        Some(name) if !msg.contains(name) => format!("{msg} ({name})"),
        _ => msg,
    }
}

#[cfg(unix)]
fn errno_name(e: &io::Error) -> Option<&'static str> {
    Some(match e.raw_os_error()? {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        libc::ENOMEM => "ENOMEM",
        libc::EINVAL => "EINVAL",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        _ => return None,
    })
}

#[cfg(windows)]
fn errno_name(_: &io::Error) -> Option<&'static str> {
    None
}

/// Opens the backend asked for, else the one `LWT_BACKEND` names, else the best this OS has.
///
/// A backend that was asked for (by argument or environment) and fails returns its error.
/// Only the automatic choice falls back to the next available kind, with a `tracing` warning.
///
/// # Errors
///
/// A bad `LWT_BACKEND`, an unavailable kind, or the OS error of creating the backend.
///
/// # Examples
///
/// ```
/// let kind = lwt_backends::BackendKind::best();
/// let b = lwt_backends::open(Some(kind)).unwrap();
/// assert_eq!(b.name(), kind.name());
/// ```
pub fn open(kind: Option<BackendKind>) -> Result<Box<dyn Backend>, Error> {
    let asked = match kind {
        Some(k) => Some(k),
        None => BackendKind::from_env()?,
    };
    if let Some(k) = asked {
        return AnyBackend::open(k).map(|b| Box::new(b) as Box<dyn Backend>);
    }
    // Every kind built in for this OS, best first, tried at every runtime creation (io_uring
    // too when the process-wide probe refused it: the refusal is then said each time).
    let mut failed: Vec<(BackendKind, io::Error)> = Vec::new();
    for k in BackendKind::ALL.into_iter().filter(|&k| built_in(k)) {
        match AnyBackend::create(k)? {
            Ok(b) => {
                for (f, e) in &failed {
                    tracing::warn!(
                        "lwt: the {} backend is not available ({}); using {} instead",
                        f.name(),
                        cause(e),
                        k.name()
                    );
                }
                tracing::debug!("lwt: using the {} backend", k.name());
                return Ok(Box::new(b));
            }
            Err(e) => failed.push((k, e)),
        }
    }
    Err(match failed.pop() {
        Some((k, e)) => Error::from_io(e, "backend_create", k.name()),
        None => Error::Unsupported("an event-loop backend"),
    })
}

impl Backend for AnyBackend {
    fn name(&self) -> &'static str {
        dispatch!(self, b => b.name())
    }
    fn register(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        dispatch!(self, b => b.register(source, token))
    }
    fn arm(&self, source: BorrowedSource<'_>, token: usize, interest: Interest) -> io::Result<()> {
        dispatch!(self, b => b.arm(source, token, interest))
    }
    fn deregister(&self, source: BorrowedSource<'_>, token: usize) -> io::Result<()> {
        dispatch!(self, b => b.deregister(source, token))
    }
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        dispatch!(self, b => b.wait(events, timeout))
    }
    fn notify(&self) -> io::Result<()> {
        dispatch!(self, b => b.notify())
    }
    fn syscalls(&self) -> Option<u64> {
        dispatch!(self, b => b.syscalls())
    }
    fn host_fds(&self, out: &mut Vec<(lwt_core::reactor::RawSource, Interest)>) {
        dispatch!(self, b => b.host_fds(out))
    }
    fn after_fork(&self) -> io::Result<()> {
        dispatch!(self, b => b.after_fork())
    }
    fn completions(&self) -> Option<&dyn lwt_core::backend::Completions> {
        dispatch!(self, b => b.completions())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A kind prints as the name `LWT_BACKEND` takes, and one this system has parses back
    /// from it.
    #[test]
    fn a_kind_prints_as_its_name() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.to_string(), kind.name());
        }
        for kind in BackendKind::available() {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
    }

    /// The causes a kernel or sandbox gives for a refused backend carry their errno's name,
    /// which the OS's message leaves out ("Operation not permitted" says nothing of EPERM);
    /// other errors keep their message as it is.
    #[test]
    fn a_refusal_names_its_errno_once() {
        for (errno, name) in [
            (libc::EPERM, "EPERM"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EINVAL, "EINVAL"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENFILE, "ENFILE"),
        ] {
            let e = io::Error::from_raw_os_error(errno);
            let c = cause(&e);
            assert_eq!(c, format!("{e} ({name})"));
            assert_eq!(c.matches(name).count(), 1, "{c}");
        }
        // An error that is no OS error keeps its message.
        let e = io::Error::other("refused by policy");
        assert_eq!(cause(&e), "refused by policy");
        // An errno without a name here: the OS's message only.
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(cause(&e), e.to_string());
    }
}
