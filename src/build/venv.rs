//! Making the virtualenv (with uv or with `python -m venv`), and keeping the
//! previous one usable while a new one is built.
//!
//! Virtualenvs are not relocatable (uv's and pip's scripts embed absolute
//! paths), so a new venv cannot be built elsewhere and moved into place.
//! Instead the previous app root is *renamed aside* to a sibling
//! (`.NAME.warp-previous`), the new one is built at the real path, and on
//! failure the new one is removed and the previous one renamed back — the
//! same path, so its embedded paths are right again. On success the previous
//! one is deleted. Where the app root cannot be renamed (its parent is not
//! writable, or the source lives inside it as in S2I's /opt/app-root/src) the
//! install happens in place; see README "Decisions".
//!
//! With pip, the venv gets what `python -m venv` gives it (the pip, and before
//! Python 3.12 the setuptools, that the interpreter's ensurepip bundles), but
//! faster: ensurepip compiles pip's thousand files one after the other, about
//! 5 s of an image build. Here the venv is made `--without-pip`, the bundled
//! wheels (asked from ensurepip itself, so Debian's /usr/share/python-wheels
//! and CPython's `ensurepip/_bundled` are both right) are installed by the pip
//! in its own wheel, the way ensurepip does it (`--no-index`, pip's
//! configuration and PIP_* settings ignored), with `--no-compile`, and the
//! bytecode is compiled on every CPU ([`bytecode`]). When the wheels cannot be
//! found, `python -m venv` makes the venv as before.
use crate::build::bytecode;
use crate::build::Tool;
use crate::error::fail;
use crate::proc;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `dir` holds a virtualenv.
pub fn is_venv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file() && dir.join("bin").join("python").exists()
}

/// Create a venv at `dest` from `python` with `tool`. `existing_ok` lets it
/// be made inside an existing directory (the in-place case).
pub fn create(tool: Tool, python: &Path, dest: &Path, env: &[(String, String)]) -> Result<()> {
    match tool {
        Tool::Uv => {
            let mut cmd = Command::new("uv");
            cmd.args(["venv", "--quiet", "--allow-existing", "--python"])
                .arg(python)
                .arg(dest);
            make(cmd, tool, dest, env)
        }
        Tool::Pip => {
            let wheels = bundled_wheels(python);
            let mut cmd = Command::new(python);
            cmd.args(["-m", "venv"]);
            if wheels.is_some() {
                cmd.arg("--without-pip");
            }
            cmd.arg(dest);
            make(cmd, tool, dest, env)?;
            match wheels {
                Some(wheels) => seed_pip(dest, &wheels, env),
                None => Ok(()),
            }
        }
    }
}

/// Run the command that makes the venv `dest`.
fn make(mut cmd: Command, tool: Tool, dest: &Path, env: &[(String, String)]) -> Result<()> {
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        cmd.current_dir(parent);
    }
    proc::run_quiet(cmd, |code| {
        fail(
            format!(
                "creating the virtualenv {} with {} failed (exit code {})",
                dest.display(),
                tool.name(),
                code
            ),
            match tool {
                Tool::Pip => "on Debian, `apt-get install python3-venv` provides the venv module",
                Tool::Uv => "its output is above; try --installer pip",
            },
        )
    })
}

/// Asks the interpreter's ensurepip which wheels `python -m venv` installs
/// (3.9: `_PROJECTS`; 3.10–3.12: `_get_packages()`, which also knows a
/// distribution's wheel directory; 3.13: pip alone). Private names: anything
/// unexpected prints nothing usable, and the venv is made the standard way.
const BUNDLED_WHEELS: &str = r#"
import ensurepip, json, os
bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
if hasattr(ensurepip, "_get_packages"):
    found = {n: p.wheel_path or os.path.join(bundled, p.wheel_name)
             for n, p in ensurepip._get_packages().items()}
elif hasattr(ensurepip, "_get_pip_whl_path_ctx"):
    with ensurepip._get_pip_whl_path_ctx() as path:
        found = {"pip": str(path)}
else:
    found = {n: os.path.join(bundled, f"{n}-{v}-{t}-none-any.whl")
             for n, v, t in ensurepip._PROJECTS}
print(json.dumps(found))
"#;

/// The wheels ensurepip would install with `python` (name, wheel file), if
/// they are all there and pip is one of them.
fn bundled_wheels(python: &Path) -> Option<Vec<(String, PathBuf)>> {
    let out = Command::new(python)
        .args(["-I", "-c", BUNDLED_WHEELS])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let found: std::collections::BTreeMap<String, PathBuf> =
        serde_json::from_slice(&out.stdout).ok()?;
    let usable = found.contains_key("pip")
        && found.iter().all(|(name, wheel)| {
            !name.is_empty()
                && wheel.is_file()
                && wheel
                    .file_name()
                    .is_some_and(|f| f.to_string_lossy().ends_with(".whl"))
        });
    usable.then(|| found.into_iter().collect())
}

