//! Descriptor creation that works on every Unix: Apple's systems lack `pipe2` and the
//! `SOCK_CLOEXEC`/`SOCK_NONBLOCK` flags of `socket`/`socketpair`, so there the flags are set
//! with `fcntl` right after creation (a descriptor can then leak into a child forked by another
//! thread in between, as with std on those systems).

use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, Protocol, SocketType};

/// `pipe2(O_CLOEXEC [| O_NONBLOCK])`: `(read end, write end)`.
pub(crate) fn pipe(nonblock: bool) -> rustix::io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    {
        use rustix::pipe::PipeFlags;
        let mut flags = PipeFlags::CLOEXEC;
        if nonblock {
            flags |= PipeFlags::NONBLOCK;
        }
        rustix::pipe::pipe_with(flags)
    }
    #[cfg(target_vendor = "apple")]
    {
        let (r, w) = rustix::pipe::pipe()?;
        set_flags(&r, nonblock)?;
        set_flags(&w, nonblock)?;
        Ok((r, w))
    }
}

/// `socketpair(domain, ty | SOCK_CLOEXEC | SOCK_NONBLOCK, proto)`.
pub(crate) fn socketpair(
    domain: AddressFamily,
    ty: SocketType,
    proto: Option<Protocol>,
) -> rustix::io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    {
        use rustix::net::SocketFlags;
        rustix::net::socketpair(
            domain,
            ty,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            proto,
        )
    }
    #[cfg(target_vendor = "apple")]
    {
        let (a, b) = rustix::net::socketpair(domain, ty, rustix::net::SocketFlags::empty(), proto)?;
        set_flags(&a, true)?;
        set_flags(&b, true)?;
        Ok((a, b))
    }
}

/// `socket(domain, ty | SOCK_CLOEXEC | SOCK_NONBLOCK, proto)`.
#[allow(dead_code)] // for the socket functions of net.rs
pub(crate) fn socket(
    domain: AddressFamily,
    ty: SocketType,
    proto: Option<Protocol>,
) -> rustix::io::Result<OwnedFd> {
    #[cfg(not(target_vendor = "apple"))]
    {
        use rustix::net::SocketFlags;
        rustix::net::socket_with(
            domain,
            ty,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            proto,
        )
    }
    #[cfg(target_vendor = "apple")]
    {
        let s = rustix::net::socket(domain, ty, proto)?;
        set_flags(&s, true)?;
        Ok(s)
    }
}

#[cfg(target_vendor = "apple")]
fn set_flags(fd: &OwnedFd, nonblock: bool) -> rustix::io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
    if nonblock {
        let fl = rustix::fs::fcntl_getfl(fd)?;
        rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK)?;
    }
    Ok(())
}
