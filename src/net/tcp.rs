//! TCP: [`TcpListener`], [`TcpStream`] and the stream's split halves.

use super::addr::{resolve, ToSocketAddrs};
use super::sys::{self, Sock};
use futures_core::Stream;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A TCP socket listening for connections (tokio's `TcpListener`).
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use lwt::net::{TcpListener, TcpStream};
/// lwt::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let clients = lwt::spawn(async move {
///         for _ in 0..3 {
///             TcpStream::connect(addr).await.unwrap();
///         }
///     });
///     let mut incoming = listener.incoming();
///     for _ in 0..3 {
///         let conn = incoming.next().await.unwrap().unwrap();
///         assert!(conn.peer_addr().unwrap().ip().is_loopback());
///     }
///     clients.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    sock: Sock,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds a listener to `addr` and listens, in one call: a non-blocking, close-on-exec
    /// socket with `SO_REUSEADDR` (Unix), bound, with a queue of
    /// [`DEFAULT_BACKLOG`](super::DEFAULT_BACKLOG) pending connections (Windows: std's 128).
    /// Immediate for a literal address; a host name is looked up in a job (see
    /// [`ToSocketAddrs`]), and each of its addresses is tried in turn.
    ///
    /// # Errors
    ///
    /// The error of `bind` (`EADDRINUSE`, `EACCES`...) or `listen` for the last address
    /// tried; the lookup's error; `InvalidInput` when the name has no address.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let taken = l.local_addr().unwrap();
    ///     let e = lwt::net::TcpListener::bind(taken).await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    /// });
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(&addr).await?;
        sys::each_addr(addrs, |a| async move {
            let sock = sys::tcp_listener(a, super::DEFAULT_BACKLOG)?;
            Ok(TcpListener { sock })
        })
        .await
    }

    /// Accepts a connection, waiting for one on the loop; the new stream is non-blocking and
    /// close-on-exec (`accept4`). Dropping the future before it completes accepts nothing.
    ///
    /// # Errors
    ///
    /// The error of `accept` (e.g. `EMFILE`: the connection stays queued; accept again once
    /// descriptors are free).
    ///
    /// # Examples
    ///
    /// See [`crate::net`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, peer) = self.sock.accept().await?;
        Ok((TcpStream { sock }, sys::inet(peer)?))
    }

    /// The connections, as a `Stream` (`futures_core`) that never ends: each item is the
    /// result of one [`TcpListener::accept`].
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            accept: None,
        }
    }

    /// The address the listener is bound to (with the port the system chose for port 0).
    ///
    /// # Errors
    ///
    /// The error of `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     assert_ne!(l.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .view::<std::net::TcpListener, _>(|l| l.local_addr())
    }

    /// Takes a std listener (bound and listening), making it non-blocking.
    ///
    /// # Errors
    ///
    /// The error of making it non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let l = lwt::net::TcpListener::from_std(std_l).unwrap();
    ///     assert!(l.local_addr().is_ok());
    /// });
    /// ```
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: Sock::from_std(l)?,
        })
    }

    /// The listener as a std one, still non-blocking (on Unix, a duplicate of the
    /// descriptor: clones of its `FileDescr` may still hold the original).
    ///
    /// # Errors
    ///
    /// The error of duplicating the descriptor; `Closed` if it was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = l.local_addr().unwrap();
    ///     assert_eq!(l.into_std().unwrap().local_addr().unwrap(), addr);
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.sock.into_std()
    }
}

/// The connections of a [`TcpListener`] ([`TcpListener::incoming`]), as a `Stream`.
///
/// Dropping it while an accept is pending accepts nothing.
///
/// # Examples
///
/// See [`TcpListener`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    #[allow(clippy::type_complexity)] // one pending accept
    accept: Option<Pin<Box<dyn Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send + 'a>>>,
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish_non_exhaustive()
    }
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let listener = self.listener;
        let fut = self
            .accept
            .get_or_insert_with(|| Box::pin(listener.accept()));
        let r = std::task::ready!(fut.as_mut().poll(cx));
        self.accept = None;
        Poll::Ready(Some(r.map(|(s, _)| s)))
    }
}

