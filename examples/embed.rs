//! lwt inside a host loop it does not own: a plain `poll(2)` loop, as a GUI toolkit's main
//! loop would be, watches its own descriptor (a pipe that "the toolkit" gets events on) and
//! lwt's, and drives lwt with `run_once`. Inside, lwt tasks do a TCP exchange, tick a timer and
//! run a job. Exits when all of it is done.
//!
//! ```sh
//! cargo run --example embed                  # on the best backend
//! LWT_BACKEND=poll cargo run --example embed
//! ```

#[cfg(unix)]
fn main() {
    use lwt::unix::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let rt = match lwt::Builder::from_env().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("embed: {e}");
            std::process::exit(2);
        }
    };
    println!("host loop around lwt on the {} backend", rt.backend_name());

    // The toolkit's own event source: another thread posts an event every 15 ms.
    let (events, mut poster) = UnixStream::pair().expect("socketpair");
    events.set_nonblocking(true).expect("non-blocking");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let posting = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(15));
            let _ = poster.write_all(b"e");
        }
    });

    // lwt's work: a TCP request/response, a ticking timer, a job.
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    drop(rt.spawn(async move {
        let l = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        bind(&l, &SockAddr::Inet([127, 0, 0, 1].into(), 0))
            .await
            .unwrap();
        listen(&l, 1).unwrap();
        let addr = getsockname(&l).unwrap();
        let server = lwt::spawn(async move {
            let (c, peer) = accept(&l).await.unwrap();
            let mut buf = [0u8; 64];
            let n = read(&c, &mut buf).await.unwrap();
            write(&c, &buf[..n]).await.unwrap();
            peer
        });
        let c = socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        connect(&c, &addr).await.unwrap();
        write(&c, b"hello through the host loop").await.unwrap();
        let mut buf = [0u8; 64];
        let n = read(&c, &mut buf).await.unwrap();
        let peer = server.await.unwrap();
        println!(
            "tcp: {:?} echoed back (client {peer})",
            String::from_utf8_lossy(&buf[..n])
        );
        d.fetch_add(1, Ordering::SeqCst);
    }));
    let d = done.clone();
    drop(rt.spawn(async move {
        let start = Instant::now();
        for i in 1..=5 {
            lwt::sleep(Duration::from_millis(10)).await;
            println!("timer: tick {i} at {:?}", start.elapsed());
        }
        d.fetch_add(1, Ordering::SeqCst);
    }));
    let d = done.clone();
    drop(rt.spawn(async move {
        let r = run_job(Some(AsyncMethod::Detach), || {
            std::fs::metadata("/").map(|m| m.is_dir())
        })
        .await
        .unwrap();
        println!("job: / is a directory: {}", r.unwrap());
        d.fetch_add(1, Ordering::SeqCst);
    }));

    // The host loop.
    let mut host = rt.embed();
    let mut toolkit_events = 0;
    let start = Instant::now();
    loop {
        if host.run_once() {
            continue;
        }
        if done.load(Ordering::SeqCst) == 3 {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            eprintln!("embed: the lwt work did not finish");
            std::process::exit(1);
        }
        let timeout = host.prepare();
        let mut fds = vec![libc::pollfd {
            fd: events.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for (fd, interest) in host.fds() {
            let mut ev = 0;
            if interest.readable() {
                ev |= libc::POLLIN;
            }
            if interest.writable() {
                ev |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd,
                events: ev,
                revents: 0,
            });
        }
        let ms = timeout.map_or(-1, |t| t.as_micros().div_ceil(1000).min(1000) as i32);
        // SAFETY: `fds` holds `fds.len()` pollfds of open descriptors (lwt's are kept open by
        // the runtime, the toolkit's by `events`).
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if fds[0].revents & libc::POLLIN != 0 {
            let mut buf = [0u8; 16];
            if let Ok(n) = rustix::io::read(&events, &mut buf) {
                toolkit_events += n;
            }
        }
    }
    drop(host);
    stop.store(true, Ordering::Relaxed);
    posting.join().expect("poster");
    let m = rt.metrics();
    println!(
        "done: {toolkit_events} toolkit events handled beside lwt's {} turns and {} task polls",
        m.turns, m.polls
    );
}

#[cfg(not(unix))]
fn main() {
    // A completion port is not a waitable handle: there is no descriptor a Windows host loop
    // could watch (see `lwt::core::embed`).
    println!("embed: the poll(2) host loop of this example is Unix-only");
}
