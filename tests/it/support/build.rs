//! Helpers for the build and runtime tests: warp commands with or without uv
//! on PATH, the build record, hooks-examples.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Output;

/// The directory holding the test tools (uv, django-admin), or None (skip).
pub fn tools_dir() -> Option<PathBuf> {
    tool("uv").map(|uv| uv.parent().unwrap().to_path_buf())
}

/// PATH without any directory that holds uv (the pip path must not see it).
pub fn path_without_uv() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("uv").exists())
        .collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// `warp` in `dir` with uv on PATH (None when uv is missing: the test skips).
pub fn warp_uv(dir: &Path) -> Option<Command> {
    let tools = tools_dir()?;
    let mut cmd = warp(dir);
    cmd.env("PATH", format!("{}:{}", tools.display(), path_without_uv()));
    Some(cmd)
}

/// `warp` in `dir` with no uv on PATH (pip is the installer).
pub fn warp_pip(dir: &Path) -> Command {
    let mut cmd = warp(dir);
    cmd.env("PATH", path_without_uv());
    cmd
}

/// The build record of the app root `<dir>/.venv`.
pub fn record(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(".venv/.warp/build.json")).expect("build.json");
    serde_json::from_str(&text).unwrap()
}

/// Run the venv's python with `code`, from `/` (so the source is not on sys.path).
pub fn venv_python(dir: &Path, code: &str) -> Output {
    run(Command::new(dir.join(".venv/bin/python"))
        .args(["-c", code])
        .current_dir("/"))
}

/// The version of `package` the venv `<dir>/.venv` imports ("none" if absent).
pub fn installed(dir: &Path, package: &str) -> String {
    let out = venv_python(
        dir,
        &format!(
            "import importlib.metadata as m\ntry: print(m.version('{package}'))\nexcept m.PackageNotFoundError: print('none')"
        ),
    );
    assert_ok(&out);
    stdout(&out).trim().to_string()
}

/// uv.lock's text `lock` with every sha256 of `package`'s files replaced by zeros.
pub fn uv_lock_tampered(lock: &str, package: &str) -> String {
    let start = lock
        .find(&format!("name = \"{package}\""))
        .expect("the package in the lock");
    let end = start
        + lock[start..]
            .find("[[package]]")
            .unwrap_or(lock.len() - start);
    let mut tampered = lock[..start].to_string();
    let mut rest = &lock[start..end];
    while let Some(at) = rest.find("sha256:") {
        tampered.push_str(&rest[..at + 7]);
        tampered.push_str(&"0".repeat(64));
        rest = &rest[at + 7 + 64..];
    }
    tampered.push_str(rest);
    tampered.push_str(&lock[end..]);
    tampered
}

/// A pyenv interpreter of version `3.minor`, if installed.
pub fn pyenv_python(minor: u32) -> Option<PathBuf> {
    pythons()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&format!("/3.{minor}.")))
}

/// The repository's hooks-examples directory.
pub fn hooks_examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks-examples")
}

/// Copy the example hooks `names` into `<app>/<dir>` (e.g. `.warp/action_hooks`).
pub fn install_hooks(app: &TempApp, dir: &str, names: &[&str]) {
    let dest = app.path().join(dir);
    std::fs::create_dir_all(&dest).unwrap();
    for name in names {
        std::fs::copy(hooks_examples().join(name), dest.join(name)).unwrap();
    }
}

/// A minimal WSGI app file.
pub const WSGI_APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello']\n";
