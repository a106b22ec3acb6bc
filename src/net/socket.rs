//! [`Socket`]: a std socket registered with the loop, whose non-blocking calls are retried by
//! readiness (`read_with`/`write_with`), on every OS, Windows included: the low-level layer
//! under nothing else, for what [`TcpStream`](super::TcpStream) and the other `lwt::net` types
//! do not wrap (as `async_io::Async` or tokio's `AsyncFd`).
//!
//! Its `bind`, `accept`, `connect`, `read`, `write` and `write_all` came before the
//! tokio-shaped types and are deprecated: [`TcpListener::bind`](super::TcpListener::bind),
//! [`TcpListener::accept`](super::TcpListener::accept),
//! [`TcpStream::connect`](super::TcpStream::connect) and the `futures_io` traits do each of
//! those (one way to do each thing).
//!
//! # Who owns what
//!
//! A [`Socket`] owns its std socket and its registration with the runtime it was made in;
//! operations borrow it, so none is pending when it is dropped (deregistered first, then
//! closed). No lock is held while an operation's closure runs.
//!
//! ```
//! use lwt::net::Socket;
//! lwt::run(async {
//!     let listener = Socket::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
//!     let addr = listener.get_ref().local_addr().unwrap();
//!     let client = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
//!     // Any non-blocking std call, retried when the loop reports the socket readable.
//!     let (stream, peer) = listener.read_with(|l| l.accept()).await.unwrap();
//!     assert_eq!(peer, client.join().unwrap().local_addr().unwrap());
//!     let stream = lwt::net::TcpStream::from_std(stream).unwrap();
//!     assert_eq!(stream.peer_addr().unwrap(), peer);
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
/// pending then). Dropping a pending operation, e.g. the loser of a [`crate::pick()`], cancels
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
    /// #![allow(deprecated)]
    /// lwt::run(async {
    ///     let l = lwt::net::Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     assert!(l.get_ref().local_addr().is_ok());
    /// });
    /// ```
    #[deprecated(note = "use lwt::net::TcpListener::bind (one call: bind and listen)")]
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
    /// See [`Socket`] (and [`crate::net`] for what replaces it).
    #[deprecated(note = "use lwt::net::TcpListener::accept")]
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
    /// Connects a new TCP socket to `addr`, by readiness (Lwt's `connect`): the socket is
    /// created non-blocking (and close-on-exec, not inherited on Windows) and registered, a
    /// non-blocking `connect` starts the connection, and while it is in progress
    /// (`EINPROGRESS`, `WSAEWOULDBLOCK`) the task waits until the socket is writable, then
    /// reads the outcome from `SO_ERROR` (and `getpeername`). No job, no thread: a connection
    /// that takes long only costs a pending task. Dropping the future (a timeout, a
    /// [`crate::pick()`]) closes the half-made socket. See
    /// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html).
    ///
    /// # Errors
    ///
    /// The error of `connect` (e.g. `ECONNREFUSED`, `ETIMEDOUT`), named `"connect"` with the
    /// address; those of creating the socket (`"socket"`) and of [`Socket::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// #![allow(deprecated)]
    /// use lwt::net::Socket;
    /// lwt::run(async {
    ///     // A port nobody listens on: bind one, then close it.
    ///     let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    ///     let e = Socket::<std::net::TcpStream>::connect(addr).await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    ///     assert_eq!(e.call(), Some("connect"));
    /// });
    /// ```
    #[deprecated(note = "use lwt::net::TcpStream::connect (also by readiness)")]
    pub async fn connect(addr: SocketAddr) -> Result<Socket<TcpStream>> {
        let (stream, in_progress) = sys::start_connect(addr)?;
        // Registered before waiting; on any error below, dropping it closes the socket.
        let sock = Socket::new(stream)?;
        if in_progress {
            let io = &sock.io;
            sock.reg
                .op(Direction::Write, || connect_outcome(io, addr))
                .await?;
        }
        Ok(sock)
    }

    /// Reads into `buf`, waiting for readability on the loop; `Ok(0)` is end of file.
    ///
    /// # Errors
    ///
    /// The error of `recv` (e.g. `ECONNRESET`), named `"read"`.
    ///
    /// # Examples
    ///
    /// See [`Socket`] (and [`crate::net`] for what replaces it).
    #[deprecated(
        note = "use lwt::net::TcpStream with futures_io::AsyncRead (futures_lite::AsyncReadExt::read)"
    )]
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
    /// See [`Socket`] (and [`crate::net`] for what replaces it).
    #[deprecated(
        note = "use lwt::net::TcpStream with futures_io::AsyncWrite (futures_lite::AsyncWriteExt::write)"
    )]
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
    /// #![allow(deprecated)]
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
    #[deprecated(note = "use lwt::net::TcpStream with futures_lite::AsyncWriteExt::write_all")]
    #[allow(deprecated)] // written with `write`, deprecated with it
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

