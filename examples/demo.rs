//! A tour of lwt end to end, that exits when done: the backend in use, tasks and timers,
//! the seed's `pick [timeout; read; read]`, a TCP echo over loopback, jobs under each async
//! method, a file and a directory, a notification from another thread.
//!
//! `cargo run --example demo` (try `LWT_BACKEND=poll` or `LWT_ASYNC_METHOD=switch` too).

// The Unix surface of lwt::unix is absent on Windows: this example is for Unix.
#[cfg(unix)]
mod imp {
    use lwt::unix::{self, AsyncMethod, SockAddr, SocketDomain, SocketType};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    type Boxed<'a, T> = Pin<Box<dyn Future<Output = lwt::Result<T>> + 'a>>;

    async fn tour() -> lwt::Result<()> {
        println!("backend: {}", lwt::Handle::current().backend_name());
        println!(
            "default async method: {}",
            unix::default_async_method().name()
        );

        // Tasks and timers.
        let t0 = Instant::now();
        let tasks: Vec<_> = (1..=3u64)
            .map(|i| {
                lwt::spawn(async move {
                    lwt::sleep(Duration::from_millis(10 * i)).await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await?;
        }
        println!(
            "3 tasks slept concurrently: sum {sum} in {:?}",
            t0.elapsed()
        );

        // The seed's example: exactly one of [timeout; read a; read b] completes.
        let (a, a_peer) = unix::socketpair(SocketDomain::Unix, SocketType::Stream, 0)?;
        let (b, _b_peer) = unix::socketpair(SocketDomain::Unix, SocketType::Stream, 0)?;
        let (mut ba, mut bb) = ([0u8; 16], [0u8; 16]);
        let winner = {
            let futs: Vec<Boxed<'_, String>> = vec![
                Box::pin(lwt::timeout(Duration::from_millis(30))),
                Box::pin(async {
                    unix::read(&a, &mut ba)
                        .await
                        .map(|n| format!("a read {n} bytes"))
                }),
                Box::pin(async {
                    unix::read(&b, &mut bb)
                        .await
                        .map(|n| format!("b read {n} bytes"))
                }),
            ];
            lwt::pick(futs).await
        };
        println!("pick [timeout; read a; read b] -> {winner:?}");
        unix::write(&a_peer, b"still here").await?;
        let n = unix::read(&a, &mut ba).await?;
        println!(
            "after the timeout won, a's data is intact: {:?}",
            String::from_utf8_lossy(&ba[..n])
        );

        // TCP echo over loopback.
        let listener = unix::socket(SocketDomain::Inet, SocketType::Stream, 0)?;
        unix::bind(&listener, &SockAddr::Inet([127, 0, 0, 1].into(), 0)).await?;
        unix::listen(&listener, 16)?;
        let addr = unix::getsockname(&listener)?;
        let server = lwt::spawn(async move {
            let (conn, _) = unix::accept(&listener).await?;
            let mut buf = [0u8; 64];
            loop {
                let n = unix::read(&conn, &mut buf).await?;
                if n == 0 {
                    return Ok::<_, lwt::Error>(());
                }
                unix::write(&conn, &buf[..n]).await?;
            }
        });
        let client = unix::socket(SocketDomain::Inet, SocketType::Stream, 0)?;
        unix::connect(&client, &addr).await?;
        unix::write_string(&client, "hello over tcp").await?;
        let mut buf = [0u8; 64];
        let n = unix::read(&client, &mut buf).await?;
        println!("echo from {addr}: {:?}", String::from_utf8_lossy(&buf[..n]));
        unix::close(&client).await?;
        server.await??;

        // Jobs under each method: a blocking call never blocks the loop under detach/switch.
        for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            let t = Instant::now();
            let on =
                unix::run_job(Some(m), || std::thread::current().name().map(str::to_owned)).await?;
            println!(
                "run_job under {:>6}: ran on {:?}, {:?}",
                m.name(),
                on.unwrap_or_default(),
                t.elapsed()
            );
        }

        // Files and directories through jobs.
        let dir = std::env::temp_dir().join(format!("lwt-demo-{}", std::process::id()));
        unix::mkdir(&dir, 0o755).await?;
        let path = dir.join("greeting.txt");
        let f = unix::openfile(
            &path,
            unix::OpenFlags::WRONLY | unix::OpenFlags::CREAT,
            0o644,
        )
        .await?;
        unix::write_string(&f, "written through lwt\n").await?;
        unix::close(&f).await?;
        let st = unix::stat(&path).await?;
        println!(
            "{}: {} bytes, kind {:?}",
            path.display(),
            st.st_size,
            st.st_kind
        );
        unix::unlink(&path).await?;
        unix::rmdir(&dir).await?;

        // A notification sent from another thread runs in the loop.
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let id = lwt::make_notification(true, move || {
            h.fetch_add(1, Ordering::SeqCst);
        })?;
        std::thread::spawn(move || lwt::send_notification(id))
            .join()
            .expect("thread")?;
        while hits.load(Ordering::SeqCst) == 0 {
            lwt::sleep(Duration::from_millis(1)).await;
        }
        println!("notification from another thread delivered in the loop");
        println!("done");
        Ok(())
    }

    pub fn main() {
        lwt::run(lwt::handle_unix_error(tour()));
    }
}

#[cfg(unix)]
fn main() {
    imp::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("this example uses lwt::unix, which exists on Unix only");
}
