//! Hello world over HTTP/1.1 (keep-alive), hyper on lwt, no tokio runtime:
//! `cargo run --release --example hyper_server --features hyper -- 127.0.0.1:3000`, then
//! `curl http://127.0.0.1:3000/`.
//!
//! One task per connection, each serving its requests one after another on the connection
//! (HTTP/1.1 keep-alive) with hyper's `http1` server; the streams are `lwt::net::TcpStream`s,
//! which implement hyper's I/O traits, and `lwt::hyper::Timer` gives hyper its header-read
//! timeout.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;

/// The body every request gets.
pub const BODY: &str = "Hello, world!\n";

/// The service: the same answer to every request.
pub async fn hello(
    _req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        BODY.as_bytes(),
    ))))
}

/// Serves every connection of `listener` until accepting fails.
pub async fn serve(listener: lwt::net::TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        // Small responses go out at once, not after Nagle's delay.
        let _ = stream.set_nodelay(true);
        // Detached: the connection's task ends with the connection.
        drop(lwt::spawn(async move {
            let served = http1::Builder::new()
                .timer(lwt::hyper::Timer)
                .serve_connection(stream, service_fn(hello))
                .await;
            if let Err(e) = served {
                eprintln!("hyper_server: connection: {e}");
            }
        }));
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_string());
    lwt::run(async move {
        let listener = match lwt::net::TcpListener::bind(addr.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hyper_server: cannot listen on {addr}: {e}");
                std::process::exit(2);
            }
        };
        println!(
            "hyper_server: listening on http://{}",
            listener.local_addr().unwrap()
        );
        if let Err(e) = serve(listener).await {
            eprintln!("hyper_server: accept: {e}");
            std::process::exit(1);
        }
    });
}
