//! Building a runtime: backend, async method and pool size, in code or from the environment.

use crate::{BackendKind, Error, Runtime};
use lwt_jobs::AsyncMethod;
use std::future::Future;

/// Configures and builds a [`Runtime`].
///
/// [`Builder::from_env`] reads `LWT_BACKEND`, `LWT_ASYNC_METHOD` and `LWT_POOL_SIZE` and
/// refuses bad values with a clear error; [`Builder::new`] ignores the environment except
/// for what it does not set (the backend then defaults to the best for the OS).
///
/// # Examples
///
/// ```
/// use lwt::{BackendKind, Builder};
/// let rt = Builder::new().backend(BackendKind::Poll).build().unwrap();
/// assert_eq!(rt.backend_name(), "poll");
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    backend: Option<BackendKind>,
    async_method: Option<AsyncMethod>,
    pool_size: Option<usize>,
    from_env: bool,
}

impl Builder {
    /// A builder with nothing set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// A builder that takes its settings from `LWT_BACKEND`, `LWT_ASYNC_METHOD` and
    /// `LWT_POOL_SIZE` (settings made in code afterwards win).
    pub fn from_env() -> Builder {
        Builder {
            from_env: true,
            ..Builder::default()
        }
    }

    /// Uses this backend (an unavailable one makes [`Builder::build`] fail).
    pub fn backend(mut self, kind: BackendKind) -> Builder {
        self.backend = Some(kind);
        self
    }

    /// Sets the process's default async method when the runtime is built.
    pub fn async_method(mut self, m: AsyncMethod) -> Builder {
        self.async_method = Some(m);
        self
    }

    /// Sets the job pool's size when the runtime is built (at most
    /// [`MAX_POOL_SIZE`](lwt_jobs::MAX_POOL_SIZE): [`Builder::build`] refuses more).
    pub fn pool_size(mut self, n: usize) -> Builder {
        self.pool_size = Some(n);
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for an unknown or unavailable backend, a pool size above
    /// [`MAX_POOL_SIZE`](lwt_jobs::MAX_POOL_SIZE), or (with [`Builder::from_env`]) a bad
    /// `LWT_ASYNC_METHOD` or `LWT_POOL_SIZE`: unknown, not a number, above the cap, or not
    /// valid UTF-8, read by the same functions the jobs layer uses
    /// ([`async_method_from_env`](lwt_jobs::async_method_from_env),
    /// [`pool_size_from_env`](lwt_jobs::pool_size_from_env)); the OS error if the backend
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = lwt::Builder::new().pool_size(lwt::unix::MAX_POOL_SIZE + 1).build().err().unwrap();
    /// assert!(e.to_string().contains("MAX_POOL_SIZE"));
    /// ```
    pub fn build(self) -> Result<Runtime, Error> {
        let mut method = self.async_method;
        let mut pool = self.pool_size;
        if self.from_env {
            if method.is_none() {
                method = lwt_jobs::async_method_from_env()?;
            }
            if pool.is_none() {
                pool = lwt_jobs::pool_size_from_env()?;
            }
        }
        if let Some(n) = pool.filter(|&n| n > lwt_jobs::MAX_POOL_SIZE) {
            return Err(Error::invalid(
                "Builder::pool_size",
                format!(
                    "{n} threads is more than the largest pool, {} (MAX_POOL_SIZE)",
                    lwt_jobs::MAX_POOL_SIZE
                ),
            ));
        }
        let backend = crate::backends::open(self.backend)?;
        if let Some(m) = method {
            lwt_jobs::set_default_async_method(m);
        }
        if let Some(n) = pool {
            lwt_jobs::set_pool_size(n);
        }
        Ok(Runtime::new(backend))
    }
}

/// Runs `fut` on a new runtime built from the environment, then drops the runtime
/// (OCaml's `Lwt_main.run`).
///
/// # Panics
///
/// If the environment asks for something impossible (an unknown `LWT_BACKEND`, a bad
/// `LWT_ASYNC_METHOD` or `LWT_POOL_SIZE`, or a backend this OS lacks): the message names
/// the value and what is valid. Use [`Builder::from_env`] to get the error instead.
///
/// # Examples
///
/// ```
/// let v = lwt::run(async { 40 + 2 });
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn run<F: Future>(fut: F) -> F::Output {
    let rt = match Builder::from_env().build() {
        Ok(rt) => rt,
        Err(e) => panic!("lwt::run: cannot start the runtime: {e}"),
    };
    rt.block_on(fut)
}
