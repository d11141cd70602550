//! The app environment and what runs in it: `warp env`, `warp exec` (also as
//! PID 1 in a real PID namespace), `warp shell`, the passwd entry for an
//! arbitrary UID (nss_wrapper, and a writable /etc/passwd in a private mount
//! namespace), `warp fixup` and `warp project`.
use crate::support;

use crate::build_support;

use build_support::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Kills (by pid) a process a test started, whatever happens.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An app directory other users can read (the tests that switch UID).
fn world_readable_app() -> TempApp {
    let app = TempApp::new();
    std::fs::set_permissions(app.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    app.write("wsgi.py", WSGI_APP);
    app
}

fn have(program: &str) -> bool {
    let found = which(program).is_some();
    if !found {
        eprintln!("SKIPPED: {program} is not installed");
    }
    found
}

#[test]
fn exec_runs_in_the_app_environment_and_returns_the_exit_code() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp(app.path())
        .args([
            "exec",
            "sh",
            "-c",
            "echo \"$VIRTUAL_ENV|$WARP_SRC_ROOT|$LANG\"; exit 7",
        ])
        .env("LANG", "C"));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let root = app.path().canonicalize().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "{}|{}|C.UTF-8",
            root.join(".venv").display(),
            root.display()
        )
    );

    let out = run(warp(app.path()).args(["exec", "no-such-command-warp"]));
    assert_fails_with(&out, "could not run no-such-command-warp");

    // `warp shell` is an interactive shell in the same environment.
    let mut child = warp(app.path())
        .arg("shell")
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"shell:$WARP_APP_ROOT\"\nexit 4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stdout(&out).contains(&format!("shell:{}", root.join(".venv").display())));
}

#[test]
fn exec_as_pid_1_forwards_signals_and_reaps_zombies() {
    if !have("unshare") {
        return require_all("unshare");
    }
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let script = r#"
trap 'echo got-HUP' HUP
trap 'echo got-TERM; exit 42' TERM
(sh -c 'sleep 0.2' &)
sleep 1
zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
echo "pid1=$(cat /proc/1/comm) zombies=$zombies"
echo ready
while :; do sleep 0.1; done
"#;
    let mut unshare = Command::new("unshare");
    unshare
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(warp_bin())
        .args(["exec", "--src"])
        .arg(app.path())
        .args(["sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = Guard(unshare.spawn().unwrap());
    let unshare_pid = guard.0.id();
    let mut lines = BufReader::new(guard.0.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let line = lines.next().expect("output ended early").unwrap();
        let done = line == "ready";
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(seen.iter().any(|l| l == "pid1=warp zombies=0"), "{seen:?}");
    // warp is unshare's child (PID 1 inside the namespace).
    let children =
        std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
            .unwrap();
    let warp_pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let signal = |sig: i32| unsafe { libc::kill(warp_pid, sig) };
    assert_eq!(signal(libc::SIGHUP), 0);
    assert_eq!(lines.next().unwrap().unwrap(), "got-HUP");
    assert_eq!(signal(libc::SIGTERM), 0);
    assert_eq!(lines.next().unwrap().unwrap(), "got-TERM");
    let status = guard.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(42),
        "warp must exit with the child's code"
    );
}

#[test]
fn an_arbitrary_uid_gets_a_passwd_entry_through_nss_wrapper() {
    if !have("setpriv") || !Path::new("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so").exists() {
        return require_all("setpriv and libnss-wrapper");
    }
    let app = world_readable_app();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let check = "whoami; /usr/bin/python3 -c 'import getpass, os; print(getpass.getuser(), os.path.expanduser(\"~\"))'";
    let out = run(Command::new("setpriv")
        .args(["--reuid", "12345", "--regid", "0", "--clear-groups"])
        .arg(warp_bin())
        .args(["exec", "--src"])
        .arg(app.path())
        .args(["sh", "-c", check])
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", tmp.path())
        .env_remove("HOME")
        .env_remove("USER")
        .env_remove("LOGNAME"));
    assert_ok(&out);
    let root = app.path().canonicalize().unwrap();
    assert_eq!(
        stdout(&out),
        format!("default\ndefault {}\n", root.display())
    );
    // The entry went to a private file, never to the real /etc/passwd.
    let private = std::fs::read_to_string(tmp.path().join("passwd-12345")).unwrap();
    assert!(private.contains("default:x:12345:0:"), "{private}");
    assert!(!std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .contains(":12345:"));
}

#[test]
fn an_arbitrary_uid_is_appended_to_a_writable_etc_passwd() {
    if !have("setpriv") || !have("unshare") {
        return require_all("setpriv and unshare");
    }
    let app = world_readable_app();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("passwd");
    std::fs::copy("/etc/passwd", &copy).unwrap();
    // Group-writable for group 0, as warp's images make it.
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = run(Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/passwd && exec setpriv --reuid 23456 --regid 0 --clear-groups \"$2\" exec --src \"$3\" whoami")
        .arg("sh")
        .arg(&copy)
        .arg(warp_bin())
        .arg(app.path())
        .env("HOME", "/opt/app-root/src")
        .env("USER_NAME", "appuser"));
    assert_ok(&out);
    assert_eq!(stdout(&out), "appuser\n");
    let text = std::fs::read_to_string(&copy).unwrap();
    assert!(
        text.ends_with("appuser:x:23456:0:warp arbitrary user:/opt/app-root/src:/bin/sh\n"),
        "{text}"
    );
    assert!(!std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .contains(":23456:"));
}

#[test]
fn fixup_sets_group_0_and_group_permissions_without_following_links() {
    let top = tempfile::tempdir().unwrap();
    let tree = top.path().join("tree");
    let outside = top.path().join("outside.txt");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/data.txt"), "x").unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(&tree.join("sub"), 0o700);
    mode(&tree.join("sub/data.txt"), 0o600);
    mode(&tree.join("run.sh"), 0o744);
    mode(&outside, 0o600);
    for p in [
        tree.clone(),
        tree.join("sub"),
        tree.join("sub/data.txt"),
        tree.join("run.sh"),
        outside.clone(),
    ] {
        std::os::unix::fs::chown(&p, None, Some(1000)).unwrap();
    }
    std::os::unix::fs::lchown(tree.join("link"), None, Some(1000)).unwrap();

    let out = run(warp(top.path()).args(["fixup"]).arg(&tree));
    assert_ok(&out);
    assert!(
        stderr(&out).contains("5 entries, 5 changed, 0 failed"),
        "{}",
        stderr(&out)
    );
    let meta = |p: &Path| std::fs::symlink_metadata(p).unwrap();
    assert_eq!(meta(&tree.join("sub")).mode() & 0o7777, 0o770);
    assert_eq!(meta(&tree.join("sub/data.txt")).mode() & 0o7777, 0o660);
    assert_eq!(meta(&tree.join("run.sh")).mode() & 0o7777, 0o774);
    for p in [tree.clone(), tree.join("sub/data.txt"), tree.join("link")] {
        assert_eq!(meta(&p).gid(), 0, "{}", p.display());
    }
    // The link's target, outside the tree, is untouched.
    assert_eq!(meta(&outside).gid(), 1000);
    assert_eq!(meta(&outside).mode() & 0o7777, 0o600);

    // Idempotent.
    let out = run(warp(top.path()).arg("fixup").arg(&tree));
    assert!(
        stderr(&out).contains("5 entries, 0 changed, 0 failed"),
        "{}",
        stderr(&out)
    );

    // What cannot be changed is reported; exit 0 unless --strict.
    if !have("setpriv") {
        return require_all("setpriv");
    }
    std::os::unix::fs::chown(tree.join("run.sh"), None, Some(1000)).unwrap();
    mode(top.path(), 0o755);
    let as_other = |strict: bool| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "12345", "--regid", "12345", "--clear-groups"])
            .arg(warp_bin())
            .arg("fixup");
        if strict {
            cmd.arg("--strict");
        }
        run(cmd.arg(&tree))
    };
    let out = as_other(false);
    assert_ok(&out);
    assert!(
        stderr(&out).contains(&format!("could not fix {}", tree.join("run.sh").display())),
        "{}",
        stderr(&out)
    );
    let out = as_other(true);
    assert_fails_with(&out, "could not be fixed");

    let out = run(warp(top.path()).args(["fixup", "no-such-dir"]));
    assert_fails_with(&out, "no-such-dir does not exist");
}

