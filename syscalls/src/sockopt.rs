//! Socket options (`getsockopt`/`setsockopt` for bool, int, optional-int and float options,
//! `getsockopt_error`) and the multicast functions.
//!
//! Every call here is immediate: socket options never block.

use crate::fd::FileDescr;
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use std::net::IpAddr;
use std::time::Duration;

/// The one place where `getsockopt`/`setsockopt` returns become errors.
fn getopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: i32,
    name: i32,
    call: &'static str,
    init: T,
) -> Result<T> {
    let mut v = init;
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is a live, writable `T` of `len` bytes for the duration of the call, and
    // `fd` is a borrowed open descriptor.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut T).cast(),
            &mut len,
        )
    };
    if r == -1 {
        return Err(Error::last_os_error(call, ""));
    }
    Ok(v)
}

fn setopt<T>(fd: BorrowedFd<'_>, level: i32, name: i32, call: &'static str, v: &T) -> Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` points to a readable `T` of `len` bytes; `fd` is a borrowed open descriptor.
    let r = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (v as *const T).cast(), len) };
    if r == -1 {
        return Err(Error::last_os_error(call, ""));
    }
    Ok(())
}

/// Boolean socket options (Lwt's `socket_bool_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketBoolOption {
    /// `SO_DEBUG`: record debugging information.
    SoDebug,
    /// `SO_BROADCAST`: permit sending broadcast messages.
    SoBroadcast,
    /// `SO_REUSEADDR`: allow reuse of local addresses for bind.
    SoReuseaddr,
    /// `SO_KEEPALIVE`: keep connections alive.
    SoKeepalive,
    /// `SO_DONTROUTE`: bypass the standard routing.
    SoDontroute,
    /// `SO_OOBINLINE`: leave out-of-band data in line.
    SoOobinline,
    /// `SO_ACCEPTCONN`: whether the socket is listening (read-only).
    SoAcceptconn,
    /// `TCP_NODELAY`: disable Nagle's algorithm (TCP sockets).
    TcpNodelay,
    /// `IPV6_V6ONLY`: an IPv6 socket only talks IPv6 (Lwt's `IPV6_ONLY`).
    Ipv6Only,
}

impl SocketBoolOption {
    fn level_name(self) -> (i32, i32) {
        use libc::*;
        match self {
            SocketBoolOption::SoDebug => (SOL_SOCKET, SO_DEBUG),
            SocketBoolOption::SoBroadcast => (SOL_SOCKET, SO_BROADCAST),
            SocketBoolOption::SoReuseaddr => (SOL_SOCKET, SO_REUSEADDR),
            SocketBoolOption::SoKeepalive => (SOL_SOCKET, SO_KEEPALIVE),
            SocketBoolOption::SoDontroute => (SOL_SOCKET, SO_DONTROUTE),
            SocketBoolOption::SoOobinline => (SOL_SOCKET, SO_OOBINLINE),
            SocketBoolOption::SoAcceptconn => (SOL_SOCKET, SO_ACCEPTCONN),
            SocketBoolOption::TcpNodelay => (IPPROTO_TCP, TCP_NODELAY),
            SocketBoolOption::Ipv6Only => (IPPROTO_IPV6, IPV6_V6ONLY),
        }
    }
}

/// Integer socket options (Lwt's `socket_int_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketIntOption {
    /// `SO_SNDBUF`: size of the send buffer.
    SoSndbuf,
    /// `SO_RCVBUF`: size of the receive buffer.
    SoRcvbuf,
    /// `SO_ERROR`: the pending error, cleared when read (read-only; see [`getsockopt_error`]).
    SoError,
    /// `SO_TYPE`: the socket type as the C constant (read-only).
    SoType,
    /// `SO_RCVLOWAT`: minimum number of bytes for a read to return.
    SoRcvlowat,
    /// `SO_SNDLOWAT`: minimum number of bytes for a write to be done.
    SoSndlowat,
}