/// The state of a connection started by a non-blocking `connect`: `SO_ERROR` holds its error
/// if it failed; otherwise it is established once the socket has a peer, and still in
/// progress (`RetryWrite`: wait until writable) while `getpeername` says `ENOTCONN`.
pub(crate) fn connect_outcome(s: &TcpStream, addr: SocketAddr) -> Result<()> {
    let failed = |e| Error::from_io(e, "connect", addr.to_string());
    if let Some(e) = s.take_error().map_err(failed)? {
        return Err(failed(e));
    }
    match s.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(Error::RetryWrite),
        Err(e) => Err(failed(e)),
    }
}

#[cfg_attr(unix, allow(unused_imports))] // `lwt::net::TcpStream` connects with it on Windows
pub(crate) use sys::start_connect;

#[cfg(unix)]
mod sys {
    use crate::{Error, Result};
    use rustix::io::Errno;
    use rustix::net::{ipproto, AddressFamily, SocketType};
    use std::net::{SocketAddr, TcpStream};

    /// A new non-blocking, close-on-exec TCP socket for `addr`'s family, with a non-blocking
    /// `connect` to `addr` started: returns the socket and whether the connection is still in
    /// progress.
    pub(crate) fn start_connect(addr: SocketAddr) -> Result<(TcpStream, bool)> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let fd =
            new_socket(family).map_err(|e| Error::from_errno(e.raw_os_error(), "socket", ""))?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => Ok((TcpStream::from(fd), false)),
            // EINTR: the connection goes on in the background, as for EINPROGRESS.
            Err(Errno::INPROGRESS) | Err(Errno::INTR) => Ok((TcpStream::from(fd), true)),
            Err(e) => Err(Error::from_errno(
                e.raw_os_error(),
                "connect",
                addr.to_string(),
            )),
        }
    }

    #[cfg(not(target_vendor = "apple"))]
    fn new_socket(family: AddressFamily) -> rustix::io::Result<rustix::fd::OwnedFd> {
        use rustix::net::SocketFlags;
        rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            Some(ipproto::TCP),
        )
    }

    /// Apple systems have no `SOCK_NONBLOCK`/`SOCK_CLOEXEC` and no `MSG_NOSIGNAL`: the flags
    /// are set after `socket`, and `SO_NOSIGPIPE` makes a write to a closed connection fail
    /// with `EPIPE` instead of raising SIGPIPE (as std does for its own sockets).
    #[cfg(target_vendor = "apple")]
    fn new_socket(family: AddressFamily) -> rustix::io::Result<rustix::fd::OwnedFd> {
        let fd = rustix::net::socket(family, SocketType::STREAM, Some(ipproto::TCP))?;
        rustix::io::ioctl_fioclex(&fd)?;
        rustix::io::ioctl_fionbio(&fd, true)?;
        rustix::net::sockopt::set_socket_nosigpipe(&fd, true)?;
        Ok(fd)
    }
}

#[cfg(windows)]
mod sys {
    use crate::{Error, Result};
    use std::net::{SocketAddr, TcpStream};
    use std::os::windows::io::{FromRawSocket, RawSocket};
    use windows_sys::Win32::Networking::WinSock as ws;

