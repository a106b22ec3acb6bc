//! Lwt's combinators over futures: [`pick`], [`choose`], [`join`].
//!
//! In Rust a future that is dropped is canceled, so Lwt's cancellation maps onto ownership:
//! `pick` drops the losers before it returns, `choose` hands them back to the caller.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Waits for the first of `futures` to complete and returns its output; every other future
/// is dropped (canceled) before `pick` returns, so it never completes (Lwt's `pick`).
///
/// When several are ready in the same poll, the first in iteration order wins, so with the
/// seed's example `pick [timeout; read a; read b]` exactly one completes and a canceled read
/// consumes no byte. Futures of different types are boxed as `Pin<Box<dyn Future<..>>>`
/// here; `lwt::pick!` takes them as they are, without boxing.
///
/// # Panics
///
/// If `futures` is empty: such a pick could never complete (Lwt raises `Invalid_argument`).
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::time::Duration;
/// lwt::run(async {
///     let futs: Vec<Pin<Box<dyn Future<Output = Result<u32, lwt::Error>>>>> = vec![
///         Box::pin(lwt::timeout(Duration::from_secs(5))),
///         Box::pin(async {
///             lwt::sleep(Duration::from_millis(1)).await;
///             Ok(7)
///         }),
///     ];
///     assert_eq!(lwt::pick(futs).await.unwrap(), 7);
/// });
/// ```
pub async fn pick<F: Future>(futures: impl IntoIterator<Item = F>) -> F::Output {
    let (out, _, rest) = choose(futures).await;
    drop(rest);
    out
}

/// Waits for the first of `futures` to complete; returns its output, its index, and the
/// others, still pending and not canceled (Lwt's `choose`, which "leaves the others
/// pending": here the caller decides whether to keep or drop them).
///
/// # Panics
///
/// If `futures` is empty.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let futs = vec![lwt::sleep(Duration::from_millis(50)), lwt::sleep(Duration::from_millis(1))];
///     let ((), i, rest) = lwt::choose(futs).await;
///     assert_eq!(i, 1);
///     assert_eq!(rest.len(), 1); // the 50 ms sleep, still pending
/// });
/// ```
pub async fn choose<F: Future>(
    futures: impl IntoIterator<Item = F>,
) -> (F::Output, usize, Vec<Pin<Box<F>>>) {
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    assert!(
        !futs.is_empty(),
        "lwt::pick/choose of no future would never complete"
    );
    let (out, idx) = std::future::poll_fn(|cx: &mut Context<'_>| {
        for (i, f) in futs.iter_mut().enumerate() {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready((v, i));
            }
        }
        Poll::Pending
    })
    .await;
    futs.remove(idx);
    (out, idx, futs)
}

/// Runs every future concurrently and returns their outputs, in order, once all have
/// completed (Lwt's `join`, which also gives the values; see [`join2`] and `lwt::join!` for
/// futures of different types).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let v = lwt::join((1..=3).map(|i| async move { i * 10 })).await;
///     assert_eq!(v, vec![10, 20, 30]);
/// });
/// ```
pub async fn join<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut left = futs.len();
    std::future::poll_fn(|cx: &mut Context<'_>| {
        for (f, o) in futs.iter_mut().zip(outs.iter_mut()) {
            if o.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *o = Some(v);
                    left -= 1;
                }
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outs.into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// Runs two futures of possibly different types concurrently and returns both outputs
/// (`lwt::join!` does the same for any number).
///
/// # Examples
///
/// ```
/// lwt::run(async {
///     let (a, b) = lwt::join2(async { 1 }, async { "two" }).await;
///     assert_eq!((a, b), (1, "two"));
/// });
/// ```
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("a completed"), rb.expect("b completed"))
}
