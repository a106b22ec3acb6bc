//! hyper 1.x on lwt (feature `hyper`): hyper's runtime traits for lwt's streams, an
//! executor and a timer. No tokio runtime is involved.
//!
//! - I/O: [`TcpStream`](crate::net::TcpStream) and [`UnixStream`](crate::net::UnixStream)
//!   implement `hyper::rt::Read` and `hyper::rt::Write` directly: a read goes from the
//!   kernel straight into hyper's buffer, uninitialised memory included, without zeroing it
//!   first. [`HyperIo`] adapts any other `futures_io` stream (a `FileDescr`, a split half,
//!   a TLS stream).
//! - [`Executor`] spawns `Send` futures on the current runtime ([`crate::spawn`]);
//!   [`LocalExecutor`] spawns `!Send` ones ([`crate::spawn_local`]). HTTP/2 and
//!   hyper-util's `auto` builder need one.
//! - [`Timer`]: hyper's timer on lwt's [`crate::sleep`]; its sleeps are `Send + Sync`. Give
//!   it to every server builder (`.timer(lwt::hyper::Timer)`): without a timer hyper
//!   silently drops its header-read timeout.
//!
//! ```no_run
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//!
//! #[lwt::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = lwt::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         drop(lwt::spawn(async move {
//!             let service = service_fn(|_req| async {
//!                 Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!             });
//!             let _ = http1::Builder::new()
//!                 .timer(lwt::hyper::Timer)
//!                 .serve_connection(stream, service)
//!                 .await;
//!         }));
//!     }
//! }
//! ```
//!
//! axum's `serve` is bound to tokio; serve an axum `Router` through hyper instead (its
//! handler futures are `Send`): `hyper_util::service::TowerToHyperService::new(router)` as
//! the service above (see `examples/axum_server.rs`).

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Spawns hyper's background futures (HTTP/2 connection tasks, hyper-util's `auto`
/// builder) as lwt tasks on the current runtime ([`crate::spawn`]), detached.
///
/// # Panics
///
/// `execute` outside of an lwt runtime (as [`crate::spawn`]).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor as _;
/// lwt::run(async {
///     let (tx, rx) = std::sync::mpsc::channel();
///     lwt::hyper::Executor.execute(async move { tx.send(7).unwrap() });
///     lwt::yield_now().await;
///     lwt::sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(rx.try_recv().unwrap(), 7);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

impl<F> ::hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        // Detached: the task runs to its end (or until the runtime drops).
        drop(crate::spawn(fut));
    }
}

/// Spawns hyper's background futures as `!Send` lwt tasks ([`crate::spawn_local`]), for
/// services whose futures are not `Send` (hyper's `Executor` bound carries no `Send`).
///
/// # Panics
///
/// `execute` outside of an lwt runtime, or off the thread that runs its `block_on` (as
/// [`crate::spawn_local`]).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor as _;
/// use std::rc::Rc;
/// lwt::run(async {
///     let shared = Rc::new(std::cell::Cell::new(0));
///     let s = shared.clone();
///     lwt::hyper::LocalExecutor.execute(async move { s.set(5) });
///     lwt::sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(shared.get(), 5);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> ::hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        drop(crate::spawn_local(fut));
    }
}

/// hyper's timer on lwt's clock: its sleeps are [`crate::sleep`]s of the runtime that polls
/// them, `Send + Sync` as hyper requires.
///
/// # Examples
///
/// ```
/// use hyper::rt::Timer as _;
/// lwt::run(async {
///     let start = std::time::Instant::now();
///     lwt::hyper::Timer.sleep(std::time::Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

impl ::hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(Sleep(lwt_core::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(Sleep(lwt_core::sleep_until(deadline)))
    }
}

/// A sleep of [`Timer`]: lwt's [`Sleep`](crate::core::Sleep) (which is `Send + Sync`: it
/// holds its timer's id and an `Arc` of its runtime's driver), ending with `()`.
struct Sleep(lwt_core::Sleep);

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl ::hyper::rt::Sleep for Sleep {}