    /// Winsock must be started before the first `WSASocketW` (std starts it lazily, in its own
    /// socket calls, which may not have run yet). Started once and never cleaned up, as std
    /// does.
    fn start_winsock() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let mut data = std::mem::MaybeUninit::<ws::WSADATA>::zeroed();
            // SAFETY: `data` is a valid out-pointer for the call; version 2.2 is what std asks
            // for. A failure shows up as the error of the next socket call.
            unsafe { ws::WSAStartup(0x202, data.as_mut_ptr()) };
        });
    }

    fn last_error(call: &'static str, arg: String) -> Error {
        // SAFETY: reads this thread's last Winsock error; no preconditions.
        let code = unsafe { ws::WSAGetLastError() };
        Error::from_errno(code, call, arg)
    }

    /// A new non-blocking, non-inheritable TCP socket for `addr`'s family, with a
    /// non-blocking `connect` to `addr` started: returns the socket and whether the
    /// connection is still in progress (`WSAEWOULDBLOCK`).
    pub(crate) fn start_connect(addr: SocketAddr) -> Result<(TcpStream, bool)> {
        start_winsock();
        let family = match addr {
            SocketAddr::V4(_) => ws::AF_INET,
            SocketAddr::V6(_) => ws::AF_INET6,
        };
        // SAFETY: a plain call with no pointer arguments; the flags make an overlapped socket
        // (what IOCP needs) that child processes do not inherit, as std's sockets are.
        let raw = unsafe {
            ws::WSASocketW(
                i32::from(family),
                ws::SOCK_STREAM,
                ws::IPPROTO_TCP,
                std::ptr::null(),
                0,
                ws::WSA_FLAG_OVERLAPPED | ws::WSA_FLAG_NO_HANDLE_INHERIT,
            )
        };
        if raw == ws::INVALID_SOCKET {
            return Err(last_error("socket", String::new()));
        }
        // SAFETY: `raw` is a socket just created here that nothing else owns; the stream
        // closes it when dropped (also on every error path below).
        let stream = unsafe { TcpStream::from_raw_socket(raw as RawSocket) };
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::from_io(e, "set_nonblocking", ""))?;
        let r = match addr {
            SocketAddr::V4(a) => {
                let sa = ws::SOCKADDR_IN {
                    sin_family: ws::AF_INET,
                    sin_port: a.port().to_be(),
                    sin_addr: ws::IN_ADDR {
                        S_un: ws::IN_ADDR_0 {
                            S_addr: u32::from_ne_bytes(a.ip().octets()),
                        },
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sa` is a valid `SOCKADDR_IN` that lives across the call, and the
                // length given is its size.
                unsafe {
                    ws::connect(
                        raw,
                        (&sa as *const ws::SOCKADDR_IN).cast(),
                        std::mem::size_of::<ws::SOCKADDR_IN>() as i32,
                    )
                }
            }
            SocketAddr::V6(a) => {
                let sa = ws::SOCKADDR_IN6 {
                    sin6_family: ws::AF_INET6,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: ws::IN6_ADDR {
                        u: ws::IN6_ADDR_0 {
                            Byte: a.ip().octets(),
                        },
                    },
                    Anonymous: ws::SOCKADDR_IN6_0 {
                        sin6_scope_id: a.scope_id(),
                    },
                };
                // SAFETY: as above, for a `SOCKADDR_IN6`.
                unsafe {
                    ws::connect(
                        raw,
                        (&sa as *const ws::SOCKADDR_IN6).cast(),
                        std::mem::size_of::<ws::SOCKADDR_IN6>() as i32,
                    )
                }
            }
        };
        if r == 0 {
            return Ok((stream, false));
        }
        match last_error("connect", addr.to_string()) {
            e if e.errno() == Some(ws::WSAEWOULDBLOCK) => Ok((stream, true)),
            e => Err(e),
        }
    }
}
