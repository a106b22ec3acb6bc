//! Sockets: domains, types, addresses, `socket`, `bind`, `listen`, `accept`, `connect`,
//! `shutdown`, names, and `recv`/`send` with their message flags.

use crate::cvt;
use crate::fd::{FileDescr, IoEvent, Kind};
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, Protocol, RecvFlags, SendFlags, Shutdown, SocketAddrAny, SocketAddrUnix,
    SocketFlags, SocketType as RSocketType,
};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

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

/// The protocol argument of `socket`/`socketpair`: 0 is the default protocol of the domain
/// and type (`None`); a negative number is no protocol at all and is refused (it used to
/// silently mean the default).
pub(crate) fn protocol(call: &'static str, proto: i32) -> Result<Option<Protocol>> {
    match u32::try_from(proto) {
        Ok(p) => Ok(std::num::NonZeroU32::new(p).map(Protocol::from_raw)),
        Err(_) => Err(Error::invalid(
            call,
            format!("negative protocol {proto} (0 is the default protocol)"),
        )),
    }
}

/// Creates a pair of connected sockets, non-blocking and close-on-exec (Lwt's
/// `socketpair`). See [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a negative `proto`; the errors of `socketpair` (e.g. `EOPNOTSUPP`
/// for `Inet`).
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
pub fn socketpair(
    domain: SocketDomain,
    ty: SocketType,
    proto: i32,
) -> Result<(FileDescr, FileDescr)> {
    let (a, b) = cvt(
        crate::compat::socketpair(domain.family(), ty.raw(), protocol("socketpair", proto)?),
        "socketpair",
        "",
    )?;
    let kind = Kind::of_socket(domain, ty);
    Ok((
        finish_socket(a, "socketpair", kind)?,
        finish_socket(b, "socketpair", kind)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// A socket address (Lwt's `sockaddr`): a Unix-domain path or an internet address and port.
///
/// Converts to and from [`std::net::SocketAddr`] for the `Inet` case. A Linux abstract
/// Unix-domain name is a path whose first byte is NUL (as in OCaml); an unnamed Unix socket
/// (e.g. a `socketpair` end) has the empty path.
///
/// # Examples
///
/// ```
/// use lwt::unix::SockAddr;
/// let a: SockAddr = "127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap().into();
/// assert_eq!(a, SockAddr::Inet([127, 0, 0, 1].into(), 80));
/// assert_eq!(a.to_string(), "127.0.0.1:80");
/// assert_eq!(std::net::SocketAddr::try_from(a).unwrap().port(), 80);
/// assert!(std::net::SocketAddr::try_from(SockAddr::Unix("/tmp/s".into())).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[doc(alias = "sockaddr")]
pub enum SockAddr {
    /// `ADDR_UNIX`: a Unix-domain socket path.
    Unix(PathBuf),
    /// `ADDR_INET`: an IPv4 or IPv6 address and a port.
    Inet(IpAddr, u16),
}

impl SockAddr {
    /// The socket domain of this address (`Unix`, `Inet` or `Inet6`), like OCaml's
    /// `Unix.domain_of_sockaddr`.
    pub fn domain(&self) -> SocketDomain {
        match self {
            SockAddr::Unix(_) => SocketDomain::Unix,
            SockAddr::Inet(IpAddr::V4(_), _) => SocketDomain::Inet,
            SockAddr::Inet(IpAddr::V6(_), _) => SocketDomain::Inet6,
        }
    }

    pub(crate) fn to_any(&self, call: &'static str) -> Result<SocketAddrAny> {
        Ok(match self {
            SockAddr::Inet(ip, port) => SocketAddrAny::from(SocketAddr::new(*ip, *port)),
            SockAddr::Unix(p) => {
                let bytes = p.as_os_str().as_bytes();
                let unix = match abstract_name(bytes) {
                    Some(r) => r,
                    None if bytes.contains(&0) => {
                        return Err(Error::invalid(
                            call,
                            "NUL byte in a Unix-domain socket path",
                        ))
                    }
                    None => SocketAddrUnix::new(p.as_path()),
                };
                SocketAddrAny::from(cvt(unix, call, &p.to_string_lossy())?)
            }
        })
    }

    pub(crate) fn from_any(a: Option<SocketAddrAny>) -> SockAddr {
        let a = match a {
            Some(a) => a,
            None => return SockAddr::Unix(PathBuf::new()),
        };
        if a.address_family() == AddressFamily::UNIX {
            // An unnamed socket's address is the family alone. (rustix reads it as the path
            // "", which then looks like an abstract address with an empty name: "\0".)
            if a.addr_len() as usize <= std::mem::offset_of!(libc::sockaddr_un, sun_path) {
                return SockAddr::Unix(PathBuf::new());
            }
            return match SocketAddrUnix::try_from(a) {
                Ok(u) => {
                    if let Some(p) = u.path_bytes() {
                        SockAddr::Unix(PathBuf::from(std::ffi::OsStr::from_bytes(p)))
                    } else if let Some(v) = abstract_path(&u) {
                        SockAddr::Unix(PathBuf::from(std::ffi::OsString::from_vec(v)))
                    } else {
                        SockAddr::Unix(PathBuf::new())
                    }
                }
                Err(_) => SockAddr::Unix(PathBuf::new()),
            };
        }
        match SocketAddr::try_from(a) {
            Ok(s) => SockAddr::from(s),
            // Another family (netlink...): not representable; the unspecified address says so.
            Err(_) => SockAddr::Inet(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
        }
    }
}

/// A Linux abstract name: a path whose first byte is NUL.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(bytes: &[u8]) -> Option<rustix::io::Result<SocketAddrUnix>> {
    bytes
        .strip_prefix(b"\0")
        .map(SocketAddrUnix::new_abstract_name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_bytes: &[u8]) -> Option<rustix::io::Result<SocketAddrUnix>> {
    None
}

/// The path form (leading NUL) of an abstract address.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_path(u: &SocketAddrUnix) -> Option<Vec<u8>> {
    u.abstract_name().map(|n| [&[0u8][..], n].concat())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_path(_u: &SocketAddrUnix) -> Option<Vec<u8>> {
    None
}

/// The flags every new socket gets: non-blocking and close-on-exec, atomically where the
/// OS can (`SOCK_NONBLOCK | SOCK_CLOEXEC`); see [`finish_socket`] for the others.
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn new_socket_flags() -> SocketFlags {
    SocketFlags::CLOEXEC | SocketFlags::NONBLOCK
}

#[cfg(target_vendor = "apple")]
pub(crate) fn new_socket_flags() -> SocketFlags {
    SocketFlags::empty()
}

/// Makes a new socket non-blocking and close-on-exec where [`new_socket_flags`] could not
/// (Apple systems have no `SOCK_NONBLOCK`/`SOCK_CLOEXEC` and no `accept4`), and gives it
/// `SO_NOSIGPIPE` there (no `MSG_NOSIGNAL` either).
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn finish_socket(fd: OwnedFd, _call: &'static str, kind: Kind) -> Result<FileDescr> {
    Ok(FileDescr::new_nonblocking(fd, kind))
}

#[cfg(target_vendor = "apple")]
pub(crate) fn finish_socket(fd: OwnedFd, call: &'static str, kind: Kind) -> Result<FileDescr> {
    cvt(rustix::io::ioctl_fioclex(&fd), call, "")?;
    // No MSG_NOSIGNAL here: a write to a closed connection fails with EPIPE, no SIGPIPE.
    cvt(
        rustix::net::sockopt::set_socket_nosigpipe(&fd, true),
        call,
        "SO_NOSIGPIPE",
    )?;
    let fl = cvt(rustix::fs::fcntl_getfl(&fd), call, "")?;
    cvt(
        rustix::fs::fcntl_setfl(&fd, fl | rustix::fs::OFlags::NONBLOCK),
        call,
        "",
    )?;
    Ok(FileDescr::new_nonblocking(fd, kind))
}

impl From<SocketAddr> for SockAddr {
    fn from(s: SocketAddr) -> SockAddr {
        SockAddr::Inet(s.ip(), s.port())
    }
}

impl TryFrom<SockAddr> for SocketAddr {
    type Error = Error;
    /// Fails with `InvalidArgument` for a Unix-domain address.
    fn try_from(a: SockAddr) -> Result<SocketAddr> {
        match a {
            SockAddr::Inet(ip, port) => Ok(SocketAddr::new(ip, port)),
            SockAddr::Unix(p) => Err(Error::invalid(
                "SocketAddr::try_from",
                format!("{} is a Unix-domain address", p.display()),
            )),
        }
    }
}

impl std::fmt::Display for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SockAddr::Unix(p) => write!(f, "{}", p.display()),
            SockAddr::Inet(ip, port) => write!(f, "{}", SocketAddr::new(*ip, *port)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Creating, binding, listening

/// Creates a socket, non-blocking and close-on-exec, as an lwt descriptor (Lwt's `socket`).
/// Immediate. `proto` 0 picks the default protocol. See
/// [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html).
///
/// # Errors
///
/// `InvalidArgument` for a negative `proto`; the errors of `socket` (`EAFNOSUPPORT`,
/// `EPROTONOSUPPORT`, `EMFILE`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{socket, SocketDomain, SocketType};
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// assert!(!lwt::unix::blocking(&s));
/// ```
pub fn socket(domain: SocketDomain, ty: SocketType, proto: i32) -> Result<FileDescr> {
    let fd = cvt(
        rustix::net::socket_with(
            domain.family(),
            ty.raw(),
            new_socket_flags(),
            protocol("socket", proto)?,
        ),
        "socket",
        "",
    )?;
    finish_socket(fd, "socket", Kind::of_socket(domain, ty))
}

fn bind_now(os: BorrowedFd<'_>, addr: &SockAddr) -> Result<()> {
    if matches!(addr, SockAddr::Unix(p) if p.as_os_str().is_empty()) {
        // Linux would "autobind" the socket to a random abstract name, which is not what a
        // path says; other systems fail in their own ways.
        return Err(Error::invalid(
            "bind",
            "the empty Unix-domain path \"\" names no socket file; give a path, or (Linux) an \
             abstract name: a path that starts with a NUL byte, e.g. \"\\0name\"",
        ));
    }
    let any = addr.to_any("bind")?;
    cvt(rustix::net::bind(os, &any), "bind", &addr.to_string())
}

/// Binds `addr` to the socket (Lwt's `bind`, since 3.0 a promise). An internet address is
/// bound at once; a Unix-domain path is bound in a job (by the async method in force), since
/// creating the socket file can block on a slow file system. See
/// [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for a path with a NUL byte, or for the empty
/// Unix-domain path (which Linux would silently "autobind" to a random abstract name: use an
/// abstract name, a path starting with a NUL byte, to bind one); the errors of `bind`
/// (`EADDRINUSE`, `EACCES`...), naming the address.
///
/// # Examples
///
/// ```
/// use lwt::unix::{bind, getsockname, socket, SockAddr, SocketDomain, SocketType};
/// lwt::run(async {
///     let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     bind(&s, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     assert!(matches!(getsockname(&s).unwrap(), SockAddr::Inet(_, port) if port != 0));
/// });
/// ```
pub async fn bind(fd: &FileDescr, addr: &SockAddr) -> Result<()> {
    let os = fd.checked()?;
    match addr {
        SockAddr::Unix(_) => {
            let addr = addr.clone();
            lwt_jobs::run_job(None, move || bind_now(os.as_fd(), &addr)).await?
        }
        SockAddr::Inet(..) => bind_now(os.as_fd(), addr),
    }
}

/// Marks the socket as accepting connections, with a queue of `backlog` pending ones (Lwt's
/// `listen`). Immediate. See [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `listen` (`EOPNOTSUPP` on a datagram socket...).
///
/// # Examples
///
/// ```
/// use lwt::unix::{bind, listen, socket, SockAddr, SocketDomain, SocketType};
/// lwt::run(async {
///     let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     bind(&s, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     listen(&s, 16).unwrap();
/// });
/// ```
pub fn listen(fd: &FileDescr, backlog: i32) -> Result<()> {
    cvt(
        rustix::net::listen(fd.checked()?.as_fd(), backlog),
        "listen",
        "",
    )
}

fn accept_now(os: BorrowedFd<'_>, kind: Kind) -> Result<(FileDescr, SockAddr)> {
    #[cfg(not(target_vendor = "apple"))]
    let r = rustix::net::acceptfrom_with(os, new_socket_flags());
    #[cfg(target_vendor = "apple")]
    let r = rustix::net::acceptfrom(os);
    let (fd, addr) = cvt(r, "accept", "")?;
    Ok((finish_socket(fd, "accept", kind)?, SockAddr::from_any(addr)))
}

/// Accepts a connection (Lwt's `accept`): `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, so
/// the new socket is a non-blocking, close-on-exec lwt descriptor. Cooperates by readiness:
/// if no connection is pending, the task waits until the socket is readable. See
/// [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `accept4`, e.g. `EMFILE` when the process has no free
/// descriptor (the pending connection stays queued: accept again once descriptors are free).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     bind(&l, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     listen(&l, 8).unwrap();
///     let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     connect(&c, &getsockname(&l).unwrap()).await.unwrap();
///     let (s, peer) = accept(&l).await.unwrap();
///     assert_eq!(peer, getsockname(&c).unwrap());
///     assert_eq!(getpeername(&s).unwrap(), peer);
/// });
/// ```
pub async fn accept(fd: &FileDescr) -> Result<(FileDescr, SockAddr)> {
    let kind = fd.kind();
    fd.io(IoEvent::Read, |os| accept_now(os, kind)).await
}

/// Accepts up to `count` connections at once (Lwt's `accept_n`). Waits until at least one
/// connection is pending (by readiness), then accepts without waiting until `count` are
/// accepted or none is left.
///
/// Returns the accepted connections and the error that stopped it, if any: an error after
/// some connections were accepted does not lose them (e.g. `EMFILE` half-way through a batch).
/// `count` 0 returns at once with nothing.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     bind(&l, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     listen(&l, 8).unwrap();
///     let addr = getsockname(&l).unwrap();
///     let mut clients = Vec::new();
///     for _ in 0..3 {
///         let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///         connect(&c, &addr).await.unwrap();
///         clients.push(c);
///     }
///     let (got, err) = accept_n(&l, 10).await;
///     assert!(err.is_none());
///     assert!(!got.is_empty() && got.len() <= 3);
/// });
/// ```
pub async fn accept_n(fd: &FileDescr, count: usize) -> (Vec<(FileDescr, SockAddr)>, Option<Error>) {
    let mut out = Vec::new();
    if count == 0 {
        return (out, None);
    }
    match accept(fd).await {
        Ok(c) => out.push(c),
        Err(e) => return (out, Some(e)),
    }
    while out.len() < count {
        let os = match fd.checked() {
            Ok(os) => os,
            Err(e) => return (out, Some(e)),
        };
        match crate::retry_eintr(|| accept_now(os.as_fd(), fd.kind())) {
            Ok(c) => out.push(c),
            Err(e) if e.is_would_block() => break,
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Connects the socket to `addr` (Lwt's `connect`). Cooperates by readiness: a non-blocking
/// `connect` that is in progress (`EINPROGRESS`) is finished when the socket becomes
/// writable, by reading its `SO_ERROR`. A Unix-domain `connect` whose listener's queue is
/// full (`EAGAIN`) is retried after short sleeps. See
/// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for a path with a NUL byte; the errors of
/// `connect` naming the address, e.g. `ECONNREFUSED` when nobody listens, `ENOENT` for a
/// missing socket path.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     // Find a port nobody listens on: bind one, then close it.
///     let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     bind(&s, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     let addr = getsockname(&s).unwrap();
///     close(&s).await.unwrap();
///     let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
///     let e = connect(&c, &addr).await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::ECONNREFUSED));
/// });
/// ```
pub async fn connect(fd: &FileDescr, addr: &SockAddr) -> Result<()> {
    let any = addr.to_any("connect")?;
    let arg = || addr.to_string();
    loop {
        let os = fd.checked()?;
        match rustix::net::connect(os.as_fd(), &any) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => continue,
            // EALREADY: an earlier attempt interrupted by a signal goes on in the kernel.
            Err(Errno::INPROGRESS) | Err(Errno::ALREADY) => break,
            Err(Errno::AGAIN) => {
                drop(os);
                lwt_core::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(e) => return Err(Error::from_errno(e.raw_os_error(), "connect", arg())),
        }
    }
    fd.wait_ready(IoEvent::Write).await?;
    let os = fd.checked()?;
    match cvt(
        rustix::net::sockopt::socket_error(os.as_fd()),
        "connect",
        &arg(),
    )? {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::from_errno(e.raw_os_error(), "connect", arg())),
    }
}

/// Which halves of a connection [`shutdown`] closes (Lwt's `shutdown_command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownCommand {
    /// `SHUTDOWN_RECEIVE`: no more receptions.
    Receive,
    /// `SHUTDOWN_SEND`: no more transmissions; the peer reads end of file.
    Send,
    /// `SHUTDOWN_ALL`: both.
    All,
}

/// Shuts down one or both halves of a connection (Lwt's `shutdown`). Immediate. See
/// [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `shutdown` (`ENOTCONN`, `ENOTSOCK`).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     shutdown(&a, ShutdownCommand::Send).unwrap();
///     let mut buf = [0u8; 4];
///     assert_eq!(read(&b, &mut buf).await.unwrap(), 0);
/// });
/// ```
pub fn shutdown(fd: &FileDescr, cmd: ShutdownCommand) -> Result<()> {
    let how = match cmd {
        ShutdownCommand::Receive => Shutdown::Read,
        ShutdownCommand::Send => Shutdown::Write,
        ShutdownCommand::All => Shutdown::Both,
    };
    cvt(
        rustix::net::shutdown(fd.checked()?.as_fd(), how),
        "shutdown",
        "",
    )
}

/// The address the socket is bound to (Lwt's `getsockname`). Immediate. See
/// [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `ENOTSOCK`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let s = socket(SocketDomain::Inet6, SocketType::Dgram, 0).unwrap();
///     bind(&s, &SockAddr::Inet(std::net::Ipv6Addr::LOCALHOST.into(), 0)).await.unwrap();
///     let a = getsockname(&s).unwrap();
///     assert_eq!(a.domain(), SocketDomain::Inet6);
/// });
/// ```
pub fn getsockname(fd: &FileDescr) -> Result<SockAddr> {
    let a = cvt(
        rustix::net::getsockname(fd.checked()?.as_fd()),
        "getsockname",
        "",
    )?;
    Ok(SockAddr::from_any(Some(a)))
}

/// The address of the connected peer (Lwt's `getpeername`). Immediate. See
/// [getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `ENOTCONN` on an unconnected socket.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// assert_eq!(getpeername(&s).unwrap_err().errno(), Some(libc::ENOTCONN));
/// ```
pub fn getpeername(fd: &FileDescr) -> Result<SockAddr> {
    let a = cvt(
        rustix::net::getpeername(fd.checked()?.as_fd()),
        "getpeername",
        "",
    )?;
    Ok(SockAddr::from_any(a))
}

// ---------------------------------------------------------------------------------------------
// recv / send

bitflags::bitflags! {
    /// Flags of [`recv`], [`recvfrom`], [`send`], [`sendto`] (Lwt's `msg_flag list`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MsgFlags: u32 {
        /// `MSG_OOB`: out-of-band data.
        const OOB = libc::MSG_OOB as u32;
        /// `MSG_DONTROUTE`: bypass routing (send only).
        const DONTROUTE = libc::MSG_DONTROUTE as u32;
        /// `MSG_PEEK`: look at the data without consuming it (receive only).
        const PEEK = libc::MSG_PEEK as u32;
    }
}

/// `MSG_NOSIGNAL`: a send to a closed connection fails with `EPIPE` and raises no SIGPIPE.
#[cfg(not(target_vendor = "apple"))]
pub(crate) const NOSIGNAL: SendFlags = SendFlags::NOSIGNAL;
/// Apple systems have no `MSG_NOSIGNAL`: lwt's sockets have `SO_NOSIGPIPE` instead, and sends
/// go through [`crate::sigpipe::without_sigpipe`] for the others.
#[cfg(target_vendor = "apple")]
pub(crate) const NOSIGNAL: SendFlags = SendFlags::empty();

/// Runs a send made with [`NOSIGNAL`] so that it raises no visible SIGPIPE: the flag does it
/// where it exists; elsewhere SIGPIPE is blocked around the call (see `crate::sigpipe`).
pub(crate) fn send_without_sigpipe<T>(send: impl FnOnce() -> Result<T>) -> Result<T> {
    #[cfg(target_vendor = "apple")]
    {
        crate::sigpipe::without_sigpipe(send)
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        send()
    }
}

fn send_flags(f: MsgFlags) -> SendFlags {
    SendFlags::from_bits_retain(f.bits()) | NOSIGNAL
}

fn recv_flags(f: MsgFlags) -> RecvFlags {
    RecvFlags::from_bits_retain(f.bits())
}

/// Receives up to `buf.len()` bytes from a socket with `flags` (Lwt's `recv`). Cooperates by
/// readiness like [`read`](crate::read). Returns 0 at end of stream. See
/// [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `recv`, e.g. `ECONNRESET` when the peer reset the
/// connection.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     send(&a, b"peek", MsgFlags::empty()).await.unwrap();
///     let mut buf = [0u8; 4];
///     assert_eq!(recv(&b, &mut buf, MsgFlags::PEEK).await.unwrap(), 4);
///     assert_eq!(recv(&b, &mut buf, MsgFlags::empty()).await.unwrap(), 4); // still there
///     assert_eq!(&buf, b"peek");
/// });
/// ```
pub async fn recv(fd: &FileDescr, buf: &mut [u8], flags: MsgFlags) -> Result<usize> {
    let f = recv_flags(flags);
    let len = buf.len();
    let mut op = |os: BorrowedFd<'_>| {
        cvt(rustix::net::recv(os, &mut *buf, f), "recv", "").map(|(_, n)| n.min(len))
    };
    if flags.is_empty() {
        // A plain receive consumes what it gets, like `read` (a peek does not).
        fd.io_read(len, op).await
    } else {
        fd.io(IoEvent::Read, &mut op).await
    }
}

/// Receives a datagram and the address of its sender (Lwt's `recvfrom`). Cooperates by
/// readiness. A datagram longer than `buf` is truncated. See
/// [recvfrom(2)](https://man7.org/linux/man-pages/man2/recvfrom.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `recvfrom`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let lo = SockAddr::Inet([127, 0, 0, 1].into(), 0);
///     let a = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
///     let b = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
///     bind(&a, &lo).await.unwrap();
///     bind(&b, &lo).await.unwrap();
///     sendto(&a, b"hi", MsgFlags::empty(), &getsockname(&b).unwrap()).await.unwrap();
///     let mut buf = [0u8; 8];
///     let (n, from) = recvfrom(&b, &mut buf, MsgFlags::empty()).await.unwrap();
///     assert_eq!(&buf[..n], b"hi");
///     assert_eq!(from, getsockname(&a).unwrap());
/// });
/// ```
pub async fn recvfrom(
    fd: &FileDescr,
    buf: &mut [u8],
    flags: MsgFlags,
) -> Result<(usize, SockAddr)> {
    let f = recv_flags(flags);
    fd.io(IoEvent::Read, |os| {
        let (_, n, from) = cvt(rustix::net::recvfrom(os, &mut *buf, f), "recvfrom", "")?;
        Ok((n.min(buf.len()), SockAddr::from_any(from)))
    })
    .await
}

/// Sends bytes on a connected socket with `flags` (Lwt's `send`); returns how many were sent,
/// which may be fewer. Cooperates by readiness. Never raises SIGPIPE: a send to a closed
/// connection fails with `EPIPE`. See [send(2)](https://man7.org/linux/man-pages/man2/send.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `send`, e.g. `EPIPE`, `ECONNRESET`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     drop(b);
///     let e = send(&a, b"x", MsgFlags::empty()).await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::EPIPE));
/// });
/// ```
pub async fn send(fd: &FileDescr, buf: &[u8], flags: MsgFlags) -> Result<usize> {
    let f = send_flags(flags);
    fd.io(IoEvent::Write, |os| {
        send_without_sigpipe(|| cvt(rustix::net::send(os, buf, f), "send", ""))
    })
    .await
}

/// Sends a datagram to `addr` (Lwt's `sendto`). Cooperates by readiness. See
/// [sendto(2)](https://man7.org/linux/man-pages/man2/sendto.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for a path with a NUL byte; the errors of `sendto`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let rx = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
///     bind(&rx, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
///     let tx = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
///     let n = sendto(&tx, b"datagram", MsgFlags::empty(), &getsockname(&rx).unwrap()).await.unwrap();
///     assert_eq!(n, 8);
/// });
/// ```
pub async fn sendto(fd: &FileDescr, buf: &[u8], flags: MsgFlags, addr: &SockAddr) -> Result<usize> {
    let any = addr.to_any("sendto")?;
    let f = send_flags(flags);
    fd.io(IoEvent::Write, |os| {
        send_without_sigpipe(|| {
            cvt(
                rustix::net::sendto(os, buf, f, &any),
                "sendto",
                &addr.to_string(),
            )
        })
    })
    .await
}

/// The `Versioned` variants of Lwt's API, where they differ from the main names.
///
/// | Lwt | here |
/// |---|---|
/// | `Versioned.bind_1` (synchronous bind) | [`versioned::bind_1`] |
/// | `Versioned.bind_2` (= `bind`) | [`versioned::bind_2`] |
/// | `Versioned.recv_msg_2` / `send_msg_2` (`IO_vectors`) | [`versioned::recv_msg_2`], [`versioned::send_msg_2`] |
/// | `Versioned.send_msgto_2` | [`versioned::send_msgto_2`] |
///
/// The io-vector variants take slices of `IoSliceMut`/`IoSlice` like [`recv_msg`](crate::recv_msg)
/// and [`send_msg`](crate::send_msg), which already have the `_2` shape.
pub mod versioned {
    use super::{bind_now, SockAddr};
    use crate::fd::FileDescr;
    use lwt_core::Result;
    use rustix::fd::AsFd;

    pub use crate::msg::{
        recv_msg as recv_msg_2, send_msg as send_msg_2, send_msgto as send_msgto_2,
    };

    /// `bind(2)` done at once on the loop's thread, even for a Unix-domain path (Lwt's
    /// deprecated `Versioned.bind_1`, which blocks). Prefer [`bind`](crate::bind).
    ///
    /// # Errors
    ///
    /// As [`bind`](crate::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::unix::*;
    /// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
    /// versioned::bind_1(&s, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).unwrap();
    /// ```
    pub fn bind_1(fd: &FileDescr, addr: &SockAddr) -> Result<()> {
        bind_now(fd.checked()?.as_fd(), addr)
    }

    /// Lwt's `Versioned.bind_2`: the same as [`bind`](crate::bind).
    ///
    /// # Errors
    ///
    /// As [`bind`](crate::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::unix::*;
    /// lwt::run(async {
    ///     let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
    ///     versioned::bind_2(&s, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await.unwrap();
    /// });
    /// ```
    pub async fn bind_2(fd: &FileDescr, addr: &SockAddr) -> Result<()> {
        crate::bind(fd, addr).await
    }
}