impl SocketIntOption {
    fn name(self) -> i32 {
        use libc::*;
        match self {
            SocketIntOption::SoSndbuf => SO_SNDBUF,
            SocketIntOption::SoRcvbuf => SO_RCVBUF,
            SocketIntOption::SoError => SO_ERROR,
            SocketIntOption::SoType => SO_TYPE,
            SocketIntOption::SoRcvlowat => SO_RCVLOWAT,
            SocketIntOption::SoSndlowat => SO_SNDLOWAT,
        }
    }
}

/// Socket options whose value is an optional integer (Lwt's `socket_optint_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketOptintOption {
    /// `SO_LINGER`: `Some(seconds)` makes `close` wait that long for unsent data; `None` is
    /// the default (close returns at once).
    SoLinger,
}

/// Socket options whose value is a duration (Lwt's `socket_float_option`, seconds as a
/// float in OCaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketFloatOption {
    /// `SO_RCVTIMEO`: timeout of blocking receives (zero: none).
    SoRcvtimeo,
    /// `SO_SNDTIMEO`: timeout of blocking sends (zero: none).
    SoSndtimeo,
}

/// Reads a boolean socket option (Lwt's `getsockopt`). Immediate. See
/// [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html),
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt` (`ENOPROTOOPT` for an option of another
/// protocol, e.g. `TcpNodelay` on a Unix-domain socket).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// assert!(!getsockopt(&s, SocketBoolOption::TcpNodelay).unwrap());
/// setsockopt(&s, SocketBoolOption::TcpNodelay, true).unwrap();
/// assert!(getsockopt(&s, SocketBoolOption::TcpNodelay).unwrap());
/// ```
pub fn getsockopt(fd: &FileDescr, opt: SocketBoolOption) -> Result<bool> {
    let (level, name) = opt.level_name();
    Ok(getopt::<libc::c_int>(fd.checked()?.as_fd(), level, name, "getsockopt", 0)? != 0)
}

/// Sets a boolean socket option (Lwt's `setsockopt`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `setsockopt` (`ENOPROTOOPT`, `EINVAL`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// setsockopt(&s, SocketBoolOption::SoReuseaddr, true).unwrap();
/// assert!(getsockopt(&s, SocketBoolOption::SoReuseaddr).unwrap());
/// ```
pub fn setsockopt(fd: &FileDescr, opt: SocketBoolOption, v: bool) -> Result<()> {
    let (level, name) = opt.level_name();
    setopt(
        fd.checked()?.as_fd(),
        level,
        name,
        "setsockopt",
        &libc::c_int::from(v),
    )
}

/// Reads an integer socket option (Lwt's `getsockopt_int`). Immediate. `SoError` reads (and
/// clears) the pending error number; `SoType` gives the C `SOCK_*` value.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
/// assert_eq!(getsockopt_int(&s, SocketIntOption::SoType).unwrap(), libc::SOCK_DGRAM);
/// setsockopt_int(&s, SocketIntOption::SoRcvbuf, 65536).unwrap();
/// assert!(getsockopt_int(&s, SocketIntOption::SoRcvbuf).unwrap() >= 65536);
/// ```
pub fn getsockopt_int(fd: &FileDescr, opt: SocketIntOption) -> Result<i32> {
    getopt::<libc::c_int>(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        opt.name(),
        "getsockopt_int",
        0,
    )
}

/// Sets an integer socket option (Lwt's `setsockopt_int`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `setsockopt` (e.g. `ENOPROTOOPT` for the read-only
/// `SoError`/`SoType`).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// setsockopt_int(&s, SocketIntOption::SoSndbuf, 1 << 16).unwrap();
/// assert!(setsockopt_int(&s, SocketIntOption::SoType, 1).is_err()); // read-only
/// ```
pub fn setsockopt_int(fd: &FileDescr, opt: SocketIntOption, v: i32) -> Result<()> {
    setopt(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        opt.name(),
        "setsockopt_int",
        &v,
    )
}

