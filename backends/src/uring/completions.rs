//! The io_uring backend's file operations: [`Completions`] for [`Uring`], and the wait for
//! the operations still in flight when the ring goes (see the parent module, "Who owns what").

use super::{decode, errno, lock, user_data, Inner, Uring, MAX_OP_LEN, TAG_CANCEL, TAG_OP};
use io_uring::{opcode, types};
use lwt_core::backend::{Completion, CompletionKind, Completions, Events};
use std::io;
use std::sync::Arc;
use std::time::Duration;

impl Completions for Uring {
    fn start(&self, op: &Arc<Completion>) -> io::Result<()> {
        let inner = self.inner();
        inner.check_fork()?;
        let mut st = lock(&inner.state);
        if st.ops.len() >= 1 << 24 {
            return Err(errno(libc::EAGAIN));
        }
        st.next_gen = st.next_gen.wrapping_add(1);
        let gen = st.next_gen;
        let key = st.ops.insert((gen, op.clone()));
        let ud = user_data(key, gen, TAG_OP);
        op.set_id(ud);
        let (ptr, len) = op.buffer();
        let len = len.min(MAX_OP_LEN) as u32;
        let fd = types::Fd(op.fd());
        let sqe = match op.kind() {
            CompletionKind::Read => opcode::Read::new(fd, ptr, len).offset(op.offset()).build(),
            CompletionKind::Write => opcode::Write::new(fd, ptr, len).offset(op.offset()).build(),
            CompletionKind::Fsync => opcode::Fsync::new(fd).build(),
            CompletionKind::Fdatasync => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
        }
        .user_data(ud);
        if let Err(e) = inner.push(&mut st, &sqe) {
            st.ops.remove(key);
            return Err(e);
        }
        drop(st);
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
