//! The io_uring backend's file operations: [`Completions`] for [`Uring`], and the wait for
//! the operations still in flight when the ring goes (see the parent module, "Who owns what").

use super::{decode, errno, lock, user_data, Inner, Uring, MAX_OP_LEN, TAG_CANCEL, TAG_OP};
use io_uring::{opcode, types};
use lwt_core::backend::{Completion, CompletionKind, Completions, Events, STATX_SIZE};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// The path at `at` in an operation's buffer (`ptr`, `len` bytes), checked to end with its
/// NUL byte inside the buffer, so the kernel never reads past it.
fn path_of(ptr: *mut u8, len: usize, at: usize) -> io::Result<*const libc::c_char> {
    if len <= at {
        return Err(errno(libc::EINVAL));
    }
    // SAFETY: `ptr` points to `len` initialised bytes the operation owns (`Completion::buffer`)
    // and `at < len`, so the slice is inside them.
    let tail = unsafe { std::slice::from_raw_parts(ptr.add(at), len - at) };
    if tail.last() != Some(&0) {
        return Err(errno(libc::EINVAL));
    }
    Ok(tail.as_ptr().cast())
}

/// How many times an operation is submitted again after its submitting thread went away
/// (see [`Inner::resubmittable`]) before its error is given to its future.
const MAX_RESUBMITS: u32 = 16;

impl Inner {
    /// Queues `op`'s request (submitted by the next `io_uring_enter`, or at once by the
    /// caller).
    fn queue_op(&self, op: &Arc<Completion>) -> io::Result<()> {
        let (ptr, buf_len) = op.buffer();
        let len = buf_len.min(MAX_OP_LEN) as u32;
        let fd = types::Fd(op.fd());
        let sqe = match op.kind() {
            CompletionKind::Read => opcode::Read::new(fd, ptr, len).offset(op.offset()).build(),
            CompletionKind::Write => opcode::Write::new(fd, ptr, len).offset(op.offset()).build(),
            CompletionKind::Fsync => opcode::Fsync::new(fd).build(),
            CompletionKind::Fdatasync => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            CompletionKind::Close => opcode::Close::new(fd).build(),
            // The buffer is the NUL-terminated path (checked by `path_of`).
            CompletionKind::OpenAt { flags, mode } => {
                opcode::OpenAt::new(fd, path_of(ptr, buf_len, 0)?)
                    .flags(flags)
                    .mode(mode)
                    .build()
            }
            // The statx area, then the NUL-terminated path.
            CompletionKind::Statx { flags, mask } => {
                let path = path_of(ptr, buf_len, STATX_SIZE)?;
                opcode::Statx::new(fd, path, ptr.cast::<types::statx>())
                    .flags(flags)
                    .mask(mask)
                    .build()
            }
        };
        let mut st = lock(&self.state);
        if st.ops.len() >= 1 << 24 {
            return Err(errno(libc::EAGAIN));
        }
        st.next_gen = st.next_gen.wrapping_add(1);
        let gen = st.next_gen;
        let key = st.ops.insert((gen, op.clone()));
        let ud = user_data(key, gen, TAG_OP);
        op.set_id(ud);
        let sqe = sqe.user_data(ud);
        if let Err(e) = self.push(&mut st, &sqe) {
            st.ops.remove(key);
            return Err(e);
        }
        Ok(())
    }

    /// Whether `op`, completed with `result`, failed only because the thread that submitted
    /// it went away, so that it should be submitted again (by the thread reaping it now).
    ///
    /// The kernel ties a request to its submitting thread: when that thread exits, its work
    /// still queued completes with `ECANCELED`, and work that needed the thread's memory
    /// afterwards (a buffered read woken when its pages arrive) with `EFAULT`. A loop's thread
    /// may exit with requests in flight (a `switch` stand-in handing the loop back, a
    /// `block_on` thread that returns while tasks wait), and lwt's own buffers are valid for
    /// as long as the operation lives, so neither error can be the operation's own unless lwt
    /// canceled it (the future was dropped, `abandoned`). Neither read nor wrote anything, so
    /// submitting again is exact; a close is never submitted again (its `ECANCELED` is handled
    /// by `Completion::complete`).
    pub(super) fn resubmittable(op: &Completion, result: i32) -> bool {
        (result == -libc::ECANCELED || result == -libc::EFAULT)
            && op.kind() != CompletionKind::Close
            && !op.is_abandoned()
            && op.count_resubmit() <= MAX_RESUBMITS
    }

    /// Queues again the operations [`Inner::resubmittable`] picked; those that cannot be
    /// queued complete with their error. Returns the wakers of the latter.
    pub(super) fn resubmit(&self, again: Vec<(Arc<Completion>, i32)>) -> Vec<std::task::Waker> {
        let mut wakers = Vec::new();
        for (op, result) in again {
            if let Err(e) = self.queue_op(&op) {
                tracing::debug!("lwt: io_uring: an operation could not be submitted again: {e}");
                wakers.extend(op.complete(result));
            }
        }
        wakers
    }
}

impl Completions for Uring {
    fn start(&self, op: &Arc<Completion>) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        inner.queue_op(op)?;
        inner.submit_if_waiting()
    }

    fn cancel(&self, op: &Arc<Completion>) {
        let inner = self.inner();
        if inner.check_fork().is_err() {
            return;
        }
        let (key, gen, _) = decode(op.id());
        let mut st = lock(&inner.state);
        if st.ops.get(key).is_none_or(|(g, _)| *g != gen) {
            return; // completed meanwhile
        }
        let sqe = opcode::AsyncCancel::new(op.id())
            .build()
            .user_data(user_data(key, gen, TAG_CANCEL));
        // Best effort: if the queue cannot take it, the operation simply completes.
        let _ = inner.push(&mut st, &sqe);
        drop(st);
        let _ = inner.submit_if_waiting();
    }

    fn take_woken(&self, out: &mut Vec<std::task::Waker>) {
        let mut st = lock(&self.inner().state);
        if !st.woken.is_empty() {
            out.append(&mut st.woken);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // File operations still in flight own buffers the kernel may write into: cancel
        // them, then wait (up to 10 s) for each one's completion before the memory goes. In a
        // forked child that did not reset, the ring is the parent's: never touch it.
        if self.check_fork().is_err() {
            std::mem::forget(std::mem::take(&mut lock(&self.state).ops));
            return;
        }
        let ids: Vec<u64> = lock(&self.state)
            .ops
            .iter()
            .map(|(k, (g, _))| user_data(k, *g, TAG_OP))
            .collect();
        if ids.is_empty() {
            return;
        }
        {
            let mut st = lock(&self.state);
            for id in ids {
                let (k, g, _) = decode(id);
                let sqe = opcode::AsyncCancel::new(id)
                    .build()
                    .user_data(user_data(k, g, TAG_CANCEL));
                let _ = self.push(&mut st, &sqe);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut events = Events::with_capacity(64);
        while !lock(&self.state).ops.is_empty() && std::time::Instant::now() < deadline {
            let ts = types::Timespec::from(Duration::from_millis(100));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            events.clear();
            let _ = self.reap(&mut events);
        }
        let mut st = lock(&self.state);
        if !st.ops.is_empty() {
            tracing::error!(
                "lwt: {} io_uring file operations did not complete; leaking their buffers",
                st.ops.len()
            );
            std::mem::forget(std::mem::take(&mut st.ops));
        }
        st.woken.clear();
    }
}
