//! Messages with ancillary data: `recv_msg`/`send_msg` with fd passing (`SCM_RIGHTS`), and
//! the peer credentials of a Unix-domain socket (`get_credentials`).
//!
//! The io vectors are slices of [`IoSlice`]/[`IoSliceMut`] (std's `struct iovec`), the shape
//! of Lwt's `Versioned.recv_msg_2`/`send_msg_2`: the bytes go straight to and from the
//! caller's buffers, in slice order.

use crate::cvt;
use crate::fd::{FileDescr, IoEvent};
use crate::net::SockAddr;
use lwt_core::{Error, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

/// How many descriptors [`recv_msg`] has room for in one message, like Lwt (256). Linux
/// itself never passes more than 253 (`SCM_MAX_FD`) in one message.
pub const RECV_MSG_MAX_FDS: usize = 256;

/// What [`recv_msg_fds`] received.
#[derive(Debug)]
pub struct ReceivedMsg {
    /// The number of bytes received into the io vectors (0 at end of stream).
    pub bytes: usize,
    /// The descriptors that arrived with the message, close-on-exec, owned by the caller.
    pub fds: Vec<OwnedFd>,
    /// Whether the control data was truncated (`MSG_CTRUNC`): more descriptors were sent than
    /// the buffer held. Those that did not fit were closed by the kernel; none leaks.
    pub fds_truncated: bool,
}

fn control_space(max_fds: usize) -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_fds.max(1)))]
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const RECV_CLOEXEC: RecvFlags = RecvFlags::CMSG_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const RECV_CLOEXEC: RecvFlags = RecvFlags::empty();