/// A TCP connection (tokio's `TcpStream`): `futures_io::AsyncRead`/`AsyncWrite` (tokio's with
/// the `tokio-io` feature, hyper's with `hyper`), reads and writes straight between the
/// caller's buffer and the kernel by readiness.
///
/// # Examples
///
/// See [`crate::net`].
pub struct TcpStream {
    pub(crate) sock: Sock,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr` by readiness: a non-blocking socket, a non-blocking `connect`, a
    /// wait for writability (no thread: a connection that takes long only costs a pending
    /// task), then the outcome from `SO_ERROR`. A host name is looked up in a job; each
    /// address is tried in turn. Dropping the future (a timeout, a [`crate::pick()`]) closes
    /// the half-made socket.
    ///
    /// # Errors
    ///
    /// The error of `connect` for the last address tried (e.g. `ConnectionRefused`, with its
    /// `raw_os_error`); the lookup's error.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     // A port nobody listens on: bind one, then close it.
    ///     let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    ///     let e = lwt::net::TcpStream::connect(addr).await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    /// });
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = resolve(&addr).await?;
        sys::each_addr(addrs, |a| async move {
            Ok(TcpStream {
                sock: sys::tcp_connect(a).await?,
            })
        })
        .await
    }

    /// Takes a connected std stream, making it non-blocking.
    ///
    /// # Errors
    ///
    /// The error of making it non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    ///     let s = lwt::net::TcpStream::from_std(c).unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: Sock::from_std(s)?,
        })
    }

    /// The stream as a std one, still non-blocking (call `set_nonblocking(false)` for
    /// blocking use); on Unix a duplicate of the descriptor.
    ///
    /// # Errors
    ///
    /// The error of duplicating the descriptor; `Closed` if it was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let std_s = s.into_std().unwrap();
    ///     std_s.set_nonblocking(false).unwrap();
    ///     assert_eq!(std_s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.sock.into_std()
    }

    pub(crate) fn peer_addr_of(sock: &Sock) -> io::Result<SocketAddr> {
        sock.view::<std::net::TcpStream, _>(|s| s.peer_addr())
    }

    pub(crate) fn local_addr_of(sock: &Sock) -> io::Result<SocketAddr> {
        sock.view::<std::net::TcpStream, _>(|s| s.local_addr())
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// The error of `getpeername` (`NotConnected`).
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr_of(&self.sock)
    }

    /// The address of this end.
    ///
    /// # Errors
    ///
    /// The error of `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (s, peer) = l.accept().await.unwrap();
    ///     assert_eq!(c.local_addr().unwrap(), peer);
    ///     assert_eq!(s.local_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr_of(&self.sock)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Errors
    ///
    /// The error of `setsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     c.set_nodelay(true).unwrap();
    ///     assert!(c.nodelay().unwrap());
    /// });
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock
            .view::<std::net::TcpStream, _>(|s| s.set_nodelay(nodelay))
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt`.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_nodelay`].
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.view::<std::net::TcpStream, _>(|s| s.nodelay())
    }

    /// Shuts down the reading, writing or both halves of the connection (immediate;
    /// `shutdown(2)`). `Shutdown::Write` is what `close` (futures) / `shutdown` (tokio) of
    /// the I/O traits do: the peer reads end of file.
    ///
    /// # Errors
    ///
    /// The error of `shutdown` (`NotConnected`).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    /// lwt::run(async {
    ///     let l = lwt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (mut s, _) = l.accept().await.unwrap();
    ///     c.shutdown(std::net::Shutdown::Write).unwrap();
    ///     let mut rest = Vec::new();
    ///     assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
    /// });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }
}

impl_async_read!(TcpStream);
impl_async_write!(TcpStream);

stream_halves!(
    TcpStream,
    SocketAddr,
    "    let l = lwt::net::TcpListener::bind(\"127.0.0.1:0\").await.unwrap();
    let a = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    let (mut a, mut b) = (a, b);
#     let _ = (&mut a, &mut b);"
);

#[cfg(unix)]
mod fd_conversions {
    use super::{TcpListener, TcpStream};

    macro_rules! fd_conversions {
        ($t:ident, $setup:literal) => {
            impl $t {
                /// The lwt descriptor: every `lwt::unix` function applies to it.
                ///
                /// # Examples
                ///
                /// ```
                /// use lwt::unix::{getsockopt, SocketBoolOption};
                /// lwt::run(async {
                #[doc = $setup]
                ///     let fd = x.as_file_descr();
                ///     assert!(lwt::unix::check_descriptor(fd).is_ok());
                ///     assert!(!lwt::unix::blocking(fd));
                ///     let _ = getsockopt(fd, SocketBoolOption::SoKeepalive).unwrap();
                /// });
                /// ```
                pub fn as_file_descr(&self) -> &$crate::unix::FileDescr {
                    self.sock.fd()
                }

                /// Takes an lwt descriptor of this kind of socket (e.g. from
                /// `lwt::unix::socket`), making lwt use non-blocking I/O on it.
                ///
                /// # Errors
                ///
                /// `Closed`/`Aborted`, or the error of `fcntl`, if it is not open or cannot
                /// be made non-blocking.
                ///
                /// # Examples
                ///
                /// ```
                /// lwt::run(async {
                #[doc = $setup]
                #[doc = concat!("    let back = lwt::net::", stringify!($t), "::from_file_descr(lwt::unix::FileDescr::from(x)).unwrap();")]
                ///     let _ = back;
                /// });
                /// ```
                pub fn from_file_descr(fd: $crate::unix::FileDescr) -> std::io::Result<$t> {
                    Ok($t {
                        sock: $crate::net::sys::Sock::from_fd(fd)?,
                    })
                }
            }

            /// The lwt descriptor of the socket (no system call).
            impl From<$t> for $crate::unix::FileDescr {
                fn from(s: $t) -> $crate::unix::FileDescr {
                    s.sock.into_fd()
                }
            }

            impl std::os::fd::AsFd for $t {
                fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                    self.sock.as_fd()
                }
            }

            impl std::os::fd::AsRawFd for $t {
                fn as_raw_fd(&self) -> std::os::fd::RawFd {
                    self.sock.as_raw()
                }
            }
        };
    }
    pub(crate) use fd_conversions;

    fd_conversions!(
        TcpListener,
        "    let x = lwt::net::TcpListener::bind(\"127.0.0.1:0\").await.unwrap();"
    );
    fd_conversions!(
        TcpStream,
        "    let l = lwt::net::TcpListener::bind(\"127.0.0.1:0\").await.unwrap();
    let x = lwt::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();"
    );
}
#[cfg(unix)]
pub(crate) use fd_conversions::fd_conversions;

#[cfg(windows)]
mod socket_conversions {
    use super::{TcpListener, TcpStream};

    macro_rules! socket_conversions {
        ($t:ident) => {
            impl std::os::windows::io::AsSocket for $t {
                fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                    self.sock.as_socket()
                }
            }

            impl std::os::windows::io::AsRawSocket for $t {
                fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                    self.sock.as_raw()
                }
            }
        };
    }
    pub(crate) use socket_conversions;
    socket_conversions!(TcpListener);
    socket_conversions!(TcpStream);
}
#[cfg(windows)]
pub(crate) use socket_conversions::socket_conversions;
