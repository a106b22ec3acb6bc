//! Host, protocol and service databases: `gethostname`, `gethostbyname`, `gethostbyaddr`,
//! `getprotobyname`, `getprotobynumber`, `getservbyname`, `getservbyport`, `getaddrinfo`,
//! `getnameinfo`.
//!
//! Every lookup may block (files, DNS), so every one runs as a job, by the async method in
//! force. On Linux the reentrant C calls are used (`gethostbyname_r`...); elsewhere the
//! classic ones, serialised by one lock as Lwt does. A name that is not found is
//! [`Error::NotFound`], never a panic.

use crate::net::{SockAddr, SocketDomain, SocketType};
use lwt_core::{Error, Result};
use std::ffi::{c_char, c_int, CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host entry (Lwt's `host_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// `h_name`: the official name.
    pub name: String,
    /// `h_aliases`: other names.
    pub aliases: Vec<String>,
    /// `h_addrtype`: the family of the addresses.
    pub addrtype: SocketDomain,
    /// `h_addr_list`: the addresses.
    pub addr_list: Vec<IpAddr>,
}

/// A protocol entry (Lwt's `protocol_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolEntry {
    /// `p_name`: the official name.
    pub name: String,
    /// `p_aliases`: other names.
    pub aliases: Vec<String>,
    /// `p_proto`: the protocol number.
    pub proto: i32,
}

/// A service entry (Lwt's `service_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// `s_name`: the official name.
    pub name: String,
    /// `s_aliases`: other names.
    pub aliases: Vec<String>,
    /// `s_port`: the port number (host byte order).
    pub port: u16,
    /// `s_proto`: the protocol (`"tcp"`, `"udp"`).
    pub proto: String,
}

/// One answer of [`getaddrinfo`] (Lwt's `addr_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    /// `ai_family`.
    pub family: SocketDomain,
    /// `ai_socktype`.
    pub socktype: SocketType,
    /// `ai_protocol`.
    pub protocol: i32,
    /// `ai_addr`.
    pub addr: SockAddr,
    /// `ai_canonname`: the canonical name with [`GetaddrinfoOption::AiCanonname`], else empty.
    pub canonname: String,
}

/// Options of [`getaddrinfo`] (Lwt's `getaddrinfo_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetaddrinfoOption {
    /// `AI_FAMILY`: only this family.
    AiFamily(SocketDomain),
    /// `AI_SOCKTYPE`: only this socket type.
    AiSocktype(SocketType),
    /// `AI_PROTOCOL`: only this protocol.
    AiProtocol(i32),
    /// `AI_NUMERICHOST`: the host must be a numeric address; no lookup.
    AiNumerichost,
    /// `AI_CANONNAME`: fill in the canonical name.
    AiCanonname,
    /// `AI_PASSIVE`: with an empty host, answer the wildcard address (for `bind`).
    AiPassive,
}

/// The answer of [`getnameinfo`] (Lwt's `name_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameInfo {
    /// `ni_hostname`: the host name (or numeric address).
    pub hostname: String,
    /// `ni_service`: the service name (or port number).
    pub service: String,
}

/// Options of [`getnameinfo`] (Lwt's `getnameinfo_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetnameinfoOption {
    /// `NI_NOFQDN`: only the host part of local names.
    NiNofqdn,
    /// `NI_NUMERICHOST`: the numeric address, no lookup.
    NiNumerichost,
    /// `NI_NAMEREQD`: fail if the host has no name.
    NiNamereqd,
    /// `NI_NUMERICSERV`: the numeric port, no lookup.
    NiNumericserv,
    /// `NI_DGRAM`: look up the service as UDP.
    NiDgram,
}

fn cstring(call: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(call, format!("NUL byte in {s:?}")))
}

fn not_found(call: &'static str, what: impl Into<String>) -> Error {
    Error::NotFound {
        call,
        what: what.into(),
    }
}

