//! Child processes with the shape of `std::process` — [`Command`], [`Child`], [`ChildStdin`],
//! [`ChildStdout`], [`ChildStderr`] — whose pipes are lwt streams and whose exits the loop
//! notices, so that no call blocks the loop while a child runs (Unix).
//!
//! ```
//! use lwt::process::{Command, Stdio};
//! lwt::run(async {
//!     let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().await.unwrap();
//!     assert_eq!(out.status.code(), Some(3));
//!     assert_eq!(out.stdout, b"out\n");
//!     assert_eq!(out.stderr, b"err\n");
//!
//!     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
//!     let stdin = child.stdin.take().unwrap();
//!     lwt::unix::write(stdin.as_file_descr(), b"through cat").await.unwrap();
//!     drop(stdin); // end of file for cat
//!     let out = child.wait_with_output().await.unwrap();
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"through cat");
//! });
//! ```
//!
//! # How it works, and who owns what
//!
//! - Spawning is std's: [`Command`] owns a `std::process::Command` and `spawn` calls it, so
//!   the child starts the way std starts it: `fork`+`exec` or `posix_spawn`, the signal mask
//!   emptied, `SIGPIPE` back to its default action (lwt ignores it in the parent), the
//!   parent's other descriptors not inherited (std's and lwt's are close-on-exec). A signal that
//!   lwt handles (`on_signal`, [`crate::signal`]) has a handler in the parent, and `exec` resets
//!   every handled signal to its default action, so the child sees default dispositions for
//!   all of lwt's signals. What lwt does not set is left as inherited, as std does (a signal
//!   the parent's own caller ignored, as `nohup` does for `SIGHUP`, stays ignored). Spawning
//!   takes the caller's thread for the time of the `fork`/`exec` (it does not wait for the
//!   child).
//! - A [`Child`] owns its process until it reaps it: only [`Child::wait`],
//!   [`Child::try_wait`] (and the methods built on them) reap, and only that pid, never
//!   `waitpid(-1)`; the status is then kept in the `Child`. So a child that lwt did not spawn
//!   (a `std::process::Child`, another library's) is never reaped behind its owner's back.
//!   Dropping a `Child` neither kills nor reaps it (std's rule): wait for it, or it stays a
//!   zombie until this process ends.
//! - How the loop notices the exit: on Linux the `Child` holds a pidfd (`pidfd_open`), which
//!   becomes readable when the process exits; waiting is waiting for that readiness, then one
//!   `waitpid(pid, WNOHANG)`. Elsewhere (or when `pidfd_open` fails, e.g. a kernel older than
//!   5.3 or a seccomp filter), it is [`lwt::unix::waitpid`](crate::unix::waitpid) on the pid,
//!   which tries again at each `SIGCHLD` (lwt's `SIGCHLD` machinery).
//! - [`ChildStdin`], [`ChildStdout`] and [`ChildStderr`] each own the parent's end of a pipe
//!   as a non-blocking [`FileDescr`]: every `lwt::unix` function applies to it
//!   ([`ChildStdout::as_file_descr`]), and it implements `futures_io::AsyncRead` (stdout,
//!   stderr) or `futures_io::AsyncWrite` (stdin), so `futures-lite`'s `read_to_end`,
//!   `write_all`, `BufReader` and `copy` work on it. Each keeps at most one pending readiness
//!   wait, and a read or write that was polled but not finished has consumed nothing.
//!
//! # Portability
//!
//! Unix only. On Windows this module is absent: lwt's descriptors (`FileDescr`) and
//! `waitpid` exist only on Unix, and std's anonymous pipes on Windows cannot be waited for by
//! the IOCP backend (they are not overlapped), so a Windows subset would have to block a job
//! thread per pipe and per child; use `std::process` with [`crate::unix::run_job`]-style jobs
//! there instead.
//!
//! Like std, a `Command`'s standard streams default to the parent's for [`Command::spawn`] and
//! [`Command::status`], and for [`Command::output`] to no input and captured output and
//! error. Only what is set with [`Command::stdin`], [`Command::stdout`] and
//! [`Command::stderr`] changes that; standard streams set on a `std::process::Command` before
//! it was converted with `From`, or through [`Command::as_std_mut`], are replaced by these
//! defaults.

use crate::unix::{self, FileDescr, ProcessStatus, WaitFlags};
use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use std::process::{ExitStatus, Output, Stdio};

