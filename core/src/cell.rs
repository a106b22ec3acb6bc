//! `AtomicCell`: a slot holding at most one boxed value, taken and put back atomically. The
//! loop's private state travels between threads through these slots, so whoever took it out
//! is its only owner.

use crate::loom::AtomicPtr;
use std::ptr;
use std::sync::atomic::Ordering;

/// A slot that holds `Option<Box<T>>`, moved in and out with one atomic swap.
///
/// # Invariant
///
/// `ptr` is null or comes from `Box::into_raw` and is owned by the cell: it is turned back into
/// a `Box` exactly once, by the swap that takes it out (or by `Drop`).
pub(crate) struct AtomicCell<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: the cell moves a `Box<T>` from the thread that puts it to the thread that takes it,
// and gives shared access to nothing inside it; so sharing the cell is sound when `T: Send`.
unsafe impl<T: Send> Send for AtomicCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for AtomicCell<T> {}

impl<T> AtomicCell<T> {
    pub(crate) fn new(value: Option<Box<T>>) -> AtomicCell<T> {
        AtomicCell {
            ptr: AtomicPtr::new(into_raw(value)),
        }
    }

    /// Takes the value out, leaving the slot empty.
    pub(crate) fn take(&self) -> Option<Box<T>> {
        self.swap(None)
    }

    /// Puts `value` in, returning what was there.
    pub(crate) fn swap(&self, value: Option<Box<T>>) -> Option<Box<T>> {
        let old = self.ptr.swap(into_raw(value), Ordering::AcqRel);
        if old.is_null() {
            None
        } else {
            // SAFETY: a non-null pointer in the cell came from `Box::into_raw` and the swap
            // removed it from the cell, so this is its only owner (the invariant).
            Some(unsafe { Box::from_raw(old) })
        }
    }

    /// Puts `value` in; the slot must be empty (a value there would be dropped).
    pub(crate) fn set(&self, value: Box<T>) {
        let old = self.swap(Some(value));
        debug_assert!(old.is_none(), "AtomicCell::set on a full cell");
        drop(old);
    }

    /// Whether the slot holds a value right now (a snapshot).
    pub(crate) fn is_some(&self) -> bool {
        !self.ptr.load(Ordering::Acquire).is_null()
    }
}

fn into_raw<T>(value: Option<Box<T>>) -> *mut T {
    match value {
        Some(b) => Box::into_raw(b),
        None => ptr::null_mut(),
    }
}

impl<T> Drop for AtomicCell<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::AtomicCell;

    #[test]
    fn a_value_is_taken_once() {
        let c = AtomicCell::new(Some(Box::new(5)));
        assert!(c.is_some());
        assert_eq!(c.take().as_deref(), Some(&5));
        assert!(c.take().is_none());
        assert!(!c.is_some(), "an emptied cell says it holds a value");
        c.set(Box::new(6));
        assert!(c.is_some());
        assert_eq!(c.swap(Some(Box::new(7))).as_deref(), Some(&6));
        assert_eq!(c.take().as_deref(), Some(&7));
    }

    #[test]
    fn drop_frees_the_value() {
        use std::sync::Arc;
        let v = Arc::new(());
        let c = AtomicCell::new(Some(Box::new(v.clone())));
        drop(c);
        assert_eq!(Arc::strong_count(&v), 1);
    }
}
