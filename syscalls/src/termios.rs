//! The terminal interface: `tcgetattr`, `tcsetattr`, `tcsendbreak`, `tcdrain`, `tcflush`,
//! `tcflow`, with Lwt's `terminal_io` record as [`TerminalIo`].
//!
//! Every call runs as a job (`run_job`, by the async method in force): `tcdrain` and
//! `tcsetattr(TCSADRAIN)` block until the output is sent.

use crate::fd::{FdGuard, FileDescr};
use lwt_core::{Error, Result};
use lwt_jobs::run_job;
use std::os::fd::AsRawFd;

/// A terminal's settings (Lwt's `terminal_io`): the fields of `struct termios` that OCaml's
/// `Unix.terminal_io` exposes, by the same names.
///
/// Speeds are in bauds (`9600`, `38400`, ...); characters are bytes shown as `char`
/// (`'\0'` disables a special character).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TerminalIo {
    /// Ignore the break condition on input (`IGNBRK`).
    pub c_ignbrk: bool,
    /// Signal an interrupt on break (`BRKINT`).
    pub c_brkint: bool,
    /// Ignore characters with parity errors (`IGNPAR`).
    pub c_ignpar: bool,
    /// Mark parity errors (`PARMRK`).
    pub c_parmrk: bool,
    /// Enable parity check on input (`INPCK`).
    pub c_inpck: bool,
    /// Strip the 8th bit of input characters (`ISTRIP`).
    pub c_istrip: bool,
    /// Map NL to CR on input (`INLCR`).
    pub c_inlcr: bool,
    /// Ignore CR on input (`IGNCR`).
    pub c_igncr: bool,
    /// Map CR to NL on input (`ICRNL`).
    pub c_icrnl: bool,
    /// Recognize XON/XOFF on output (`IXON`).
    pub c_ixon: bool,
    /// Emit XON/XOFF on input (`IXOFF`).
    pub c_ixoff: bool,
    /// Enable output processing (`OPOST`).
    pub c_opost: bool,
    /// Output speed, in bauds.
    pub c_obaud: u32,
    /// Input speed, in bauds.
    pub c_ibaud: u32,
    /// Number of bits per character (5 to 8, `CSIZE`).
    pub c_csize: u32,
    /// Number of stop bits (1 or 2, `CSTOPB`).
    pub c_cstopb: u32,
    /// Enable the receiver (`CREAD`).
    pub c_cread: bool,
    /// Enable parity generation and detection (`PARENB`).
    pub c_parenb: bool,
    /// Odd parity instead of even (`PARODD`).
    pub c_parodd: bool,
    /// Hang up on last close (`HUPCL`).
    pub c_hupcl: bool,
    /// Ignore modem status lines (`CLOCAL`).
    pub c_clocal: bool,
    /// Generate signals on INTR, QUIT, SUSP (`ISIG`).
    pub c_isig: bool,
    /// Canonical mode: line editing (`ICANON`).
    pub c_icanon: bool,
    /// Do not flush queues after INTR, QUIT, SUSP (`NOFLSH`).
    pub c_noflsh: bool,
    /// Echo input characters (`ECHO`).
    pub c_echo: bool,
    /// Echo ERASE as an erase (`ECHOE`).
    pub c_echoe: bool,
    /// Echo KILL as a line kill (`ECHOK`).
    pub c_echok: bool,
    /// Echo NL even when ECHO is off (`ECHONL`).
    pub c_echonl: bool,
    /// Interrupt character (`VINTR`).
    pub c_vintr: char,
    /// Quit character (`VQUIT`).
    pub c_vquit: char,
    /// Erase character (`VERASE`).
    pub c_verase: char,
    /// Kill-line character (`VKILL`).
    pub c_vkill: char,
    /// End-of-file character (`VEOF`).
    pub c_veof: char,
    /// Alternate end-of-line character (`VEOL`).
    pub c_veol: char,
    /// Minimum number of characters a non-canonical read waits for (`VMIN`).
    pub c_vmin: u32,
    /// Timeout of a non-canonical read, in tenths of seconds (`VTIME`).
    pub c_vtime: u32,
    /// Start character, XON (`VSTART`).
    pub c_vstart: char,
    /// Stop character, XOFF (`VSTOP`).
    pub c_vstop: char,
}

