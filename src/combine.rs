//! `join!` and `pick!`: Lwt's `join` and `pick` over futures of different types, without
//! boxing. Each future is pinned on the stack of the calling task and polled in place.
//!
//! The macros give each future names of its own by recursion: identifiers written by different
//! expansions of a `macro_rules!` arm are distinct (hygiene), so the `f` and `out` of one step
//! never clash with those of another, nor with the caller's.

/// Runs every future concurrently, on the calling task, and returns their outputs as a tuple
/// once all have completed (tokio's `tokio::join!`; Lwt's `join`, with the values). The
/// futures may be of different types; none is boxed or spawned.
///
/// It must be used inside an `async` block or function (it awaits). Each time the task is
/// woken, the futures not yet finished are polled in the order written (the order of the
/// outputs); a finished one is never polled again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let (n, s, ()) = lwt::join!(
///         async { 1 },
///         async {
///             lwt::sleep(Duration::from_millis(2)).await;
///             "two"
///         },
///         lwt::sleep(Duration::from_millis(1)),
///     );
///     assert_eq!((n, s), (1, "two"));
/// });
/// ```
#[macro_export]
macro_rules! join {
    ($($fut:expr),+ $(,)?) => {
        $crate::__join!(@named [] $($fut,)+)
    };
}

/// Runs the futures concurrently, on the calling task, and returns the output of the first to
/// complete; the others are dropped (canceled) before `pick!` returns, so they never complete
/// (Lwt's `pick`; tokio's `tokio::select!` with `biased;`). The futures may be of different
/// types but must have the same `Output`; none is boxed or spawned.
///
/// It must be used inside an `async` block or function (it awaits). **Fairness:** the futures
/// are polled in the order written, each time the task is woken, and the first found ready
/// wins: when several are ready in the same poll, the one written first wins, so under
/// `pick!(timeout, read(a), read(b))` exactly one completes and a read that loses consumes
/// nothing. A future that is always ready starves the ones after it, as in `select!` with
/// `biased;`.
///
/// For Lwt's `choose`, which leaves the others pending, pick between `Pin<&mut F>`s (from
/// `std::pin::pin!`): the losers are only borrowed, and stay the caller's to go on with.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// lwt::run(async {
///     let slow = async {
///         lwt::sleep(Duration::from_secs(60)).await;
///         "slow"
///     };
///     let fast = async { "fast" };
///     assert_eq!(lwt::pick!(slow, fast), "fast"); // `slow` is dropped: its timer is gone
///
///     // choose: keep the loser and finish it later.
///     let mut a = std::pin::pin!(async {
///         lwt::sleep(Duration::from_millis(5)).await;
///         1
///     });
///     let mut b = std::pin::pin!(async { 2 });
///     assert_eq!(lwt::pick!(a.as_mut(), b.as_mut()), 2);
///     assert_eq!(a.await, 1);
/// });
/// ```
///
/// Futures whose outputs differ are refused:
///
/// ```compile_fail
/// lwt::run(async {
///     let _ = lwt::pick!(async { 1 }, async { "one" });
/// });
/// ```
#[macro_export]
macro_rules! pick {
    ($($fut:expr),+ $(,)?) => {
        $crate::__pick!(@named [] $($fut,)+)
    };
}

/// The body of [`join!`]: names each future (one step per future), then polls them.
#[doc(hidden)]
#[macro_export]
macro_rules! __join {
    (@named [$($named:tt)*] $head:expr, $($tail:expr,)*) => {
        $crate::__join!(@named [$($named)* (f out $head)] $($tail,)*)
    };
    (@named [$(($f:ident $out:ident $fut:expr))*]) => {{
        $(
            let mut $f = $crate::__private::pin!($fut);
            let mut $out = $crate::__private::Option::None;
        )*
        $crate::__private::poll_fn(|cx| {
            let mut pending = false;
            $(
                if $out.is_none() {
                    match $crate::__private::Future::poll($f.as_mut(), cx) {
                        $crate::__private::Poll::Ready(v) => $out = $crate::__private::Option::Some(v),
                        $crate::__private::Poll::Pending => pending = true,
                    }
                }
            )*
            if pending {
                $crate::__private::Poll::Pending
            } else {
                $crate::__private::Poll::Ready(())
            }
        })
        .await;
        ($(
            match $out {
                $crate::__private::Option::Some(v) => v,
                $crate::__private::Option::None => ::core::unreachable!("lwt::join!: every future completed"),
            },
        )*)
    }};
}

/// The body of [`pick!`]: names each future (one step per future), then polls them in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __pick {
    (@named [$($named:tt)*] $head:expr, $($tail:expr,)*) => {
        $crate::__pick!(@named [$($named)* (f $head)] $($tail,)*)
    };
    (@named [$(($f:ident $fut:expr))*]) => {{
        $( let mut $f = $crate::__private::pin!($fut); )*
        let out = $crate::__private::poll_fn(|cx| {
            $(
                if let $crate::__private::Poll::Ready(v) = $crate::__private::Future::poll($f.as_mut(), cx) {
                    return $crate::__private::Poll::Ready(v);
                }
            )*
            $crate::__private::Poll::Pending
        })
        .await;
        // The losers are dropped here, at the end of this block, before `out` is returned.
        out
    }};
}
