//! CPUs: `get_cpu`, `get_affinity`, `set_affinity`.
//!
//! These calls never block, so they run at once on the calling thread.
//!
//! # Portability
//!
//! Linux and Android. Elsewhere every call fails with `Unsupported` (as Lwt raises
//! `Not_available`).

#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::cvt;
use lwt_core::{Error, Result};
#[cfg(any(target_os = "linux", target_os = "android"))]
use rustix::process::Pid;
#[cfg(any(target_os = "linux", target_os = "android"))]
use rustix::thread::CpuSet;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod unsupported {
    use super::*;
    pub(super) fn get_cpu() -> Result<usize> {
        Err(Error::Unsupported("get_cpu"))
    }
    pub(super) fn get_affinity(_: Option<i32>) -> Result<Vec<usize>> {
        Err(Error::Unsupported("get_affinity"))
    }
    pub(super) fn set_affinity(_: Option<i32>, _: &[usize]) -> Result<()> {
        Err(Error::Unsupported("set_affinity"))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn pid_of(call: &'static str, pid: Option<i32>) -> Result<Option<Pid>> {
    match pid {
        None | Some(0) => Ok(None),
        Some(p) if p < 0 => Err(Error::invalid(call, format!("invalid pid {p}"))),
        Some(p) => Ok(Pid::from_raw(p)),
    }
}

/// The number of the CPU the calling thread runs on (Lwt's `get_cpu`). Immediate. See
/// [sched_getcpu(3)](https://man7.org/linux/man-pages/man3/sched_getcpu.3.html).
///
/// # Errors
///
/// None on Linux (the call cannot fail there); the result is `Result` for other systems.
///
/// # Examples
///
/// ```
/// let cpu = lwt::unix::get_cpu().unwrap();
/// assert!(lwt::unix::get_affinity(None).unwrap().contains(&cpu));
/// ```
#[doc(alias = "sched_getcpu")]
pub fn get_cpu() -> Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return Ok(rustix::thread::sched_getcpu());
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return unsupported::get_cpu();
}

/// The CPUs process `pid` (`None`: this one) may run on, in increasing order (Lwt's
/// `get_affinity`). For this process it is the calling thread's mask. Immediate. See
/// [sched_getaffinity(2)](https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html).
///
/// # Errors
///
/// `ESRCH` for an unknown pid, `EPERM` without the right to ask; `InvalidArgument` for a
/// negative pid.
///
/// # Examples
///
/// ```
/// let cpus = lwt::unix::get_affinity(None).unwrap();
/// assert!(!cpus.is_empty());
/// ```
#[doc(alias = "sched_getaffinity")]
pub fn get_affinity(pid: Option<i32>) -> Result<Vec<usize>> {
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return unsupported::get_affinity(pid);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let arg = pid.map(|p| p.to_string()).unwrap_or_default();
        let set = cvt(
            rustix::thread::sched_getaffinity(pid_of("get_affinity", pid)?),
            "sched_getaffinity",
            &arg,
        )?;
        Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
    }
}

/// Restricts process `pid` (`None`: the calling thread of this one) to the CPUs `cpus` (Lwt's
/// `set_affinity`). Immediate. See
/// [sched_setaffinity(2)](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html).
///
/// # Errors
///
/// `InvalidArgument` for an empty list, a CPU number beyond the system's limit, or a negative
/// pid; `EINVAL` when none of the CPUs is online; `ESRCH`, `EPERM`.
///
/// # Examples
///
/// ```
/// let cpus = lwt::unix::get_affinity(None).unwrap();
/// lwt::unix::set_affinity(None, &cpus).unwrap(); // no change
/// ```
#[doc(alias = "sched_setaffinity")]
pub fn set_affinity(pid: Option<i32>, cpus: &[usize]) -> Result<()> {
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return unsupported::set_affinity(pid, cpus);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        if cpus.is_empty() {
            return Err(Error::invalid("set_affinity", "the CPU list is empty"));
        }
        let mut set = CpuSet::new();
        for &c in cpus {
            if c >= CpuSet::MAX_CPU {
                return Err(Error::invalid(
                    "set_affinity",
                    format!("CPU {c} is beyond the limit of {}", CpuSet::MAX_CPU),
                ));
            }
            set.set(c);
        }
        let arg = pid.map(|p| p.to_string()).unwrap_or_default();
        cvt(
            rustix::thread::sched_setaffinity(pid_of("set_affinity", pid)?, &set),
            "sched_setaffinity",
            &arg,
        )
    }
}
