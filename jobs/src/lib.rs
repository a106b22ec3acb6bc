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
#![deny(unsafe_code)]

#[cfg(unix)]
mod kernel;
mod method;
mod pool;

#[cfg(unix)]
pub use kernel::{kernel_job, KernelJob};
pub use method::{
    async_method, async_method_from_env, async_method_key, default_async_method,
    set_default_async_method, with_async_detach, with_async_none, with_async_switch, AsyncMethod,
    ASYNC_METHOD_ENV,
};
#[allow(deprecated)]
pub use pool::execute_job;
pub use pool::{
    abort_jobs, cancel_jobs, jobs_queued_at_limit, jobs_run_inline, keep_alive, pool_size,
    pool_size_from_env, run_job, set_keep_alive, set_pool_size, thread_count, thread_waiting_count,
    wait_for_jobs, Job, AWAIT_SPIN, DEFAULT_KEEP_ALIVE, MAX_POOL_SIZE, POOL_SIZE_ENV, WORKER_SPIN,
};
