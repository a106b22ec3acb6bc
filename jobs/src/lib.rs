//! lwt-jobs: running blocking calls without blocking the loop, by the async methods `none`,
//! `detach` and `switch` (Lwt's `run_job` and its thread pool).
//!
//! ```
//! lwt::run(async {
//!     let len = lwt::unix::run_job(None, || std::fs::metadata("/").map(|m| m.is_dir())).await;
//!     assert!(len.unwrap().unwrap());
//! });
//! ```
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

mod method;
mod pool;

pub use method::{
    async_method, async_method_key, default_async_method, set_default_async_method,
    with_async_detach, with_async_none, with_async_switch, AsyncMethod, ASYNC_METHOD_ENV,
};
pub use pool::{pool_size, run_job, set_pool_size, thread_count, thread_waiting_count, Job};
