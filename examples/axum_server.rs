//! An axum `Router` served by hyper on lwt, no tokio runtime:
//! `cargo run --release --example axum_server --features hyper -- 127.0.0.1:3000`, then
//! `curl http://127.0.0.1:3000/` or `curl http://127.0.0.1:3000/hello/lwt`.
//!
//! axum's own `serve` is bound to tokio (its listener wants tokio's I/O traits and sleeps on
//! tokio's timer), so the `Router`, a tower `Service`, is served through hyper instead:
//! hyper-util's `TowerToHyperService` makes it a hyper service, and hyper's `http1` server
//! runs it on each accepted `lwt::net::TcpStream`, one lwt task per connection.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::service::TowerToHyperService;

/// The application: `/` and `/hello/{name}`.
pub fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello from axum on lwt!\n" }))
        .route(
            "/hello/{name}",
            get(|Path(name): Path<String>| async move { format!("Hello, {name}!\n") }),
        )
}

/// Serves `router` on every connection of `listener` until accepting fails.
pub async fn serve(listener: lwt::net::TcpListener, router: Router) -> std::io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        // Detached: the connection's task ends with the connection.
        drop(lwt::spawn(async move {
            let served = http1::Builder::new()
                .timer(lwt::hyper::Timer)
                .serve_connection(stream, service)
                .await;
            if let Err(e) = served {
                eprintln!("axum_server: connection: {e}");
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
                eprintln!("axum_server: cannot listen on {addr}: {e}");
                std::process::exit(2);
            }
        };
        println!(
            "axum_server: listening on http://{}",
            listener.local_addr().unwrap()
        );
        if let Err(e) = serve(listener, app()).await {
            eprintln!("axum_server: accept: {e}");
            std::process::exit(1);
        }
    });
}
