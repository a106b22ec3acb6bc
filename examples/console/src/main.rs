//! lwt's tasks in tokio-console, without tokio running them.
//!
//! `console-subscriber` is installed as the `tracing` subscriber; lwt's `runtime.spawn` spans
//! and `runtime::waker` events (see `lwt::core::trace`) are what it reads. The program runs a
//! small workload on lwt — a TCP echo server with a task per connection, clients that sleep
//! between round trips, a ticker that yields, a `spawn_local` task, jobs on the pool — so the
//! console has something to show.
//!
//! Run it from this directory (so that `.cargo/config.toml` gives the cfg
//! `console_without_tokio_unstable`, without which `console-subscriber` refuses to start):
//!
//! ```text
//! cargo run                  # serves the console on 127.0.0.1:6669 for 60 s
//! tokio-console              # in another terminal: lwt's tasks, their polls and wakes
//! cargo run -- --seconds 600 # a longer look
//! cargo run -- --check       # CI: its own console client checks what the console sees
//! ```
//!
//! With `--check` the console server listens on a free loopback port, and a thread connects to
//! it with `console-api`'s gRPC client (as `tokio-console` does), reads the task updates, and
//! exits 0 once it has seen this program's tasks by spawn location, with polls, wakes,
//! self-wakes and waker clones counted, and a job (kind `blocking`); it prints what it saw.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use console_api::field::{Name, Value};
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::instrument::InstrumentRequest;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lwt::net::{TcpListener, TcpStream};
use lwt::unix::{run_job, AsyncMethod};

/// How long `--check` waits for the console to show everything.
const CHECK_LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let mut check = false;
    let mut seconds = 60;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage("--seconds takes a whole number"))
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let addr: SocketAddr = if check {
        free_loopback_port()
    } else {
        ([127, 0, 0, 1], 6669).into()
    };
    console_subscriber::ConsoleLayer::builder()
        .server_addr(addr)
        .publish_interval(Duration::from_millis(200))
        .init();

    let stop = Arc::new(AtomicBool::new(false));
    let checker = check.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let verdict = watch(addr, CHECK_LIMIT);
            stop.store(true, Ordering::SeqCst);
            verdict
        })
    });
    if !check {
        println!("console on {addr}: run `tokio-console` to watch; stopping in {seconds} s");
    }
    let rounds = lwt::run(workload(stop, Duration::from_secs(seconds)));
    println!("lwt workload: {rounds} rounds");
    if let Some(checker) = checker {
        match checker.join().expect("the checker thread panicked") {
            Ok(report) => println!("{report}"),
            Err(why) => {
                eprintln!("console check failed: {why}");
                std::process::exit(1);
            }
        }
    }
}

fn usage(why: &str) -> ! {
    eprintln!("{why}\nusage: lwt-console-example [--check] [--seconds N]");
    std::process::exit(2)
}

/// A loopback address whose port was free a moment ago.
fn free_loopback_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address")
}

/// The workload: runs rounds of echo clients and a job until `stop` is set or `limit` passes.
async fn workload(stop: Arc<AtomicBool>, limit: Duration) -> u64 {
    let start = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("local address");
    let server = lwt::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await?;
            drop(lwt::spawn(echo(conn)));
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let ticker = lwt::spawn(async {
        loop {
            lwt::sleep(Duration::from_millis(50)).await.expect("sleep");
            // A few yields: tokio-console counts them as self-wakes.
            for _ in 0..3 {
                lwt::yield_now().await;
            }
        }
    });
    let ticks = Rc::new(std::cell::Cell::new(0u64));
    let local = {
        let ticks = ticks.clone();
        lwt::spawn_local(async move {
            loop {
                lwt::sleep(Duration::from_millis(100)).await.expect("sleep");
                ticks.set(ticks.get() + 1);
            }
        })
    };
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) && start.elapsed() < limit {
        let clients: Vec<_> = (0..4).map(|i| lwt::spawn(client(server_addr, i))).collect();
        for c in clients {
            c.await.expect("client task").expect("echo client");
        }
        let r = rounds;
        let got = run_job(Some(AsyncMethod::Detach), move || {
            std::thread::sleep(Duration::from_millis(2));
            r
        })
        .await
        .expect("job");
        assert_eq!(got, rounds);
        lwt::sleep(Duration::from_millis(100)).await.expect("sleep");
        rounds += 1;
    }
    let _ = server.cancel().await;
    let _ = ticker.cancel().await;
    let _ = local.cancel().await;
    rounds
}

/// Echoes one connection until the peer closes it.
async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
    }
}

/// Ten round trips of 1 KiB, a millisecond apart, every byte checked.
async fn client(addr: SocketAddr, seed: u8) -> std::io::Result<()> {
    let mut conn = TcpStream::connect(addr).await?;
    let mut back = vec![0u8; 1024];
    for i in 0..10u8 {
        let msg = vec![seed.wrapping_mul(31).wrapping_add(i); 1024];
        conn.write_all(&msg).await?;
        conn.read_exact(&mut back).await?;
        assert_eq!(back, msg, "the echo changed the data");
        lwt::sleep(Duration::from_millis(1)).await.expect("sleep");
    }
    Ok(())
}

