//! The async methods and how one is chosen: explicit argument, then the task-local
//! [`async_method_key`], then the process default ([`set_default_async_method`], else
//! `LWT_ASYNC_METHOD`, else detach).
//!
//! A bad `LWT_ASYNC_METHOD` (anything but `none`, `detach`, `switch`, in any case) is handled
//! in two ways on purpose: [`default_async_method`] prints one warning naming the value and
//! the valid ones and keeps detach (a library must not abort a program for it), while
//! `lwt::Builder::from_env` (and so `lwt::run`) refuses to start with an `InvalidArgument`
//! error saying the same, so a program started through lwt's front door sees the mistake.

use lwt_core::{Error, Key, WithValue};
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that sets the default async method (`none`, `detach` or
/// `switch`).
///
/// # Examples
///
/// ```
/// assert_eq!(lwt::unix::ASYNC_METHOD_ENV, "LWT_ASYNC_METHOD");
/// ```
pub const ASYNC_METHOD_ENV: &str = "LWT_ASYNC_METHOD";

/// How a blocking call (a job) is run (Lwt's `async_method`); parse one from its name with
/// `str::parse`.
///
/// # Examples
///
/// ```
/// use lwt::unix::AsyncMethod;
/// assert_eq!("switch".parse::<AsyncMethod>().unwrap(), AsyncMethod::Switch);
/// assert!("fast".parse::<AsyncMethod>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsyncMethod {
    /// Run now on the loop's thread; the whole loop waits (Lwt's `Async_none`).
    None,
    /// Run on a worker thread of the pool; the loop goes on (Lwt's `Async_detach`, the
    /// default).
    Detach,
    /// Run on the loop's thread; if the call blocks past a short threshold, the loop goes on
    /// in another thread (Lwt's `Async_switch`, made real: see `lwt_core::switch`).
    Switch,
}

impl AsyncMethod {
    /// The name `LWT_ASYNC_METHOD` uses for this method.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(lwt::unix::AsyncMethod::Detach.name(), "detach");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            AsyncMethod::None => "none",
            AsyncMethod::Detach => "detach",
            AsyncMethod::Switch => "switch",
        }
    }
}

impl std::str::FromStr for AsyncMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<AsyncMethod, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AsyncMethod::None),
            "detach" => Ok(AsyncMethod::Detach),
            "switch" => Ok(AsyncMethod::Switch),
            _ => Err(Error::invalid(
                "LWT_ASYNC_METHOD",
                format!("unknown async method {s:?}; valid values are none, detach, switch"),
            )),
        }
    }
}

const UNSET: u8 = 0;
static DEFAULT: AtomicU8 = AtomicU8::new(UNSET);

fn encode(m: AsyncMethod) -> u8 {
    match m {
        AsyncMethod::None => 1,
        AsyncMethod::Detach => 2,
        AsyncMethod::Switch => 3,
    }
}

fn decode(v: u8) -> Option<AsyncMethod> {
    match v {
        1 => Some(AsyncMethod::None),
        2 => Some(AsyncMethod::Detach),
        3 => Some(AsyncMethod::Switch),
        _ => None,
    }
}

/// Reads `LWT_ASYNC_METHOD` the way lwt does (the jobs layer here, `lwt::Builder::from_env`
/// the same way): `None` when it is unset or empty, else the method it names (any case,
/// surrounding spaces allowed). Immediate.
///
/// # Errors
///
/// `InvalidArgument` naming `LWT_ASYNC_METHOD`, the value and the valid ones, for an unknown
/// method or a value that is not valid UTF-8.
///
/// # Examples
///
/// ```
/// // Whatever the environment of this doc test says, the answer is a method or an error.
/// match lwt::unix::async_method_from_env() {
///     Ok(_) => {}
///     Err(e) => assert!(e.to_string().contains("LWT_ASYNC_METHOD")),
/// }
/// ```
pub fn async_method_from_env() -> Result<Option<AsyncMethod>, Error> {
    match std::env::var(ASYNC_METHOD_ENV) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => v.parse().map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::invalid(
            "LWT_ASYNC_METHOD",
            format!("{v:?} is not valid UTF-8; valid values are none, detach, switch"),
        )),
    }
}

/// The default async method: set by [`set_default_async_method`], else `LWT_ASYNC_METHOD`,
/// else `Detach`. A bad `LWT_ASYNC_METHOD` is reported once on standard error and ignored
/// here (detach is used); `lwt::Builder::from_env` refuses to start with it instead.
///
/// # Examples
///
/// ```
/// let m = lwt::unix::default_async_method();
/// assert!(matches!(m, lwt::unix::AsyncMethod::None | lwt::unix::AsyncMethod::Detach | lwt::unix::AsyncMethod::Switch));
/// ```
pub fn default_async_method() -> AsyncMethod {
    if let Some(m) = decode(DEFAULT.load(Ordering::Relaxed)) {
        return m;
    }
    let m = match async_method_from_env() {
        Ok(Some(m)) => m,
        Ok(None) => AsyncMethod::Detach,
        Err(e) => {
            eprintln!("lwt: {e}; using detach");
            AsyncMethod::Detach
        }
    };
    let _ = DEFAULT.compare_exchange(UNSET, encode(m), Ordering::Relaxed, Ordering::Relaxed);
    decode(DEFAULT.load(Ordering::Relaxed)).unwrap_or(m)
}

