//! `lwt::unix::fork` inside a running loop gives the child a working loop, on every backend
//! (issue 11, item 4): the child does socket I/O and hands its loop off in a `switch` job
//! (the watchdog runs again there); a child forked while jobs were pending can
//! `wait_for_jobs`; a fork inside a `switch` job whose loop was handed off brings the loop
//! home first, so the child has it; a fork from a task running on a switch stand-in is refused
//! with a clear error; a child waits on descriptors registered (and watched) before the fork,
//! and its loop has wake-up and timer descriptors of its own. The parent keeps working after
//! each fork.
//!
//! Each scenario runs in a child process of its own (the forking code is an `#[ignore]`d test
//! that `run_child_test` runs alone), so the forks never meet another test's threads, and the
//! forked children are reaped there; a child that hangs is killed and fails its test.
#![cfg(unix)]
mod util;

use lwt::core::switch::{calls_handed_off, steals};
use lwt::net::{TcpListener, TcpStream};
use lwt::unix::{
    fork, pipe, read, run_job, wait_for_jobs, waitpid, write, AsyncMethod, ProcessStatus, WaitFlags,
};
use lwt::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a forked child may take before the parent gives up on it.
const CHILD_LIMIT: Duration = Duration::from_secs(20);

/// Ends a forked child at once with `code`, without the parent's destructors or at-exit
/// handlers (and without returning into the test harness, whose threads the child lacks).
fn child_exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

/// Runs the child's part (`Ok` or the code of the check that failed), then exits with it; a
/// panic exits with 99.
async fn run_in_child(body: impl Future<Output = Result<(), i32>>) -> ! {
    let r = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body)).await;
    child_exit(match r {
        Ok(Ok(())) => 0,
        Ok(Err(code)) => code,
        Err(_) => 99,
    })
}

/// Fails with `code` unless `cond` holds.
fn check(cond: bool, code: i32) -> Result<(), i32> {
    if cond {
        Ok(())
    } else {
        Err(code)
    }
}

/// Waits for the forked child `pid` (killing it after [`CHILD_LIMIT`]) and checks that it
/// exited with 0; `what` names the scenario and `codes` says what each exit code means.
async fn reap(pid: i32, what: &str, codes: &[(i32, &str)]) {
    let st = match lwt::unix::with_timeout(CHILD_LIMIT, waitpid(WaitFlags::empty(), pid)).await {
        Ok((_, st)) => st,
        Err(Error::Timeout) => {
            // SAFETY: `kill` only sends a signal to our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = waitpid(WaitFlags::empty(), pid).await;
            panic!("{what}: the forked child hung (killed after {CHILD_LIMIT:?})");
        }
        Err(e) => panic!("{what}: waitpid: {e}"),
    };
    if st != ProcessStatus::Exited(0) {
        let why = match st {
            ProcessStatus::Exited(c) => codes
                .iter()
                .find(|(k, _)| *k == c)
                .map_or("unknown code", |(_, m)| m),
            _ => "killed or stopped",
        };
        panic!("{what}: the forked child failed: {st:?}: {why}");
    }
}

/// A TCP echo in this process's loop: a listener task echoes one connection, a client sends
/// `msg` and reads it back.
async fn tcp_echo(msg: &[u8]) -> lwt::Result<Vec<u8>> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let io = |e: std::io::Error| Error::from_io(e, "tcp_echo", "");
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let listener = TcpListener::bind(lo).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let server = lwt::spawn(async move {
        let (mut conn, _) = listener.accept().await.map_err(io)?;
        let mut buf = [0u8; 256];
        loop {
            let n = conn.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                return Ok::<_, Error>(());
            }
            conn.write_all(&buf[..n]).await.map_err(io)?;
        }
    });
    let mut client = TcpStream::connect(addr).await.map_err(io)?;
    client.write_all(msg).await.map_err(io)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < msg.len() {
        let n = client.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    drop(client);
    server.await.map_err(|_| Error::Canceled)??;
    Ok(got)
}

/// A pipe round trip where the reader has to wait for readiness.
async fn pipe_round_trip(msg: &[u8]) -> lwt::Result<Vec<u8>> {
    let (r, w) = pipe()?;
    let reader = lwt::spawn(async move {
        let mut buf = vec![0u8; 64];
        let n = read(&r, &mut buf).await?;
        buf.truncate(n);
        Ok::<_, Error>(buf)
    });
    lwt::sleep(Duration::from_millis(5)).await;
    write(&w, msg).await?;
    reader.await.map_err(|_| Error::Canceled)?
}

