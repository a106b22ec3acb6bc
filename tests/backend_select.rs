//! Choosing a backend: by name, from the environment, with clear errors.
#![cfg(unix)]
mod util;

use lwt::{BackendKind, Builder};

#[test]
fn every_available_backend_runs_and_says_its_name() {
    for kind in BackendKind::available() {
        let rt = Builder::new().backend(kind).build().unwrap();
        assert_eq!(rt.backend_name(), kind.name());
        assert_eq!(rt.block_on(async { 7 }), 7);
    }
}

#[test]
fn unknown_and_unavailable_names_list_what_this_os_has() {
    let e = "select".parse::<BackendKind>().unwrap_err().to_string();
    assert!(e.contains("\"select\"") && e.contains("poll"), "{e}");
    for kind in BackendKind::ALL {
        if !kind.is_available() {
            let e = Builder::new()
                .backend(kind)
                .build()
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(kind.name()) && e.contains("poll"), "{e}");
        }
    }
}

/// The environment path: re-runs this test binary with LWT_BACKEND set.
#[test]
fn lwt_backend_env_is_honoured_and_checked() {
    if let Ok(expect) = std::env::var("LWT_TEST_EXPECT_BACKEND") {
        let r = Builder::from_env().build();
        match expect.as_str() {
            "error" => {
                let e = r.expect_err("a bad LWT_BACKEND must fail").to_string();
                assert!(e.contains("bogus") && e.contains("poll"), "{e}");
            }
            name => assert_eq!(r.unwrap().backend_name(), name),
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cases: Vec<(&str, &str)> = BackendKind::available()
        .into_iter()
        .map(|k| (k.name(), k.name()))
        .collect();
    cases.push(("bogus", "error"));
    // Empty means unset: the automatic choice.
    cases.push(("", BackendKind::best().name()));
    for (value, expect) in cases {
        let out = std::process::Command::new(&exe)
            .args([
                "--exact",
                "lwt_backend_env_is_honoured_and_checked",
                "--nocapture",
            ])
            .env("LWT_BACKEND", value)
            .env("LWT_TEST_EXPECT_BACKEND", expect)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "LWT_BACKEND={value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
