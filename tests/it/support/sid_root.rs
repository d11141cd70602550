//! The tests' Debian sid root ($WARP_TEST_SID_ROOT, made once per checkout by
//! tests/fixtures/sid-root.sh): commands run in it by chroot inside a private
//! mount namespace (sharing the host's loopback), and directories under its
//! /tmp that both sides see. Used for the CPythons pyenv here lacks (3.14,
//! 3.15) and for sid's skopeo, which verifies sigstore signatures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The sid root when it holds `needed` (a path inside it, such as
/// "usr/bin/skopeo"); None after `require_all` otherwise.
pub fn sid_root(needed: &str) -> Option<PathBuf> {
    let root = std::env::var_os("WARP_TEST_SID_ROOT").map(PathBuf::from);
    match root {
        Some(root) if root.join(needed).exists() => Some(root),
        _ => {
            crate::support::require_all(&format!(
                "the Debian sid root with /{needed} ($WARP_TEST_SID_ROOT, tests/fixtures/sid-root.sh)"
            ));
            None
        }
    }
}

/// `ARGS` run inside `root` (a private mount namespace with /proc and /dev),
/// with a clean environment. Stopped by the caller.
pub fn in_root(root: &Path, args: &[&str]) -> Command {
    let r = root.display();
    let script = format!(
        "mount -t proc proc {r}/proc && mount --rbind /dev {r}/dev && exec chroot {r} /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \"$@\""
    );
    let mut cmd = Command::new("unshare");
    // --kill-child: should the test die, the chrooted process gets SIGKILL too.
    cmd.args(["--mount", "--fork", "--kill-child=SIGKILL", "sh", "-c"])
        .arg(script)
        .arg("sh")
        .args(args);
    cmd
}

/// A directory inside the root (under its /tmp), removed when dropped; `rel`
/// is its path as seen inside.
pub struct InsideDir {
    pub host: tempfile::TempDir,
    pub rel: String,
}

impl InsideDir {
    pub fn new(root: &Path) -> InsideDir {
        let host = tempfile::Builder::new()
            .prefix("warp-sid-test-")
            .tempdir_in(root.join("tmp"))
            .unwrap();
        let rel = format!(
            "/tmp/{}",
            host.path().file_name().unwrap().to_string_lossy()
        );
        InsideDir { host, rel }
    }
}