/// # Safety
///
/// `p` is null or a valid NUL-terminated string.
unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// # Safety
///
/// `p` is null or a valid NULL-terminated array of valid C strings.
unsafe fn strings(mut p: *mut *mut c_char) -> Vec<String> {
    let mut v = Vec::new();
    if p.is_null() {
        return v;
    }
    // SAFETY: the caller's contract: every element up to the NULL one is readable.
    unsafe {
        while !(*p).is_null() {
            v.push(string(*p));
            p = p.add(1);
        }
    }
    v
}

/// # Safety
///
/// `h` points to a valid `hostent` filled by the C library.
unsafe fn host_entry(h: *const libc::hostent) -> HostEntry {
    // SAFETY: the caller's contract; the address list holds `h_length`-byte addresses.
    unsafe {
        let h = &*h;
        let v6 = h.h_addrtype == libc::AF_INET6;
        let mut addr_list = Vec::new();
        let mut p = h.h_addr_list;
        while !p.is_null() && !(*p).is_null() {
            let a = (*p).cast::<u8>();
            if v6 && h.h_length == 16 {
                let mut o = [0u8; 16];
                std::ptr::copy_nonoverlapping(a, o.as_mut_ptr(), 16);
                addr_list.push(IpAddr::V6(Ipv6Addr::from(o)));
            } else if h.h_length == 4 {
                let mut o = [0u8; 4];
                std::ptr::copy_nonoverlapping(a, o.as_mut_ptr(), 4);
                addr_list.push(IpAddr::V4(Ipv4Addr::from(o)));
            }
            p = p.add(1);
        }
        HostEntry {
            name: string(h.h_name),
            aliases: strings(h.h_aliases),
            addrtype: if v6 {
                SocketDomain::Inet6
            } else {
                SocketDomain::Inet
            },
            addr_list,
        }
    }
}

/// # Safety
///
/// `p` points to a valid `protoent`.
unsafe fn protocol_entry(p: *const libc::protoent) -> ProtocolEntry {
    // SAFETY: the caller's contract.
    unsafe {
        let p = &*p;
        ProtocolEntry {
            name: string(p.p_name),
            aliases: strings(p.p_aliases),
            proto: p.p_proto,
        }
    }
}

/// # Safety
///
/// `s` points to a valid `servent`.
unsafe fn service_entry(s: *const libc::servent) -> ServiceEntry {
    // SAFETY: the caller's contract.
    unsafe {
        let s = &*s;
        ServiceEntry {
            name: string(s.s_name),
            aliases: strings(s.s_aliases),
            // s_port is in network byte order, in the low 16 bits of an int.
            port: u16::from_be(s.s_port as u16),
            proto: string(s.s_proto),
        }
    }
}