/// Reads into hyper's cursor with `read`, which must write only initialised bytes into the
/// memory it is given and return how many it wrote.
fn read_cursor(
    mut cursor: ::hyper::rt::ReadBufCursor<'_>,
    read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: `read` writes only initialised bytes and so de-initialises nothing (the
    // contract of `ReadBufCursor::as_mut`).
    let n = std::task::ready!(read(unsafe { cursor.as_mut() }))?;
    // SAFETY: `read` initialised the first `n` bytes of the cursor's memory.
    unsafe { cursor.advance(n) };
    Poll::Ready(Ok(()))
}

macro_rules! hyper_io {
    ($t:ty) => {
        impl ::hyper::rt::Read for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: ::hyper::rt::ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                let sock = &mut self.get_mut().sock;
                read_cursor(buf, |b| sock.poll_read_uninit(cx, b))
            }
        }

        impl ::hyper::rt::Write for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().sock.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Nothing is buffered: a write is in the kernel once it returns.
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(crate::net::shutdown_write(&self.sock))
            }
        }
    };
}

hyper_io!(crate::net::TcpStream);
#[cfg(unix)]
hyper_io!(crate::net::UnixStream);

/// Any `futures_io` stream as hyper's I/O (`rt::Read`/`rt::Write`): a `FileDescr`, a split
/// half, a TLS stream over an lwt stream. Its reads zero hyper's uninitialised buffer first
/// (a `futures_io` read takes initialised memory); lwt's own streams need no wrapper and do
/// not zero.
///
/// # Examples
///
/// ```
/// use hyper::rt::{Read as _, Write as _};
/// lwt::run(async {
///     let (a, b) = lwt::net::UnixStream::pair().unwrap();
///     let (_, w) = a.into_split();
///     let mut io = lwt::hyper::HyperIo::new(w);
///     let n = std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_write(cx, b"hi")).await.unwrap();
///     assert_eq!(n, 2);
///     let mut b = lwt::hyper::HyperIo::new(b);
///     let mut raw = [std::mem::MaybeUninit::<u8>::uninit(); 8];
///     let mut buf = hyper::rt::ReadBuf::uninit(&mut raw);
///     std::future::poll_fn(|cx| std::pin::Pin::new(&mut b).poll_read(cx, buf.unfilled())).await.unwrap();
///     assert_eq!(buf.filled(), b"hi");
/// });
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// See [`HyperIo`].
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The stream.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (a, _b) = lwt::net::UnixStream::pair().unwrap();
    ///     let io = lwt::hyper::HyperIo::new(a);
    ///     assert!(io.get_ref().peer_addr().is_ok());
    /// });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (a, _b) = lwt::net::UnixStream::pair().unwrap();
    ///     let mut io = lwt::hyper::HyperIo::new(a);
    ///     let _: &mut lwt::net::UnixStream = io.get_mut();
    /// });
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Gives the stream back.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (a, _b) = lwt::net::UnixStream::pair().unwrap();
    ///     let a: lwt::net::UnixStream = lwt::hyper::HyperIo::new(a).into_inner();
    ///     drop(a);
    /// });
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: futures_io::AsyncRead + Unpin> ::hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ::hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = &mut self.get_mut().inner;
        read_cursor(buf, |b| {
            for x in b.iter_mut() {
                x.write(0);
            }
            // SAFETY: every byte was initialised just above.
            let b = unsafe { &mut *(b as *mut [MaybeUninit<u8>] as *mut [u8]) };
            Pin::new(inner).poll_read(cx, b)
        })
    }
}

impl<T: futures_io::AsyncWrite + Unpin> ::hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn sleeps_executors_and_timer_are_send_and_sync() {
        send_sync::<lwt_core::Sleep>();
        send_sync::<super::Sleep>();
        send_sync::<super::Timer>();
        send_sync::<super::Executor>();
        send_sync::<super::LocalExecutor>();
        send_sync::<crate::net::TcpStream>();
    }
}