/// What [`switch_hand_off`] found wrong, as the exit code of a forked child (and what each
/// code means, for [`reap`]).
const NOT_STOLEN: i32 = 41;
const LOOP_STOPPED: i32 = 42;
const NOT_BACK: i32 = 43;
const HAND_OFF_CODES: [(i32, &str); 3] = [
    (
        NOT_STOLEN,
        "a blocking switch job was not handed off (steals() did not move)",
    ),
    (
        LOOP_STOPPED,
        "the loop did not run during a handed-off switch job (the ticker never ticked)",
    ),
    (
        NOT_BACK,
        "a switch job's loop was not back home after the job (calls_handed_off() != 0)",
    ),
];

/// What a [`switch_hand_off`] failure code means.
fn hand_off_failure(code: i32) -> &'static str {
    HAND_OFF_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("unknown code", |(_, m)| m)
}

/// `codes` for [`reap`], followed by [`HAND_OFF_CODES`].
fn with_hand_off_codes<'a>(codes: &[(i32, &'a str)]) -> Vec<(i32, &'a str)> {
    codes.iter().chain(&HAND_OFF_CODES).copied().collect()
}

/// A blocking `switch` job: its loop must be handed off (the steal count moves), a ticker task
/// must tick meanwhile (on the stand-in: the home thread is blocked), and the loop must be back
/// home afterwards; `Err` says which of the three failed (one of [`HAND_OFF_CODES`]). The job
/// blocks until the first two have happened, up to [`util::WAIT_LIMIT`]: a fixed 100 ms was
/// not always enough for the watchdog, the stand-in and the ticker's timer to get a CPU on a
/// loaded machine.
async fn switch_hand_off() -> Result<(), i32> {
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let (stop, ticks) = (stop.clone(), ticks.clone());
        lwt::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                lwt::sleep(Duration::from_millis(2)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    lwt::sleep(Duration::from_millis(5)).await;
    let before = steals();
    let t = ticks.clone();
    let during = run_job(Some(AsyncMethod::Switch), move || {
        let at = t.load(Ordering::SeqCst);
        util::eventually(util::WAIT_LIMIT, || {
            steals() > before && t.load(Ordering::SeqCst) > at
        });
        t.load(Ordering::SeqCst) - at
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let _ = ticker.await;
    check(steals() > before, NOT_STOLEN)?;
    check(during > 0, LOOP_STOPPED)?;
    check(calls_handed_off() == 0, NOT_BACK)
}

/// Fails the test (in the process that forked) unless [`switch_hand_off`] succeeds.
async fn assert_switch_hand_off(what: &str) {
    if let Err(code) = switch_hand_off().await {
        panic!("{what}: {}", hand_off_failure(code));
    }
}

/// Runs `name`'s body alone in a child test process.
fn in_child_process(name: &str) {
    let (ok, out) = util::run_child_test(name, &[], Duration::from_secs(120));
    assert!(ok, "{name} failed:\n{out}");
}

#[test]
fn a_forked_child_does_socket_io_and_switch_hand_offs() {
    in_child_process("child_io_and_hand_off");
}

#[test]
#[ignore = "run by a_forked_child_does_socket_io_and_switch_hand_offs in a child process"]
fn child_io_and_hand_off() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        // The parent has used switch (its watchdog runs) and has a descriptor registered.
        assert_switch_hand_off(&format!("{kind}: before the fork")).await;
        assert_eq!(tcp_echo(b"before").await.unwrap(), b"before");
        let pid = fork().unwrap();
        if pid == 0 {
            run_in_child(async {
                check(calls_handed_off() == 0, 2)?;
                check(
                    tcp_echo(b"child echo").await.ok().as_deref() == Some(b"child echo"),
                    3,
                )?;
                switch_hand_off().await?;
                check(
                    pipe_round_trip(b"child pipe").await.ok().as_deref() == Some(b"child pipe"),
                    5,
                )?;
                Ok(())
            })
            .await;
        }
        reap(
            pid,
            kind.name(),
            &with_hand_off_codes(&[
                (2, "calls_handed_off() was not 0 in the child"),
                (3, "the TCP echo failed in the child"),
                (
                    5,
                    "a pipe round trip failed in the child after the hand-off",
                ),
                (99, "the child panicked"),
            ]),
        )
        .await;
        // The parent keeps working.
        assert_eq!(tcp_echo(b"after").await.unwrap(), b"after", "{kind}");
        assert_switch_hand_off(&format!("{kind}: after the fork")).await;
    });
}