/// The reentrant C calls (glibc and musl have them, with these signatures).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod sys {
    use super::*;
    use std::ffi::c_void;

    extern "C" {
        fn gethostbyname_r(
            name: *const c_char,
            ret: *mut libc::hostent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::hostent,
            h_errnop: *mut c_int,
        ) -> c_int;
        fn gethostbyaddr_r(
            addr: *const c_void,
            len: libc::socklen_t,
            ty: c_int,
            ret: *mut libc::hostent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::hostent,
            h_errnop: *mut c_int,
        ) -> c_int;
        fn getprotobyname_r(
            name: *const c_char,
            ret: *mut libc::protoent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::protoent,
        ) -> c_int;
        fn getprotobynumber_r(
            proto: c_int,
            ret: *mut libc::protoent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::protoent,
        ) -> c_int;
        fn getservbyname_r(
            name: *const c_char,
            proto: *const c_char,
            ret: *mut libc::servent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::servent,
        ) -> c_int;
        fn getservbyport_r(
            port: c_int,
            proto: *const c_char,
            ret: *mut libc::servent,
            buf: *mut c_char,
            buflen: libc::size_t,
            result: *mut *mut libc::servent,
        ) -> c_int;
    }

    /// Calls a `*_r` function with a buffer that grows while it answers `ERANGE`; returns
    /// the converted entry, or `None` if the name is not found.
    ///
    /// `f(ret, buf, buflen, result)` is one call; `conv` reads `*result`.
    fn with_buffer<E, T>(
        call: &'static str,
        mut f: impl FnMut(*mut E, *mut c_char, usize, *mut *mut E) -> c_int,
        conv: unsafe fn(*const E) -> T,
    ) -> Result<Option<T>> {
        let mut len = 1024usize;
        loop {
            let mut buf = vec![0 as c_char; len];
            let mut ent = std::mem::MaybeUninit::<E>::zeroed();
            let mut result: *mut E = std::ptr::null_mut();
            let r = f(ent.as_mut_ptr(), buf.as_mut_ptr(), len, &mut result);
            if r == libc::ERANGE && len < (1 << 24) {
                len *= 2;
                continue;
            }
            if result.is_null() {
                // Not found (r is 0 or ENOENT); another error number is reported.
                if r != 0 && r != libc::ENOENT {
                    return Err(Error::from_errno(r, call, ""));
                }
                return Ok(None);
            }
            // SAFETY: on success `result` points to `ent`, whose strings live in `buf`,
            // both alive here.
            return Ok(Some(unsafe { conv(result) }));
        }
    }

    pub(super) fn host_by_name(name: &CStr) -> Result<Option<HostEntry>> {
        let mut herr: c_int = 0;
        with_buffer(
            "gethostbyname",
            |ret, buf, len, res| {
                // SAFETY: every pointer is valid for the call; `buf` has `len` bytes.
                unsafe { gethostbyname_r(name.as_ptr(), ret, buf, len, res, &mut herr) }
            },
            host_entry,
        )
    }

    pub(super) fn host_by_addr(addr: &[u8], family: c_int) -> Result<Option<HostEntry>> {
        let mut herr: c_int = 0;
        with_buffer(
            "gethostbyaddr",
            |ret, buf, len, res| {
                // SAFETY: `addr` is readable for its length; the other pointers are valid.
                unsafe {
                    gethostbyaddr_r(
                        addr.as_ptr().cast(),
                        addr.len() as libc::socklen_t,
                        family,
                        ret,
                        buf,
                        len,
                        res,
                        &mut herr,
                    )
                }
            },
            host_entry,
        )
    }

    pub(super) fn proto_by_name(name: &CStr) -> Result<Option<ProtocolEntry>> {
        with_buffer(
            "getprotobyname",
            // SAFETY: every pointer is valid for the call; `buf` has `len` bytes.
            |ret, buf, len, res| unsafe { getprotobyname_r(name.as_ptr(), ret, buf, len, res) },
            protocol_entry,
        )
    }

    pub(super) fn proto_by_number(n: c_int) -> Result<Option<ProtocolEntry>> {
        with_buffer(
            "getprotobynumber",
            // SAFETY: every pointer is valid for the call; `buf` has `len` bytes.
            |ret, buf, len, res| unsafe { getprotobynumber_r(n, ret, buf, len, res) },
            protocol_entry,
        )
    }

    pub(super) fn serv_by_name(name: &CStr, proto: &CStr) -> Result<Option<ServiceEntry>> {
        with_buffer(
            "getservbyname",
            |ret, buf, len, res| {
                // SAFETY: every pointer is valid for the call; `buf` has `len` bytes.
                unsafe { getservbyname_r(name.as_ptr(), proto.as_ptr(), ret, buf, len, res) }
            },
            service_entry,
        )
    }

    pub(super) fn serv_by_port(port: c_int, proto: &CStr) -> Result<Option<ServiceEntry>> {
        with_buffer(
            "getservbyport",
            // SAFETY: every pointer is valid for the call; `buf` has `len` bytes.
            |ret, buf, len, res| unsafe {
                getservbyport_r(port, proto.as_ptr(), ret, buf, len, res)
            },
            service_entry,
        )
    }
}