/// When [`tcsetattr`] applies the new settings (Lwt's `setattr_when`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetattrWhen {
    /// At once (`TCSANOW`).
    #[doc(alias = "TCSANOW")]
    Now,
    /// After the pending output is sent (`TCSADRAIN`).
    #[doc(alias = "TCSADRAIN")]
    Drain,
    /// After the pending output is sent, discarding pending input (`TCSAFLUSH`).
    #[doc(alias = "TCSAFLUSH")]
    Flush,
}

/// Which queue [`tcflush`] discards (Lwt's `flush_queue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushQueue {
    /// Data received but not read (`TCIFLUSH`).
    #[doc(alias = "TCIFLUSH")]
    Input,
    /// Data written but not sent (`TCOFLUSH`).
    #[doc(alias = "TCOFLUSH")]
    Output,
    /// Both (`TCIOFLUSH`).
    #[doc(alias = "TCIOFLUSH")]
    Both,
}

/// What [`tcflow`] does (Lwt's `flow_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowAction {
    /// Suspend output (`TCOOFF`).
    #[doc(alias = "TCOOFF")]
    OutputOff,
    /// Restart output (`TCOON`).
    #[doc(alias = "TCOON")]
    OutputOn,
    /// Send a STOP character (`TCIOFF`).
    #[doc(alias = "TCIOFF")]
    InputOff,
    /// Send a START character (`TCION`).
    #[doc(alias = "TCION")]
    InputOn,
}

/// The speed constants and their baud rates.
const SPEEDS: &[(libc::speed_t, u32)] = &[
    (libc::B0, 0),
    (libc::B50, 50),
    (libc::B75, 75),
    (libc::B110, 110),
    (libc::B134, 134),
    (libc::B150, 150),
    (libc::B200, 200),
    (libc::B300, 300),
    (libc::B600, 600),
    (libc::B1200, 1200),
    (libc::B1800, 1800),
    (libc::B2400, 2400),
    (libc::B4800, 4800),
    (libc::B9600, 9600),
    (libc::B19200, 19200),
    (libc::B38400, 38400),
    (libc::B57600, 57600),
    (libc::B115200, 115200),
    (libc::B230400, 230400),
];

/// The baud rate of a speed constant; an unknown one is returned as is (on Linux the
/// constants beyond 38400 are not the rates themselves, but all are in the table).
#[allow(clippy::unnecessary_cast)] // speed_t is u32 on Linux, u64 on macOS
fn baud_of(speed: libc::speed_t) -> u32 {
    SPEEDS
        .iter()
        .find(|s| s.0 == speed)
        .map_or(speed as u32, |s| s.1)
}

fn speed_of(call: &'static str, baud: u32) -> Result<libc::speed_t> {
    SPEEDS
        .iter()
        .find(|s| s.1 == baud)
        .map(|s| s.0)
        .ok_or_else(|| Error::invalid(call, format!("unsupported speed {baud} bauds")))
}

fn cc(c: libc::cc_t) -> char {
    char::from(c)
}

fn to_cc(call: &'static str, c: char) -> Result<libc::cc_t> {
    u8::try_from(c)
        .map_err(|_| Error::invalid(call, format!("control character {c:?} is not a byte")))
}

