//! Networking with tokio's shapes, on every OS: [`TcpListener`], [`TcpStream`],
//! [`UdpSocket`], and on Unix [`UnixListener`] and [`UnixStream`]; plus [`Socket`], the
//! low-level readiness wrapper of a std socket.
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use lwt::net::{TcpListener, TcpStream};
//! lwt::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let client = lwt::spawn(async move {
//!         let mut c = TcpStream::connect(addr).await.unwrap();
//!         c.write_all(b"ping").await.unwrap();
//!         let mut reply = [0u8; 4];
//!         c.read_exact(&mut reply).await.unwrap();
//!         reply
//!     });
//!     let (mut s, _peer) = listener.accept().await.unwrap();
//!     let mut buf = [0u8; 4];
//!     s.read_exact(&mut buf).await.unwrap();
//!     s.write_all(b"pong").await.unwrap();
//!     assert_eq!(&client.await.unwrap(), b"pong");
//! });
//! ```
//!
//! # I/O traits
//!
//! The stream types (and their split halves) implement `futures_io::AsyncRead`/`AsyncWrite`,
//! and with the `tokio-io` feature tokio's `AsyncRead`/`AsyncWrite` (no tokio runtime is
//! involved: the traits only), and with the `hyper` feature hyper's `rt::Read`/`rt::Write`
//! (see `lwt::hyper`). The helpers come from the ecosystem, not from lwt:
//! `futures_lite::{AsyncReadExt, AsyncWriteExt}` (or `futures::io`) give `read_exact`,
//! `read_to_end`, `write_all`, `flush`, `close`; `futures_lite::io::{BufReader, copy,
//! split}` and `AsyncBufReadExt::{read_line, lines}`; with `tokio-io`, `tokio::io`'s
//! extension traits (`tokio` with its `io-util` feature). A read polled but not finished
//! (e.g. the loser of a [`crate::pick()`]) consumed nothing. None of these types buffers, so
//! `flush` has nothing to do and `AsyncBufRead` is `BufReader`'s.
//!
//! `close` (futures) / `shutdown` (tokio) shuts down the sending half (`shutdown(SHUT_WR)`):
//! the peer reads end of file, and this side can still read. The descriptor is closed when
//! the value (and every half) is dropped.
//!
//! # How they are built
//!
//! On Unix each type holds an lwt [`FileDescr`](crate::unix::FileDescr): the same descriptor,
//! the same registration with the loop as every `lwt::unix` call, so converting between them
//! is free (`as_file_descr`, `From<TcpStream> for FileDescr`, `from_file_descr`) and every
//! `lwt::unix` function applies (`setsockopt`, `recv_msg`, `getsockname`...). Reads and writes
//! are `recv`/`send` straight into the caller's buffer, never raising SIGPIPE.
//!
//! On Windows, which has no `FileDescr`, each type holds a std socket with a
//! [`Source`](crate::core::reactor::Source) (its readiness on the IOCP backend): the same API,
//! with `AsSocket`/`AsRawSocket` and std conversions instead of the `FileDescr` ones, and
//! no Unix-domain types.
//!
//! [`Socket`] stays the low-level layer for what these types do not wrap: any std socket's
//! non-blocking call retried by readiness (`read_with`/`write_with`), as `async_io::Async`
//! or tokio's `AsyncFd`. Its `bind`, `accept`, `connect`, `read`, `write` and `write_all`
//! are deprecated: [`TcpListener`] and [`TcpStream`] do each of those, once.

macro_rules! impl_async_read {
    ($t:ty) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().sock.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: the read writes only initialised bytes, so nothing initialised is
                // de-initialised (`unfilled_mut`'s contract).
                let unfilled = unsafe { buf.unfilled_mut() };
                let n = std::task::ready!(self.get_mut().sock.poll_read_uninit(cx, unfilled))?;
                // SAFETY: the read initialised the first `n` bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

macro_rules! impl_async_write {
    ($t:ty) => {
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().sock.poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Nothing is buffered: a write is in the kernel once it returns.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::shutdown_write(&self.sock))
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().sock.poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::shutdown_write(&self.sock))
            }
        }
    };
}

/// `peer_addr` and `local_addr` on a split half (for [`stream_halves`]).
macro_rules! half_addrs {
    ($stream:ident, $addr:ty, $h:ty) => {
        impl $h {
            /// The address of the peer (as the stream's `peer_addr`).
            ///
            /// # Errors
            ///
            /// As the stream's `peer_addr`.
            ///
            /// # Examples
            ///
            #[doc = concat!("See [`", stringify!($stream), "::peer_addr`].")]
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                $stream::peer_addr_of(&self.sock)
            }

            /// The address of this end (as the stream's `local_addr`).
            ///
            /// # Errors
            ///
            /// As the stream's `local_addr`.
            ///
            /// # Examples
            ///
            #[doc = concat!("See [`", stringify!($stream), "::local_addr`].")]
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                $stream::local_addr_of(&self.sock)
            }
        }
    };
}

