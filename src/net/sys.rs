//! The descriptor under every `lwt::net` type: [`Sock`], on Unix an lwt [`FileDescr`] (so every
//! `lwt::unix` function applies, and there is one registration path), on Windows a socket
//! with a [`Source`] (Windows has no `FileDescr`).
//!
//! # Who owns what
//!
//! A `Sock` owns a share of the descriptor and its own readiness waiters: [`Sock::share`]
//! gives another share with waiters of its own (how split halves read and write at once).
//! The descriptor is closed when the last share goes. Operations that take `&self` (accept,
//! datagrams) keep their waiter in their future.
//!
//! Calls that std already has (addresses, options, `accept`, `recv_from`...) run on a std
//! view of the descriptor ([`Sock::view`]), borrowed for the call and never closed by it.

use lwt_core::reactor::Direction;
use lwt_core::Error;
use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::net::SocketAddr;
use std::task::{Context, Poll};

#[cfg(unix)]
pub(crate) use unix::*;
#[cfg(windows)]
pub(crate) use windows::*;

/// A std socket type a [`Sock`] can lend as a view: std's TCP, UDP and Unix-domain sockets.
pub(crate) trait StdSock: sealed::Sealed {
    /// The type borrowed for one call over the descriptor `raw`.
    ///
    /// # Safety
    ///
    /// `raw` must stay open for as long as the returned value lives; the value must not be
    /// dropped as a `Self` (it is `ManuallyDrop`: it never closes `raw`).
    unsafe fn borrow(raw: RawSock) -> ManuallyDrop<Self>
    where
        Self: Sized;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! std_sock {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl StdSock for $t {
            unsafe fn borrow(raw: RawSock) -> ManuallyDrop<$t> {
                #[cfg(unix)]
                // SAFETY: the caller keeps `raw` open while the value lives, and the value
                // never closes it (`ManuallyDrop`).
                let s = unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) };
                #[cfg(windows)]
                // SAFETY: as above.
                let s = unsafe { std::os::windows::io::FromRawSocket::from_raw_socket(raw) };
                ManuallyDrop::new(s)
            }
        }
    )*};
}
std_sock!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket
);
#[cfg(unix)]
std_sock!(
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener
);

/// An I/O error of lwt's (`Closed`, an abort cause, a `Unix` error naming the call) as an
/// `io::Error`.
pub(crate) fn io_err(e: Error) -> io::Error {
    e.into()
}

impl Sock {
    /// Runs `f` on a std view of the descriptor, immediately.
    pub(crate) fn view<S: StdSock, R>(&self, f: impl FnOnce(&S) -> io::Result<R>) -> io::Result<R> {
        let guard = self.guard().map_err(io_err)?;
        // SAFETY: the guard keeps the descriptor open while the view lives (it drops first).
        let s = unsafe { S::borrow(guard.raw()) };
        f(&s)
    }

    /// Runs `f` on a std view of the descriptor in the manner of `wrap_syscall`: now, and
    /// again each time the loop reports `dir` while it would block. An `io::Error` of `f`
    /// becomes an error naming `call`.
    pub(crate) async fn op<S: StdSock, R>(
        &self,
        dir: Direction,
        call: &'static str,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        self.op_raw(dir, |raw| {
            // SAFETY: `op_raw` keeps `raw` open for the call; the view does not outlive it.
            let s = unsafe { S::borrow(raw) };
            f(&s).map_err(|e| Error::from_io(e, call, ""))
        })
        .await
        .map_err(io_err)
    }

    /// [`Sock::poll_read_uninit`] into an initialised buffer.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `poll_read_uninit` writes only initialised bytes into its buffer, so every
        // byte of `buf` stays initialised.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        self.poll_read_uninit(cx, buf)
    }
}