/// The classic C calls, serialised by one lock (their results live in static storage).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod sys {
    use super::*;
    use std::sync::Mutex;

    static LOCK: Mutex<()> = Mutex::new(());

    extern "C" {
        fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
        fn gethostbyaddr(
            addr: *const std::ffi::c_void,
            len: libc::socklen_t,
            ty: c_int,
        ) -> *mut libc::hostent;
    }

    fn locked<E, T>(
        f: impl FnOnce() -> *mut E,
        conv: unsafe fn(*const E) -> T,
    ) -> Result<Option<T>> {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let p = f();
        if p.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null result points to the C library's static entry, which stays
        // valid while we hold the lock.
        Ok(Some(unsafe { conv(p) }))
    }

    pub(super) fn host_by_name(name: &CStr) -> Result<Option<HostEntry>> {
        // SAFETY: `name` is a valid C string.
        locked(|| unsafe { gethostbyname(name.as_ptr()) }, host_entry)
    }

    pub(super) fn host_by_addr(addr: &[u8], family: c_int) -> Result<Option<HostEntry>> {
        // SAFETY: `addr` is readable for its length.
        locked(
            || unsafe {
                gethostbyaddr(addr.as_ptr().cast(), addr.len() as libc::socklen_t, family)
            },
            host_entry,
        )
    }

    pub(super) fn proto_by_name(name: &CStr) -> Result<Option<ProtocolEntry>> {
        // SAFETY: `name` is a valid C string.
        locked(
            || unsafe { libc::getprotobyname(name.as_ptr()) },
            protocol_entry,
        )
    }

    pub(super) fn proto_by_number(n: c_int) -> Result<Option<ProtocolEntry>> {
        // SAFETY: no pointer argument.
        locked(|| unsafe { libc::getprotobynumber(n) }, protocol_entry)
    }

    pub(super) fn serv_by_name(name: &CStr, proto: &CStr) -> Result<Option<ServiceEntry>> {
        // SAFETY: both are valid C strings.
        locked(
            || unsafe { libc::getservbyname(name.as_ptr(), proto.as_ptr()) },
            service_entry,
        )
    }

    pub(super) fn serv_by_port(port: c_int, proto: &CStr) -> Result<Option<ServiceEntry>> {
        // SAFETY: `proto` is a valid C string.
        locked(
            || unsafe { libc::getservbyport(port, proto.as_ptr()) },
            service_entry,
        )
    }
}

/// The host name of this machine (Lwt's `gethostname`), the node name of `uname`. Runs as a
/// job. See [gethostname(2)](https://man7.org/linux/man-pages/man2/gethostname.2.html).
///
/// # Errors
///
/// `Canceled` if the job is rejected.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let name = lwt::unix::gethostname().await.unwrap();
///     assert!(!name.is_empty());
/// });
/// ```
pub async fn gethostname() -> Result<String> {
    lwt_jobs::run_job(None, || {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    })
    .await
}

/// Looks a host up by name (Lwt's `gethostbyname`, with `gethostbyname_r`). Runs as a job.
/// See [gethostbyname(3)](https://man7.org/linux/man-pages/man3/gethostbyname.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown host; `InvalidArgument` for a name with a NUL byte.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let h = lwt::unix::gethostbyname("localhost").await.unwrap();
///     assert!(!h.addr_list.is_empty());
///     assert!(lwt::unix::gethostbyname("no-such-host.invalid").await.is_err());
/// });
/// ```
pub async fn gethostbyname(name: &str) -> Result<HostEntry> {
    let c = cstring("gethostbyname", name)?;
    let what = name.to_string();
    lwt_jobs::run_job(None, move || sys::host_by_name(&c))
        .await??
        .ok_or_else(|| not_found("gethostbyname", what))
}

/// Looks a host up by address (Lwt's `gethostbyaddr`, with `gethostbyaddr_r`). Runs as a
/// job. See [gethostbyaddr(3)](https://man7.org/linux/man-pages/man3/gethostbyaddr.3.html).
///
/// # Errors
///
/// `NotFound` for an address with no name.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let h = lwt::unix::gethostbyaddr([127, 0, 0, 1].into()).await.unwrap();
///     assert!(h.addr_list.contains(&[127, 0, 0, 1].into()));
/// });
/// ```
pub async fn gethostbyaddr(addr: IpAddr) -> Result<HostEntry> {
    lwt_jobs::run_job(None, move || match addr {
        IpAddr::V4(a) => sys::host_by_addr(&a.octets(), libc::AF_INET),
        IpAddr::V6(a) => sys::host_by_addr(&a.octets(), libc::AF_INET6),
    })
    .await??
    .ok_or_else(|| not_found("gethostbyaddr", addr.to_string()))
}