/// The split halves of a stream type, in the module that calls it: `ReadHalf`/`WriteHalf`
/// (borrowed), `OwnedReadHalf`/`OwnedWriteHalf`, `ReuniteError`, and the stream's `split`
/// and `into_split`. `$setup` is doc-example code that makes two connected streams `a`, `b`.
macro_rules! stream_halves {
    ($stream:ident, $addr:ty, $setup:literal) => {
        impl $stream {
            /// Splits the stream into a read half and a write half that borrow it, each with
            /// its own readiness waiter: one task can read while another writes (under
            /// [`crate::join()`], or two halves polled at once).
            ///
            /// # Examples
            ///
            /// ```
            /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
            /// lwt::run(async {
            #[doc = $setup]
            ///     let (mut r, mut w) = a.split();
            ///     // `b` echoes: `r` waits for the echo while `w` sends.
            ///     let (echo, ()) = lwt::join2(
            ///         async {
            ///             let mut buf = [0u8; 2];
            ///             r.read_exact(&mut buf).await.unwrap();
            ///             buf
            ///         },
            ///         async {
            ///             w.write_all(b"hi").await.unwrap();
            ///             let mut t = [0u8; 2];
            ///             b.read_exact(&mut t).await.unwrap();
            ///             b.write_all(&t).await.unwrap();
            ///         },
            ///     )
            ///     .await;
            ///     assert_eq!(&echo, b"hi");
            /// });
            /// ```
            pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
                (
                    ReadHalf {
                        sock: self.sock.share(),
                        _stream: std::marker::PhantomData,
                    },
                    WriteHalf {
                        sock: self.sock.share(),
                        _stream: std::marker::PhantomData,
                    },
                )
            }

            /// Splits the stream into owned halves, which can move to different tasks.
            /// Dropping the write half shuts down the sending direction (as tokio's does),
            /// unless it was [`OwnedWriteHalf::forget`]-ed; [`OwnedReadHalf::reunite`] puts the
            /// two back together.
            ///
            /// # Examples
            ///
            /// ```
            /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
            /// lwt::run(async {
            #[doc = $setup]
            ///     let (mut r, mut w) = a.into_split();
            ///     let writer = lwt::spawn(async move { w.write_all(b"ping").await.unwrap(); w });
            ///     let mut buf = [0u8; 4];
            ///     b.read_exact(&mut buf).await.unwrap();
            ///     b.write_all(b"pong").await.unwrap();
            ///     r.read_exact(&mut buf).await.unwrap();
            ///     assert_eq!(&buf, b"pong");
            ///     let _whole = r.reunite(writer.await.unwrap()).unwrap();
            /// });
            /// ```
            pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
                let w = OwnedWriteHalf {
                    sock: self.sock.share(),
                    shutdown_on_drop: true,
                };
                (OwnedReadHalf { sock: self.sock }, w)
            }
        }

        #[doc = concat!("The read half of a [`", stringify!($stream), "`] borrowed by [`", stringify!($stream), "::split`].")]
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", stringify!($stream), "::split`].")]
        pub struct ReadHalf<'a> {
            sock: $crate::net::sys::Sock,
            _stream: std::marker::PhantomData<&'a $stream>,
        }

        #[doc = concat!("The write half of a [`", stringify!($stream), "`] borrowed by [`", stringify!($stream), "::split`]; `close` shuts down the sending direction.")]
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", stringify!($stream), "::split`].")]
        pub struct WriteHalf<'a> {
            sock: $crate::net::sys::Sock,
            _stream: std::marker::PhantomData<&'a $stream>,
        }

        #[doc = concat!("The read half of a [`", stringify!($stream), "`] made by [`", stringify!($stream), "::into_split`].")]
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", stringify!($stream), "::into_split`].")]
        pub struct OwnedReadHalf {
            sock: $crate::net::sys::Sock,
        }

        #[doc = concat!("The write half of a [`", stringify!($stream), "`] made by [`", stringify!($stream), "::into_split`]; dropping it (or `close`) shuts down the sending direction.")]
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", stringify!($stream), "::into_split`].")]
        pub struct OwnedWriteHalf {
            sock: $crate::net::sys::Sock,
            shutdown_on_drop: bool,
        }

        /// The halves given to `reunite` were not split from the same stream; here they are
        /// back.
        ///
        /// # Examples
        ///
        /// ```
        /// lwt::run(async {
        #[doc = $setup]
        ///     let (r1, _w1) = a.into_split();
        ///     let (_r2, w2) = b.into_split();
        ///     let e = r1.reunite(w2).unwrap_err();
        ///     let (_r1, _w2) = (e.0, e.1);
        /// });
        /// ```
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the halves were not split from the same stream")
            }
        }

        impl std::error::Error for ReuniteError {}

        half_addrs!($stream, $addr, ReadHalf<'_>);
        half_addrs!($stream, $addr, WriteHalf<'_>);
        half_addrs!($stream, $addr, OwnedReadHalf);
        half_addrs!($stream, $addr, OwnedWriteHalf);

        impl OwnedReadHalf {
            /// Puts the halves back together into the stream, if they were split from the
            /// same one.
            ///
            /// # Errors
            ///
            /// [`ReuniteError`], with both halves, if they were not.
            ///
            /// # Examples
            ///
            #[doc = concat!("See [`", stringify!($stream), "::into_split`].")]
            pub fn reunite(self, mut w: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !self.sock.same(&w.sock) {
                    return Err(ReuniteError(self, w));
                }
                w.shutdown_on_drop = false;
                Ok($stream { sock: self.sock })
            }
        }

        impl OwnedWriteHalf {
            /// Drops the half without shutting down the sending direction.
            ///
            /// # Examples
            ///
            /// ```
            /// lwt::run(async {
            #[doc = $setup]
            ///     let (_r, w) = a.into_split();
            ///     w.forget(); // `b` does not see end of file
            ///     let _ = &mut b;
            /// });
            /// ```
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    // A connection already gone has nothing to shut down; a destructor has
                    // nobody to report to.
                    let _ = $crate::net::shutdown_write(&self.sock);
                }
            }
        }

        impl std::fmt::Debug for ReadHalf<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple("ReadHalf").field(&self.sock.as_raw()).finish()
            }
        }
        impl std::fmt::Debug for WriteHalf<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple("WriteHalf").field(&self.sock.as_raw()).finish()
            }
        }
        impl std::fmt::Debug for OwnedReadHalf {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple("OwnedReadHalf").field(&self.sock.as_raw()).finish()
            }
        }
        impl std::fmt::Debug for OwnedWriteHalf {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple("OwnedWriteHalf").field(&self.sock.as_raw()).finish()
            }
        }

        impl_async_read!(ReadHalf<'_>);
        impl_async_read!(OwnedReadHalf);
        impl_async_write!(WriteHalf<'_>);
        impl_async_write!(OwnedWriteHalf);
    };
}