impl TerminalIo {
    fn from_termios(t: &libc::termios) -> TerminalIo {
        let i = |f| t.c_iflag & f != 0;
        let o = |f| t.c_oflag & f != 0;
        let c = |f| t.c_cflag & f != 0;
        let l = |f| t.c_lflag & f != 0;
        // SAFETY: cfget*speed only read the struct.
        let (ospeed, ispeed) = unsafe { (libc::cfgetospeed(t), libc::cfgetispeed(t)) };
        let csize = match t.c_cflag & libc::CSIZE {
            libc::CS5 => 5,
            libc::CS6 => 6,
            libc::CS7 => 7,
            _ => 8,
        };
        TerminalIo {
            c_ignbrk: i(libc::IGNBRK),
            c_brkint: i(libc::BRKINT),
            c_ignpar: i(libc::IGNPAR),
            c_parmrk: i(libc::PARMRK),
            c_inpck: i(libc::INPCK),
            c_istrip: i(libc::ISTRIP),
            c_inlcr: i(libc::INLCR),
            c_igncr: i(libc::IGNCR),
            c_icrnl: i(libc::ICRNL),
            c_ixon: i(libc::IXON),
            c_ixoff: i(libc::IXOFF),
            c_opost: o(libc::OPOST),
            c_obaud: baud_of(ospeed),
            c_ibaud: baud_of(ispeed),
            c_csize: csize,
            c_cstopb: if c(libc::CSTOPB) { 2 } else { 1 },
            c_cread: c(libc::CREAD),
            c_parenb: c(libc::PARENB),
            c_parodd: c(libc::PARODD),
            c_hupcl: c(libc::HUPCL),
            c_clocal: c(libc::CLOCAL),
            c_isig: l(libc::ISIG),
            c_icanon: l(libc::ICANON),
            c_noflsh: l(libc::NOFLSH),
            c_echo: l(libc::ECHO),
            c_echoe: l(libc::ECHOE),
            c_echok: l(libc::ECHOK),
            c_echonl: l(libc::ECHONL),
            c_vintr: cc(t.c_cc[libc::VINTR]),
            c_vquit: cc(t.c_cc[libc::VQUIT]),
            c_verase: cc(t.c_cc[libc::VERASE]),
            c_vkill: cc(t.c_cc[libc::VKILL]),
            c_veof: cc(t.c_cc[libc::VEOF]),
            c_veol: cc(t.c_cc[libc::VEOL]),
            c_vmin: u32::from(t.c_cc[libc::VMIN]),
            c_vtime: u32::from(t.c_cc[libc::VTIME]),
            c_vstart: cc(t.c_cc[libc::VSTART]),
            c_vstop: cc(t.c_cc[libc::VSTOP]),
        }
    }

    /// Writes these settings into `t`, leaving the flags this record does not name as they are.
    fn apply(&self, t: &mut libc::termios) -> Result<()> {
        const CALL: &str = "tcsetattr";
        fn set<
            T: Copy + std::ops::BitOrAssign + std::ops::BitAndAssign + std::ops::Not<Output = T>,
        >(
            flags: &mut T,
            f: T,
            on: bool,
        ) {
            if on {
                *flags |= f;
            } else {
                *flags &= !f;
            }
        }
        set(&mut t.c_iflag, libc::IGNBRK, self.c_ignbrk);
        set(&mut t.c_iflag, libc::BRKINT, self.c_brkint);
        set(&mut t.c_iflag, libc::IGNPAR, self.c_ignpar);
        set(&mut t.c_iflag, libc::PARMRK, self.c_parmrk);
        set(&mut t.c_iflag, libc::INPCK, self.c_inpck);
        set(&mut t.c_iflag, libc::ISTRIP, self.c_istrip);
        set(&mut t.c_iflag, libc::INLCR, self.c_inlcr);
        set(&mut t.c_iflag, libc::IGNCR, self.c_igncr);
        set(&mut t.c_iflag, libc::ICRNL, self.c_icrnl);
        set(&mut t.c_iflag, libc::IXON, self.c_ixon);
        set(&mut t.c_iflag, libc::IXOFF, self.c_ixoff);
        set(&mut t.c_oflag, libc::OPOST, self.c_opost);
        let csize = match self.c_csize {
            5 => libc::CS5,
            6 => libc::CS6,
            7 => libc::CS7,
            8 => libc::CS8,
            n => {
                return Err(Error::invalid(
                    CALL,
                    format!("c_csize must be 5 to 8, not {n}"),
                ))
            }
        };
        t.c_cflag = (t.c_cflag & !libc::CSIZE) | csize;
        let two = match self.c_cstopb {
            1 => false,
            2 => true,
            n => {
                return Err(Error::invalid(
                    CALL,
                    format!("c_cstopb must be 1 or 2, not {n}"),
                ))
            }
        };
        set(&mut t.c_cflag, libc::CSTOPB, two);
        set(&mut t.c_cflag, libc::CREAD, self.c_cread);
        set(&mut t.c_cflag, libc::PARENB, self.c_parenb);
        set(&mut t.c_cflag, libc::PARODD, self.c_parodd);
        set(&mut t.c_cflag, libc::HUPCL, self.c_hupcl);
        set(&mut t.c_cflag, libc::CLOCAL, self.c_clocal);
        set(&mut t.c_lflag, libc::ISIG, self.c_isig);
        set(&mut t.c_lflag, libc::ICANON, self.c_icanon);
        set(&mut t.c_lflag, libc::NOFLSH, self.c_noflsh);
        set(&mut t.c_lflag, libc::ECHO, self.c_echo);
        set(&mut t.c_lflag, libc::ECHOE, self.c_echoe);
        set(&mut t.c_lflag, libc::ECHOK, self.c_echok);
        set(&mut t.c_lflag, libc::ECHONL, self.c_echonl);
        t.c_cc[libc::VINTR] = to_cc(CALL, self.c_vintr)?;
        t.c_cc[libc::VQUIT] = to_cc(CALL, self.c_vquit)?;
        t.c_cc[libc::VERASE] = to_cc(CALL, self.c_verase)?;
        t.c_cc[libc::VKILL] = to_cc(CALL, self.c_vkill)?;
        t.c_cc[libc::VEOF] = to_cc(CALL, self.c_veof)?;
        t.c_cc[libc::VEOL] = to_cc(CALL, self.c_veol)?;
        t.c_cc[libc::VMIN] = u8::try_from(self.c_vmin).map_err(|_| {
            Error::invalid(CALL, format!("c_vmin {} is out of 0..=255", self.c_vmin))
        })?;
        t.c_cc[libc::VTIME] = u8::try_from(self.c_vtime).map_err(|_| {
            Error::invalid(CALL, format!("c_vtime {} is out of 0..=255", self.c_vtime))
        })?;
        t.c_cc[libc::VSTART] = to_cc(CALL, self.c_vstart)?;
        t.c_cc[libc::VSTOP] = to_cc(CALL, self.c_vstop)?;
        let (o, i) = (speed_of(CALL, self.c_obaud)?, speed_of(CALL, self.c_ibaud)?);
        // SAFETY: cfset*speed only write the struct; the speeds are valid constants.
        let bad = unsafe { libc::cfsetospeed(t, o) != 0 || libc::cfsetispeed(t, i) != 0 };
        if bad {
            return Err(Error::last_os_error("cfsetspeed", ""));
        }
        Ok(())
    }
}