/// Looks a protocol up by name (Lwt's `getprotobyname`, with `getprotobyname_r`). Runs as
/// a job. See [getprotoent(3)](https://man7.org/linux/man-pages/man3/getprotoent.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown protocol; `InvalidArgument` for a name with a NUL byte.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getprotobyname("tcp").await.unwrap().proto, 6);
/// });
/// ```
pub async fn getprotobyname(name: &str) -> Result<ProtocolEntry> {
    let c = cstring("getprotobyname", name)?;
    let what = name.to_string();
    lwt_jobs::run_job(None, move || sys::proto_by_name(&c))
        .await??
        .ok_or_else(|| not_found("getprotobyname", what))
}

/// Looks a protocol up by number (Lwt's `getprotobynumber`). Runs as a job.
///
/// # Errors
///
/// `NotFound` for an unknown number.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getprotobynumber(17).await.unwrap().name, "udp");
/// });
/// ```
pub async fn getprotobynumber(proto: i32) -> Result<ProtocolEntry> {
    lwt_jobs::run_job(None, move || sys::proto_by_number(proto))
        .await??
        .ok_or_else(|| not_found("getprotobynumber", proto.to_string()))
}

/// Looks a service up by name and protocol (Lwt's `getservbyname`, with
/// `getservbyname_r`). Runs as a job. See
/// [getservent(3)](https://man7.org/linux/man-pages/man3/getservent.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown service; `InvalidArgument` for a NUL byte.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getservbyname("http", "tcp").await.unwrap().port, 80);
/// });
/// ```
pub async fn getservbyname(name: &str, proto: &str) -> Result<ServiceEntry> {
    let (c, p) = (
        cstring("getservbyname", name)?,
        cstring("getservbyname", proto)?,
    );
    let what = format!("{name}/{proto}");
    lwt_jobs::run_job(None, move || sys::serv_by_name(&c, &p))
        .await??
        .ok_or_else(|| not_found("getservbyname", what))
}

/// Looks a service up by port and protocol (Lwt's `getservbyport`). Runs as a job.
///
/// # Errors
///
/// `NotFound` for an unknown port; `InvalidArgument` for a NUL byte.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     assert_eq!(lwt::unix::getservbyport(80, "tcp").await.unwrap().name, "http");
/// });
/// ```
pub async fn getservbyport(port: u16, proto: &str) -> Result<ServiceEntry> {
    let p = cstring("getservbyport", proto)?;
    let what = format!("{port}/{proto}");
    let net = c_int::from(port.to_be());
    lwt_jobs::run_job(None, move || sys::serv_by_port(net, &p))
        .await??
        .ok_or_else(|| not_found("getservbyport", what))
}

fn gai_error(code: c_int, call: &'static str, what: String) -> Error {
    match code {
        libc::EAI_NONAME | libc::EAI_SERVICE => not_found(call, what),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        libc::EAI_NODATA => not_found(call, what),
        libc::EAI_SYSTEM => Error::last_os_error(call, what),
        _ => {
            // SAFETY: gai_strerror returns a static string for any code.
            let msg = unsafe { string(libc::gai_strerror(code)) };
            Error::Other(std::sync::Arc::new(std::io::Error::other(format!(
                "{call} {what}: {msg}"
            ))))
        }
    }
}

fn domain_of(family: c_int) -> Option<SocketDomain> {
    match family {
        libc::AF_UNIX => Some(SocketDomain::Unix),
        libc::AF_INET => Some(SocketDomain::Inet),
        libc::AF_INET6 => Some(SocketDomain::Inet6),
        _ => None,
    }
}

