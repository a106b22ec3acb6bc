//! Unix-domain stream sockets: [`UnixListener`], [`UnixStream`] and the stream's split halves
//! (Unix).
//!
//! Addresses are lwt's [`SockAddr`] (`SockAddr::Unix(path)`; the empty path for an unnamed
//! socket; on Linux a path starting with a NUL byte for an abstract name).

use super::sys::Sock;
use crate::unix::{self as lu, SockAddr};
use futures_core::Stream;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

fn unix_socket() -> io::Result<crate::unix::FileDescr> {
    lu::socket(lu::SocketDomain::Unix, lu::SocketType::Stream, 0).map_err(io::Error::from)
}

/// A Unix-domain socket listening for connections (tokio's `UnixListener`).
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use lwt::net::{UnixListener, UnixStream};
/// lwt::run(async {
///     let path = std::env::temp_dir().join(format!("lwt-doc-unix-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path).await.unwrap();
///     let p = path.clone();
///     let client = lwt::spawn(async move {
///         let mut c = UnixStream::connect(&p).await.unwrap();
///         c.write_all(b"over unix").await.unwrap();
///     });
///     let (mut s, _peer) = listener.accept().await.unwrap();
///     let mut got = String::new();
///     s.read_to_string(&mut got).await.unwrap();
///     assert_eq!(got, "over unix");
///     client.await.unwrap();
///     std::fs::remove_file(&path).unwrap();
/// });
/// ```
pub struct UnixListener {
    sock: Sock,
}

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl UnixListener {
    /// Binds a listener to the socket path `path` and listens (queue of
    /// [`DEFAULT_BACKLOG`](super::DEFAULT_BACKLOG)). Creating the socket file runs in a job
    /// (it can block on a slow file system), so unlike tokio's this is `async`.
    ///
    /// # Errors
    ///
    /// The error of `bind` (`AddrInUse` when the file exists, `NotFound` for a missing
    /// directory) or `listen`; `InvalidInput` for a path with a NUL byte.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let fd = unix_socket()?;
        lu::bind(&fd, &SockAddr::Unix(path.as_ref().to_path_buf())).await?;
        lu::listen(&fd, super::DEFAULT_BACKLOG)?;
        Ok(UnixListener {
            sock: Sock::from_fd(fd)?,
        })
    }

    /// Accepts a connection, waiting for one on the loop. Dropping the future before it
    /// completes accepts nothing.
    ///
    /// # Errors
    ///
    /// The error of `accept`.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn accept(&self) -> io::Result<(UnixStream, SockAddr)> {
        let (sock, peer) = self.sock.accept().await?;
        Ok((UnixStream { sock }, peer))
    }

    /// The connections, as a `Stream` that never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// lwt::run(async {
    ///     let path = std::env::temp_dir().join(format!("lwt-doc-unix-inc-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = lwt::net::UnixListener::bind(&path).await.unwrap();
    ///     let _c = lwt::net::UnixStream::connect(&path).await.unwrap();
    ///     assert!(l.incoming().next().await.unwrap().is_ok());
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
            listener: self,
            accept: None,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The error of `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let path = std::env::temp_dir().join(format!("lwt-doc-unix-addr-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = lwt::net::UnixListener::bind(&path).await.unwrap();
    ///     assert_eq!(l.local_addr().unwrap(), lwt::unix::SockAddr::Unix(path.clone()));
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        Ok(lu::getsockname(self.sock.fd())?)
    }

    /// Takes a std listener, making it non-blocking.
    ///
    /// # Errors
    ///
    /// The error of making it non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let path = std::env::temp_dir().join(format!("lwt-doc-unix-std-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = lwt::net::UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path).unwrap()).unwrap();
    ///     assert!(l.into_std().is_ok());
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            sock: Sock::from_std(l)?,
        })
    }

    /// The listener as a std one (a duplicate of the descriptor), still non-blocking.
    ///
    /// # Errors
    ///
    /// The error of duplicating the descriptor.
    ///
    /// # Examples
    ///
    /// See [`UnixListener::from_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        self.sock.into_std()
    }
}

/// The connections of a [`UnixListener`] ([`UnixListener::incoming`]), as a `Stream`.
///
/// # Examples
///
/// See [`UnixListener::incoming`].
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
    #[allow(clippy::type_complexity)] // one pending accept
    accept: Option<Pin<Box<dyn Future<Output = io::Result<(UnixStream, SockAddr)>> + Send + 'a>>>,
}