/// Reads an optional-integer socket option (Lwt's `getsockopt_optint`): for `SoLinger`,
/// `Some(seconds)` if lingering is on. Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// assert_eq!(getsockopt_optint(&s, SocketOptintOption::SoLinger).unwrap(), None);
/// setsockopt_optint(&s, SocketOptintOption::SoLinger, Some(3)).unwrap();
/// assert_eq!(getsockopt_optint(&s, SocketOptintOption::SoLinger).unwrap(), Some(3));
/// ```
pub fn getsockopt_optint(fd: &FileDescr, opt: SocketOptintOption) -> Result<Option<i32>> {
    let SocketOptintOption::SoLinger = opt;
    let init = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let l = getopt(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        "getsockopt_optint",
        init,
    )?;
    Ok((l.l_onoff != 0).then_some(l.l_linger))
}

/// Sets an optional-integer socket option (Lwt's `setsockopt_optint`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for a negative number of seconds; the errors of
/// `setsockopt`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// setsockopt_optint(&s, SocketOptintOption::SoLinger, Some(0)).unwrap(); // reset on close
/// assert!(setsockopt_optint(&s, SocketOptintOption::SoLinger, Some(-1)).is_err());
/// ```
pub fn setsockopt_optint(fd: &FileDescr, opt: SocketOptintOption, v: Option<i32>) -> Result<()> {
    let SocketOptintOption::SoLinger = opt;
    if matches!(v, Some(s) if s < 0) {
        return Err(Error::invalid("setsockopt_optint", "negative linger time"));
    }
    let l = libc::linger {
        l_onoff: v.is_some().into(),
        l_linger: v.unwrap_or(0),
    };
    setopt(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        "setsockopt_optint",
        &l,
    )
}

fn float_name(opt: SocketFloatOption) -> i32 {
    match opt {
        SocketFloatOption::SoRcvtimeo => libc::SO_RCVTIMEO,
        SocketFloatOption::SoSndtimeo => libc::SO_SNDTIMEO,
    }
}

/// Reads a timeout socket option (Lwt's `getsockopt_float`); zero means no timeout.
/// Immediate. lwt's own operations never block on the socket, so these only matter to code
/// doing blocking I/O on it.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// use std::time::Duration;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// setsockopt_float(&s, SocketFloatOption::SoRcvtimeo, Duration::from_millis(1500)).unwrap();
/// assert_eq!(getsockopt_float(&s, SocketFloatOption::SoRcvtimeo).unwrap(), Duration::from_millis(1500));
/// ```
pub fn getsockopt_float(fd: &FileDescr, opt: SocketFloatOption) -> Result<Duration> {
    let init = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let tv = getopt(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        float_name(opt),
        "getsockopt_float",
        init,
    )?;
    Ok(Duration::from_secs(tv.tv_sec.max(0) as u64)
        + Duration::from_micros(tv.tv_usec.max(0) as u64))
}

/// Sets a timeout socket option (Lwt's `setsockopt_float`); zero means no timeout. Immediate.
/// The kernel keeps microseconds (Linux: clock ticks), so `v` is rounded up to the next
/// microsecond: a non-zero timeout, however small, stays a timeout (1 ns becomes 1 us) and
/// never ends earlier than asked.
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for a duration too large for a `timeval`; the
/// errors of `setsockopt`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// setsockopt_float(&s, SocketFloatOption::SoSndtimeo, std::time::Duration::from_secs(2)).unwrap();
/// assert!(setsockopt_float(&s, SocketFloatOption::SoSndtimeo, std::time::Duration::MAX).is_err());
/// // Too short for a timeval, yet not "no timeout":
/// setsockopt_float(&s, SocketFloatOption::SoSndtimeo, std::time::Duration::from_nanos(1)).unwrap();
/// assert!(getsockopt_float(&s, SocketFloatOption::SoSndtimeo).unwrap() > std::time::Duration::ZERO);
/// ```
pub fn setsockopt_float(fd: &FileDescr, opt: SocketFloatOption, v: Duration) -> Result<()> {
    // A timeval counts microseconds: round up, so that a non-zero timeout never becomes 0
    // ("no timeout"), and never times out earlier than asked.
    let micros = v.as_nanos().div_ceil(1000);
    let out_of_range = || Error::invalid("setsockopt_float", "duration out of range");
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(micros / 1_000_000).map_err(|_| out_of_range())?,
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    };
    setopt(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        float_name(opt),
        "setsockopt_float",
        &tv,
    )
}

