//! Sockets through the loop on every OS, Windows included: std's TCP and UDP sockets, made
//! non-blocking and registered with the current runtime's backend.
//!
//! On Unix the whole of `Lwt_unix` is in [`crate::unix`] (`FileDescr`, `socket`, `accept`,
//! ...). Windows has no file descriptors, so there lwt offers sockets through this small
//! wrapper instead: a [`Socket`] owns a std socket and waits for its readiness on the loop
//! (IOCP on Windows), in the manner of Lwt's `wrap_syscall`. It works the same way on Unix,
//! so portable programs can use it everywhere. Connecting blocks by nature in std, so
//! [`Socket::connect`] runs it as a job.
//!
//! ```
//! use lwt::net::Socket;
//! use std::net::{TcpListener, TcpStream};
//! lwt::run(async {
//!     let listener = Socket::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
//!     let addr = listener.get_ref().local_addr().unwrap();
//!     let client = lwt::spawn(async move {
//!         let c: Socket<TcpStream> = Socket::connect(addr).await.unwrap();
//!         c.write(b"ping").await.unwrap();
//!     });
//!     let (server, _peer) = listener.accept().await.unwrap();
//!     let mut buf = [0u8; 4];
//!     let mut got = 0;
//!     while got < 4 {
//!         got += server.read(&mut buf[got..]).await.unwrap();
//!     }
//!     assert_eq!(&buf, b"ping");
//!     client.await.unwrap();
//! });
//! ```

use crate::{Error, Result};
use lwt_core::backend::BorrowedSource;
use lwt_core::reactor::{Direction, Source};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::TcpListener {}
    impl Sealed for std::net::TcpStream {}
    impl Sealed for std::net::UdpSocket {}
}

/// A std socket type that [`Socket`] can drive: `TcpListener`, `TcpStream`, `UdpSocket`.
pub trait SocketSource: sealed::Sealed {
    /// The socket as the backend's source type.
    fn source(&self) -> BorrowedSource<'_>;
    /// Puts the socket in (non-)blocking mode.
    ///
    /// # Errors
    ///
    /// The error of `fcntl`/`ioctlsocket`.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

macro_rules! socket_source {
    ($t:ty) => {
        impl SocketSource for $t {
            fn source(&self) -> BorrowedSource<'_> {
                #[cfg(unix)]
                {
                    std::os::fd::AsFd::as_fd(self)
                }
                #[cfg(windows)]
                {
                    std::os::windows::io::AsSocket::as_socket(self)
                }
            }
            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                <$t>::set_nonblocking(self, nonblocking)
            }
        }
    };
}
socket_source!(TcpListener);
socket_source!(TcpStream);
socket_source!(UdpSocket);

/// A std socket registered with the current runtime: its operations wait for readiness on
/// the loop instead of blocking it.
///
/// Dropping it deregisters the socket, then closes it (operations borrow it, so none can be
/// pending then). Dropping a pending operation, e.g. the loser of a [`crate::pick`], cancels
/// it and consumes nothing.
///
/// # Examples
///
/// ```
/// use lwt::net::Socket;
/// lwt::run(async {
///     let a = Socket::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
///     let b = Socket::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
///     let to = b.get_ref().local_addr().unwrap();
///     a.write_with(|s| s.send_to(b"hi", to)).await.unwrap();
///     let mut buf = [0u8; 8];
///     let (n, _) = b.read_with(|s| s.recv_from(&mut buf)).await.unwrap();
///     assert_eq!(&buf[..n], b"hi");
/// });
/// ```
pub struct Socket<T: SocketSource> {
    // Declared first so that it is dropped (deregistered) before the socket is closed.
    reg: Source,
    io: T,
}

impl<T: SocketSource + std::fmt::Debug> std::fmt::Debug for Socket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

impl<T: SocketSource> Socket<T> {
    /// Makes `io` non-blocking (immediate). The socket is registered with the loop of
    /// whichever runtime first has to wait on it (and with each other runtime that does).
    ///
    /// # Errors
    ///
    /// The error of making it non-blocking (`set_nonblocking`).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    ///     assert!(l.is_ok());
    /// });
    /// ```
    pub fn new(io: T) -> Result<Socket<T>> {
        io.set_nonblocking(true)
            .map_err(|e| Error::from_io(e, "set_nonblocking", ""))?;
        let reg = Source::new(io.source());
        Ok(Socket { reg, io })
    }

    /// The std socket, e.g. for its address or options.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    ///     assert!(l.get_ref().local_addr().unwrap().port() != 0);
    /// });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Deregisters the socket and gives it back (still non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    ///     let std_listener = l.into_inner();
    ///     std_listener.set_nonblocking(false).unwrap();
    /// });
    /// ```
    pub fn into_inner(self) -> T {
        let Socket { reg, io } = self;
        drop(reg);
        io
    }