/// A process builder with the shape of [`std::process::Command`], whose [`spawn`],
/// [`status`] and [`output`] do not block the loop while the child runs.
///
/// [`spawn`]: Command::spawn
/// [`status`]: Command::status
/// [`output`]: Command::output
///
/// # Examples
///
/// ```
/// use lwt::process::Command;
/// lwt::run(async {
///     let status = Command::new("sh").arg("-c").arg("exit 4").status().await.unwrap();
///     assert_eq!(status.code(), Some(4));
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    /// Which standard streams were set by the user (the others get each method's default).
    stdio_set: [bool; 3],
    /// Wait through `SIGCHLD` even where a pidfd is available (for tests of that path).
    sigchld: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command (its standard streams are replaced by lwt's defaults unless set
    /// again on the result, see the [module documentation](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut std_cmd = std::process::Command::new("true");
    /// std_cmd.env("A", "1");
    /// let cmd = lwt::process::Command::from(std_cmd);
    /// assert_eq!(cmd.get_program(), "true");
    /// ```
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            stdio_set: [false; 3],
            sigchld: false,
        }
    }
}

impl Command {
    /// A command for the program `program` (looked up in `PATH` when it has no `/`), with no
    /// arguments, the parent's environment and working directory, and the default standard
    /// streams ([`std::process::Command::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let cmd = lwt::process::Command::new("ls");
    /// assert_eq!(cmd.get_program(), "ls");
    /// ```
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument ([`std::process::Command::arg`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("ls");
    /// cmd.arg("-l").arg("/");
    /// assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-l", "/"]);
    /// ```
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments ([`std::process::Command::args`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("ls");
    /// cmd.args(["-l", "/"]);
    /// assert_eq!(cmd.get_args().count(), 2);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable of the child ([`std::process::Command::env`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::Command;
    /// lwt::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo $GREETING"]).env("GREETING", "hi").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"hi\n");
    /// });
    /// ```
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables of the child ([`std::process::Command::envs`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("env");
    /// cmd.envs([("A", "1"), ("B", "2")]);
    /// assert_eq!(cmd.get_envs().count(), 2);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment
    /// ([`std::process::Command::env_remove`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("env");
    /// cmd.env_remove("HOME");
    /// ```
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Gives the child an empty environment, apart from what is set afterwards
    /// ([`std::process::Command::env_clear`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::Command;
    /// lwt::run(async {
    ///     let out = Command::new("/usr/bin/env").env_clear().env("ONLY", "1").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"ONLY=1\n");
    /// });
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory ([`std::process::Command::current_dir`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::Command;
    /// lwt::run(async {
    ///     let out = Command::new("pwd").current_dir("/").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"/\n");
    /// });
    /// ```
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's standard input: [`Stdio::piped`] (then [`Child::stdin`] is a
    /// [`ChildStdin`]), [`Stdio::inherit`], [`Stdio::null`], or a file or descriptor
    /// ([`std::process::Command::stdin`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// lwt::run(async {
    ///     let status = Command::new("cat").stdin(Stdio::null()).status().await.unwrap();
    ///     assert!(status.success()); // cat read an empty input
    /// });
    /// ```
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// Sets the child's standard output; [`Stdio::piped`] makes [`Child::stdout`] a
    /// [`ChildStdout`] ([`std::process::Command::stdout`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// lwt::run(async {
    ///     let out = Command::new("echo").arg("x").stdout(Stdio::null()).output().await.unwrap();
    ///     assert!(out.stdout.is_empty()); // not captured: it went to /dev/null
    /// });
    /// ```
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// Sets the child's standard error; [`Stdio::piped`] makes [`Child::stderr`] a
    /// [`ChildStderr`] ([`std::process::Command::stderr`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// lwt::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo e >&2"]).stderr(Stdio::null()).output().await.unwrap();
    ///     assert!(out.stderr.is_empty());
    /// });
    /// ```
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// The program ([`std::process::Command::get_program`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(lwt::process::Command::new("ls").get_program(), "ls");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments, without the program ([`std::process::Command::get_args`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("ls");
    /// assert_eq!(cmd.arg("-a").get_args().collect::<Vec<_>>(), ["-a"]);
    /// ```
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The environment changes made on this command ([`std::process::Command::get_envs`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("ls");
    /// cmd.env("A", "1");
    /// assert_eq!(cmd.get_envs().count(), 1);
    /// ```
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.std.get_envs()
    }

    /// The working directory set with [`Command::current_dir`], if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = lwt::process::Command::new("ls");
    /// assert_eq!(cmd.get_current_dir(), None);
    /// assert_eq!(cmd.current_dir("/").get_current_dir(), Some(std::path::Path::new("/")));
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.std.get_current_dir()
    }

    /// The std command inside, for what std has and this type does not repeat (e.g.
    /// `std::os::unix::process::CommandExt`'s `uid`, `gid`, `process_group`, `arg0`).
    ///
    /// # Examples
    ///
    /// ```
    /// let cmd = lwt::process::Command::new("ls");
    /// assert_eq!(cmd.as_std().get_program(), "ls");
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std command inside, mutably. Set the standard streams on this `Command`, not
    /// here (see the [module documentation](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::Command;
    /// use rustix::process::{getpgid, Pid};
    /// use std::os::unix::process::CommandExt;
    /// lwt::run(async {
    ///     let mut cmd = Command::new("sleep");
    ///     cmd.arg("10").as_std_mut().process_group(0); // its own process group
    ///     let mut child = cmd.spawn().unwrap();
    ///     let pid = Pid::from_raw(child.id() as i32).unwrap();
    ///     assert_eq!(getpgid(Some(pid)).unwrap(), pid);
    ///     child.kill().unwrap();
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Waits for the children of this command through `SIGCHLD` even where a pidfd is
    /// available, so the tests run the other OSes' path on Linux too. Not part of the API.
    #[doc(hidden)]
    pub fn wait_by_sigchld(&mut self) -> &mut Command {
        self.sigchld = true;
        self
    }

    /// Starts the child with `defaults` for the standard streams not set by the user.
    fn spawn_with(&mut self, defaults: [fn() -> Stdio; 3]) -> io::Result<Child> {
        if !self.stdio_set[0] {
            self.std.stdin(defaults[0]());
        }
        if !self.stdio_set[1] {
            self.std.stdout(defaults[1]());
        }
        if !self.stdio_set[2] {
            self.std.stderr(defaults[2]());
        }
        let child = self.std.spawn()?;
        Child::new(child, self.sigchld)
    }

    /// Starts the program as a child process (std's `spawn`): standard streams not set are
    /// inherited. Takes the time of a `fork`/`exec`; it does not wait for the child.
    ///
    /// # Errors
    ///
    /// The error of starting the program (e.g. `NotFound`), as std reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// use futures_lite::AsyncReadExt;
    /// lwt::run(async {
    ///     let mut child = Command::new("echo").arg("hello").stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut text = String::new();
    ///     child.stdout.take().unwrap().read_to_string(&mut text).await.unwrap();
    ///     assert_eq!(text, "hello\n");
    ///     assert!(child.wait().await.unwrap().success());
    ///     assert!(Command::new("/nonexistent/program").spawn().is_err());
    /// });
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with([Stdio::inherit, Stdio::inherit, Stdio::inherit])
    }

    /// Runs the program and waits for it to exit, without blocking the loop (std's `status`):
    /// standard streams not set are inherited; a piped standard input is closed at once.
    ///
    /// # Errors
    ///
    /// As [`Command::spawn`], and the error of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let st = lwt::process::Command::new("false").status().await.unwrap();
    ///     assert_eq!(st.code(), Some(1));
    /// });
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        child.wait().await
    }

    /// Runs the program and collects its exit status, standard output and standard error,
    /// without blocking the loop (std's `output`). Unless set, standard input is
    /// [`Stdio::null`] and the output and error are piped; the two are read concurrently, so
    /// a child that fills one pipe while the other is being read does not deadlock.
    ///
    /// # Errors
    ///
    /// As [`Command::spawn`], and the errors of reading and waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let out = lwt::process::Command::new("sh").args(["-c", "echo a; echo b >&2"]).output().await.unwrap();
    ///     assert!(out.status.success());
    ///     assert_eq!((out.stdout, out.stderr), (b"a\n".to_vec(), b"b\n".to_vec()));
    /// });
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        let child = self.spawn_with([Stdio::null, Stdio::piped, Stdio::piped])?;
        child.wait_with_output().await
    }
}

/// How the loop notices that a child exited.
enum ExitWatch {
    /// A pidfd, readable once the process has exited (Linux).
    #[cfg(target_os = "linux")]
    Pidfd(FileDescr),
    /// `lwt::unix::waitpid` on the pid, tried again at each `SIGCHLD`.
    Sigchld,
}

/// A running (or exited, not yet reaped) child process, with std's [`std::process::Child`]
/// shape: take its pipes from the public fields, then [`wait`](Child::wait) for it.
///
/// Only this value reaps its process (see the [module documentation](self)); dropping it
/// neither kills nor reaps the process.
///
/// # Examples
///
/// ```
/// use lwt::process::Command;
/// lwt::run(async {
///     let mut child = Command::new("sleep").arg("10").spawn().unwrap();
///     assert!(child.try_wait().unwrap().is_none());
///     child.kill().unwrap();
///     let status = child.wait().await.unwrap();
///     use std::os::unix::process::ExitStatusExt;
///     assert_eq!(status.signal(), Some(9));
/// });
/// ```
pub struct Child {
    /// The child's standard input, when it was [`Stdio::piped`].
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, when it was [`Stdio::piped`].
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, when it was [`Stdio::piped`].
    pub stderr: Option<ChildStderr>,
    pid: u32,
    status: Option<ExitStatus>,
    watch: ExitWatch,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Child {
    /// Takes over a child std just spawned (nobody else has seen its pid yet).
    fn new(mut child: std::process::Child, sigchld: bool) -> io::Result<Child> {
        let pipes = (|| -> io::Result<_> {
            Ok((
                child.stdin.take().map(ChildStdin::from_std).transpose()?,
                child.stdout.take().map(ChildStdout::from_std).transpose()?,
                child.stderr.take().map(ChildStderr::from_std).transpose()?,
            ))
        })();
        let (stdin, stdout, stderr) = match pipes {
            Ok(p) => p,
            Err(e) => {
                // Not handed to the caller: end it here rather than leave a running orphan.
                // The wait is short (SIGKILL cannot be caught) and std's own.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let pid = child.id();
        // `child` is dropped here: std neither kills nor reaps on drop, and it holds nothing
        // else of the process.
        Ok(Child {
            stdin,
            stdout,
            stderr,
            pid,
            status: None,
            watch: exit_watch(pid, sigchld),
        })
    }

    /// The child's process id ([`std::process::Child::id`]). It stays this process's until
    /// the child is reaped by [`Child::wait`] or [`Child::try_wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut child = lwt::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.id() > 0);
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Sends `SIGKILL` to the child ([`std::process::Child::kill`]). `Ok` if it has already
    /// exited (its status may not be known yet: wait for it to reap it). Immediate; it does not
    /// wait for the child to die: [`Child::wait`] does.
    ///
    /// On Linux the signal goes through the child's pidfd (`pidfd_send_signal`), elsewhere
    /// `kill(pid, SIGKILL)`; either way the pid cannot have been reused, since only this
    /// `Child` reaps it.
    ///
    /// # Errors
    ///
    /// The error of `kill`/`pidfd_send_signal`, e.g. `ESRCH` if something else reaped the
    /// child behind this `Child`'s back (`waitpid(-1)`).
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut child = lwt::process::Command::new("sleep").arg("30").spawn().unwrap();
    ///     child.kill().unwrap();
    ///     assert!(!child.wait().await.unwrap().success());
    ///     child.kill().unwrap(); // already exited: Ok, as in std
    /// });
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match &self.watch {
            #[cfg(target_os = "linux")]
            ExitWatch::Pidfd(fd) => {
                let os = fd.checked()?;
                rustix::process::pidfd_send_signal(&os, rustix::process::Signal::KILL)?;
            }
            ExitWatch::Sigchld => {
                rustix::process::kill_process(pid_of(self.pid)?, rustix::process::Signal::KILL)?;
            }
        }
        Ok(())
    }

    /// The exit status if the child has exited (reaping it then), `None` if it still runs
    /// ([`std::process::Child::try_wait`]). Immediate: one `waitpid(pid, WNOHANG)`.
    ///
    /// # Errors
    ///
    /// The error of `waitpid`, e.g. `ECHILD` if something else reaped the child.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut child = lwt::process::Command::new("true").spawn().unwrap();
    ///     let status = child.wait().await.unwrap();
    ///     assert_eq!(child.try_wait().unwrap(), Some(status)); // kept once reaped
    /// });
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let pid = pid_of(self.pid)?;
        let reaped = loop {
            match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r?,
            }
        };
        Ok(reaped.map(|(_, st)| {
            let s = ExitStatus::from_raw(st.as_raw());
            self.status = Some(s);
            s
        }))
    }

    /// Waits for the child to exit and reaps it, without blocking the loop
    /// ([`std::process::Child::wait`]). Its standard input, if still held here, is closed
    /// first, so a child reading it sees the end of the input. Waiting again returns the same
    /// status. Dropping the future loses nothing: the child is reaped by a later wait.
    ///
    /// # Errors
    ///
    /// The error of `waitpid` (e.g. `ECHILD` if something else reaped the child), or of
    /// waiting for the pidfd.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let mut child = lwt::process::Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(9));
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(9));
    /// });
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        #[cfg(target_os = "linux")]
        if let ExitWatch::Pidfd(fd) = &self.watch {
            let fd = fd.clone();
            unix::wait_read(&fd).await?;
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            // Readable without an exit to reap: no kernel is known to do this, but rather
            // than spin on a level-triggered pidfd, go on below with the SIGCHLD path.
        }
        let (_, st) = unix::waitpid(WaitFlags::empty(), self.pid as i32).await?;
        let s = ExitStatus::from_raw(raw_status(st));
        self.status = Some(s);
        Ok(s)
    }

    /// Waits for the child to exit while reading all of its standard output and error
    /// (concurrently), and returns the three ([`std::process::Child::wait_with_output`]).
    /// Standard input, if still held here, is closed first; a stream that was taken or not
    /// piped is returned empty.
    ///
    /// # Errors
    ///
    /// The errors of reading and of [`Child::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// lwt::run(async {
    ///     let child = Command::new("sh").args(["-c", "echo hi"]).stdout(Stdio::piped()).spawn().unwrap();
    ///     let out = child.wait_with_output().await.unwrap();
    ///     assert_eq!(out.stdout, b"hi\n");
    ///     assert!(out.stderr.is_empty()); // inherited, not piped
    /// });
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let out = self.stdout.take().map(|s| s.pipe.fd);
        let err = self.stderr.take().map(|s| s.pipe.fd);
        let (stdout, stderr) = crate::join2(read_to_end(out), read_to_end(err)).await;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout?,
            stderr: stderr?,
        })
    }
}