#[test]
fn projects_are_created_entered_listed_and_destroyed() {
    let Some(tools) = tools_dir() else { return };
    let home = tempfile::tempdir().unwrap();
    let warp_home = home.path().join("projects");
    let project = |args: &[&str], stdin: &str, active: Option<&str>| {
        let mut cmd = warp(home.path());
        cmd.arg("project")
            .args(args)
            .env("WARP_HOME", &warp_home)
            .env("HOME", home.path())
            .env("SHELL", "/bin/bash")
            .env("PATH", format!("{}:{}", tools.display(), path_without_uv()))
            .env_remove("WARP_PROJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(name) = active {
            cmd.env("WARP_PROJECT", name);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = project(&["shop"], "", None);
    assert_fails_with(&out, "there is no project shop");
    assert!(stderr(&out).contains("warp project --create shop"));

    let out = project(
        &["--create", "--python", "3.12", "shop"],
        "echo \"VENV=$VIRTUAL_ENV ROOT=$WARP_APP_ROOT $(python -c 'import sys; print(sys.version_info[:2])')\"\nexit 3\n",
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let dir = warp_home.join("shop");
    assert!(
        stdout(&out).contains(&format!("VENV={0} ROOT={0} (3, 12)", dir.display())),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("(warp+shop) "),
        "no prompt in: {}",
        stderr(&out)
    );

    let out = project(&["--list"], "", Some("shop"));
    assert_ok(&out);
    assert_eq!(stdout(&out), "* shop\n");
    let out = project(&["--destroy", "shop"], "", Some("shop"));
    assert_fails_with(&out, "the project shop is active in this shell");
    assert!(dir.exists());
    let out = project(&["--destroy", "shop"], "", None);
    assert_ok(&out);
    assert!(!dir.exists());
    let out = project(&["--create", "../escape"], "", None);
    assert_fails_with(&out, "is not a valid project name");
}
