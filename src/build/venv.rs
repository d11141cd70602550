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
use crate::build::proc;
use crate::build::Tool;
use crate::error::fail;
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
    let mut cmd = match tool {
        Tool::Uv => {
            let mut cmd = Command::new("uv");
            cmd.args(["venv", "--quiet", "--allow-existing", "--python"])
                .arg(python)
                .arg(dest);
            cmd
        }
        Tool::Pip => {
            let mut cmd = Command::new(python);
            cmd.args(["-m", "venv"]).arg(dest);
            cmd
        }
    };
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
    })?;
    Ok(())
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
