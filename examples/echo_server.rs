//! A TCP echo server: `cargo run --release --example echo_server -- 127.0.0.1:7000`.
//!
//! Serves until killed: one task per connection, each reading with `lwt::unix::read` and
//! writing every byte back with `lwt::unix::write`. An `accept` error (e.g. `EMFILE`) is
//! reported and the server goes on after a short pause.

// The Unix surface of lwt::unix is absent on Windows: this example is for Unix.
#[cfg(unix)]
mod imp {
    use lwt::unix::{accept, bind, listen, read, socket, write, SockAddr, SocketType};
    use std::net::SocketAddr;
    use std::time::Duration;

    async fn serve(conn: lwt::unix::FileDescr) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match read(&conn, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut sent = 0;
            while sent < n {
                match write(&conn, &buf[sent..n]).await {
                    Ok(k) => sent += k,
                    Err(_) => return,
                }
            }
        }
    }

    pub fn main() {
        let arg = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "127.0.0.1:7000".to_string());
        let addr: SocketAddr = match arg.parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("echo_server: bad address {arg:?}: {e}");
                std::process::exit(2);
            }
        };
        lwt::run(lwt::handle_unix_error(async move {
            let addr = SockAddr::from(addr);
            let listener = socket(addr.domain(), SocketType::Stream, 0)?;
            lwt::unix::setsockopt(&listener, lwt::unix::SocketBoolOption::SoReuseaddr, true)?;
            bind(&listener, &addr).await?;
            listen(&listener, 1024)?;
            eprintln!(
                "echo_server: listening on {}",
                lwt::unix::getsockname(&listener)?
            );
            loop {
                match accept(&listener).await {
                    Ok((conn, _peer)) => {
                        drop(lwt::spawn(serve(conn)));
                    }
                    Err(e) => {
                        eprintln!("echo_server: accept: {e}");
                        lwt::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), lwt::Error>(())
        }));
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
