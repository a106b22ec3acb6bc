//! The Windows subset, on every OS: blocking calls run as jobs by every async method while the
//! loop keeps running.
mod util;

use lwt::unix::{run_job, AsyncMethod};
use std::time::Duration;

#[test]
fn jobs_run_by_every_method() {
    util::for_each_backend(|_| async {
        for m in [AsyncMethod::None, AsyncMethod::Detach, AsyncMethod::Switch] {
            assert_eq!(run_job(Some(m), || 6 * 7).await.unwrap(), 42, "{m:?}");
        }
    });
}

#[test]
fn a_detached_job_does_not_block_the_loop() {
    util::for_each_backend(|_| async {
        let ticker = lwt::spawn(async {
            let mut ticks = 0;
            for _ in 0..5 {
                lwt::sleep(Duration::from_millis(2)).await;
                ticks += 1;
            }
            ticks
        });
        let v = run_job(Some(AsyncMethod::Detach), || {
            std::thread::sleep(Duration::from_millis(50));
            "done"
        })
        .await
        .unwrap();
        assert_eq!(v, "done");
        assert_eq!(ticker.await.unwrap(), 5);
    });
}

#[test]
fn a_file_read_through_a_job() {
    util::for_each_backend(|_| async {
        let path = std::env::temp_dir().join(format!("lwt-windows-jobs-{}", std::process::id()));
        let p2 = path.clone();
        run_job(None, move || std::fs::write(&p2, b"contents"))
            .await
            .unwrap()
            .unwrap();
        let p2 = path.clone();
        let got = run_job(None, move || std::fs::read(&p2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"contents");
        std::fs::remove_file(&path).unwrap();
    });
}
