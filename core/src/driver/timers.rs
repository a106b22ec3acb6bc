//! The timer structure of a loop: a binary heap of deadlines over a slab of live timers. The
//! driver owns it, behind its `timers` lock.
//!
//! Arming is `O(log n)`, cancelling is `O(1)` (the slab entry goes; its heap entry is skipped
//! when it surfaces, and the heap is rebuilt when dead entries outnumber live ones), firing is
//! `O(log n)` per timer. Timers with equal deadlines fire in the order they were armed.

use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

/// Identifies an armed timer; stale after it fires or is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerId {
    idx: usize,
    seq: u64,
}

struct Entry {
    seq: u64,
    waker: Waker,
}

#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    seq: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerId {
        self.seq += 1;
        let seq = self.seq;
        let idx = self.entries.insert(Entry { seq, waker });
        self.heap.push(Reverse((deadline, seq, idx)));
        TimerId { idx, seq }
    }

    /// Replaces the waker of a live timer; false if it already fired or was cancelled.
    pub(crate) fn update_waker(&mut self, id: TimerId, waker: &Waker) -> bool {
        match self.entries.get_mut(id.idx) {
            Some(e) if e.seq == id.seq => {
                if !e.waker.will_wake(waker) {
                    e.waker = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    pub(crate) fn cancel(&mut self, id: TimerId) {
        if matches!(self.entries.get(id.idx), Some(e) if e.seq == id.seq) {
            self.entries.remove(id.idx);
            if self.heap.len() > 64 && self.heap.len() > 2 * self.entries.len() {
                self.compact();
            }
        }
    }

    /// Drops the heap entries of cancelled timers, in place (no allocation).
    fn compact(&mut self) {
        if self.entries.is_empty() {
            self.heap.clear();
            return;
        }
        let entries = &self.entries;
        self.heap
            .retain(|Reverse((_, seq, idx))| matches!(entries.get(*idx), Some(e) if e.seq == *seq));
    }

    fn is_live(&self, seq: u64, idx: usize) -> bool {
        matches!(self.entries.get(idx), Some(e) if e.seq == seq)
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, idx))) = self.heap.peek() {
            if self.is_live(seq, idx) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes every timer due at `now` and appends its waker to `out`.
    pub(crate) fn fire(&mut self, now: Instant, out: &mut Vec<Waker>) {
        while let Some(&Reverse((deadline, seq, idx))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.is_live(seq, idx) {
                out.push(self.entries.remove(idx).waker);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes every waker out (runtime shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Waker> {
        self.heap.clear();
        self.entries.drain().map(|e| e.waker).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let mut t = Timers::default();
        let now = Instant::now();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let (c3, w3) = waker();
        let _a = t.insert(now + Duration::from_millis(30), w1);
        let b = t.insert(now + Duration::from_millis(10), w2);
        let _c = t.insert(now + Duration::from_millis(20), w3);
        t.cancel(b);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(20)));
        let mut out = Vec::new();
        t.fire(now + Duration::from_millis(25), &mut out);
        assert_eq!(out.len(), 1);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(c3.0.load(Ordering::SeqCst), 1);
        assert_eq!(c2.0.load(Ordering::SeqCst), 0);
        t.fire(now + Duration::from_millis(30), &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(c1.0.load(Ordering::SeqCst), 1);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn cancelled_timers_do_not_accumulate() {
        let mut t = Timers::default();
        let now = Instant::now();
        for i in 0..10_000u64 {
            let (_, w) = waker();
            let id = t.insert(now + Duration::from_secs(i + 1), w);
            t.cancel(id);
        }
        assert_eq!(t.len(), 0);
        assert!(
            t.heap.len() <= 130,
            "heap kept {} dead entries",
            t.heap.len()
        );
    }

    #[test]
    fn cancelled_timers_do_not_accumulate_beside_live_ones() {
        // 100 timers stay armed (a server's long timeouts) while 10 000 others are armed and
        // cancelled: the heap keeps at most about twice the live ones.
        let mut t = Timers::default();
        let now = Instant::now();
        let live: Vec<_> = (0..100u64)
            .map(|i| t.insert(now + Duration::from_secs(3600 + i), waker().1))
            .collect();
        for i in 0..10_000u64 {
            let id = t.insert(now + Duration::from_secs(i + 1), waker().1);
            t.cancel(id);
            assert!(
                t.heap.len() <= 2 * t.len() + 1,
                "heap kept {} entries for {} live timers",
                t.heap.len(),
                t.len()
            );
        }
        assert_eq!(t.len(), 100);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(3600)));
        for id in live {
            t.cancel(id);
        }
        assert_eq!((t.len(), t.next_deadline()), (0, None));
    }

    #[test]
    fn a_timer_wakes_the_waker_it_was_given_last() {
        // A sleep polled again by another task (moved, or selected elsewhere) must wake that
        // task, not the first one.
        let mut t = Timers::default();
        let now = Instant::now();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let id = t.insert(now, w1.clone());
        assert!(t.update_waker(id, &w1));
        assert!(t.update_waker(id, &w2));
        let mut out = Vec::new();
        t.fire(now, &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(
            (c1.0.load(Ordering::SeqCst), c2.0.load(Ordering::SeqCst)),
            (0, 1)
        );
    }

    #[test]
    fn stale_ids_are_ignored() {
        let mut t = Timers::default();
        let now = Instant::now();
        let (_, w) = waker();
        let id = t.insert(now, w.clone());
        let mut out = Vec::new();
        t.fire(now, &mut out);
        assert_eq!(out.len(), 1);
        let id2 = t.insert(now + Duration::from_secs(1), w.clone());
        assert!(!t.update_waker(id, &w));
        t.cancel(id); // the slot is reused by id2: must not cancel it
        assert!(t.update_waker(id2, &w));
        assert_eq!(t.len(), 1);
    }
}
