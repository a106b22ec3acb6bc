//! UDP: [`UdpSocket`].

use super::addr::{resolve, ToSocketAddrs};
use super::sys::{self, Sock};
use lwt_core::reactor::Direction;
use std::io;
use std::net::SocketAddr;

/// A UDP socket (tokio's `UdpSocket`): datagrams sent and received by readiness. Its methods
/// take `&self`, so one task can send while another receives.
///
/// # Examples
///
/// ```
/// use lwt::net::UdpSocket;
/// lwt::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"hello", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr().unwrap()));
///
///     a.connect(b.local_addr().unwrap()).await.unwrap();
///     a.send(b"again").await.unwrap();
///     let n = b.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"again");
/// });
/// ```
pub struct UdpSocket {
    sock: Sock,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds a UDP socket to `addr` (non-blocking, close-on-exec). A host name is looked up in
    /// a job; each address is tried in turn.
    ///
    /// # Errors
    ///
    /// The error of `bind` for the last address tried; the lookup's error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve(&addr).await?;
        sys::each_addr(addrs, |a| async move {
            UdpSocket::from_std(std::net::UdpSocket::bind(a)?)
        })
        .await
    }

    /// Sets the default peer: [`UdpSocket::send`] sends there, and [`UdpSocket::recv`]
    /// receives only from there (immediate for a literal address).
    ///
    /// # Errors
    ///
    /// The error of `connect` for the last address tried; the lookup's error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
        sys::each_addr(addrs, |a| async move {
            self.sock.view::<std::net::UdpSocket, _>(|s| s.connect(a))
        })
        .await
    }

    /// Sends a datagram to `target`; returns how many bytes were sent.
    ///
    /// # Errors
    ///
    /// The error of `sendto` (e.g. `EMSGSIZE` for a datagram too large); the lookup's error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let to = *resolve(&target)
            .await?
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))?;
        self.sock
            .op::<std::net::UdpSocket, _>(Direction::Write, "sendto", |s| s.send_to(buf, to))
            .await
    }

    /// Receives a datagram and its sender's address; a datagram longer than `buf` is
    /// truncated.
    ///
    /// # Errors
    ///
    /// The error of `recvfrom`.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .op::<std::net::UdpSocket, _>(Direction::Read, "recvfrom", |s| s.recv_from(buf))
            .await
    }

    /// Sends a datagram to the peer set by [`UdpSocket::connect`].
    ///
    /// # Errors
    ///
    /// The error of `send` (`NotConnected` without a peer; `ConnectionRefused` when an
    /// earlier datagram was refused).
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .op::<std::net::UdpSocket, _>(Direction::Write, "send", |s| s.send(buf))
            .await
    }

    /// Receives a datagram from the peer set by [`UdpSocket::connect`].
    ///
    /// # Errors
    ///
    /// The error of `recv`.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .op::<std::net::UdpSocket, _>(Direction::Read, "recv", |s| s.recv(buf))
            .await
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    ///
    /// The error of `getsockname`.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view::<std::net::UdpSocket, _>(|s| s.local_addr())
    }

    /// The peer set by [`UdpSocket::connect`].
    ///
    /// # Errors
    ///
    /// `NotConnected` without one.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let a = lwt::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(a.peer_addr().is_err());
    ///     a.connect("127.0.0.1:9").await.unwrap();
    ///     assert_eq!(a.peer_addr().unwrap().port(), 9);
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view::<std::net::UdpSocket, _>(|s| s.peer_addr())
    }

    /// Takes a bound std socket, making it non-blocking.
    ///
    /// # Errors
    ///
    /// The error of making it non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let u = lwt::net::UdpSocket::from_std(s).unwrap();
    ///     assert!(u.local_addr().is_ok());
    /// });
    /// ```
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: Sock::from_std(s)?,
        })
    }

    /// The socket as a std one, still non-blocking; on Unix a duplicate of the descriptor.
    ///
    /// # Errors
    ///
    /// The error of duplicating the descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let u = lwt::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = u.local_addr().unwrap();
    ///     assert_eq!(u.into_std().unwrap().local_addr().unwrap(), addr);
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        self.sock.into_std()
    }
}

#[cfg(unix)]
super::tcp::fd_conversions!(
    UdpSocket,
    "    let x = lwt::net::UdpSocket::bind(\"127.0.0.1:0\").await.unwrap();"
);
#[cfg(windows)]
super::tcp::socket_conversions!(UdpSocket);
