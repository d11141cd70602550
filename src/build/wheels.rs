//! `warp wheels`: a wheelhouse of the app's dependencies (for a lock file:
//! exactly its production set plus the groups and extras asked for, for the
//! interpreter that makes the wheels, hashes verified) in
//! `<src>/.warp/wheelhouse`, which later builds use as find-links (and with
//! WARP_PIP_NO_INDEX=1 as their only source). S2I's save-artifacts ships it
//! to the next build. pip builds the wheels (uv has no `wheel` command): the
//! venv's pip when it has one, else the chosen interpreter's.
use crate::app::{App, AppPaths};
use crate::build::detect::{self, Layout};
use crate::build::install;
use crate::build::lock::{self, Selection};
use crate::build::python;
use crate::error::fail;
use crate::proc;
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;

/// Build the wheelhouse; returns its directory.
pub fn build_wheelhouse(paths: &AppPaths, python_choice: Option<&str>) -> Result<PathBuf> {
    let App { config, vars, .. } = App::load(paths)?;
    let home = vars.app_home(paths)?;
    detect::require_app(&home, &vars)?;
    let layout = detect::layout(&home, &vars, &config)?;
    let venv_python = paths.python();
    let has_pip = |py: &std::path::Path| {
        Command::new(py)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let pip_python = match python_choice
        .map(String::from)
        .or_else(|| vars.get("WARP_PYTHON"))
    {
        Some(name) => python::resolve(&name)?,
        None if venv_python.exists() && has_pip(&venv_python) => venv_python,
        None => python::resolve("python3")?,
    };
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    // One `pip wheel` per index a lock names (its environment: the index).
    let mut runs: Vec<(Vec<std::ffi::OsString>, Option<lock::index::Use>)> = Vec::new();
    let mut _requirements = Vec::new();
    match &layout {
        Layout::Requirements(files) => {
            for f in files {
                args.push("-r".into());
                args.push(f.into());
            }
        }
        Layout::Pyproject | Layout::SetupPy => args.push(".".into()),
        Layout::Lock(file) => {
            let probe = python::probe(&pip_python)?;
            let target = lock::Target::new(lock::markers::environment(&probe.markers)?);
            let locked = lock::read(file, &home, &target, &Selection::new(&vars, &config))?;
            for batch in lock::index::batches(&locked, &vars, false)? {
                let requirements = install::lock_requirements(batch.packages)?;
                let mut args: Vec<std::ffi::OsString> =
                    vec!["--require-hashes".into(), "--no-deps".into(), "-r".into()];
                args.push(requirements.path().into());
                _requirements.push(requirements);
                runs.push((args, batch.index));
            }
        }
        Layout::Pipfile { .. } => {
            return Err(fail(
                "warp wheels does not read Pipfiles",
                "export the lock (`pipenv requirements > requirements.txt`) and set WARP_PIP_REQUIREMENTS=requirements.txt",
            ))
        }
        Layout::None => {
            return Err(fail(
                format!("the app in {} has no dependencies to make wheels of", home.display()),
                "add a requirements.txt, pyproject.toml or setup.py",
            ))
        }
    }
    if runs.is_empty() {
        runs.push((args, None));
    }
    let dir = paths.src_root.join(".warp").join("wheelhouse");
    std::fs::create_dir_all(&dir)?;
    for (args, index) in runs {
        let mut cmd = Command::new(&pip_python);
        cmd.args(["-m", "pip", "wheel", "--no-input", "--wheel-dir"])
            .arg(&dir)
            .arg("--find-links")
            .arg(&dir)
            .args(&args)
            .current_dir(&home)
            .envs(vars.pairs().iter().map(|(k, v)| (k, v)));
        let from = match &index {
            Some(index) => {
                let (set, removed) = index.env(false);
                cmd.envs(set);
                for name in removed {
                    cmd.env_remove(name);
                }
                format!(" from {}", index.shown)
            }
            None => String::new(),
        };
        proc::run_quiet(cmd, |code| {
            fail(
                format!(
                    "building wheels{from} with {} failed (exit code {})",
                    pip_python.display(),
                    code
                ),
                "pip's last lines of output are above",
            )
        })?;
    }
    Ok(dir)
}