#[test]
fn a_child_forked_with_jobs_pending_can_wait_for_jobs() {
    in_child_process("child_with_jobs_pending");
}

#[test]
#[ignore = "run by a_child_forked_with_jobs_pending_can_wait_for_jobs in a child process"]
fn child_with_jobs_pending() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        // Workers that ran a job and park, and two jobs still running at the fork.
        for _ in 0..4 {
            run_job(Some(AsyncMethod::Detach), || ()).await.unwrap();
        }
        // They run until the parent has forked (up to a limit), so they are running at the
        // fork however late the workers or this thread get a CPU.
        let started = Arc::new(AtomicUsize::new(0));
        let forked = Arc::new(AtomicBool::new(false));
        let slow = |v: u32| {
            let (started, forked) = (started.clone(), forked.clone());
            lwt::spawn(run_job(Some(AsyncMethod::Detach), move || {
                started.fetch_add(1, Ordering::SeqCst);
                util::eventually(util::WAIT_LIMIT, || forked.load(Ordering::SeqCst));
                v
            }))
        };
        let (a, b) = (slow(1), slow(2));
        assert!(
            util::eventually_async(util::WAIT_LIMIT, || started.load(Ordering::SeqCst) == 2).await,
            "{kind}: the two slow jobs did not start"
        );
        let pid = fork().unwrap();
        if pid != 0 {
            forked.store(true, Ordering::SeqCst);
        }
        if pid == 0 {
            run_in_child(async move {
                // The jobs' threads are the parent's: nothing to wait for here.
                let waited = lwt::unix::with_timeout(Duration::from_secs(5), async {
                    wait_for_jobs().await;
                    Ok(())
                })
                .await;
                check(waited.is_ok(), 2)?;
                check(matches!(a.await, Ok(Err(Error::Canceled))), 3)?;
                // A job started in the child runs on a worker of the child's own.
                let me = std::thread::current().id();
                let job = run_job(Some(AsyncMethod::Detach), || std::thread::current().id());
                let on = lwt::unix::with_timeout(Duration::from_secs(5), job).await;
                check(matches!(on, Ok(id) if id != me), 4)?;
                let waited = lwt::unix::with_timeout(Duration::from_secs(5), async {
                    wait_for_jobs().await;
                    Ok(())
                })
                .await;
                check(waited.is_ok(), 5)?;
                check(matches!(b.await, Ok(Err(Error::Canceled))), 6)?;
                Ok(())
            })
            .await;
        }
        reap(
            pid,
            kind.name(),
            &[
                (2, "wait_for_jobs() never returned in the child"),
                (3, "a job pending at the fork was not canceled in the child"),
                (
                    4,
                    "a detach job started in the child did not run on a worker",
                ),
                (5, "wait_for_jobs() never returned after a job of the child"),
                (6, "the other job pending at the fork was not canceled"),
                (99, "the child panicked"),
            ],
        )
        .await;
        // In the parent, the jobs complete and wait_for_jobs returns.
        assert_eq!(a.await.unwrap().unwrap(), 1, "{kind}");
        assert_eq!(b.await.unwrap().unwrap(), 2, "{kind}");
        wait_for_jobs().await;
        assert_eq!(run_job(Some(AsyncMethod::Detach), || 3).await.unwrap(), 3);
    });
}

#[test]
fn a_fork_inside_a_handed_off_switch_job_gives_the_child_the_loop() {
    in_child_process("fork_during_hand_off");
}

#[test]
#[ignore = "run by a_fork_inside_a_handed_off_switch_job_gives_the_child_the_loop in a child process"]
fn fork_during_hand_off() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        let before = steals();
        // The job blocks until its loop has been handed to a stand-in (up to a limit), then
        // forks.
        let pid = run_job(Some(AsyncMethod::Switch), move || {
            util::eventually(util::WAIT_LIMIT, || steals() > before);
            fork()
        })
        .await
        .unwrap()
        .unwrap();
        if pid == 0 {
            run_in_child(async move {
                check(calls_handed_off() == 0, 2)?;
                check(
                    pipe_round_trip(b"child").await.ok().as_deref() == Some(b"child"),
                    3,
                )?;
                switch_hand_off().await?;
                let waited = lwt::unix::with_timeout(Duration::from_secs(5), async {
                    wait_for_jobs().await;
                    Ok(())
                })
                .await;
                check(waited.is_ok(), 5)?;
                Ok(())
            })
            .await;
        }
        assert!(
            steals() > before,
            "{kind}: the forking job was not handed off"
        );
        reap(
            pid,
            kind.name(),
            &with_hand_off_codes(&[
                (2, "calls_handed_off() was not 0 in the child"),
                (3, "the child's loop does no I/O"),
                (5, "wait_for_jobs() never returned in the child"),
                (99, "the child panicked"),
            ]),
        )
        .await;
        // The parent keeps working, and its hand-off count is back to 0.
        assert_eq!(calls_handed_off(), 0, "{kind}");
        assert_eq!(pipe_round_trip(b"parent").await.unwrap(), b"parent");
        assert_switch_hand_off(&format!("{kind}: after the fork")).await;
        wait_for_jobs().await;
    });
}