/// Reads the settings of the terminal `fd` refers to.
fn get(fd: &FdGuard, call: &'static str) -> Result<libc::termios> {
    // SAFETY: an all-zero termios is a valid out-parameter.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    crate::retry_eintr(|| {
        // SAFETY: `fd` is open (the guard keeps it) and `t` is a valid out-pointer.
        if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
            return Err(Error::last_os_error(call, ""));
        }
        Ok(())
    })?;
    Ok(t)
}

/// Runs `f` on `fd` as a job and flattens the two levels of errors.
async fn job<T: Send + 'static>(
    fd: &FileDescr,
    f: impl FnOnce(FdGuard) -> Result<T> + Send + 'static,
) -> Result<T> {
    let owned = fd.checked()?;
    run_job(None, move || f(owned)).await?
}

/// One libc call returning 0 or -1, retried on EINTR.
fn check(call: &'static str, f: impl Fn() -> libc::c_int) -> Result<()> {
    crate::retry_eintr(|| {
        if f() != 0 {
            Err(Error::last_os_error(call, ""))
        } else {
            Ok(())
        }
    })
}

/// Reads the settings of a terminal (Lwt's `tcgetattr`). Runs as a job. See
/// [tcgetattr(3)](https://man7.org/linux/man-pages/man3/tcgetattr.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `Closed`/`Aborted` for a closed or aborted `fd`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     let e = lwt::unix::tcgetattr(&r).await.unwrap_err();
///     assert_eq!(e.errno(), Some(libc::ENOTTY));
/// });
/// ```
pub async fn tcgetattr(fd: &FileDescr) -> Result<TerminalIo> {
    job(fd, |fd| {
        get(&fd, "tcgetattr").map(|t| TerminalIo::from_termios(&t))
    })
    .await
}

