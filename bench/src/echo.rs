//! The TCP echo benchmark over loopback, shared by `--bin loop` and `--bin uring`: one server
//! thread per peer (lwt on a chosen backend, tokio, smol, a raw epoll loop), one blocking
//! client thread, and per timed segment the server thread's CPU time and, where the kernel lets
//! this process count them (perf tracepoints), its system calls.
#![allow(dead_code)] // each binary uses a part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Instant;

/// Bytes per echo message.
pub const MSG: usize = 64;
/// Timed repetitions per measurement (after one warm-up repetition); the median is reported.
pub const REPS: usize = 7;

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A runtime built from the environment (`LWT_BACKEND`).
pub fn lwt_runtime() -> lwt::Runtime {
    lwt::Builder::from_env()
        .build()
        .expect("lwt runtime (check LWT_BACKEND)")
}

pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The CPU clock of the calling thread, readable from any thread of the process.
pub fn this_thread_cpu_clock() -> libc::clockid_t {
    let mut id: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is the calling thread, alive; `id` is a valid out-pointer.
    let r = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
    assert_eq!(r, 0, "pthread_getcpuclockid failed: {r}");
    id
}

pub fn clock_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; `id` is a CPU clock of a live thread, or a
    // process-wide clock.
    let r = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(r, 0, "clock_gettime failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// With `BENCH_PIN=<cpu>`, pins the calling thread to that CPU (the echo client and servers
/// call it): same-core ping-pong, without the cross-core wake-ups whose cost on a VM swamps
/// the runtimes' own (see README).
pub fn pin_from_env() {
    let Some(cpu) = std::env::var("BENCH_PIN")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    // SAFETY: `set` is a plain bit set, zeroed then filled by the libc macros; the call only
    // reads it, for the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "BENCH_PIN={cpu}: sched_setaffinity failed");
    }
}

pub fn set_nodelay(fd: &impl std::os::fd::AsFd) {
    rustix::net::sockopt::set_tcp_nodelay(fd, true).expect("TCP_NODELAY");
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Peer {
    /// lwt on the backend `LWT_BACKEND` names (the best for the OS when unset).
    Lwt,
    /// lwt on the io_uring backend.
    LwtUring,
    Tokio,
    Smol,
    Epoll,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Lwt => "lwt",
            Peer::LwtUring => "lwt-uring",
            Peer::Tokio => "tokio",
            Peer::Smol => "smol",
            Peer::Epoll => "epoll",
        }
    }
}

/// Serves `n` connections on `listener`, echoing until each reaches end of file. Sends the
/// serving thread's CPU clock on `clock` first.
pub fn serve(
    peer: Peer,
    listener: TcpListener,
    n: usize,
    clock: mpsc::Sender<(libc::clockid_t, libc::pid_t)>,
) {
    pin_from_env();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    clock.send((this_thread_cpu_clock(), tid)).unwrap();
    match peer {
        Peer::Lwt => serve_lwt(lwt_runtime(), listener, n),
        Peer::LwtUring => serve_lwt(
            lwt::Builder::new()
                .backend(lwt::BackendKind::IoUring)
                .build()
                .expect("an io_uring runtime"),
            listener,
            n,
        ),
        Peer::Tokio => serve_tokio(listener, n),
        Peer::Smol => serve_smol(listener, n),
        Peer::Epoll => serve_epoll(listener, n),
    }
}

