//! [`ToSocketAddrs`]: what `bind`, `connect` and `send_to` accept, resolved without blocking
//! the loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Addresses that `lwt::net` calls take (`bind`, `connect`, `send_to`), as tokio's
/// `ToSocketAddrs`: a [`SocketAddr`], an `(IpAddr, u16)` pair, a string `"host:port"` or a
/// `("host", port)` pair, or a slice of addresses.
///
/// A literal address (`"127.0.0.1:8080"`, `"[::1]:80"`) is used at once. A host name
/// (`"localhost:8080"`) is looked up with `getaddrinfo` in a job (by the async method in
/// force), so the loop never waits for a name service. Each resulting address is tried in
/// turn; the call fails with the last error.
///
/// The trait is sealed: its method is not part of the API.
///
/// # Examples
///
/// ```
/// use lwt::net::TcpListener;
/// lwt::run(async {
///     let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let b = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
///     let c = TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
///     let d = TcpListener::bind("localhost:0").await.unwrap(); // looked up in a job
///     for l in [a, b, c, d] {
///         assert!(l.local_addr().unwrap().ip().is_loopback());
///     }
/// });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// Addresses known now, or a name to look up.
    pub enum Resolve {
        Ready(Vec<SocketAddr>),
        Lookup(String),
    }

    pub trait Sealed {
        fn resolve(&self) -> Resolve;
    }
}

use sealed::Resolve;

/// The addresses of `a`, looked up in a job when they are a host name.
pub(crate) async fn resolve(a: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    match sealed::Sealed::resolve(a) {
        Resolve::Ready(v) => Ok(v),
        Resolve::Lookup(name) => lwt_jobs::run_job(None, move || {
            std::net::ToSocketAddrs::to_socket_addrs(&name).map(|i| i.collect::<Vec<_>>())
        })
        .await
        .map_err(io::Error::from)?,
    }
}

macro_rules! ready {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl sealed::Sealed for $t {
            fn resolve(&self) -> Resolve {
                Resolve::Ready(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
ready!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16),
    ([u8; 4], u16),
    ([u16; 8], u16)
);

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn resolve(&self) -> Resolve {
        match self.parse::<SocketAddr>() {
            Ok(a) => Resolve::Ready(vec![a]),
            Err(_) => Resolve::Lookup(self.to_string()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn resolve(&self) -> Resolve {
        self.as_str().resolve()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn resolve(&self) -> Resolve {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolve::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Resolve::Lookup(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn resolve(&self) -> Resolve {
        (self.0.as_str(), self.1).resolve()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn resolve(&self) -> Resolve {
        Resolve::Ready(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn resolve(&self) -> Resolve {
        (**self).resolve()
    }
}