/// The exit watcher for a child just spawned.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn exit_watch(pid: u32, sigchld: bool) -> ExitWatch {
    #[cfg(target_os = "linux")]
    if !sigchld {
        // The pid cannot be reused under us: the child is not reaped yet, and only we reap it.
        // Any failure (ENOSYS before Linux 5.3, EPERM under a seccomp filter, EMFILE) leaves
        // the SIGCHLD path, which works everywhere.
        let pidfd = pid_of(pid).and_then(|p| {
            Ok(rustix::process::pidfd_open(
                p,
                rustix::process::PidfdFlags::empty(),
            )?)
        });
        if let Ok(fd) = pidfd {
            // Not a pipe or socket: say non-blocking (readiness only, never read), and leave
            // its flags alone.
            if let Ok(fd) = unix::of_unix_file_descr(fd, Some(false), false) {
                return ExitWatch::Pidfd(fd);
            }
        }
    }
    ExitWatch::Sigchld
}

fn pid_of(pid: u32) -> io::Result<rustix::process::Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pid {pid}")))
}

/// The raw `wait` status of a decoded one, for `ExitStatus::from_raw` (the SIGCHLD path,
/// where lwt decodes the status: a core dump is not told apart there).
fn raw_status(st: ProcessStatus) -> i32 {
    match st {
        ProcessStatus::Exited(code) => (code & 0xff) << 8,
        ProcessStatus::Signaled(sig) => sig & 0x7f,
        ProcessStatus::Stopped(sig) => ((sig & 0xff) << 8) | 0x7f,
    }
}

