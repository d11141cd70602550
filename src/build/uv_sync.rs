//! A `uv.lock` built with uv in one process: `uv sync` makes the venv and
//! installs the locked set, where the two-step install (`uv venv`, then `uv
//! pip install --require-hashes --no-deps` of warp's requirements file,
//! [`super::install`]) starts two uv processes and, in the second, the new
//! venv's Python: uv's cache of interpreters is keyed by the venv's files,
//! which are always new, so that query is never cached.
//!
//! warp still reads the lock itself first (markers, groups, extras, uv's
//! staleness rule, `requires-python`: everything that refuses a build is
//! decided before the app root changes) and counts the packages for the
//! step line; uv then installs the same set from the same lock:
//! `UV_PROJECT_ENVIRONMENT=<app root> uv sync --locked --no-default-groups
//! [--group G] [--extra E] --no-editable [--no-install-project]
//! [--reinstall-package P] --python <interpreter> --offline`, and without
//! `--offline` when uv's cache lacks something (as the two-step install
//! does). `--locked` never writes uv.lock and fails if uv finds it stale —
//! uv's check is wider than warp's (`[tool.uv]` constraints or overrides
//! changed since the lock, for one), so such a lock, which the two-step
//! install takes, fails here, after the app root was set aside (and is put
//! back); uv checks every file against the lock's hashes.
//!
//! The project (a package) and the workspace members it depends on are
//! installed non-editable, as the two-step install does, and rebuilt
//! (`--reinstall-package`): uv's cache of a local package's wheel is keyed
//! by its pyproject, so a changed module would otherwise install stale.
//! uv's empty `.lock` file is removed from the venv; its `.gitignore` and
//! `CACHEDIR.TAG` are what `uv venv` writes too.
//!
//! [`applies`] says when: uv, a uv.lock, a fresh venv at a free path (not the
//! in-place case; no `pre-build`/`build-env` hook, which run with the venv
//! made), the lock in the app's home, the names of the local packages
//! readable, every registry package locked from PyPI (another index keeps
//! the per-index install, its credentials and its error naming the index),
//! no index in the environment (a PyPI mirror replaces PyPI in the two-step
//! install), no wheelhouse and no `WARP_PIP_NO_INDEX`. The last two because
//! `uv sync` installs from the lock's file URLs whatever the index options:
//! with `--frozen --no-index --find-links <wheelhouse> --offline` and an
//! empty cache, uv 0.13.10 still asks for files.pythonhosted.org (and
//! `--locked --no-index` re-resolves the lock against the wheelhouse and
//! fails), so an offline build would not be one. Otherwise the two-step
//! install runs.
use crate::app::hooks;
use crate::app::vars::AppVars;
use crate::app::AppPaths;
use crate::build::detect::Layout;
use crate::build::install::{self, Installer};
use crate::build::lock::{self, Kind, Locked, Selection, Source};
use crate::build::Tool;
use crate::error::fail;
use crate::proc;
use anyhow::Result;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether this build makes its venv and installs its lock with `uv sync`.
pub fn applies(
    tool: Tool,
    layout: &Layout,
    locked: Option<&Locked>,
    paths: &AppPaths,
    home: &Path,
    vars: &AppVars,
) -> bool {
    let (Layout::Lock(file), Some(locked)) = (layout, locked) else {
        return false;
    };
    tool == Tool::Uv
        && file.kind == Kind::Uv
        && file.path.parent() == Some(home)
        && !paths.app_root.exists()
        && hooks::find(paths, "pre-build").is_none()
        && hooks::find(paths, "build-env").is_none()
        && locked
            .packages
            .iter()
            .all(|p| !matches!(p.source, Source::Registry { index: Some(_), .. }))
        && lock::index::INDEX_VARS
            .iter()
            .all(|k| vars.get(k).is_none())
        && install::wheelhouse(&paths.src_root).is_none()
        && !vars.flag("WARP_PIP_NO_INDEX")
        && !vars.flag("WARPDRIVE_PIP_NO_INDEX")
        && rebuilt(home, locked).is_some()
}

/// The names of the local packages uv builds: the project when it is a
/// package, and the workspace members. None: one cannot be read.
fn rebuilt(project: &Path, locked: &Locked) -> Option<Vec<String>> {
    let mut names = Vec::new();
    if locked.install_project {
        names.push(project_name(project)?);
    }
    for dir in &locked.local {
        names.push(project_name(dir)?);
    }
    Some(names)
}

/// `[project] name` of the pyproject.toml in `dir`.
fn project_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    Some(table.get("project")?.get("name")?.as_str()?.to_string())
}

/// Make the venv at `app_root` from `python` and install `file`'s locked
/// set into it, in one `uv sync` (from uv's cache alone first).
pub fn sync(
    installer: &Installer,
    file: &lock::LockFile,
    locked: &Locked,
    selection: &Selection,
    python: &Path,
    app_root: &Path,
) -> Result<()> {
    let project = installer.home;
    let command = || {
        let mut cmd = Command::new("uv");
        cmd.args(["sync", "--locked", "--no-default-groups"]);
        for group in &selection.groups {
            cmd.arg("--group").arg(group);
        }
        for extra in &selection.extras {
            cmd.arg("--extra").arg(extra);
        }
        cmd.arg("--no-editable");
        if !locked.install_project {
            cmd.arg("--no-install-project");
        }
        for name in rebuilt(project, locked).unwrap_or_default() {
            cmd.arg("--reinstall-package").arg(name);
        }
        cmd.arg("--python")
            .arg(python)
            .arg("--project")
            .arg(project);
        cmd.current_dir(project)
            .envs(installer.env.iter().map(|(k, v)| (k, v)))
            .envs(install::uv_env(installer.vars))
            .env("UV_PROJECT_ENVIRONMENT", app_root)
            .env("VIRTUAL_ENV", app_root);
        cmd
    };
    let cached = command()
        .arg("--offline")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !cached {
        proc::run_quiet(command(), |code| {
            fail(
                format!(
                    "installing the packages of {} failed (uv exit code {code})",
                    file.name()
                ),
                "uv's last lines of output are above; fix the dependency, or run `uv lock` if uv finds uv.lock out of date",
            )
        })?;
    }
    // uv's lock on the environment: empty, and no part of the app's venv.
    match std::fs::remove_file(app_root.join(".lock")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