/// A task as the console reported it.
#[derive(Default)]
struct Seen {
    line: Option<u32>,
    file: Option<String>,
    fields: BTreeMap<String, String>,
    polls: u64,
    wakes: u64,
    self_wakes: u64,
    waker_clones: u64,
}

/// Connects to the console server at `addr` as `tokio-console` does and reads its updates until
/// they show this program's tasks (`Ok`, with a report), or `limit` passes (`Err`, with what is
/// missing).
fn watch(addr: SocketAddr, limit: Duration) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime for the console client: {e}"))?;
    rt.block_on(async move {
        let deadline = tokio::time::Instant::now() + limit;
        let mut client = loop {
            match InstrumentClient::connect(format!("http://{addr}")).await {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!("cannot connect to the console on {addr}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let mut updates = client
            .watch_updates(InstrumentRequest {})
            .await
            .map_err(|e| format!("watch_updates: {e}"))?
            .into_inner();
        let mut tasks: HashMap<u64, Seen> = HashMap::new();
        let mut missing = String::from("no update arrived");
        loop {
            let next = tokio::time::timeout_at(deadline, updates.message()).await;
            let update = match next {
                Err(_) => return Err(format!("after {limit:?}: {missing}")),
                Ok(Err(e)) => return Err(format!("the console stream failed: {e}")),
                Ok(Ok(None)) => return Err(format!("the console stream ended: {missing}")),
                Ok(Ok(Some(u))) => u,
            };
            let Some(tu) = update.task_update else {
                continue;
            };
            for t in tu.new_tasks {
                let Some(id) = t.id else { continue };
                let seen = tasks.entry(id.id).or_default();
                if let Some(loc) = t.location {
                    seen.file = loc.file;
                    seen.line = loc.line;
                }
                for f in t.fields {
                    if let (Some(Name::StrName(n)), Some(v)) = (f.name, f.value) {
                        seen.fields.insert(n, value(v));
                    }
                }
            }
            for (id, st) in tu.stats_update {
                let seen = tasks.entry(id).or_default();
                seen.polls = st.poll_stats.map_or(0, |p| p.polls);
                seen.wakes = st.wakes;
                seen.self_wakes = st.self_wakes;
                seen.waker_clones = st.waker_clones;
            }
            match verdict(&tasks) {
                Ok(report) => return Ok(report),
                Err(why) => missing = why,
            }
        }
    })
}

fn value(v: Value) -> String {
    match v {
        Value::DebugVal(s) | Value::StrVal(s) => s,
        Value::U64Val(n) => n.to_string(),
        Value::I64Val(n) => n.to_string(),
        Value::BoolVal(b) => b.to_string(),
    }
}

/// Whether the console has shown enough: a report of this program's tasks, or what is missing.
fn verdict(tasks: &HashMap<u64, Seen>) -> Result<String, String> {
    let ours: Vec<&Seen> = tasks
        .values()
        .filter(|t| t.file.as_deref() == Some(file!()))
        .collect();
    let kind = |t: &Seen| t.fields.get("kind").cloned().unwrap_or_default();
    let lines: std::collections::BTreeSet<u32> = ours.iter().filter_map(|t| t.line).collect();
    let jobs = tasks
        .values()
        .filter(|t| {
            kind(t) == "blocking"
                && t.fields
                    .get("task.name")
                    .is_some_and(|n| n.contains("lwt_console_example"))
        })
        .count();
    let sum = |f: fn(&Seen) -> u64| ours.iter().map(|t| f(t)).sum::<u64>();
    let (polls, wakes, self_wakes, clones) = (
        sum(|t| t.polls),
        sum(|t| t.wakes),
        sum(|t| t.self_wakes),
        sum(|t| t.waker_clones),
    );
    let kinds: std::collections::BTreeSet<String> = ours.iter().map(|t| kind(t)).collect();
    // The server, ticker, spawn_local, echo and client spawns, and the block_on of main.
    let want_lines = 6;
    let missing = [
        (
            lines.len() < want_lines,
            format!("{} of {want_lines} spawn sites", lines.len()),
        ),
        (jobs == 0, "no job (kind blocking)".to_string()),
        (polls == 0, "no polls".to_string()),
        (wakes == 0, "no wakes".to_string()),
        (self_wakes == 0, "no self-wakes".to_string()),
        (clones == 0, "no waker clones".to_string()),
        (
            !["task", "local", "block_on"]
                .iter()
                .all(|k| kinds.contains(*k)),
            format!("kinds seen: {kinds:?}"),
        ),
    ];
    let missing: Vec<&str> = missing
        .iter()
        .filter(|(m, _)| *m)
        .map(|(_, why)| why.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the console does not show it all yet: {}",
            missing.join("; ")
        ));
    }
    let mut report = format!(
        "tokio-console sees {} lwt tasks from {} spawn sites of {} and {jobs} jobs: \
         {polls} polls, {wakes} wakes ({self_wakes} self-wakes), {clones} waker clones",
        ours.len(),
        lines.len(),
        file!()
    );
    for line in &lines {
        let at: Vec<&&Seen> = ours.iter().filter(|t| t.line == Some(*line)).collect();
        report += &format!(
            "\n  {}:{line}: {} task(s), kind {}, {} polls",
            file!(),
            at.len(),
            kind(at[0]),
            at.iter().map(|t| t.polls).sum::<u64>()
        );
    }
    Ok(report)
}