/// Install `wheels` into the venv at `dest` as ensurepip does (the pip in its
/// own wheel installs them by name from a directory holding only them, with
/// no index and no pip configuration), but without pip's one-at-a-time
/// compile: the bytecode is compiled afterwards on every CPU.
fn seed_pip(dest: &Path, wheels: &[(String, PathBuf)], env: &[(String, String)]) -> Result<()> {
    let links = tempfile::Builder::new()
        .prefix("warp-ensurepip-")
        .tempdir()
        .context("making a directory for pip's wheels")?;
    let mut pip_wheel = None;
    for (name, wheel) in wheels {
        let copy = links.path().join(wheel.file_name().expect("a wheel file"));
        std::fs::copy(wheel, &copy).with_context(|| format!("copying {}", wheel.display()))?;
        if name == "pip" {
            pip_wheel = Some(copy);
        }
    }
    let pip_main = pip_wheel.expect("pip is among the wheels").join("pip");
    let python = dest.join("bin").join("python");
    let mut cmd = Command::new(&python);
    cmd.args(["-W", "ignore::DeprecationWarning"])
        .arg(&pip_main)
        .args([
            "install",
            "--no-cache-dir",
            "--no-index",
            "--no-compile",
            "--find-links",
        ])
        .arg(links.path())
        .args(wheels.iter().map(|(name, _)| name));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PIP_") || key == "ENSUREPIP_OPTIONS" {
            cmd.env_remove(key);
        }
    }
    cmd.envs(
        env.iter()
            .filter(|(k, _)| !k.starts_with("PIP_"))
            .map(|(k, v)| (k, v)),
    )
    .env("PIP_CONFIG_FILE", "/dev/null");
    proc::run_quiet(cmd, |code| {
        fail(
            format!(
                "installing pip into the virtualenv {} failed (exit code {code})",
                dest.display()
            ),
            "its output is above; WARP_INSTALLER=uv, or a base whose `python3 -m venv` works",
        )
    })?;
    bytecode::compile_missing(&python, env)
}

/// A previous app root renamed aside while a new one is built.
pub struct SetAside {
    pub original: PathBuf,
    pub aside: PathBuf,
}

impl SetAside {
    /// Rename `app_root` to a sibling, if that is possible and allowed
    /// (`src_root` must not be inside it). None: build in place.
    pub fn try_new(app_root: &Path, src_root: &Path) -> Result<Option<SetAside>> {
        if !app_root.exists() || src_root.starts_with(app_root) {
            return Ok(None);
        }
        let (Some(parent), Some(name)) = (app_root.parent(), app_root.file_name()) else {
            return Ok(None);
        };
        let aside = parent.join(format!(".{}.warp-previous", name.to_string_lossy()));
        if aside.exists() {
            // Left over by a build that was killed: the app root is what counts.
            std::fs::remove_dir_all(&aside)
                .with_context(|| format!("removing {}", aside.display()))?;
        }
        match std::fs::rename(app_root, &aside) {
            Ok(()) => Ok(Some(SetAside {
                original: app_root.to_path_buf(),
                aside,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(e).with_context(|| format!("renaming {}", app_root.display())),
        }
    }

    /// The new build failed: remove it and put the previous one back.
    pub fn restore(self) -> Result<()> {
        if self.original.exists() {
            std::fs::remove_dir_all(&self.original).with_context(|| {
                format!("removing the failed build {}", self.original.display())
            })?;
        }
        std::fs::rename(&self.aside, &self.original)
            .with_context(|| format!("restoring {}", self.original.display()))
    }

    /// The new build succeeded: keep the markers of the previous app root's
    /// `.warp/` state (deploy-cfg ran once per app root) and drop the rest.
    pub fn discard(self) -> Result<()> {
        let old_state = self.aside.join(".warp");
        let new_state = self.original.join(".warp");
        if let Ok(entries) = std::fs::read_dir(&old_state) {
            std::fs::create_dir_all(&new_state)?;
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().ends_with(".done") {
                    let _ = std::fs::copy(entry.path(), new_state.join(&name));
                }
            }
        }
        std::fs::remove_dir_all(&self.aside)
            .with_context(|| format!("removing the previous build {}", self.aside.display()))
    }
}

/// An exclusive lock on building into one place, held until dropped: a
/// second `warp build` (or a `warp start` that builds) waits instead of
/// renaming the app root under the first. The lock is a `flock` on the app
/// root's parent directory, so no lock file is left in anyone's tree (builds
/// of sibling app roots wait for each other, which is harmless).
pub struct BuildLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl BuildLock {
    pub fn acquire(app_root: &Path) -> Result<BuildLock> {
        use nix::fcntl::{Flock, FlockArg};
        let parent = app_root.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir =
            std::fs::File::open(parent).with_context(|| format!("opening {}", parent.display()))?;
        let dir = match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(BuildLock { _lock: lock }),
            Err((dir, _)) => dir,
        };
        eprintln!(
            "==> Waiting for another build in {} to finish",
            parent.display()
        );
        let lock = Flock::lock(dir, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("locking {} for the build: {e}", parent.display()))?;
        Ok(BuildLock { _lock: lock })
    }
}
