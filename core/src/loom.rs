//! The atomics of the two protocols the loom models check (`crate::loom_models`): the loop's
//! hand-off (`crate::cell`, `crate::switch`) and the wake-up (`crate::driver`). Under
//! `--cfg loom` they are loom's, whose model checker then explores every interleaving and
//! every weak-memory outcome of them; otherwise std's, at no cost.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64};
