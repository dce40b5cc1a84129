//! Helpers shared by the end-to-end tests of `ddbb-bench`.

use std::process::Command;

/// Whether `etcd` runs here. Without it the bench runs DDBB alone, which is allowed on a
/// developer machine (the test says so) but not under CI (`CI` set), where etcd must be
/// installed so that both systems are exercised.
pub fn etcd_or_ddbb_alone() -> bool {
    let etcd = Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !etcd {
        let msg = "etcd is not installed (apt-get install -y etcd-server): DDBB runs alone";
        assert!(
            std::env::var("CI").is_err(),
            "under CI etcd must be installed: {msg}"
        );
        eprintln!("{msg}");
    }
    etcd
}