pub fn serve_lwt(rt: lwt::Runtime, listener: TcpListener, n: usize) {
    use lwt::unix::{FileDescr, IoEvent};
    use rustix::net::SocketFlags;
    rt.block_on(async move {
        let l = lwt::unix::of_unix_file_descr(OwnedFd::from(listener), Some(false), true).unwrap();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let conn = lwt::unix::wrap_syscall(IoEvent::Read, &l, |fd| {
                rustix::net::accept_with(fd, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)
                    .map_err(|e| lwt::Error::from_errno(e.raw_os_error(), "accept", ""))
            })
            .await
            .unwrap();
            set_nodelay(&conn);
            let conn = FileDescr::from_owned(conn, Some(false), false).unwrap();
            tasks.push(lwt::spawn(async move {
                let mut buf = [0u8; 4096];
                // LWT_BENCH_RECV=1: recv/send through wrap_syscall instead of lwt::unix::read
                // and write (read(2)/write(2)), to show what the socket calls save.
                let sock = std::env::var_os("LWT_BENCH_RECV").is_some();
                loop {
                    let k = if sock {
                        lwt::unix::wrap_syscall(IoEvent::Read, &conn, |fd| {
                            rustix::net::recv(fd, &mut buf, rustix::net::RecvFlags::empty())
                                .map(|(a, _)| a)
                                .map_err(|e| lwt::Error::from_errno(e.raw_os_error(), "recv", ""))
                        })
                        .await
                        .unwrap()
                    } else {
                        lwt::unix::read(&conn, &mut buf).await.unwrap()
                    };
                    if k == 0 {
                        break;
                    }
                    let mut done = 0;
                    while done < k {
                        done += if sock {
                            lwt::unix::wrap_syscall(IoEvent::Write, &conn, |fd| {
                                rustix::net::send(
                                    fd,
                                    &buf[done..k],
                                    rustix::net::SendFlags::NOSIGNAL,
                                )
                                .map_err(|e| lwt::Error::from_errno(e.raw_os_error(), "send", ""))
                            })
                            .await
                            .unwrap()
                        } else {
                            lwt::unix::write(&conn, &buf[done..k]).await.unwrap()
                        };
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

pub fn serve_tokio(listener: TcpListener, n: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio_runtime();
    rt.block_on(async move {
        listener.set_nonblocking(true).unwrap();
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let k = s.read(&mut buf).await.unwrap();
                    if k == 0 {
                        break;
                    }
                    s.write_all(&buf[..k]).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

pub fn serve_smol(listener: TcpListener, n: usize) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let l = smol::Async::new(listener).unwrap();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut s, _) = l.accept().await.unwrap();
            s.get_ref().set_nodelay(true).unwrap();
            tasks.push(ex.spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let k = s.read(&mut buf).await.unwrap();
                    if k == 0 {
                        break;
                    }
                    s.write_all(&buf[..k]).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    }));
}

/// A single-threaded edge-triggered epoll echo server: every socket is added once with
/// `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`; on an event it reads until `EAGAIN`, writing
/// each chunk back at once (keeping what the socket does not take for the next `EPOLLOUT`).
pub fn serve_epoll(listener: TcpListener, n: usize) {
    use rustix::event::epoll;
    use std::mem::MaybeUninit;
    const LISTENER: u64 = u64::MAX;
    struct Conn {
        s: TcpStream,
        pending: Vec<u8>,
    }
    /// Writes `pending` out as far as the socket takes it; false if the connection failed.
    fn flush(c: &mut Conn) -> bool {
        while !c.pending.is_empty() {
            match c.s.write(&c.pending) {
                Ok(k) => {
                    c.pending.drain(..k);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
    listener.set_nonblocking(true).unwrap();
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    let et = epoll::EventFlags::ET;
    epoll::add(
        &ep,
        &listener,
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN | et,
    )
    .unwrap();
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(n);
    let mut closed = 0;
    let mut events = [MaybeUninit::<epoll::Event>::uninit(); 256];
    let mut buf = [0u8; 4096];
    while closed < n {
        let (ready, _) = match epoll::wait(&ep, &mut events[..], None) {
            Ok(r) => r,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("epoll_wait: {e}"),
        };
        for ev in ready.iter() {
            let key = ev.data.u64();
            if key == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true).unwrap();
                            s.set_nodelay(true).unwrap();
                            let flags = epoll::EventFlags::IN
                                | epoll::EventFlags::OUT
                                | epoll::EventFlags::RDHUP
                                | et;
                            let data = epoll::EventData::new_u64(conns.len() as u64);
                            epoll::add(&ep, &s, data, flags).unwrap();
                            conns.push(Some(Conn {
                                s,
                                pending: Vec::new(),
                            }));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("accept: {e}"),
                    }
                }
                continue;
            }
            let idx = key as usize;
            let Some(c) = conns[idx].as_mut() else {
                continue;
            };
            let mut alive = flush(c);
            while alive {
                match c.s.read(&mut buf) {
                    Ok(0) => alive = false,
                    Ok(k) => {
                        if c.pending.is_empty() {
                            match c.s.write(&buf[..k]) {
                                Ok(w) => c.pending.extend_from_slice(&buf[w..k]),
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                    c.pending.extend_from_slice(&buf[..k])
                                }
                                Err(_) => alive = false,
                            }
                        } else {
                            c.pending.extend_from_slice(&buf[..k]);
                            alive = flush(c);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => alive = false,
                }
            }
            if !alive {
                let c = conns[idx].take().unwrap();
                let _ = epoll::delete(&ep, &c.s);
                closed += 1;
            }
        }
    }
}

/// What one timed segment of an echo run measured.
pub struct EchoSample {
    /// Server thread CPU per round trip (ns).
    pub cpu_ns: f64,
    /// CPU of every thread but the client's, per round trip (ns).
    pub all_cpu_ns: f64,
    /// Round trips per second, as the client saw them.
    pub rt_per_s: f64,
    /// System calls of the server thread per round trip, if this process may count them.
    pub syscalls_per_rt: Option<f64>,
    /// The backend's own waits among them (`epoll_wait`/`epoll_pwait2`/`io_uring_enter`).
    pub waits_per_rt: Option<f64>,
}

/// The filter (for `PERF_EVENT_IOC_SET_FILTER`) that keeps the waits of an event loop.
pub fn wait_filter() -> String {
    let mut ids = vec![
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_io_uring_enter,
    ];
    #[cfg(target_arch = "x86_64")]
    ids.push(libc::SYS_epoll_wait);
    ids.iter()
        .map(|id| format!("id == {id}"))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// A count of one thread's system calls: a perf counter on the `raw_syscalls:sys_enter`
/// tracepoint (needs tracefs, e.g. `mount -t tracefs nodev /sys/kernel/tracing`, and the
/// right to trace the thread: root or `perf_event_paranoid` <= 1), optionally only the calls
/// that pass a tracepoint filter. While open it slows each system call of the traced thread
/// (the kernel's tracing slow path), so timed segments must run without one.
pub struct SyscallCounter(OwnedFd);

impl SyscallCounter {
    /// A counter for thread `tid`, or `None` where this process may not count.
    pub fn open(tid: libc::pid_t, filter: Option<&str>) -> Option<SyscallCounter> {
        use std::os::fd::FromRawFd;
        let id = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .iter()
            .find_map(|d| {
                std::fs::read_to_string(format!("{d}/events/raw_syscalls/sys_enter/id")).ok()
            })?
            .trim()
            .parse::<u64>()
            .ok()?;
        // struct perf_event_attr (PERF_ATTR_SIZE_VER7, 128 bytes): type, size, config; every
        // other field 0 (counting, enabled, user and kernel).
        let mut attr = [0u64; 16];
        attr[0] = 2 | (128 << 32); // PERF_TYPE_TRACEPOINT, size
        attr[1] = id;
        // SAFETY: `attr` is a valid, fully initialised perf_event_attr read during the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr.as_ptr(),
                tid,
                -1i32,
                -1i32,
                8u64, // PERF_FLAG_FD_CLOEXEC
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: the call returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if let Some(f) = filter {
            use std::os::fd::AsRawFd;
            let f = std::ffi::CString::new(f).ok()?;
            const PERF_EVENT_IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;
            // SAFETY: the ioctl reads the NUL-terminated filter during the call.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_SET_FILTER, f.as_ptr()) };
            if r < 0 {
                return None;
            }
        }
        Some(SyscallCounter(fd))
    }

    /// The count so far.
    pub fn read(&self) -> u64 {
        let mut v = [0u8; 8];
        match rustix::io::read(&self.0, &mut v) {
            Ok(8) => u64::from_ne_bytes(v),
            _ => 0,
        }
    }
}

/// Runs the echo benchmark against every peer of `peers` at once: one server thread per peer,
/// `n` connections to each from one blocking client thread. A round writes one message on
/// every connection of a peer, then reads every reply. The timed segments go round-robin over
/// the peers (the idle servers sleep in their loop meanwhile, costing no CPU), so a burst of
/// load from elsewhere on the machine hits every peer alike.
pub fn echo(peers: &[Peer], n: usize, rounds: usize) -> Vec<Vec<EchoSample>> {
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for &peer in peers {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (clock_tx, clock_rx) = mpsc::channel();
        servers.push(
            std::thread::Builder::new()
                .name(format!("{}-server", peer.name()))
                .spawn(move || serve(peer, listener, n, clock_tx))
                .unwrap(),
        );
        let (clock, tid) = clock_rx.recv().unwrap();
        targets.push((addr, clock, tid));
    }
    let client = std::thread::Builder::new()
        .name("echo-client".into())
        .spawn(move || {
            pin_from_env();
            let client_clock = this_thread_cpu_clock();
            let mut conns: Vec<Vec<TcpStream>> = targets
                .iter()
                .map(|(addr, _, _)| {
                    (0..n)
                        .map(|_| {
                            let s = TcpStream::connect(addr).unwrap();
                            s.set_nodelay(true).unwrap();
                            s
                        })
                        .collect()
                })
                .collect();
            let msg = [0x5au8; MSG];
            let mut buf = [0u8; MSG];
            let mut round = |conns: &mut [TcpStream]| {
                for c in conns.iter_mut() {
                    c.write_all(&msg).unwrap();
                }
                for c in conns.iter_mut() {
                    c.read_exact(&mut buf).unwrap();
                }
            };
            // Warm-up: connections accepted, buffers and caches warm.
            for c in conns.iter_mut() {
                for _ in 0..rounds / 2 {
                    round(c);
                }
            }
            // System calls are counted in a segment of their own, untimed: while a perf
            // counter watches the `sys_enter` tracepoint every system call of the watched
            // thread takes the kernel's slow path (about 0.1-0.3 us more each), which would
            // inflate the CPU figures by 10% and more. The counters are closed before the
            // timed segments.
            let syscalls: Vec<(Option<f64>, Option<f64>)> = targets
                .iter()
                .zip(conns.iter_mut())
                .map(|(&(_, _, tid), c)| {
                    let all = SyscallCounter::open(tid, None);
                    let waits = SyscallCounter::open(tid, Some(&wait_filter()));
                    let count = |c: &Option<SyscallCounter>| c.as_ref().map(SyscallCounter::read);
                    let (all0, wait0) = (count(&all), count(&waits));
                    for _ in 0..rounds / 2 {
                        round(c);
                    }
                    let rts = ((rounds / 2).max(1) * n) as f64;
                    let per_rt = |a: Option<u64>, b: Option<u64>| {
                        a.zip(b).map(|(a, b)| (b - a) as f64 / rts)
                    };
                    (per_rt(all0, count(&all)), per_rt(wait0, count(&waits)))
                })
                .collect();
            let mut samples: Vec<Vec<EchoSample>> = targets.iter().map(|_| Vec::new()).collect();
            for _ in 0..REPS {
                for (i, (_, server_clock, _)) in targets.iter().enumerate() {
                    let (s0, p0, c0) = (
                        clock_ns(*server_clock),
                        clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
                        clock_ns(client_clock),
                    );
                    let t = Instant::now();
                    for _ in 0..rounds {
                        round(&mut conns[i]);
                    }
                    let wall = t.elapsed();
                    let (s1, p1, c1) = (
                        clock_ns(*server_clock),
                        clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
                        clock_ns(client_clock),
                    );
                    let rts = (rounds * n) as f64;
                    samples[i].push(EchoSample {
                        cpu_ns: (s1 - s0) as f64 / rts,
                        all_cpu_ns: ((p1 - p0) as f64 - (c1 - c0) as f64) / rts,
                        rt_per_s: rts / wall.as_secs_f64(),
                        syscalls_per_rt: syscalls[i].0,
                        waits_per_rt: syscalls[i].1,
                    });
                }
            }
            drop(conns); // end of file on every connection: the servers return
            samples
        })
        .unwrap();
    let samples = client.join().unwrap();
    for s in servers {
        s.join().unwrap();
    }
    samples
}