fn family_of(d: SocketDomain) -> c_int {
    match d {
        SocketDomain::Unix => libc::AF_UNIX,
        SocketDomain::Inet => libc::AF_INET,
        SocketDomain::Inet6 => libc::AF_INET6,
    }
}

fn socktype_of(t: c_int) -> Option<SocketType> {
    match t {
        libc::SOCK_STREAM => Some(SocketType::Stream),
        libc::SOCK_DGRAM => Some(SocketType::Dgram),
        libc::SOCK_RAW => Some(SocketType::Raw),
        libc::SOCK_SEQPACKET => Some(SocketType::Seqpacket),
        _ => None,
    }
}

fn raw_socktype(t: SocketType) -> c_int {
    match t {
        SocketType::Stream => libc::SOCK_STREAM,
        SocketType::Dgram => libc::SOCK_DGRAM,
        SocketType::Raw => libc::SOCK_RAW,
        SocketType::Seqpacket => libc::SOCK_SEQPACKET,
    }
}

/// # Safety
///
/// `sa` points to `len` readable bytes of a socket address.
unsafe fn sockaddr_of(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<SockAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller's contract; the family says which struct it is, and `len` is
    // checked against that struct's size before reading it.
    unsafe {
        match c_int::from((*sa).sa_family) {
            libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let a = &*sa.cast::<libc::sockaddr_in>();
                Some(SockAddr::Inet(
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
                    u16::from_be(a.sin_port),
                ))
            }
            libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let a = &*sa.cast::<libc::sockaddr_in6>();
                Some(SockAddr::Inet(
                    IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
                    u16::from_be(a.sin6_port),
                ))
            }
            _ => None,
        }
    }
}