/// Reads `fd` to its end (nothing for `None`).
async fn read_to_end(fd: Option<FileDescr>) -> io::Result<Vec<u8>> {
    const CHUNK: usize = 64 * 1024;
    let mut data = Vec::new();
    let Some(fd) = fd else {
        return Ok(data);
    };
    loop {
        let len = data.len();
        data.resize(len + CHUNK, 0);
        let n = unix::read(&fd, &mut data[len..]).await?;
        data.truncate(len + n);
        if n == 0 {
            return Ok(data);
        }
    }
}

/// Gives access to its value only through `&mut` (std's unstable `Exclusive`), so it is
/// `Sync` whatever the value is: a shared reference lets no thread reach the value.
struct Exclusive<T>(T);

// SAFETY: nothing reaches the value through `&Exclusive<T>` (there is no method on `&self`
// and the field is private to this module, used only through `&mut`), so sharing references
// between threads shares no access to `T`.
unsafe impl<T: Send> Sync for Exclusive<T> {}

/// A close in progress, kept between polls of `poll_close`.
type Closing = Pin<Box<dyn Future<Output = crate::Result<()>> + Send>>;

/// One end of a child's pipe, as a non-blocking lwt descriptor, with the poll-style I/O the
/// `futures_io` traits need: [`FileDescr::poll_read`] and [`FileDescr::poll_write`], one
/// non-blocking system call straight into (or from) the caller's buffer, and readiness on
/// the loop when it would block (a poll that returns `Pending` has consumed nothing).
struct Pipe {
    fd: FileDescr,
    /// `poll_close` started (holding the close) and finished.
    closing: Exclusive<Option<Closing>>,
    closed: bool,
}

