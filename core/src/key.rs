//! Task-local keys (Lwt's `Lwt.key`, `Lwt.with_value`, `Lwt.get`).
//!
//! A value bound with [`Key::with_value`] is visible to the code that runs while the wrapped
//! future is polled, and nowhere else: it follows the future from thread to thread, and a
//! task spawned inside does not inherit it.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static SLOTS: RefCell<Vec<Option<Box<dyn Any>>>> = const { RefCell::new(Vec::new()) };
}

/// A task-local key holding values of type `T`; declare one as a `static`.
///
/// # Examples
///
/// ```
/// static USER: lwt::Key<String> = lwt::Key::new();
/// lwt::run(async {
///     assert_eq!(USER.get(), None);
///     USER.with_value(Some("ada".to_string()), async {
///         assert_eq!(USER.get().as_deref(), Some("ada"));
///     })
///     .await;
///     assert_eq!(USER.get(), None);
/// });
/// ```
pub struct Key<T> {
    id: AtomicUsize,
    _t: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> Key<T> {
    /// A new key (usable in a `static`).
    pub const fn new() -> Key<T> {
        Key {
            id: AtomicUsize::new(0),
            _t: PhantomData,
        }
    }

    fn id(&self) -> usize {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// The value bound to the key in the running future, if any (Lwt's `Lwt.get`).
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        SLOTS.with(|s| {
            s.borrow()
                .get(id)
                .and_then(|v| v.as_ref())
                .and_then(|v| v.downcast_ref::<T>())
                .cloned()
        })
    }

    /// Runs `fut` with the key bound to `value` (`None` unbinds it) while it is polled
    /// (Lwt's `Lwt.with_value`).
    pub fn with_value<F: Future>(&'static self, value: Option<T>, fut: F) -> WithValue<T, F> {
        WithValue {
            key: self,
            value: value.map(|v| Box::new(v) as Box<dyn Any>),
            fut,
        }
    }

    /// Runs the closure `f` with the key bound to `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// static DEPTH: lwt::Key<u32> = lwt::Key::new();
    /// assert_eq!(DEPTH.with_value_sync(Some(3), || DEPTH.get()), Some(3));
    /// assert_eq!(DEPTH.get(), None);
    /// ```
    pub fn with_value_sync<R>(&'static self, value: Option<T>, f: impl FnOnce() -> R) -> R {
        let mut slot = value.map(|v| Box::new(v) as Box<dyn Any>);
        let id = self.id();
        swap(id, &mut slot);
        struct Restore(usize, Option<Box<dyn Any>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                swap(self.0, &mut self.1);
            }
        }
        let _restore = Restore(id, slot);
        f()
    }
}

impl<T: Clone + 'static> Default for Key<T> {
    fn default() -> Self {
        Key::new()
    }
}

fn swap(id: usize, value: &mut Option<Box<dyn Any>>) {
    SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() <= id {
            s.resize_with(id + 1, || None);
        }
        std::mem::swap(&mut s[id], value);
    });
}

/// The future of [`Key::with_value`].
pub struct WithValue<T: 'static, F> {
    key: &'static Key<T>,
    value: Option<Box<dyn Any>>,
    fut: F,
}

// SAFETY: the boxed value is a `T`; it is only moved between this future and the polling
// thread's slot, so the future is `Send` when `T` and `F` are.
unsafe impl<T: Send + 'static, F: Send> Send for WithValue<T, F> {}

impl<T: Clone + 'static, F: Future> Future for WithValue<T, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`; `value` and
        // `key` are not pinned and only swapped.
        let this = unsafe { self.get_unchecked_mut() };
        let id = this.key.id();
        swap(id, &mut this.value);
        struct Restore<'a>(usize, &'a mut Option<Box<dyn Any>>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                swap(self.0, self.1);
            }
        }
        let restore = Restore(id, &mut this.value);
        // SAFETY: see above: `fut` stays in place.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let r = fut.poll(cx);
        drop(restore);
        r
    }
}
