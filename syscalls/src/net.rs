//! Sockets: domains, types, and `socketpair`.

use crate::cvt;
use crate::fd::FileDescr;
use lwt_core::Result;
use rustix::net::{AddressFamily, Protocol, SocketType as RSocketType};

/// A socket domain (Lwt's `socket_domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketDomain {
    /// `PF_UNIX`: Unix-domain sockets.
    Unix,
    /// `PF_INET`: IPv4.
    Inet,
    /// `PF_INET6`: IPv6.
    Inet6,
}

/// A socket type (Lwt's `socket_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_RAW`.
    Raw,
    /// `SOCK_SEQPACKET`.
    Seqpacket,
}

impl SocketDomain {
    pub(crate) fn family(self) -> AddressFamily {
        match self {
            SocketDomain::Unix => AddressFamily::UNIX,
            SocketDomain::Inet => AddressFamily::INET,
            SocketDomain::Inet6 => AddressFamily::INET6,
        }
    }
}

impl SocketType {
    pub(crate) fn raw(self) -> RSocketType {
        match self {
            SocketType::Stream => RSocketType::STREAM,
            SocketType::Dgram => RSocketType::DGRAM,
            SocketType::Raw => RSocketType::RAW,
            SocketType::Seqpacket => RSocketType::SEQPACKET,
        }
    }
}

pub(crate) fn protocol(proto: i32) -> Option<Protocol> {
    u32::try_from(proto).ok().and_then(std::num::NonZeroU32::new).map(Protocol::from_raw)
}

/// Creates a pair of connected sockets, non-blocking and close-on-exec (Lwt's
/// `socketpair`). See [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html).
///
/// # Errors
///
/// The errors of `socketpair` (e.g. `EOPNOTSUPP` for `Inet`).
///
/// # Examples
///
/// ```
/// use lwt::unix::{socketpair, SocketDomain, SocketType};
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     lwt::unix::write(&a, b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     lwt::unix::read(&b, &mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// ```
pub fn socketpair(domain: SocketDomain, ty: SocketType, proto: i32) -> Result<(FileDescr, FileDescr)> {
    let (a, b) = cvt(
        crate::compat::socketpair(domain.family(), ty.raw(), protocol(proto)),
        "socketpair",
        "",
    )?;
    Ok((FileDescr::new_nonblocking(a), FileDescr::new_nonblocking(b)))
}