    /// Runs `op` on the socket until it does not fail with "would block", waiting for
    /// readability between tries (Lwt's `wrap_syscall Read`). `op` must be non-blocking and
    /// consume nothing when it fails with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `op`'s error, as a `Unix` error named `"read"`.
    ///
    /// # Examples
    ///
    /// See [`Socket`].
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> Result<R> {
        let io = &self.io;
        self.reg
            .op(Direction::Read, || {
                op(io).map_err(|e| Error::from_io(e, "read", ""))
            })
            .await
    }

    /// Runs `op` on the socket until it does not fail with "would block", waiting for
    /// writability between tries (Lwt's `wrap_syscall Write`).
    ///
    /// # Errors
    ///
    /// `op`'s error, as a `Unix` error named `"write"`.
    ///
    /// # Examples
    ///
    /// See [`Socket`].
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> Result<R> {
        let io = &self.io;
        self.reg
            .op(Direction::Write, || {
                op(io).map_err(|e| Error::from_io(e, "write", ""))
            })
            .await
    }
}

impl Socket<TcpListener> {
    /// Binds a TCP listener to `addr` and registers it (immediate: binding does not block).
    ///
    /// # Errors
    ///
    /// The error of `bind`/`listen` (e.g. `EADDRINUSE`), named `"bind"`; those of
    /// [`Socket::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let l = lwt::net::Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     assert!(l.get_ref().local_addr().is_ok());
    /// });
    /// ```
    pub fn bind(addr: SocketAddr) -> Result<Socket<TcpListener>> {
        let l = TcpListener::bind(addr).map_err(|e| Error::from_io(e, "bind", addr.to_string()))?;
        Socket::new(l)
    }

    /// Accepts a connection, waiting for one on the loop (Lwt's `accept`). The new socket is
    /// non-blocking and registered.
    ///
    /// # Errors
    ///
    /// The error of `accept` (e.g. `EMFILE`), named `"accept"`; those of [`Socket::new`].
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn accept(&self) -> Result<(Socket<TcpStream>, SocketAddr)> {
        let io = &self.io;
        let (s, peer) = self
            .reg
            .op(Direction::Read, || {
                io.accept().map_err(|e| Error::from_io(e, "accept", ""))
            })
            .await?;
        Ok((Socket::new(s)?, peer))
    }
}

impl Socket<TcpStream> {
    /// Connects to `addr`. std's `connect` blocks, so it runs as a job (by the current async
    /// method); the connected socket is then made non-blocking and registered.
    ///
    /// # Errors
    ///
    /// The error of `connect` (e.g. `ECONNREFUSED`), named `"connect"`; `Canceled` if the job
    /// is rejected; those of [`Socket::new`].
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn connect(addr: SocketAddr) -> Result<Socket<TcpStream>> {
        let s = lwt_jobs::run_job(None, move || TcpStream::connect(addr))
            .await?
            .map_err(|e| Error::from_io(e, "connect", addr.to_string()))?;
        Socket::new(s)
    }

    /// Reads into `buf`, waiting for readability on the loop; `Ok(0)` is end of file.
    ///
    /// # Errors
    ///
    /// The error of `recv` (e.g. `ECONNRESET`), named `"read"`.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        self.read_with(|mut s| s.read(buf)).await
    }

    /// Writes some of `buf`, waiting for writability on the loop; returns how much it wrote.
    ///
    /// # Errors
    ///
    /// The error of `send` (e.g. `EPIPE`, `ECONNRESET`), named `"write"`.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn write(&self, buf: &[u8]) -> Result<usize> {
        self.write_with(|mut s| s.write(buf)).await
    }

    /// Writes the whole of `buf`.
    ///
    /// # Errors
    ///
    /// As [`Socket::write`]; a write of 0 bytes is `WriteZero`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::net::Socket;
    /// lwt::run(async {
    ///     let l = Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let c = Socket::connect(l.get_ref().local_addr().unwrap()).await.unwrap();
    ///     let (s, _) = l.accept().await.unwrap();
    ///     c.write_all(b"hello").await.unwrap();
    ///     let mut buf = [0u8; 5];
    ///     let mut got = 0;
    ///     while got < 5 {
    ///         got += s.read(&mut buf[got..]).await.unwrap();
    ///     }
    ///     assert_eq!(&buf, b"hello");
    /// });
    /// ```
    pub async fn write_all(&self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(Error::from(io::Error::from(io::ErrorKind::WriteZero))),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
}