/// Receives data into several slices, plus the descriptors that came with it, with a control
/// buffer that has room for at least `max_fds` descriptors (`recvmsg` with `SCM_RIGHTS`).
/// Cooperates by readiness like [`recv_msg`].
///
/// If more descriptors were sent than fit, the message's bytes are still returned, the
/// descriptors that fit are returned, `fds_truncated` is set, and the kernel closes the rest.
///
/// # Errors
///
/// As [`recv_msg`].
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// use std::io::{IoSlice, IoSliceMut};
/// use std::os::fd::AsFd;
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     let (r, w) = pipe().unwrap();
///     let os = [r.checked().unwrap(), w.checked().unwrap()];
///     let fds = [os[0].as_fd(), os[1].as_fd()];
///     send_msg(&a, &[IoSlice::new(b"x")], &fds).await.unwrap();
///     let mut buf = [0u8; 1];
///     let got = recv_msg_fds(&b, &mut [IoSliceMut::new(&mut buf)], 1).await.unwrap();
///     assert_eq!(got.bytes, 1);
///     assert!(!got.fds.is_empty());
/// });
/// ```
pub async fn recv_msg_fds(
    socket: &FileDescr,
    io_vectors: &mut [IoSliceMut<'_>],
    max_fds: usize,
) -> Result<ReceivedMsg> {
    let mut space = control_space(max_fds);
    socket
        .io(IoEvent::Read, |os| {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let msg = cvt(
                rustix::net::recvmsg(os, &mut *io_vectors, &mut control, RECV_CLOEXEC),
                "recv_msg",
                "",
            )?;
            let mut fds = Vec::new();
            for m in control.drain() {
                if let RecvAncillaryMessage::ScmRights(rights) = m {
                    fds.extend(rights);
                }
            }
            Ok(ReceivedMsg {
                bytes: msg.bytes,
                fds,
                fds_truncated: msg.flags.contains(ReturnFlags::CTRUNC),
            })
        })
        .await
}

/// Receives data into several slices and the descriptors that came with it (Lwt's
/// `recv_msg`, in the shape of `Versioned.recv_msg_2`): `recvmsg` with `SCM_RIGHTS`. The
/// bytes fill the slices in order; returns their count (0 at end of stream) and the
/// descriptors, which are close-on-exec and owned by the caller (wrap them with
/// [`of_unix_file_descr`](crate::of_unix_file_descr)). Cooperates by readiness. See
/// [recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html).
///
/// Room is made for [`RECV_MSG_MAX_FDS`] descriptors; more than Linux can send in one
/// message. Should the control data still be truncated, the descriptors that fit are
/// returned and the kernel closes the others; use [`recv_msg_fds`] to learn of it.
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `recvmsg` (`ENOTSOCK`, `ECONNRESET`...).
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// use std::io::{IoSlice, IoSliceMut};
/// use std::os::fd::AsFd;
/// lwt::run(async {
///     let (a, b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     let (r, w) = pipe().unwrap();
///     let w_os = w.checked().unwrap();
///     let n = send_msg(&a, &[IoSlice::new(b"he"), IoSlice::new(b"llo")], &[w_os.as_fd()])
///         .await
///         .unwrap();
///     assert_eq!(n, 5);
///     let (mut x, mut y) = ([0u8; 2], [0u8; 3]);
///     let (n, fds) = recv_msg(&b, &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
///         .await
///         .unwrap();
///     assert_eq!((n, &x, &y), (5, b"he", b"llo"));
///     // The received descriptor is the pipe's write end.
///     let w2 = of_unix_file_descr(fds.into_iter().next().unwrap(), None, true).unwrap();
///     write(&w2, b"!").await.unwrap();
///     let mut c = [0u8; 1];
///     read(&r, &mut c).await.unwrap();
///     assert_eq!(&c, b"!");
/// });
/// ```
pub async fn recv_msg(
    socket: &FileDescr,
    io_vectors: &mut [IoSliceMut<'_>],
) -> Result<(usize, Vec<OwnedFd>)> {
    let m = recv_msg_fds(socket, io_vectors, RECV_MSG_MAX_FDS).await?;
    Ok((m.bytes, m.fds))
}

async fn send_msg_impl(
    socket: &FileDescr,
    io_vectors: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    dest: Option<&SockAddr>,
) -> Result<usize> {
    let call = if dest.is_some() {
        "send_msgto"
    } else {
        "send_msg"
    };
    let dest = match dest {
        Some(d) => Some((d.to_any(call)?, d.to_string())),
        None => None,
    };
    let mut space = control_space(fds.len());
    let flags = crate::net::NOSIGNAL;
    socket
        .io(IoEvent::Write, |os| {
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
                return Err(Error::invalid(call, "too many descriptors for one message"));
            }
            crate::net::send_without_sigpipe(|| match &dest {
                None => cvt(
                    rustix::net::sendmsg(os, io_vectors, &mut control, flags),
                    call,
                    "",
                ),
                Some((any, arg)) => cvt(
                    rustix::net::sendmsg_addr(os, any, io_vectors, &mut control, flags),
                    call,
                    arg,
                ),
            })
        })
        .await
}

/// Sends the bytes of several slices, in order, with descriptors (Lwt's `send_msg`, in the
/// shape of `Versioned.send_msg_2`): `sendmsg` with one `SCM_RIGHTS` message holding every
/// fd. Returns the number of bytes sent. The descriptors stay open here; the receiver gets
/// duplicates. Cooperates by readiness; never raises SIGPIPE. See
/// [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `sendmsg`: `EINVAL` for more than 253 descriptors on
/// Linux, `EBADF` for a closed one, `EPIPE`...
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// use std::io::IoSlice;
/// use std::os::fd::AsFd;
/// lwt::run(async {
///     let (a, _b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
///     let (r, _w) = pipe().unwrap();
///     let r_os = r.checked().unwrap();
///     let n = send_msg(&a, &[IoSlice::new(b"with an fd")], &[r_os.as_fd()]).await.unwrap();
///     assert_eq!(n, 10);
/// });
/// ```
pub async fn send_msg(
    socket: &FileDescr,
    io_vectors: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
) -> Result<usize> {
    send_msg_impl(socket, io_vectors, fds, None).await
}

/// [`send_msg`] to the address `dest` on an unconnected socket (Lwt's `send_msgto`).
///
/// # Errors
///
/// As [`send_msg`]; `InvalidArgument` for a path with a NUL byte.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// use std::io::{IoSlice, IoSliceMut};
/// lwt::run(async {
///     let lo = SockAddr::Inet([127, 0, 0, 1].into(), 0);
///     let (a, b) = (
///         socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap(),
///         socket(SocketDomain::Inet, SocketType::Dgram, 0).unwrap(),
///     );
///     bind(&b, &lo).await.unwrap();
///     let to = getsockname(&b).unwrap();
///     send_msgto(&a, &[IoSlice::new(b"a"), IoSlice::new(b"b")], &[], &to).await.unwrap();
///     let mut buf = [0u8; 2];
///     let (n, _) = recv_msg(&b, &mut [IoSliceMut::new(&mut buf)]).await.unwrap();
///     assert_eq!(&buf[..n], b"ab");
/// });
/// ```
pub async fn send_msgto(
    socket: &FileDescr,
    io_vectors: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    dest: &SockAddr,
) -> Result<usize> {
    send_msg_impl(socket, io_vectors, fds, Some(dest)).await
}

/// The credentials of the peer of a Unix-domain socket (Lwt's `credentials`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// `cred_pid`: the peer's process id.
    pub pid: i32,
    /// `cred_uid`: its user id.
    pub uid: u32,
    /// `cred_gid`: its group id.
    pub gid: u32,
}