impl Pipe {
    fn from_std(fd: OwnedFd) -> io::Result<Pipe> {
        Ok(Pipe {
            fd: unix::of_unix_file_descr(fd, Some(false), true)?,
            closing: Exclusive(None),
            closed: false,
        })
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closing.0.is_some() || self.closed {
            return Err(crate::Error::Closed.into());
        }
        Ok(())
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.check_open()?;
        self.fd.poll_read(cx, buf).map_err(Into::into)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check_open()?;
        // A child that closed its input makes this `EPIPE`, never a SIGPIPE.
        self.fd.poll_write(cx, buf).map_err(Into::into)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Ok(()));
        }
        let fd = self.fd.clone();
        let close = self
            .closing
            .0
            .get_or_insert_with(|| Box::pin(async move { unix::close(&fd).await }));
        let r = match close.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.closing.0 = None;
        self.closed = true;
        Poll::Ready(r.map_err(Into::into))
    }
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty, $field:ident) => {
        $(#[$doc])*
        pub struct $name {
            pipe: Pipe,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.pipe.fd).finish()
            }
        }

        impl $name {
            /// Takes over a std pipe end (e.g. of a child spawned with `std::process`), making
            /// it non-blocking.
            ///
            /// # Errors
            ///
            /// The error of `fcntl` setting `O_NONBLOCK`.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::process::{Command, Stdio};
            #[doc = concat!("let mut child = Command::new(\"true\").", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            #[doc = concat!("let end = child.", stringify!($field), ".take().unwrap();")]
            #[doc = concat!("let s = lwt::process::", stringify!($name), "::from_std(end).unwrap();")]
            /// assert!(!lwt::unix::blocking(s.as_file_descr()));
            /// child.wait().unwrap(); // std's child: std reaps it
            /// ```
            pub fn from_std(s: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::from_std(OwnedFd::from(s))?,
                })
            }

            /// The lwt descriptor, for any `lwt::unix` function (`read`, `write`,
            /// `wait_read`, `close`...).
            ///
            /// # Examples
            ///
            /// ```
            /// use lwt::process::{Command, Stdio};
            /// lwt::run(async {
            #[doc = concat!("    let mut child = Command::new(\"true\").", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            #[doc = concat!("    let end = child.", stringify!($field), ".take().unwrap();")]
            ///     assert!(lwt::unix::check_descriptor(end.as_file_descr()).is_ok());
            ///     child.wait().await.unwrap();
            /// });
            /// ```
            pub fn as_file_descr(&self) -> &FileDescr {
                &self.pipe.fd
            }

            /// The lwt descriptor, giving up the stream.
            ///
            /// # Examples
            ///
            /// ```
            /// use lwt::process::{Command, Stdio};
            /// lwt::run(async {
            #[doc = concat!("    let mut child = Command::new(\"true\").", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            #[doc = concat!("    let fd = child.", stringify!($field), ".take().unwrap().into_file_descr();")]
            ///     lwt::unix::close(&fd).await.unwrap();
            ///     child.wait().await.unwrap();
            /// });
            /// ```
            pub fn into_file_descr(self) -> FileDescr {
                self.pipe.fd
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.fd.as_raw_fd()
            }
        }
    };
}