/// Tries `f` on each address in turn; the first success, else the last error.
pub(crate) async fn each_addr<T, F, Fut>(addrs: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in addrs {
        match f(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

#[cfg(unix)]
mod unix {
    use super::{io_err, StdSock};
    use crate::unix::{self as lu, FileDescr};
    use lwt_core::reactor::Direction;
    use lwt_core::Result;
    use std::io;
    use std::mem::MaybeUninit;
    use std::net::SocketAddr;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
    use std::task::{Context, Poll};

    pub(crate) type RawSock = RawFd;

    /// The descriptor of an `lwt::net` type (see the module documentation).
    pub(crate) struct Sock {
        fd: FileDescr,
    }

    pub(crate) struct Guard(lu::FdGuard);

    impl Guard {
        pub(crate) fn raw(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    impl Sock {
        /// Takes `fd`, making lwt use non-blocking I/O on it (and the OS flag to match).
        pub(crate) fn from_fd(fd: FileDescr) -> io::Result<Sock> {
            if lu::blocking(&fd) {
                lu::set_blocking(&fd, false, true).map_err(io_err)?;
            }
            Ok(Sock { fd })
        }

        /// Takes a std socket, made non-blocking.
        pub(crate) fn from_std<S: Into<OwnedFd>>(s: S) -> io::Result<Sock> {
            let fd = lu::of_unix_file_descr(s.into(), Some(false), true).map_err(io_err)?;
            Ok(Sock { fd })
        }

        /// The descriptor as a std socket of type `S` (a duplicate of the descriptor: other
        /// clones of the `FileDescr` may still hold this one), still non-blocking.
        pub(crate) fn into_std<S: StdSock + From<OwnedFd>>(self) -> io::Result<S> {
            let g = self.fd.checked().map_err(io_err)?;
            let dup = rustix::io::fcntl_dupfd_cloexec(g.as_fd(), 0)?;
            Ok(S::from(dup))
        }

        pub(crate) fn fd(&self) -> &FileDescr {
            &self.fd
        }

        pub(crate) fn into_fd(self) -> FileDescr {
            self.fd
        }

        pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }

        pub(crate) fn as_raw(&self) -> RawFd {
            self.fd.as_raw_fd()
        }

        /// Another share of the descriptor, with waiters of its own.
        pub(crate) fn share(&self) -> Sock {
            Sock {
                fd: self.fd.clone(),
            }
        }

        /// Whether both are shares of one descriptor.
        pub(crate) fn same(&self, other: &Sock) -> bool {
            self.as_raw() == other.as_raw()
        }

        pub(crate) fn guard(&self) -> Result<Guard> {
            self.fd.checked().map(Guard)
        }

        pub(crate) async fn op_raw<R>(
            &self,
            dir: Direction,
            mut f: impl FnMut(RawFd) -> Result<R>,
        ) -> Result<R> {
            self.fd.io(dir, |b| f(b.as_raw_fd())).await
        }

        pub(crate) fn poll_read_uninit(
            &mut self,
            cx: &mut Context<'_>,
            buf: &mut [MaybeUninit<u8>],
        ) -> Poll<io::Result<usize>> {
            self.fd.poll_read_uninit(cx, buf).map_err(io_err)
        }

        pub(crate) fn poll_write(
            &mut self,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.fd.poll_write(cx, buf).map_err(io_err)
        }

        /// Shuts down one or both directions (immediate).
        pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
            let cmd = match how {
                std::net::Shutdown::Read => lu::ShutdownCommand::Receive,
                std::net::Shutdown::Write => lu::ShutdownCommand::Send,
                std::net::Shutdown::Both => lu::ShutdownCommand::All,
            };
            lu::shutdown(&self.fd, cmd).map_err(io_err)
        }

        /// Accepts a connection: `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, by readiness.
        pub(crate) async fn accept(&self) -> io::Result<(Sock, lu::SockAddr)> {
            let (fd, peer) = lu::accept(&self.fd).await.map_err(io_err)?;
            Ok((Sock { fd }, peer))
        }
    }

    /// A TCP listener on `addr`: a non-blocking, close-on-exec socket with `SO_REUSEADDR`
    /// (as std and tokio set it on Unix), bound, listening with a queue of `backlog`.
    pub(crate) fn tcp_listener(addr: SocketAddr, backlog: i32) -> io::Result<Sock> {
        let domain = match addr {
            SocketAddr::V4(_) => lu::SocketDomain::Inet,
            SocketAddr::V6(_) => lu::SocketDomain::Inet6,
        };
        let fd = lu::socket(domain, lu::SocketType::Stream, 0).map_err(io_err)?;
        lu::setsockopt(&fd, lu::SocketBoolOption::SoReuseaddr, true).map_err(io_err)?;
        // An internet address binds at once (no job).
        lu::versioned::bind_1(&fd, &addr.into()).map_err(io_err)?;
        lu::listen(&fd, backlog).map_err(io_err)?;
        Ok(Sock { fd })
    }

    /// A TCP connection to `addr`, by readiness (`lwt::unix::connect`).
    pub(crate) async fn tcp_connect(addr: SocketAddr) -> io::Result<Sock> {
        let domain = match addr {
            SocketAddr::V4(_) => lu::SocketDomain::Inet,
            SocketAddr::V6(_) => lu::SocketDomain::Inet6,
        };
        let fd = lu::socket(domain, lu::SocketType::Stream, 0).map_err(io_err)?;
        lu::connect(&fd, &addr.into()).await.map_err(io_err)?;
        Ok(Sock { fd })
    }

    /// The internet address of an accepted peer.
    pub(crate) fn inet(a: lu::SockAddr) -> io::Result<SocketAddr> {
        SocketAddr::try_from(a).map_err(io_err)
    }
}

#[cfg(windows)]
mod windows {
    use super::{io_err, StdSock};
    use lwt_core::reactor::{Direction, Source, Waiter};
    use lwt_core::{Error, Result};
    use std::io::{self, Read, Write};
    use std::mem::MaybeUninit;
    use std::net::SocketAddr;
    use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, OwnedSocket, RawSocket};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    pub(crate) type RawSock = RawSocket;

    struct Shared {
        // Declared first so that it is dropped (deregistered) before the socket is closed
        // (`Source`'s invariant).
        source: Source,
        sock: OwnedSocket,
    }

    /// The socket of an `lwt::net` type (see the module documentation).
    pub(crate) struct Sock {
        shared: Arc<Shared>,
        /// This share's read and write waiters, made on first use.
        waiters: Option<Box<[Waiter; 2]>>,
    }

    pub(crate) struct Guard<'a>(&'a Sock);

    impl Guard<'_> {
        pub(crate) fn raw(&self) -> RawSocket {
            self.0.shared.sock.as_raw_socket()
        }
    }

    impl Sock {
        /// Takes a std socket, made non-blocking.
        pub(crate) fn from_std<S: Into<OwnedSocket>>(s: S) -> io::Result<Sock> {
            let sock: OwnedSocket = s.into();
            let mut nonblocking = 1u32;
            // SAFETY: `sock` is an open socket; FIONBIO takes a pointer to a u32 that lives
            // across the call.
            let r = unsafe {
                windows_sys::Win32::Networking::WinSock::ioctlsocket(
                    sock.as_raw_socket() as _,
                    windows_sys::Win32::Networking::WinSock::FIONBIO,
                    &mut nonblocking,
                )
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            let source = Source::new(sock.as_socket());
            Ok(Sock {
                shared: Arc::new(Shared { source, sock }),
                waiters: None,
            })
        }

        /// The socket as a std socket of type `S`, still non-blocking: deregistered, or a
        /// duplicate while split halves hold it.
        pub(crate) fn into_std<S: StdSock + From<OwnedSocket>>(self) -> io::Result<S> {
            let Sock { shared, .. } = self;
            match Arc::try_unwrap(shared) {
                Ok(Shared { source, sock }) => {
                    drop(source);
                    Ok(S::from(sock))
                }
                Err(shared) => Ok(S::from(shared.sock.try_clone()?)),
            }
        }

        pub(crate) fn as_socket(&self) -> BorrowedSocket<'_> {
            self.shared.sock.as_socket()
        }

        pub(crate) fn as_raw(&self) -> RawSocket {
            self.shared.sock.as_raw_socket()
        }

        /// Another share of the socket, with waiters of its own.
        pub(crate) fn share(&self) -> Sock {
            Sock {
                shared: self.shared.clone(),
                waiters: None,
            }
        }

        /// Whether both are shares of one socket.
        pub(crate) fn same(&self, other: &Sock) -> bool {
            Arc::ptr_eq(&self.shared, &other.shared)
        }

        pub(crate) fn guard(&self) -> Result<Guard<'_>> {
            Ok(Guard(self))
        }

        pub(crate) async fn op_raw<R>(
            &self,
            dir: Direction,
            mut f: impl FnMut(RawSocket) -> Result<R>,
        ) -> Result<R> {
            let raw = self.as_raw();
            self.shared.source.op(dir, || f(raw)).await
        }

        pub(crate) fn poll_read_uninit(
            &mut self,
            cx: &mut Context<'_>,
            buf: &mut [MaybeUninit<u8>],
        ) -> Poll<io::Result<usize>> {
            // std's `read` takes an initialised buffer: zero it first.
            for b in buf.iter_mut() {
                b.write(0);
            }
            // SAFETY: every byte was initialised just above.
            let buf = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
            let Sock { shared, waiters } = self;
            let read = &mut waiters.get_or_insert_with(Default::default)[0];
            // SAFETY: the socket is open while `shared` lives; the view does not outlive it.
            let s = unsafe { std::net::TcpStream::borrow(shared.sock.as_raw_socket()) };
            shared
                .source
                .poll_op(cx, Direction::Read, read, &mut || {
                    (&*s).read(buf).map_err(|e| Error::from_io(e, "read", ""))
                })
                .map_err(io_err)
        }

        pub(crate) fn poll_write(
            &mut self,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let Sock { shared, waiters } = self;
            let write = &mut waiters.get_or_insert_with(Default::default)[1];
            // SAFETY: as in `poll_read_uninit`.
            let s = unsafe { std::net::TcpStream::borrow(shared.sock.as_raw_socket()) };
            shared
                .source
                .poll_op(cx, Direction::Write, write, &mut || {
                    (&*s).write(buf).map_err(|e| Error::from_io(e, "write", ""))
                })
                .map_err(io_err)
        }

        /// Shuts down one or both directions (immediate).
        pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
            self.view::<std::net::TcpStream, _>(|s| s.shutdown(how))
        }

        /// Accepts a connection, by readiness; the new socket is non-blocking.
        pub(crate) async fn accept(&self) -> io::Result<(Sock, SocketAddr)> {
            let (s, peer) = self
                .op::<std::net::TcpListener, _>(Direction::Read, "accept", |l| l.accept())
                .await?;
            Ok((Sock::from_std(s)?, peer))
        }
    }

    /// A TCP listener on `addr` (std's `bind`: its queue of 128 pending connections; Windows
    /// does not change the queue of a listening socket).
    pub(crate) fn tcp_listener(addr: SocketAddr, _backlog: i32) -> io::Result<Sock> {
        Sock::from_std(std::net::TcpListener::bind(addr)?)
    }

    /// A TCP connection to `addr`, by readiness (a non-blocking `connect`, a wait for
    /// writability, then `SO_ERROR`).
    pub(crate) async fn tcp_connect(addr: SocketAddr) -> io::Result<Sock> {
        let (stream, in_progress) = crate::net::socket::start_connect(addr).map_err(io_err)?;
        let sock = Sock::from_std(stream)?;
        if in_progress {
            sock.op_raw(Direction::Write, |raw| {
                // SAFETY: `op_raw` keeps the socket open for the call.
                let s = unsafe { std::net::TcpStream::borrow(raw) };
                crate::net::socket::connect_outcome(&s, addr)
            })
            .await
            .map_err(io_err)?;
        }
        Ok(sock)
    }

    /// The peer address of an accepted connection (already a `SocketAddr` here).
    pub(crate) fn inet(a: SocketAddr) -> io::Result<SocketAddr> {
        Ok(a)
    }
}