/// Reads and clears the socket's pending error (Lwt's `getsockopt_error`): `None` if there
/// is none, else the error as lwt's error (named `"getsockopt_error"`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt` itself.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
/// assert!(getsockopt_error(&s).unwrap().is_none());
/// ```
pub fn getsockopt_error(fd: &FileDescr) -> Result<Option<Error>> {
    let e = getopt::<libc::c_int>(
        fd.checked()?.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        "getsockopt_error",
        0,
    )?;
    Ok((e != 0).then(|| Error::from_errno(e, "getsockopt_error", "")))
}

/// Whether the socket is IPv6 (by the family of its address, set even when unbound), for
/// the multicast calls.
fn is_v6(fd: BorrowedFd<'_>, call: &'static str) -> Result<bool> {
    let a = crate::cvt(rustix::net::getsockname(fd), call, "")?;
    Ok(a.address_family() == rustix::net::AddressFamily::INET6)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const IPV6_JOIN: i32 = libc::IPV6_ADD_MEMBERSHIP;
#[cfg(any(target_os = "linux", target_os = "android"))]
const IPV6_LEAVE: i32 = libc::IPV6_DROP_MEMBERSHIP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const IPV6_JOIN: i32 = libc::IPV6_JOIN_GROUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const IPV6_LEAVE: i32 = libc::IPV6_LEAVE_GROUP;

/// Sets whether multicast datagrams this socket sends are looped back to the sending host
/// (Lwt's `mcast_set_loop`; `IP_MULTICAST_LOOP` or `IPV6_MULTICAST_LOOP` by the socket's
/// family). Immediate. See [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `setsockopt` (`ENOPROTOOPT` on a non-IP socket).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
/// mcast_set_loop(&s, false).unwrap();
/// mcast_set_ttl(&s, 1).unwrap();
/// ```
pub fn mcast_set_loop(fd: &FileDescr, on: bool) -> Result<()> {
    let os = fd.checked()?;
    let v = libc::c_int::from(on);
    if is_v6(os.as_fd(), "mcast_set_loop")? {
        setopt(
            os.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            "mcast_set_loop",
            &v,
        )
    } else {
        setopt(
            os.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            "mcast_set_loop",
            &v,
        )
    }
}

/// Sets the time-to-live (IPv4) or hop limit (IPv6) of the multicast datagrams this socket
/// sends (Lwt's `mcast_set_ttl`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `setsockopt` (`EINVAL` for a value out of 0..=255).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet6, SocketType::Dgram, 0).unwrap();
/// mcast_set_ttl(&s, 4).unwrap(); // the IPv6 hop limit
/// assert!(mcast_set_ttl(&s, 1000).is_err());
/// ```
pub fn mcast_set_ttl(fd: &FileDescr, ttl: i32) -> Result<()> {
    let os = fd.checked()?;
    if is_v6(os.as_fd(), "mcast_set_ttl")? {
        setopt(
            os.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            "mcast_set_ttl",
            &ttl,
        )
    } else {
        setopt(
            os.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            "mcast_set_ttl",
            &ttl,
        )
    }
}

fn membership(
    fd: &FileDescr,
    ifname: Option<IpAddr>,
    group: IpAddr,
    add: bool,
    call: &'static str,
) -> Result<()> {
    let os = fd.checked()?;
    match group {
        IpAddr::V4(g) => {
            let iface = match ifname {
                None => std::net::Ipv4Addr::UNSPECIFIED,
                Some(IpAddr::V4(i)) => i,
                Some(IpAddr::V6(_)) => {
                    return Err(Error::invalid(
                        call,
                        "an IPv4 group needs an IPv4 interface address",
                    ))
                }
            };
            let mreq = libc::ip_mreq {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(g).to_be(),
                },
                imr_interface: libc::in_addr {
                    s_addr: u32::from(iface).to_be(),
                },
            };
            let name = if add {
                libc::IP_ADD_MEMBERSHIP
            } else {
                libc::IP_DROP_MEMBERSHIP
            };
            setopt(os.as_fd(), libc::IPPROTO_IP, name, call, &mreq)
        }
        IpAddr::V6(g) => {
            // IPv6 names the interface by index; Lwt (like OCaml) takes an address, and only
            // the default interface (index 0) can be named that way portably.
            let index = match ifname {
                None => 0,
                Some(IpAddr::V6(i)) if i.is_unspecified() => 0,
                Some(_) => {
                    return Err(Error::invalid(
                        call,
                        "an IPv6 group is joined on the default interface only (no ifname)",
                    ))
                }
            };
            let mreq = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr {
                    s6_addr: g.octets(),
                },
                ipv6mr_interface: index,
            };
            let name = if add { IPV6_JOIN } else { IPV6_LEAVE };
            setopt(os.as_fd(), libc::IPPROTO_IPV6, name, call, &mreq)
        }
    }
}

