//! Helpers shared by the behaviour tests.
#![allow(dead_code)] // each test binary uses a different subset

use lwt::{BackendKind, Builder, Runtime};
use std::future::Future;

/// The backends this OS has, restricted to `LWT_BACKEND` when it is set (so `.ci/run` can
/// run the suite once per backend through the environment path).
pub fn backends() -> Vec<BackendKind> {
    match BackendKind::from_env() {
        Ok(Some(k)) => vec![k],
        Ok(None) => BackendKind::available(),
        Err(e) => panic!("{e}"),
    }
}

/// A runtime on `kind`.
pub fn runtime(kind: BackendKind) -> Runtime {
    Builder::new().backend(kind).build().expect("runtime")
}

/// Runs the test body, a future, on every available backend in turn.
pub fn for_each_backend<F, Fut>(body: F)
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = ()>,
{
    for kind in backends() {
        let rt = runtime(kind);
        assert_eq!(rt.backend_name(), kind.name());
        rt.block_on(body(kind));
    }
}

/// The number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