#[test]
fn a_fork_from_a_task_on_a_switch_stand_in_is_refused() {
    in_child_process("fork_on_stand_in");
}

#[test]
#[ignore = "run by a_fork_from_a_task_on_a_switch_stand_in_is_refused in a child process"]
fn fork_on_stand_in() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        let home = std::thread::current().id();
        let tried = Arc::new(AtomicBool::new(false));
        let t = tried.clone();
        // A task that wakes while the home thread is blocked in a switch job runs on the
        // stand-in, and tries to fork there.
        let task = lwt::spawn(async move {
            lwt::sleep(Duration::from_millis(40)).await;
            // A stand-in cannot switch (a job here would be detached) nor fork.
            let on_stand_in =
                std::thread::current().id() != home && !lwt::core::switch::available();
            let r = fork();
            if let Ok(0) = r {
                child_exit(0); // not refused: the parent's assertion below fails
            }
            t.store(true, Ordering::SeqCst);
            (on_stand_in, r)
        });
        // Blocks until the task has tried (up to a limit): it can only run meanwhile if the
        // loop was handed off.
        run_job(Some(AsyncMethod::Switch), move || {
            util::eventually(util::WAIT_LIMIT, || tried.load(Ordering::SeqCst))
        })
        .await
        .unwrap();
        let (on_stand_in, r) = task.await.unwrap();
        assert!(on_stand_in, "{kind}: the task did not run on a stand-in");
        match r {
            Err(e @ Error::InvalidArgument { call: "fork", .. }) => {
                assert!(
                    e.to_string().contains("stand-in"),
                    "{kind}: unclear error: {e}"
                );
            }
            Err(e) => panic!("{kind}: refused with the wrong error: {e}"),
            Ok(pid) => {
                let _ = waitpid(WaitFlags::empty(), pid).await;
                panic!("{kind}: a fork from a task on a stand-in was not refused");
            }
        }
        // The loop is home again and works; a fork from here works.
        assert_eq!(calls_handed_off(), 0);
        let pid = fork().unwrap();
        if pid == 0 {
            run_in_child(async {
                check(
                    pipe_round_trip(b"child").await.ok().as_deref() == Some(b"child"),
                    2,
                )
            })
            .await;
        }
        reap(pid, kind.name(), &[(2, "the child's loop does no I/O")]).await;
        assert_eq!(pipe_round_trip(b"parent").await.unwrap(), b"parent");
    });
}

#[test]
fn a_forked_child_waits_on_descriptors_registered_before_the_fork() {
    in_child_process("child_waits_on_inherited_descriptors");
}