/// Joins the multicast group `group` on the interface with address `ifname` (the default
/// interface if `None`) (Lwt's `mcast_add_membership`; `IP_ADD_MEMBERSHIP` or
/// `IPV6_ADD_MEMBERSHIP`). Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; `InvalidArgument` for an interface of the other family (or any
/// `ifname` with an IPv6 group); the errors of `setsockopt` (`EINVAL` for an address that is
/// not multicast, `ENODEV` without a multicast route...).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
/// let group = std::net::Ipv4Addr::new(239, 255, 0, 1).into();
/// mcast_add_membership(&s, Some([127, 0, 0, 1].into()), group).unwrap();
/// mcast_drop_membership(&s, Some([127, 0, 0, 1].into()), group).unwrap();
/// ```
pub fn mcast_add_membership(fd: &FileDescr, ifname: Option<IpAddr>, group: IpAddr) -> Result<()> {
    membership(fd, ifname, group, true, "mcast_add_membership")
}

/// Leaves the multicast group `group` on the interface `ifname` (Lwt's
/// `mcast_drop_membership`). Immediate.
///
/// # Errors
///
/// As [`mcast_add_membership`]; `EADDRNOTAVAIL` if the socket had not joined.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
/// let group = std::net::Ipv4Addr::new(239, 255, 0, 2).into();
/// let e = mcast_drop_membership(&s, Some([127, 0, 0, 1].into()), group).unwrap_err();
/// assert_eq!(e.errno(), Some(libc::EADDRNOTAVAIL)); // never joined
/// ```
pub fn mcast_drop_membership(fd: &FileDescr, ifname: Option<IpAddr>, group: IpAddr) -> Result<()> {
    membership(fd, ifname, group, false, "mcast_drop_membership")
}

/// Sets the interface multicast datagrams leave by, by its IPv4 address (`IP_MULTICAST_IF`).
/// Not in Lwt; needed to multicast on a host with no multicast route (e.g. loopback only).
/// Immediate.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `setsockopt` (`EADDRNOTAVAIL` for an address of no
/// interface).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let s = socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap();
/// mcast_set_if(&s, [127, 0, 0, 1].into()).unwrap();
/// ```
#[doc(alias = "IP_MULTICAST_IF")]
pub fn mcast_set_if(fd: &FileDescr, iface: std::net::Ipv4Addr) -> Result<()> {
    let a = libc::in_addr {
        s_addr: u32::from(iface).to_be(),
    };
    setopt(
        fd.checked()?.as_fd(),
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        "mcast_set_if",
        &a,
    )
}