pipe_type!(
    /// The write end of a child's standard input ([`Stdio::piped`]), an lwt stream:
    /// `futures_io::AsyncWrite` (closing it, or dropping it, is the end of the child's input).
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// use futures_lite::AsyncWriteExt;
    /// lwt::run(async {
    ///     let mut child = Command::new("wc").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut stdin = child.stdin.take().unwrap();
    ///     stdin.write_all(&[b'x'; 100_000]).await.unwrap();
    ///     stdin.close().await.unwrap();
    ///     let out = child.wait_with_output().await.unwrap();
    ///     assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "100000");
    /// });
    /// ```
    ChildStdin,
    std::process::ChildStdin,
    stdin
);

pipe_type!(
    /// The read end of a child's standard output ([`Stdio::piped`]), an lwt stream:
    /// `futures_io::AsyncRead`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// use futures_lite::{io::BufReader, AsyncBufReadExt, StreamExt};
    /// lwt::run(async {
    ///     let mut child = Command::new("printf").arg("a\\nb\\n").stdout(Stdio::piped()).spawn().unwrap();
    ///     let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
    ///         .lines()
    ///         .map(|l| l.unwrap())
    ///         .collect()
    ///         .await;
    ///     assert_eq!(lines, ["a", "b"]);
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStdout,
    std::process::ChildStdout,
    stdout
);

