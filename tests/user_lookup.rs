//! User and group lookups agree with /etc/passwd and /etc/group for root; unknown names and
//! ids are clear not-found errors.
#![cfg(unix)]
mod util;

use lwt::unix::{getgrgid, getgrnam, getpwnam, getpwuid};
use lwt::Error;

/// The fields of `name`'s line in a colon-separated database file.
fn line_of(path: &str, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find(|l| l.split(':').next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {path}"));
    line.split(':').map(str::to_owned).collect()
}

#[test]
fn root_agrees_with_the_files() {
    util::for_each_backend(|kind| async move {
        let f = line_of("/etc/passwd", "root");
        let by_name = getpwnam("root").await.unwrap();
        assert_eq!(by_name.pw_name, f[0]);
        assert_eq!(by_name.pw_passwd, f[1]);
        assert_eq!(by_name.pw_uid.to_string(), f[2]);
        assert_eq!(by_name.pw_gid.to_string(), f[3]);
        assert_eq!(by_name.pw_gecos, f[4]);
        assert_eq!(by_name.pw_dir, f[5]);
        assert_eq!(by_name.pw_shell, f[6]);
        assert_eq!(getpwuid(0).await.unwrap(), by_name, "{kind}");

        let g = line_of("/etc/group", "root");
        let group = getgrnam("root").await.unwrap();
        assert_eq!(group.gr_name, g[0]);
        assert_eq!(group.gr_passwd, g[1]);
        assert_eq!(group.gr_gid.to_string(), g[2]);
        let members: Vec<String> = g[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(group.gr_mem, members);
        assert_eq!(getgrgid(0).await.unwrap(), group, "{kind}");
    });
}

#[test]
fn unknown_names_are_not_found() {
    util::for_each_backend(|_| async {
        let e = getpwnam("lwt-no-such-user").await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotFound {
                    call: "getpwnam",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("lwt-no-such-user"), "{e}");
        let e = getgrnam("lwt-no-such-group").await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotFound {
                    call: "getgrnam",
                    ..
                }
            ),
            "{e}"
        );
        let e = getpwuid(3_999_999_999).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = getgrgid(3_999_999_999).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = getpwnam("ro\0ot").await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        let e = getgrnam("ro\0ot").await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        // Still usable afterwards.
        assert_eq!(getpwnam("root").await.unwrap().pw_uid, 0);
    });
}
