//! Shared helpers for the integration tests: run the real `warp` binary, make
//! apps in temporary directories, find interpreters and fixtures.
//!
//! Area-specific helpers live in sibling files (e.g. `support/registry.rs`)
//! and are declared by the test files that need them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `warp` binary under test.
pub fn warp_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_warp"))
}

/// A `warp` command with a clean app-related environment (no active project,
/// no app root from the outer shell), run in `dir`.
pub fn warp(dir: &Path) -> Command {
    let mut cmd = Command::new(warp_bin());
    cmd.current_dir(dir);
    for var in [
        "WARP_APP_ROOT",
        "WARP_PROJECT",
        "VIRTUAL_ENV",
        "WARP_PYTHON",
        "APP_MODULE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Run a command and return its output, with stdout/stderr in the panic
/// message when `expect_ok` does not hold.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing what the command printed when it failed.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "command failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Assert failure with a message on stderr containing `needle`.
#[track_caller]
pub fn assert_fails_with(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected a failure, got success:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in stderr:\n{}",
        stderr(out)
    );
}

/// A temporary directory holding an app's source.
pub struct TempApp {
    pub dir: tempfile::TempDir,
}

impl TempApp {
    pub fn new() -> Self {
        TempApp {
            dir: tempfile::Builder::new()
                .prefix("warp-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (parents created); returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Write an executable file (a hook, app.sh).
    pub fn write_exec(&self, rel: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(rel, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pyenv CPythons 3.9–3.13 on this machine, plus Debian's /usr/bin/python3.
pub fn pythons() -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        let versions = Path::new(&home).join(".pyenv/versions");
        for minor in 9..=13 {
            let prefix = format!("3.{minor}.");
            if let Ok(entries) = std::fs::read_dir(&versions) {
                let mut names: Vec<_> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect();
                names.sort();
                if let Some(name) = names.last() {
                    found.push(versions.join(name).join("bin/python3"));
                }
            }
        }
    }
    let debian = PathBuf::from("/usr/bin/python3");
    if debian.exists() {
        found.push(debian);
    }
    found
}

/// A tool the test run installed (uv, django-admin …), from $WARP_TEST_TOOLS,
/// else from PATH. Under `tests/run.sh` a missing tool fails the test; run
/// alone (`cargo test`) the caller gets None and may skip, saying so.
pub fn tool(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WARP_TEST_TOOLS") {
        let p = Path::new(&dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    which(name).or_else(|| {
        require_all(&format!("the tool {name}"));
        None
    })
}

/// Find a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Under tests/run.sh (WARP_TEST_REQUIRE_ALL=1) a missing fixture is a failure.
/// Otherwise print why the test is skipped.
pub fn require_all(what: &str) {
    if std::env::var_os("WARP_TEST_REQUIRE_ALL").is_some() {
        panic!("{what} is missing; tests/run.sh should have installed it");
    }
    eprintln!("SKIPPED: {what} is missing (run ./tests/run.sh to install it)");
}

/// A `django-admin startproject mysite .` in a new TempApp (None: skip, as
/// `tool` decides when django-admin is missing).
pub fn django_project() -> Option<TempApp> {
    let django_admin = tool("django-admin")?;
    let app = TempApp::new();
    assert_ok(&run(Command::new(&django_admin)
        .args(["startproject", "mysite", "."])
        .current_dir(app.path())));
    Some(app)
}

/// `django_project()` needing `django`, with `assets/site.css` as a static
/// source and `settings_tail` added to its settings.
pub fn django_project_with_assets(settings_tail: &str) -> Option<TempApp> {
    let app = django_project()?;
    app.write("requirements.txt", "django\n");
    app.write("assets/site.css", "body { color: red }\n");
    append_to_settings(&app, settings_tail);
    Some(app)
}

/// Add `text` at the end of a `django_project()`'s settings.
pub fn append_to_settings(app: &TempApp, text: &str) {
    let settings = app.path().join("mysite/settings.py");
    let mut all = std::fs::read_to_string(&settings).unwrap();
    all.push_str(text);
    std::fs::write(&settings, all).unwrap();
}