/// What `poll_close`/`poll_shutdown` do: `shutdown(SHUT_WR)`; a connection already gone
/// (`ENOTCONN`) has nothing left to shut down.
pub(crate) fn shutdown_write(sock: &sys::Sock) -> std::io::Result<()> {
    match sock.shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}

mod addr;
pub(crate) mod socket;
pub(crate) mod sys;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

pub use addr::ToSocketAddrs;
#[allow(deprecated)]
// re-exported as they are; their deprecated methods say what replaces them
pub use socket::{Socket, SocketSource};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixIncoming, UnixListener, UnixStream};

/// The queue of pending connections `TcpListener::bind` and `UnixListener::bind` ask for
/// (`listen(2)`'s backlog), as tokio's: the kernel caps it (Linux: `net.core.somaxconn`,
/// 4096 by default).
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::net::DEFAULT_BACKLOG, 1024);
/// ```
pub const DEFAULT_BACKLOG: i32 = 1024;

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn net_types_are_send_and_sync() {
        // `Incoming` holds its pending accept, a `Send` future: it is `Send`, not `Sync`.
        send::<super::Incoming<'_>>();
        #[cfg(unix)]
        send::<super::UnixIncoming<'_>>();
        send_sync::<super::TcpListener>();
        send_sync::<super::TcpStream>();
        send_sync::<super::UdpSocket>();
        send_sync::<super::tcp::ReadHalf<'_>>();
        send_sync::<super::tcp::WriteHalf<'_>>();
        send_sync::<super::tcp::OwnedReadHalf>();
        send_sync::<super::tcp::OwnedWriteHalf>();
        #[cfg(unix)]
        {
            send_sync::<super::UnixListener>();
            send_sync::<super::UnixStream>();
            send_sync::<super::unix::OwnedReadHalf>();
            send_sync::<super::unix::OwnedWriteHalf>();
        }
    }
}
