//! `warp image` on a full disk: the output's file system, then the layer
//! cache's, are small tmpfs mounts (root, in a private mount namespace made
//! with `unshare`, so nothing outlives the test). Each must fail with one
//! line naming the lack of space and what was being written, a hint, a
//! non-zero exit — and leave nothing half-written behind: no partial output,
//! no temporary files, no truncated blob a later build could trust.
use crate::image_support;
use crate::support;

use image_support::*;
use std::path::Path;
use std::process::Command;
use support::{assert_fails_with, run, stderr, stdout};

/// Mounts a tmpfs on $1, runs the rest of the arguments, then lists what is
/// on the tmpfs (it goes away with the namespace) and names every blob whose
/// content does not match its digest.
const ON_TMPFS: &str = r#"
dir=$1; size=$2; shift 2
mount -t tmpfs -o "size=$size" warp-diskfull-test "$dir" || exit 99
echo before > "$dir/already-there"
"$@"; rc=$?
echo "==listing=="
cd "$dir" && find . -mindepth 1 | sort
for f in blobs/sha256/*; do
  [ -f "$f" ] || continue
  [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || echo "TRUNCATED $f"
done
exit $rc
"#;

/// Whether this test can mount: root and unshare (else skip, or fail under tests/run.sh).
fn can_mount() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || support::which("unshare").is_none() {
        support::require_all("root and unshare (tmpfs mounts in a private mount namespace)");
        return false;
    }
    true
}

/// `cmd` run with a `size` tmpfs mounted on `dir`, in a private mount namespace.
fn on_tmpfs(cmd: &Command, dir: &Path, size: &str) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            ON_TMPFS,
            "sh",
        ])
        .arg(dir)
        .arg(size)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(cwd) = cmd.get_current_dir() {
        wrapped.current_dir(cwd);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// What was on the tmpfs after warp ran (the lines after `==listing==`).
fn listing(out: &std::process::Output) -> Vec<String> {
    let text = stdout(out);
    let (_, after) = text
        .split_once("==listing==\n")
        .unwrap_or_else(|| panic!("no listing in: {text}\n{}", stderr(out)));
    after.lines().map(str::to_string).collect()
}

/// warp's last words are one error line (naming the place and what was
/// being written) and one hint; above them only step lines or a build's output.
fn assert_one_clear_line(out: &std::process::Output, place: &str, writing: &str) {
    assert_ne!(out.status.code(), Some(99), "mount failed: {}", stderr(out));
    assert_fails_with(out, "no space left on the device holding");
    let err = stderr(out);
    let last: Vec<&str> = err.lines().rev().take(2).collect();
    let [hint, line] = last[..] else {
        panic!("too little on stderr: {err}");
    };
    assert!(
        line.starts_with("warp: error: no space left on the device holding ")
            && line.contains(place)
            && line.contains(&format!("while writing {writing}")),
        "{err}"
    );
    assert!(
        hint.starts_with("warp: hint: free some space there"),
        "{err}"
    );
}

#[test]
fn a_full_output_file_system_leaves_no_partial_output() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    if !can_mount() {
        return;
    }
    let app = plain_app("full disk");
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for dest in [
        format!("oci-archive:{}", out_dir.join("app.tar").display()),
        format!("oci:{}", out_dir.join("layout").display()),
    ] {
        let mut image = warp_image(app.path(), &shared_cache());
        image.args([
            "diskfull",
            "--base",
            &format!("oci-archive:{}", base.display()),
            "--output",
            &dest,
        ]);
        let out = run(&mut on_tmpfs(&image, &out_dir, "8m"));
        assert_one_clear_line(&out, &out_dir.display().to_string(), &dest);
        assert!(
            stderr(&out).contains("or write the output elsewhere"),
            "{}",
            stderr(&out)
        );
        assert_eq!(listing(&out), ["./already-there"], "{}", stderr(&out));
    }
}

/// `warp image` of `app` with its cache on a `size` tmpfs: (its output, the
/// cache's path), after checking that no output was written, no blob left
/// truncated and no temporary file left.
fn build_with_cache_on_tmpfs(
    app: &support::TempApp,
    base: &Path,
    size: &str,
) -> (std::process::Output, String) {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let target = work.path().join("app.tar");
    let mut image = warp_image(app.path(), &cache);
    image.args([
        "diskfull",
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--output",
        &format!("oci-archive:{}", target.display()),
    ]);
    let out = run(&mut on_tmpfs(&image, &cache, size));
    let left = listing(&out);
    assert!(!left.iter().any(|l| l.starts_with("TRUNCATED")), "{left:?}");
    // Temporary files and half-made trees went with the failure.
    assert!(
        !left
            .iter()
            .any(|l| l.starts_with("./tmp/") || l.starts_with("./roots/.tmp-")),
        "{left:?}"
    );
    assert!(!target.exists());
    (out, format!("the cache {}", cache.display()))
}

#[test]
fn a_full_cache_keeps_no_half_written_blob() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    if !can_mount() {
        return;
    }
    let (out, cache) = build_with_cache_on_tmpfs(&plain_app("full cache"), &base, "8m");
    assert_one_clear_line(&out, &cache, "the base image");
    assert!(stderr(&out).contains("WARP_CACHE_DIR"), "{}", stderr(&out));
}

#[test]
fn a_build_that_fills_the_cache_is_reported_as_a_full_disk() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    if !can_mount() {
        return;
    }
    // Room for the base, its root and the runtime layer, then a build hook
    // that writes until the file system is full (as a large install would).
    let app = plain_app("filled");
    app.write_exec(
        ".warp/action_hooks/pre-build",
        "#!/bin/sh\ndd if=/dev/zero of=/opt/app-root/src/filler bs=1M\nexit 1\n",
    );
    let (out, cache) = build_with_cache_on_tmpfs(&app, &base, "1g");
    assert_one_clear_line(&out, &cache, "the build's files");
    // The build's own output (dd's complaint) is shown above the message.
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
}