fn getaddrinfo_now(
    node: Option<CString>,
    service: Option<CString>,
    hints: libc::addrinfo,
    what: String,
) -> Result<Vec<AddrInfo>> {
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: node/service are valid C strings or null, hints is initialised, res receives
    // a list we free below.
    let r = unsafe {
        libc::getaddrinfo(
            node.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            &hints,
            &mut res,
        )
    };
    if r != 0 {
        return Err(gai_error(r, "getaddrinfo", what));
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*p };
        let fields = (domain_of(ai.ai_family), socktype_of(ai.ai_socktype));
        // SAFETY: ai_addr points to ai_addrlen bytes of the node's address.
        let addr = unsafe { sockaddr_of(ai.ai_addr, ai.ai_addrlen) };
        if let ((Some(family), Some(socktype)), Some(addr)) = (fields, addr) {
            out.push(AddrInfo {
                family,
                socktype,
                protocol: ai.ai_protocol,
                addr,
                // SAFETY: ai_canonname is null or a valid C string of the list.
                canonname: unsafe { string(ai.ai_canonname) },
            });
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// Resolves a host and a service into socket addresses (Lwt's `getaddrinfo`). An empty
/// `node` or `service` means none (then `AiPassive` gives the wildcard address). Runs as a
/// job. Answers of families other than Unix/IPv4/IPv6 are left out. See
/// [getaddrinfo(3)](https://man7.org/linux/man-pages/man3/getaddrinfo.3.html).
///
/// # Errors
///
/// `NotFound` for an unknown host or service (OCaml answers `[]`; we say why);
/// `InvalidArgument` for a NUL byte; other resolver failures as `Error::Other` with
/// `gai_strerror`'s message.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let v = getaddrinfo("localhost", "80", &[GetaddrinfoOption::AiFamily(SocketDomain::Inet)])
///         .await
///         .unwrap();
///     assert!(v.iter().any(|ai| ai.addr == SockAddr::Inet([127, 0, 0, 1].into(), 80)));
/// });
/// ```
pub async fn getaddrinfo(
    node: &str,
    service: &str,
    opts: &[GetaddrinfoOption],
) -> Result<Vec<AddrInfo>> {
    let c_node = (!node.is_empty())
        .then(|| cstring("getaddrinfo", node))
        .transpose()?;
    let c_serv = (!service.is_empty())
        .then(|| cstring("getaddrinfo", service))
        .transpose()?;
    // SAFETY: addrinfo is plain data; all-zero is its "no hint" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    for o in opts {
        match *o {
            GetaddrinfoOption::AiFamily(d) => hints.ai_family = family_of(d),
            GetaddrinfoOption::AiSocktype(t) => hints.ai_socktype = raw_socktype(t),
            GetaddrinfoOption::AiProtocol(p) => hints.ai_protocol = p,
            GetaddrinfoOption::AiNumerichost => hints.ai_flags |= libc::AI_NUMERICHOST,
            GetaddrinfoOption::AiCanonname => hints.ai_flags |= libc::AI_CANONNAME,
            GetaddrinfoOption::AiPassive => hints.ai_flags |= libc::AI_PASSIVE,
        }
    }
    let what = format!("{node}:{service}");
    // `addrinfo` holds raw pointers (null here): pass the plain fields across threads.
    let (f, t, p, fl) = (
        hints.ai_family,
        hints.ai_socktype,
        hints.ai_protocol,
        hints.ai_flags,
    );
    lwt_jobs::run_job(None, move || {
        // SAFETY: as above.
        let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
        (h.ai_family, h.ai_socktype, h.ai_protocol, h.ai_flags) = (f, t, p, fl);
        getaddrinfo_now(c_node, c_serv, h, what)
    })
    .await?
}

/// The host and service names of a socket address (Lwt's `getnameinfo`). Runs as a job. See
/// [getnameinfo(3)](https://man7.org/linux/man-pages/man3/getnameinfo.3.html).
///
/// # Errors
///
/// `InvalidArgument` for a Unix-domain address; `NotFound` when `NiNamereqd` is given and
/// the host has no name; other resolver failures as `Error::Other`.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// lwt::run(async {
///     let ni = getnameinfo(
///         &SockAddr::Inet([127, 0, 0, 1].into(), 80),
///         &[GetnameinfoOption::NiNumerichost, GetnameinfoOption::NiNumericserv],
///     )
///     .await
///     .unwrap();
///     assert_eq!((ni.hostname.as_str(), ni.service.as_str()), ("127.0.0.1", "80"));
/// });
/// ```
pub async fn getnameinfo(addr: &SockAddr, opts: &[GetnameinfoOption]) -> Result<NameInfo> {
    let sa = match addr {
        SockAddr::Inet(ip, port) => std::net::SocketAddr::new(*ip, *port),
        SockAddr::Unix(_) => {
            return Err(Error::invalid(
                "getnameinfo",
                "a Unix-domain address has no name",
            ))
        }
    };
    let mut flags = 0;
    for o in opts {
        flags |= match o {
            GetnameinfoOption::NiNofqdn => libc::NI_NOFQDN,
            GetnameinfoOption::NiNumerichost => libc::NI_NUMERICHOST,
            GetnameinfoOption::NiNamereqd => libc::NI_NAMEREQD,
            GetnameinfoOption::NiNumericserv => libc::NI_NUMERICSERV,
            GetnameinfoOption::NiDgram => libc::NI_DGRAM,
        };
    }
    lwt_jobs::run_job(None, move || {
        let any = rustix::net::SocketAddrAny::from(sa);
        let mut host = vec![0 as c_char; 1025];
        let mut serv = vec![0 as c_char; 64];
        // SAFETY: `any` holds a valid address of `addr_len` bytes; both buffers are writable
        // for the lengths given.
        let r = unsafe {
            libc::getnameinfo(
                any.as_ptr().cast(),
                any.addr_len(),
                host.as_mut_ptr(),
                host.len() as _,
                serv.as_mut_ptr(),
                serv.len() as _,
                flags,
            )
        };
        if r != 0 {
            return Err(gai_error(r, "getnameinfo", sa.to_string()));
        }
        // SAFETY: on success both buffers hold NUL-terminated strings.
        unsafe {
            Ok(NameInfo {
                hostname: string(host.as_ptr()),
                service: string(serv.as_ptr()),
            })
        }
    })
    .await?
}