/// Sets the default async method for the whole process (Lwt's `set_default_async_method`);
/// it wins over `LWT_ASYNC_METHOD`.
///
/// # Examples
///
/// ```
/// use lwt::unix::{default_async_method, set_default_async_method, AsyncMethod};
/// let before = default_async_method();
/// set_default_async_method(AsyncMethod::None);
/// assert_eq!(default_async_method(), AsyncMethod::None);
/// set_default_async_method(before);
/// ```
pub fn set_default_async_method(m: AsyncMethod) {
    DEFAULT.store(encode(m), Ordering::Relaxed);
}

static KEY: Key<AsyncMethod> = Key::new();

/// The task-local key holding the async method of the running future (Lwt's
/// `async_method_key`); bind it with [`with_async_none`] and friends, or with
/// `async_method_key().with_value(..)`. Spawned tasks do not inherit it.
///
/// # Examples
///
/// ```
/// use lwt::unix::{async_method, async_method_key, AsyncMethod};
/// lwt::run(async {
///     assert_eq!(async_method_key().get(), None);
///     async_method_key()
///         .with_value(Some(AsyncMethod::None), async {
///             assert_eq!(async_method(), AsyncMethod::None);
///         })
///         .await;
/// });
/// ```
pub fn async_method_key() -> &'static Key<AsyncMethod> {
    &KEY
}

/// The async method in force here (Lwt's `async_method`): the task-local key if bound, else
/// the default. Immediate; no job.
///
/// # Examples
///
/// ```
/// use lwt::unix::{async_method, with_async_none, AsyncMethod};
/// lwt::run(async {
///     with_async_none(async { assert_eq!(async_method(), AsyncMethod::None) }).await;
/// });
/// ```
pub fn async_method() -> AsyncMethod {
    KEY.get().unwrap_or_else(default_async_method)
}

/// Runs `fut` with the async method `None` (only inside it; Lwt's `with_async_none`): jobs
/// started in it without an explicit method block the loop.
///
/// # Examples
///
/// ```
/// use lwt::unix::{run_job, with_async_none};
/// lwt::run(async {
///     let me = std::thread::current().id();
///     let on = with_async_none(run_job(None, || std::thread::current().id())).await;
///     assert_eq!(on.unwrap(), me);
/// });
/// ```
pub fn with_async_none<F: Future>(fut: F) -> WithValue<AsyncMethod, F> {
    KEY.with_value(Some(AsyncMethod::None), fut)
}

/// Runs `fut` with the async method `Detach` (only inside it; Lwt's `with_async_detach`):
/// jobs started in it without an explicit method run on the pool.
///
/// # Examples
///
/// ```
/// use lwt::unix::{run_job, with_async_detach};
/// lwt::run(async {
///     let me = std::thread::current().id();
///     let on = with_async_detach(run_job(None, || std::thread::current().id())).await;
///     assert_ne!(on.unwrap(), me);
/// });
/// ```
pub fn with_async_detach<F: Future>(fut: F) -> WithValue<AsyncMethod, F> {
    KEY.with_value(Some(AsyncMethod::Detach), fut)
}

/// Runs `fut` with the async method `Switch` (only inside it; Lwt's `with_async_switch`):
/// jobs started in it without an explicit method run on the loop's thread, and the loop moves
/// to another thread if one blocks.
///
/// # Examples
///
/// ```
/// use lwt::unix::{async_method, with_async_switch, AsyncMethod};
/// lwt::run(async {
///     with_async_switch(async { assert_eq!(async_method(), AsyncMethod::Switch) }).await;
/// });
/// ```
pub fn with_async_switch<F: Future>(fut: F) -> WithValue<AsyncMethod, F> {
    KEY.with_value(Some(AsyncMethod::Switch), fut)
}

#[cfg(test)]
mod tests {
    use super::AsyncMethod;

    #[test]
    fn names_are_lwt_async_method_values_and_parse_back() {
        let all = [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch];
        let names: Vec<_> = all.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["none", "detach", "switch"]);
        for m in all {
            assert_eq!(m.name().parse::<AsyncMethod>().unwrap(), m);
            assert_eq!(m.name().to_uppercase().parse::<AsyncMethod>().unwrap(), m);
        }
        let e = "fast".parse::<AsyncMethod>().unwrap_err().to_string();
        assert!(
            e.contains("\"fast\"") && e.contains("none, detach, switch"),
            "{e}"
        );
    }
}
