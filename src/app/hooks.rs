//! Action hooks: `.warp/action_hooks/NAME` (or `.warpdrive/action_hooks/NAME`,
//! so warpdrive apps work unchanged) in the app source, run with WARP_PHASE,
//! WARP_APP_ROOT, WARP_SRC_ROOT and the venv on PATH.
//!
//! Hook names come from the fixed list [`HOOKS`]; a name is never taken from
//! input and used as a path. `build-env` and `deploy-env` are *sourced* by a
//! shell with auto-export (their variables reach the build / the app), the
//! others are executed and must be executable.
use crate::app::AppPaths;
use crate::error::fail;
use crate::proc;
use anyhow::{Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every hook warp knows, in the order of an app's life.
pub const HOOKS: [&str; 11] = [
    "pre-build",
    "build-env",
    "build",
    "deploy-cfg",
    "deploy-env",
    "deploy",
    "setup",
    "migrate",
    "verify",
    "alive",
    "ready",
];

/// The hook directories, first match wins, relative to the source root.
pub const HOOK_DIRS: [&str; 2] = [".warp/action_hooks", ".warpdrive/action_hooks"];

/// The file of hook `name`, if the app has one.
pub fn find(paths: &AppPaths, name: &str) -> Option<PathBuf> {
    assert!(HOOKS.contains(&name), "unknown hook name {name}");
    HOOK_DIRS
        .iter()
        .map(|dir| paths.src_root.join(dir).join(name))
        .find(|p| p.is_file())
}

/// Run the hook `name` (if present) with `env` on top of the inherited
/// environment. Its output is shown as it runs; on failure the error names
/// the hook and its exit code, after its last lines of output.
pub fn run_with(paths: &AppPaths, name: &str, env: &[(String, String)]) -> Result<()> {
    let Some(hook) = find(paths, name) else {
        return Ok(());
    };
    require_executable(&hook)?;
    let mut cmd = Command::new(&hook);
    cmd.current_dir(&paths.src_root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("WARP_PHASE", name);
    let finished = proc::run_merged(cmd, true)?;
    if !finished.status.success() {
        eprintln!("--- the last lines of the {name} hook's output:");
        for line in &finished.tail {
            eprintln!("    {line}");
        }
        return Err(fail(
            format!(
                "the {name} hook ({}) failed with exit code {}",
                hook.display(),
                finished.code()
            ),
            "fix the hook; it runs with WARP_PHASE, WARP_APP_ROOT and WARP_SRC_ROOT set",
        ));
    }
    Ok(())
}

/// Source the hook `name` (build-env, deploy-env) with `set -a` and return
/// the variables it set or changed. No hook: nothing.
pub fn source_env(
    paths: &AppPaths,
    name: &str,
    env: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let Some(hook) = find(paths, name) else {
        return Ok(Vec::new());
    };
    // The hook's own output goes to stderr so that stdout carries only `env -0`.
    let script = "set -a; . \"$1\" >&2 || exit $?; set +a; exec env -0";
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&hook)
        .current_dir(&paths.src_root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("WARP_PHASE", name)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not run sh to source an environment hook")?;
    if !out.status.success() {
        return Err(fail(
            format!(
                "the {name} hook ({}) failed with exit code {}",
                hook.display(),
                out.status.code().unwrap_or(1)
            ),
            "it is sourced by sh with `set -a`; fix the failing line",
        ));
    }
    let before: std::collections::HashMap<String, String> =
        std::env::vars().chain(env.iter().cloned()).collect();
    let mut changed = Vec::new();
    for item in out.stdout.split(|b| *b == 0).filter(|i| !i.is_empty()) {
        let item = String::from_utf8_lossy(item);
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        if matches!(k, "_" | "SHLVL" | "PWD" | "OLDPWD" | "WARP_PHASE") {
            continue;
        }
        if before.get(k).map(String::as_str) != Some(v) {
            changed.push((k.to_string(), v.to_string()));
        }
    }
    Ok(changed)
}

fn require_executable(hook: &Path) -> Result<()> {
    let mode = std::fs::metadata(hook)?.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(fail(
            format!("the hook {} is not executable", hook.display()),
            format!("make it executable: chmod +x {}", hook.display()),
        ));
    }
    Ok(())
}
