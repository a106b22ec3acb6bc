//! `set_default_async_method` and the order in which `run_job` picks its method: argument,
//! then task-local key, then default. (Own binary: it changes the process's default.)
#![cfg(unix)]
mod util;

use lwt::unix::{
    async_method, async_method_key, default_async_method, run_job, set_default_async_method,
    with_async_detach, AsyncMethod,
};

#[test]
fn the_default_applies_where_nothing_else_is_set() {
    let before = default_async_method();
    util::for_each_backend(|_kind| async {
        let me = std::thread::current().id();
        let on = || std::thread::current().id();
        set_default_async_method(AsyncMethod::None);
        assert_eq!(default_async_method(), AsyncMethod::None);
        assert_eq!(async_method(), AsyncMethod::None);
        assert_eq!(run_job(None, on).await.unwrap(), me);
        // The key beats the default, the argument beats both.
        with_async_detach(async {
            assert_ne!(run_job(None, on).await.unwrap(), me);
            assert_eq!(run_job(Some(AsyncMethod::None), on).await.unwrap(), me);
        })
        .await;
        async_method_key()
            .with_value(Some(AsyncMethod::Switch), async {
                assert_eq!(async_method(), AsyncMethod::Switch);
                assert_eq!(run_job(None, on).await.unwrap(), me);
            })
            .await;
        // Binding the key to nothing falls back to the default.
        async_method_key()
            .with_value(None, async {
                assert_eq!(async_method(), AsyncMethod::None)
            })
            .await;
        set_default_async_method(AsyncMethod::Detach);
        assert_ne!(run_job(None, on).await.unwrap(), me);
        // Spawned tasks see the default too.
        set_default_async_method(AsyncMethod::Switch);
        let t = lwt::spawn(async { async_method() });
        assert_eq!(t.await.unwrap(), AsyncMethod::Switch);
    });
    set_default_async_method(before);
}