/// The credentials of the process at the other end of a Unix-domain socket, as they were when
/// it connected (Lwt's `get_credentials`, `SO_PEERCRED`). Immediate. See
/// [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html).
///
/// # Errors
///
/// `Closed`/`Aborted`; the errors of `getsockopt` (`ENOTSOCK`, `ENOPROTOOPT` on a non-Unix
/// socket...); `Unsupported("get_credentials")` on systems without `SO_PEERCRED`.
///
/// # Portability
///
/// Linux and Android only for now.
///
/// # Examples
///
/// ```
/// use lwt::unix::*;
/// let (a, _b) = socketpair(SocketDomain::Unix, SocketType::Stream, 0).unwrap();
/// let c = get_credentials(&a).unwrap();
/// assert_eq!(c.pid, std::process::id() as i32);
/// ```
pub fn get_credentials(fd: &FileDescr) -> Result<Credentials> {
    let os = fd.checked()?;
    peercred(os.as_fd())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peercred(fd: BorrowedFd<'_>) -> Result<Credentials> {
    let c = cvt(
        rustix::net::sockopt::socket_peercred(fd),
        "get_credentials",
        "",
    )?;
    Ok(Credentials {
        pid: c.pid.as_raw_nonzero().get(),
        uid: c.uid.as_raw(),
        gid: c.gid.as_raw(),
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peercred(_fd: BorrowedFd<'_>) -> Result<Credentials> {
    Err(Error::Unsupported("get_credentials"))
}

fn range(
    call: &'static str,
    len: usize,
    offset: usize,
    length: usize,
) -> Result<std::ops::Range<usize>> {
    match offset.checked_add(length) {
        Some(end) if end <= len => Ok(offset..end),
        _ => Err(Error::invalid(
            call,
            format!("slice {offset}+{length} out of a buffer of {len} bytes"),
        )),
    }
}

/// An io vector over `buffer[offset..offset + length]` for [`send_msg`] (Lwt's `io_vector
/// ~buffer ~offset ~length`, whose record type is std's [`IoSlice`] here). Immediate.
///
/// # Errors
///
/// `InvalidArgument` if the range is out of `buffer`.
///
/// # Examples
///
/// ```
/// let v = lwt::unix::io_vector(b"hello", 1, 3).unwrap();
/// assert_eq!(&*v, b"ell");
/// assert!(lwt::unix::io_vector(b"hello", 4, 3).is_err());
/// ```
pub fn io_vector(buffer: &[u8], offset: usize, length: usize) -> Result<IoSlice<'_>> {
    let r = range("io_vector", buffer.len(), offset, length)?;
    Ok(IoSlice::new(&buffer[r]))
}

/// A writable io vector over `buffer[offset..offset + length]` for [`recv_msg`] (the
/// receiving side of Lwt's `io_vector`). Immediate.
///
/// # Errors
///
/// `InvalidArgument` if the range is out of `buffer`.
///
/// # Examples
///
/// ```
/// let mut b = [0u8; 8];
/// assert_eq!(lwt::unix::io_vector_mut(&mut b, 2, 4).unwrap().len(), 4);
/// assert!(lwt::unix::io_vector_mut(&mut b, usize::MAX, 2).is_err());
/// ```
pub fn io_vector_mut(buffer: &mut [u8], offset: usize, length: usize) -> Result<IoSliceMut<'_>> {
    let r = range("io_vector_mut", buffer.len(), offset, length)?;
    Ok(IoSliceMut::new(&mut buffer[r]))
}