pipe_type!(
    /// The read end of a child's standard error ([`Stdio::piped`]), an lwt stream:
    /// `futures_io::AsyncRead`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lwt::process::{Command, Stdio};
    /// use futures_lite::AsyncReadExt;
    /// lwt::run(async {
    ///     let mut child = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).spawn().unwrap();
    ///     let mut err = Vec::new();
    ///     child.stderr.take().unwrap().read_to_end(&mut err).await.unwrap();
    ///     assert_eq!(err, b"oops\n");
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStderr,
    std::process::ChildStderr,
    stderr
);

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().pipe.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: a write is in the pipe once it returns.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().pipe.poll_close(cx)
    }
}

impl futures_io::AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().pipe.poll_read(cx, buf)
    }
}

impl futures_io::AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().pipe.poll_read(cx, buf)
    }
}

/// tokio's `AsyncRead`/`AsyncWrite` on the pipes (feature `tokio-io`; no tokio runtime):
/// the same reads and writes as the `futures_io` ones, a read going straight into the
/// `ReadBuf`'s unfilled part.
#[cfg(feature = "tokio-io")]
mod tokio_io {
    use super::{ChildStderr, ChildStdin, ChildStdout, Pipe};
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    impl Pipe {
        fn poll_read_buf(
            &mut self,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.check_open()?;
            // SAFETY: the read writes only initialised bytes, so nothing initialised is
            // de-initialised (`unfilled_mut`'s contract).
            let unfilled = unsafe { buf.unfilled_mut() };
            let n = std::task::ready!(self.fd.poll_read_uninit(cx, unfilled))?;
            // SAFETY: the read initialised the first `n` bytes of the unfilled part.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncWrite for ChildStdin {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().pipe.poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().pipe.poll_close(cx)
        }
    }

    impl tokio::io::AsyncRead for ChildStdout {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.get_mut().pipe.poll_read_buf(cx, buf)
        }
    }

    impl tokio::io::AsyncRead for ChildStderr {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.get_mut().pipe.poll_read_buf(cx, buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn types_are_send_and_sync() {
        send_sync::<Command>();
        send_sync::<Child>();
        send_sync::<ChildStdin>();
        send_sync::<ChildStdout>();
        send_sync::<ChildStderr>();
    }

    #[test]
    fn raw_statuses_round_trip() {
        for code in [0, 1, 42, 255] {
            let s = ExitStatus::from_raw(raw_status(ProcessStatus::Exited(code)));
            assert_eq!(s.code(), Some(code));
        }
        let s = ExitStatus::from_raw(raw_status(ProcessStatus::Signaled(9)));
        assert_eq!((s.code(), s.signal()), (None, Some(9)));
        let s = ExitStatus::from_raw(raw_status(ProcessStatus::Stopped(19)));
        assert_eq!(s.stopped_signal(), Some(19));
    }
}
