//! `examples/hyper_server.rs` and `examples/axum_server.rs`, on every backend: each server's own
//! code (the example file, included) on a loopback port, asked by a plain HTTP/1.1 client
//! (std's blocking `TcpStream`, in a job) for a keep-alive sequence of requests on one
//! connection, then a last request with `Connection: close`.
mod util;

#[path = "../examples/hyper_server.rs"]
#[allow(dead_code)] // its `main` is not called here
mod hyper_server;

#[path = "../examples/axum_server.rs"]
#[allow(dead_code)]
mod axum_server;

use lwt::net::TcpListener;
use lwt::unix::{run_job, AsyncMethod};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// One HTTP/1.1 connection of the client.
struct Client {
    conn: BufReader<std::net::TcpStream>,
}

/// A response: status, headers (names lower-cased), body.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        // A server that stops answering fails the test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            conn: BufReader::new(s),
        }
    }

    fn get(&mut self, path: &str, close: bool) -> Response {
        let extra = if close { "Connection: close\r\n" } else { "" };
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n");
        self.conn.get_mut().write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        self.conn.read_line(&mut line).unwrap();
        let status: u16 = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.conn.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header");
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .expect("content-length")
            .1
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        self.conn.read_exact(&mut body).unwrap();
        Response {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    /// Whether the server closed the connection (end of file, nothing more).
    fn closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.conn.read_to_end(&mut rest), Ok(0))
    }
}

/// Runs `session` (blocking std client code) in a job while the server serves.
async fn client<T: Send + 'static>(session: impl FnOnce() -> T + Send + 'static) -> T {
    run_job(Some(AsyncMethod::Detach), session).await.unwrap()
}

#[test]
fn hyper_server_answers_a_keep_alive_sequence() {
    util::for_each_backend(|_| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = lwt::spawn(hyper_server::serve(listener));
        let responses = client(move || {
            let mut c = Client::connect(addr);
            let mut out: Vec<Response> = (0..5).map(|_| c.get("/", false)).collect();
            out.push(c.get("/any/path", true));
            assert!(c.closed_by_server(), "Connection: close was not honoured");
            // A second connection while the server still runs.
            out.push(Client::connect(addr).get("/", false));
            out
        })
        .await;
        assert_eq!(responses.len(), 7);
        for r in &responses {
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(r.body, hyper_server::BODY);
        }
        assert!(responses[5]
            .headers
            .iter()
            .any(|(k, v)| k == "connection" && v == "close"));
        assert!(server.cancel().await.is_none());
    });
}

#[test]
fn axum_router_is_served_through_hyper_on_lwt() {
    util::for_each_backend(|_| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = lwt::spawn(axum_server::serve(listener, axum_server::app()));
        let responses = client(move || {
            let mut c = Client::connect(addr);
            let out = vec![
                c.get("/", false),
                c.get("/hello/lwt", false),
                c.get("/missing", false),
                c.get("/hello/again", false),
                c.get("/", true),
            ];
            assert!(c.closed_by_server(), "Connection: close was not honoured");
            out
        })
        .await;
        let got: Vec<(u16, &str)> = responses
            .iter()
            .map(|r| (r.status, r.body.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (200, "Hello from axum on lwt!\n"),
                (200, "Hello, lwt!\n"),
                (404, ""),
                (200, "Hello, again!\n"),
                (200, "Hello from axum on lwt!\n"),
            ]
        );
        assert!(server.cancel().await.is_none());
    });
}