#[test]
#[ignore = "run by a_forked_child_waits_on_descriptors_registered_before_the_fork in a child process"]
fn child_waits_on_inherited_descriptors() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        // `idle`: registered with the backend by a read that had to wait, and not watched at
        // the fork. The child's loop has a backend of its own (a new epoll set, poll table or
        // ring), so it must register the descriptor there again, or a read of it in the child
        // waits for ever.
        let (idle_r, idle_w) = pipe().unwrap();
        let first = pipe_round_trip_on(&idle_r, &idle_w, b"registered").await;
        assert_eq!(first.unwrap(), b"registered", "{kind}");
        // `watched`: a read waits on it across the fork, in both processes. Its only writer
        // closes in each (the parent at once, the child below), so both readers see the end
        // of file, and neither consumes data the other needs. The child's read is woken only
        // if the child's backend watches the descriptor again, for the interest it had.
        let (watched_r, watched_w) = pipe().unwrap();
        let watched_r = Arc::new(watched_r);
        let waiting = {
            let r = watched_r.clone();
            lwt::spawn(async move {
                let mut buf = [0u8; 8];
                read(&r, &mut buf).await
            })
        };
        lwt::sleep(Duration::from_millis(5)).await;
        let pid = fork().unwrap();
        if pid == 0 {
            run_in_child(async move {
                let limit = Duration::from_secs(5);
                let got = lwt::unix::with_timeout(
                    limit,
                    pipe_round_trip_on(&idle_r, &idle_w, b"in the child"),
                )
                .await;
                check(got.ok().as_deref() == Some(b"in the child"), 2)?;
                drop(watched_w);
                let eof = lwt::unix::with_timeout(limit, async {
                    waiting.await.map_err(|_| Error::Canceled)?
                })
                .await;
                check(matches!(eof, Ok(0)), 3)?;
                Ok(())
            })
            .await;
        }
        drop(watched_w);
        reap(
            pid,
            kind.name(),
            &[
                (
                    2,
                    "a read in the child of a descriptor registered before the fork never woke",
                ),
                (
                    3,
                    "a read waiting across the fork never saw the end of file in the child",
                ),
                (99, "the child panicked"),
            ],
        )
        .await;
        // The parent's read waiting across the fork sees the end of file too (every writer is
        // closed now), and the idle descriptor still works here.
        let eof = lwt::unix::with_timeout(Duration::from_secs(5), async {
            waiting.await.map_err(|_| Error::Canceled)?
        })
        .await;
        assert!(matches!(eof, Ok(0)), "{kind}: {eof:?}");
        let again = pipe_round_trip_on(&idle_r, &idle_w, b"parent").await;
        assert_eq!(again.unwrap(), b"parent", "{kind}");
    });
}

/// A round trip over the pipe `(r, w)` where the reader has to wait for readiness.
async fn pipe_round_trip_on(
    r: &lwt::unix::FileDescr,
    w: &lwt::unix::FileDescr,
    msg: &[u8],
) -> lwt::Result<Vec<u8>> {
    let reading = async {
        let mut buf = vec![0u8; 64];
        let n = read(r, &mut buf).await?;
        buf.truncate(n);
        Ok::<_, Error>(buf)
    };
    let writing = async {
        lwt::sleep(Duration::from_millis(5)).await;
        write(w, msg).await
    };
    let (got, wrote) = futures_lite::future::zip(reading, writing).await;
    wrote?;
    got
}

#[test]
fn a_forked_childs_loop_is_not_woken_by_the_parents() {
    in_child_process("child_loop_has_its_own_wake_ups");
}

#[test]
#[ignore = "run by a_forked_childs_loop_is_not_woken_by_the_parents in a child process"]
fn child_loop_has_its_own_wake_ups() {
    if !util::in_child() {
        return;
    }
    util::for_each_backend(|kind| async move {
        // A loop's wake-up channel (an eventfd or a pipe) and its timer descriptor are
        // inherited by a child. The child must get its own: sharing them, each process would
        // wake on the other's wake-ups and timers (and, sharing a timerfd, set the other's
        // deadline).
        let pid = fork().unwrap();
        if pid == 0 {
            run_in_child(async {
                let turns = || lwt::Handle::current().metrics().turns;
                let before = turns();
                lwt::sleep(Duration::from_millis(300)).await;
                let idle_turns = turns() - before;
                // One sleep is one or two turns here; the parent meanwhile wakes its loop
                // hundreds of times.
                check(idle_turns <= 20, 2)
            })
            .await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let wakes = Arc::new(AtomicUsize::new(0));
        let noise = {
            let (stop, wakes) = (stop.clone(), wakes.clone());
            lwt::spawn(async move {
                // A job completion wakes the parked loop through its channel from a worker, a
                // 1 ms sleep through its timer.
                while !stop.load(Ordering::SeqCst) {
                    run_job(Some(AsyncMethod::Detach), || ()).await.unwrap();
                    lwt::sleep(Duration::from_millis(1)).await;
                    wakes.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        reap(
            pid,
            kind.name(),
            &[
                (
                    2,
                    "the child's idle loop turned more than 20 times in 300 ms: it shares a \
                     wake-up or timer descriptor with the parent",
                ),
                (99, "the child panicked"),
            ],
        )
        .await;
        stop.store(true, Ordering::SeqCst);
        noise.await.unwrap();
        assert!(
            wakes.load(Ordering::SeqCst) >= 20,
            "{kind}: the parent's loop was not woken while the child slept"
        );
    });
}