impl std::fmt::Debug for UnixIncoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixIncoming")
            .field("listener", self.listener)
            .finish_non_exhaustive()
    }
}

impl Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

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

/// A Unix-domain stream connection (tokio's `UnixStream`), with the same I/O traits as
/// [`TcpStream`](super::TcpStream).
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// lwt::run(async {
///     let (mut a, mut b) = lwt::net::UnixStream::pair().unwrap();
///     a.write_all(b"pair").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"pair");
/// });
/// ```
pub struct UnixStream {
    pub(crate) sock: Sock,
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl UnixStream {
    /// Connects to the socket at `path`, by readiness (a full accept queue is retried after
    /// short sleeps, see `lwt::unix::connect`).
    ///
    /// # Errors
    ///
    /// The error of `connect` (`NotFound`, `ConnectionRefused`).
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let fd = unix_socket()?;
        lu::connect(&fd, &SockAddr::Unix(path.as_ref().to_path_buf())).await?;
        Ok(UnixStream {
            sock: Sock::from_fd(fd)?,
        })
    }

    /// A pair of connected, unnamed streams (`socketpair`).
    ///
    /// # Errors
    ///
    /// The error of `socketpair` (`EMFILE`).
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = lu::socketpair(lu::SocketDomain::Unix, lu::SocketType::Stream, 0)?;
        Ok((
            UnixStream {
                sock: Sock::from_fd(a)?,
            },
            UnixStream {
                sock: Sock::from_fd(b)?,
            },
        ))
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
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let a = lwt::net::UnixStream::from_std(a).unwrap();
    ///     assert!(!lwt::unix::blocking(a.as_file_descr()));
    ///     assert!(a.into_std().is_ok());
    /// });
    /// ```
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: Sock::from_std(s)?,
        })
    }

    /// The stream as a std one (a duplicate of the descriptor), still non-blocking.
    ///
    /// # Errors
    ///
    /// The error of duplicating the descriptor.
    ///
    /// # Examples
    ///
    /// See [`UnixStream::from_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        self.sock.into_std()
    }

    pub(crate) fn peer_addr_of(sock: &Sock) -> io::Result<SockAddr> {
        Ok(lu::getpeername(sock.fd())?)
    }

    pub(crate) fn local_addr_of(sock: &Sock) -> io::Result<SockAddr> {
        Ok(lu::getsockname(sock.fd())?)
    }

    /// The address of the peer (the empty path for an unnamed one).
    ///
    /// # Errors
    ///
    /// The error of `getpeername`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (a, _b) = lwt::net::UnixStream::pair().unwrap();
    ///     assert_eq!(a.peer_addr().unwrap(), lwt::unix::SockAddr::Unix("".into()));
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        UnixStream::peer_addr_of(&self.sock)
    }

    /// The address of this end (the empty path for an unnamed one).
    ///
    /// # Errors
    ///
    /// The error of `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (a, _b) = lwt::net::UnixStream::pair().unwrap();
    ///     assert_eq!(a.local_addr().unwrap(), lwt::unix::SockAddr::Unix("".into()));
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        UnixStream::local_addr_of(&self.sock)
    }

    /// Shuts down the reading, writing or both halves (immediate).
    ///
    /// # Errors
    ///
    /// The error of `shutdown`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    /// lwt::run(async {
    ///     let (a, mut b) = lwt::net::UnixStream::pair().unwrap();
    ///     a.shutdown(std::net::Shutdown::Write).unwrap();
    ///     let mut rest = Vec::new();
    ///     assert_eq!(b.read_to_end(&mut rest).await.unwrap(), 0);
    /// });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }
}

impl_async_read!(UnixStream);
impl_async_write!(UnixStream);

stream_halves!(
    UnixStream,
    SockAddr,
    "    let (mut a, mut b) = lwt::net::UnixStream::pair().unwrap();
#     let _ = (&mut a, &mut b);"
);

super::tcp::fd_conversions!(
    UnixListener,
    "    let path = std::env::temp_dir().join(format!(\"lwt-doc-unix-fd-{}.sock\", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let x = lwt::net::UnixListener::bind(&path).await.unwrap();
    std::fs::remove_file(&path).unwrap();"
);
super::tcp::fd_conversions!(
    UnixStream,
    "    let (x, _y) = lwt::net::UnixStream::pair().unwrap();"
);
