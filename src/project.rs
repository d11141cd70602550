//! Named virtualenv workspaces under `$WARP_HOME` (default ~/.warp/projects),
//! warpdrive's `project` command: `warp project NAME` opens a sub-shell with
//! the workspace's venv active, WARP_APP_ROOT pointing at it (so `warp build`
//! installs there and the current directory stays the source) and the prompt
//! prefixed `(warp+NAME)`.
use crate::build::{python, venv, Installer};
use crate::error::fail;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding the workspaces.
pub fn projects_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WARP_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            fail(
                "HOME is not set",
                "set WARP_HOME to the directory for warp's projects",
            )
        })?;
    Ok(Path::new(&home).join(".warp").join("projects"))
}

/// A workspace name: letters, digits, `.`, `_`, `-`, not starting with `.` or `-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(fail(
            format!("{name:?} is not a valid project name"),
            "use letters, digits, '.', '_' and '-' (not first)",
        ));
    }
    Ok(())
}

/// The workspace directory of `name` (a venv).
pub fn project_dir(name: &str) -> Result<PathBuf> {
    check_name(name)?;
    Ok(projects_dir()?.join(name))
}

/// The workspaces, sorted.
pub fn list() -> Result<Vec<String>> {
    let dir = projects_dir()?;
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| venv::is_venv(&e.path()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    names.sort();
    Ok(names)
}

/// The workspace this shell is in, if any.
pub fn active() -> Option<String> {
    std::env::var("WARP_PROJECT").ok().filter(|n| !n.is_empty())
}

/// Make the workspace's venv (with `python`, else $WARP_PYTHON, else python3).
pub fn create(name: &str, python_choice: Option<&str>) -> Result<PathBuf> {
    let dir = project_dir(name)?;
    if venv::is_venv(&dir) {
        return Ok(dir);
    }
    let requested = python_choice
        .map(String::from)
        .or_else(|| std::env::var("WARP_PYTHON").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "python3".into());
    let base = python::probe(&python::resolve(&requested)?)?;
    let tool = Installer::Auto.resolve()?;
    let title = format!(
        "Creating project {name} (Python {}, {})",
        base.version,
        tool.name()
    );
    crate::ui::step(&title, || {
        let env = crate::build::install::uv_env(&crate::app::vars::AppVars::default());
        let made = venv::create(tool, &base.base_executable, &dir, &env);
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    })?;
    Ok(dir)
}

/// Remove a workspace; the active one is refused.
pub fn destroy(name: &str) -> Result<()> {
    let dir = project_dir(name)?;
    if active().as_deref() == Some(name) {
        return Err(fail(
            format!("the project {name} is active in this shell"),
            "leave its shell (exit) first, then destroy it",
        ));
    }
    if !venv::is_venv(&dir) {
        return Err(fail(
            format!(
                "there is no project {name} in {}",
                projects_dir()?.display()
            ),
            "`warp project --list` shows the projects",
        ));
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
}

/// Open an interactive shell in the workspace; returns the shell's exit code.
pub fn enter(name: &str) -> Result<i32> {
    let dir = project_dir(name)?;
    if !venv::is_venv(&dir) {
        return Err(fail(
            format!("there is no project {name}"),
            format!("create it: warp project --create {name}"),
        ));
    }
    let bin = dir.join("bin");
    let path = match std::env::var("PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", bin.display()),
        _ => bin.display().to_string(),
    };
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            if Path::new("/bin/bash").exists() {
                "/bin/bash".into()
            } else {
                "/bin/sh".into()
            }
        });
    let prompt_prefix = format!("(warp+{name}) ");
    let mut cmd = Command::new(&shell);
    let mut _rcfile = None;
    if shell.ends_with("bash") {
        // bash sets PS1 from ~/.bashrc: prefix it after that has run.
        let mut rc = tempfile::Builder::new()
            .prefix("warp-project-")
            .suffix(".bashrc")
            .tempfile()?;
        let text = format!(
            "[ -f ~/.bashrc ] && . ~/.bashrc\nPS1={}\"${{PS1-\\$ }}\"\n",
            crate::runtime::shell_quote(&prompt_prefix)
        );
        std::io::Write::write_all(&mut rc, text.as_bytes())?;
        cmd.arg("--rcfile").arg(rc.path()).arg("-i");
        _rcfile = Some(rc);
    } else {
        let ps1 = std::env::var("PS1").unwrap_or_else(|_| "$ ".into());
        cmd.env("PS1", format!("{prompt_prefix}{ps1}")).arg("-i");
    }
    cmd.env("PATH", path)
        .env("VIRTUAL_ENV", &dir)
        .env("WARP_APP_ROOT", &dir)
        .env("WARP_PROJECT", name);
    let status = cmd
        .status()
        .with_context(|| format!("could not run {shell}"))?;
    Ok(status.code().unwrap_or(1))
}