/// Changes the settings of a terminal (Lwt's `tcsetattr`): the current settings are read,
/// the fields of `attr` applied, and the result set `when` asked. Flags [`TerminalIo`] does
/// not name are kept. Runs as a job. See
/// [tcsetattr(3)](https://man7.org/linux/man-pages/man3/tcsetattr.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `InvalidArgument` for an unsupported speed, a
/// `c_csize` outside 5..=8, a `c_cstopb` other than 1 or 2, or a control character that is not
/// a byte; `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{tcsetattr, SetattrWhen, TerminalIo};
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     let e = tcsetattr(&r, SetattrWhen::Now, TerminalIo::default()).await.unwrap_err();
///     assert!(e.errno().is_some() || matches!(e, lwt::Error::InvalidArgument { .. }));
/// });
/// ```
pub async fn tcsetattr(fd: &FileDescr, when: SetattrWhen, attr: TerminalIo) -> Result<()> {
    let how = match when {
        SetattrWhen::Now => libc::TCSANOW,
        SetattrWhen::Drain => libc::TCSADRAIN,
        SetattrWhen::Flush => libc::TCSAFLUSH,
    };
    job(fd, move |fd| {
        let mut t = get(&fd, "tcsetattr")?;
        attr.apply(&mut t)?;
        // SAFETY: `fd` is open (the Arc keeps it) and `t` is a valid, initialized termios.
        check("tcsetattr", || unsafe {
            libc::tcsetattr(fd.as_raw_fd(), how, &t)
        })
    })
    .await
}

/// Sends a break on a terminal for `duration` (0: 0.25 to 0.5 seconds; other values mean
/// what the system says) (Lwt's `tcsendbreak`). Runs as a job. See
/// [tcsendbreak(3)](https://man7.org/linux/man-pages/man3/tcsendbreak.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert!(lwt::unix::tcsendbreak(&r, 0).await.is_err()); // not a terminal
/// });
/// ```
pub async fn tcsendbreak(fd: &FileDescr, duration: i32) -> Result<()> {
    job(fd, move |fd| {
        // SAFETY: `fd` is open (the Arc keeps it).
        check("tcsendbreak", || unsafe {
            libc::tcsendbreak(fd.as_raw_fd(), duration)
        })
    })
    .await
}

/// Waits until all output written to a terminal has been sent (Lwt's `tcdrain`). Runs as a
/// job, since it blocks. See [tcdrain(3)](https://man7.org/linux/man-pages/man3/tcdrain.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert_eq!(lwt::unix::tcdrain(&r).await.unwrap_err().errno(), Some(libc::ENOTTY));
/// });
/// ```
pub async fn tcdrain(fd: &FileDescr) -> Result<()> {
    job(fd, |fd| {
        // SAFETY: `fd` is open (the Arc keeps it).
        check("tcdrain", || unsafe { libc::tcdrain(fd.as_raw_fd()) })
    })
    .await
}

/// Discards data written to a terminal but not sent, or received but not read (Lwt's
/// `tcflush`). Runs as a job. See
/// [tcflush(3)](https://man7.org/linux/man-pages/man3/tcflush.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{tcflush, FlushQueue};
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert!(tcflush(&r, FlushQueue::Both).await.is_err()); // not a terminal
/// });
/// ```
pub async fn tcflush(fd: &FileDescr, queue: FlushQueue) -> Result<()> {
    let q = match queue {
        FlushQueue::Input => libc::TCIFLUSH,
        FlushQueue::Output => libc::TCOFLUSH,
        FlushQueue::Both => libc::TCIOFLUSH,
    };
    job(fd, move |fd| {
        // SAFETY: `fd` is open (the Arc keeps it).
        check("tcflush", || unsafe { libc::tcflush(fd.as_raw_fd(), q) })
    })
    .await
}

/// Suspends or restarts the output or input of a terminal (Lwt's `tcflow`). Runs as a job.
/// See [tcflow(3)](https://man7.org/linux/man-pages/man3/tcflow.3.html).
///
/// # Errors
///
/// `ENOTTY` when `fd` is not a terminal; `Closed`/`Aborted`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{tcflow, FlowAction};
/// lwt::run(async {
///     let (r, _w) = lwt::unix::pipe().unwrap();
///     assert!(tcflow(&r, FlowAction::OutputOn).await.is_err()); // not a terminal
/// });
/// ```
pub async fn tcflow(fd: &FileDescr, action: FlowAction) -> Result<()> {
    let a = match action {
        FlowAction::OutputOff => libc::TCOOFF,
        FlowAction::OutputOn => libc::TCOON,
        FlowAction::InputOff => libc::TCIOFF,
        FlowAction::InputOn => libc::TCION,
    };
    job(fd, move |fd| {
        // SAFETY: `fd` is open (the Arc keeps it).
        check("tcflow", || unsafe { libc::tcflow(fd.as_raw_fd(), a) })
    })
    .await
}
