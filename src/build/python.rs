//! Finding the interpreter a venv is made from, and asking an interpreter
//! (once) what a build needs to know about it: version, base interpreter,
//! platlib and PEP 508 marker values (as `packaging.markers.default_environment`
//! computes them, for reading lock files).
use crate::error::fail;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest Python warp's server supports.
pub const MIN_VERSION: (u32, u32) = (3, 9);

/// What an interpreter says about itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Probe {
    /// e.g. "3.11.7".
    pub version: String,
    /// The interpreter outside any venv (what a new venv is made from).
    pub base_executable: PathBuf,
    /// sysconfig's platlib: a venv's site-packages.
    pub platlib: PathBuf,
    /// The PEP 508 marker values (for reading lock files).
    pub markers: crate::build::lock::markers::Values,
    /// Where a venv made from this interpreter has its platlib, relative to
    /// the venv (sysconfig's `venv` scheme, `posix_prefix` before 3.11): a
    /// new venv's site-packages without starting its interpreter.
    #[serde(default)]
    pub venv_platlib: PathBuf,
    /// sysconfig's stdlib directory (part of what a remembered probe is
    /// checked against: [`crate::build::probe_cache`]).
    #[serde(default)]
    pub stdlib: PathBuf,
}

impl Probe {
    /// What the interpreter of the venv `venv`, made from this one, would
    /// say: the same version, base and markers, and the platlib its scheme
    /// gives — when that directory is there (else None: ask the venv).
    pub fn in_venv(&self, venv: &Path) -> Option<Probe> {
        let rel = &self.venv_platlib;
        let plain = !rel.as_os_str().is_empty()
            && rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        let platlib = venv.join(rel);
        (plain && platlib.is_dir()).then(|| Probe {
            platlib,
            ..self.clone()
        })
    }
}

const PROBE: &str = "import json, os, platform, sys, sysconfig\n\
def fmt(i):\n    v = '%d.%d.%d' % (i.major, i.minor, i.micro)\n    \
return v if i.releaselevel == 'final' else v + i.releaselevel[0] + str(i.serial)\n\
print(json.dumps({'version': platform.python_version(), \
'base_executable': getattr(sys, '_base_executable', sys.executable), \
'platlib': sysconfig.get_paths()['platlib'], 'stdlib': sysconfig.get_paths()['stdlib'], \
'markers': {'implementation_name': sys.implementation.name, \
'implementation_version': fmt(sys.implementation.version), 'os_name': os.name, \
'platform_machine': platform.machine(), \
'platform_python_implementation': platform.python_implementation(), \
'platform_release': platform.release(), 'platform_system': platform.system(), \
'platform_version': platform.version(), 'python_full_version': platform.python_version(), \
'python_version': '.'.join(platform.python_version_tuple()[:2]), 'sys_platform': sys.platform}, \
'venv_platlib': os.path.relpath(sysconfig.get_paths(\
scheme='venv' if 'venv' in sysconfig.get_scheme_names() else 'posix_prefix', \
vars=dict.fromkeys(('base', 'platbase', 'installed_base', 'installed_platbase'), '/v'))['platlib'], '/v')}))";

/// Run `python` once and read its version, base interpreter and platlib.
pub fn probe(python: &Path) -> Result<Probe> {
    let out = Command::new(python)
        .args(["-I", "-c", PROBE])
        .output()
        .with_context(|| format!("could not run {}", python.display()))?;
    if !out.status.success() {
        return Err(fail(
            format!("{} is not a working Python interpreter", python.display()),
            format!(
                "it said: {}",
                String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("nothing")
            ),
        ));
    }
    let mut probe: Probe = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading what {} said about itself", python.display()))?;
    // python3 → python3.11: one name for one interpreter, so venvs compare equal.
    if let Ok(real) = std::fs::canonicalize(&probe.base_executable) {
        probe.base_executable = real;
    }
    let mut parts = probe
        .version
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version < MIN_VERSION {
        return Err(fail(
            format!(
                "{} is Python {}; warp needs 3.9 or newer",
                python.display(),
                probe.version
            ),
            "pass --python with a newer interpreter",
        ));
    }
    Ok(probe)
}

/// Resolve what the user asked for: a path, a command on PATH (`python3.12`),
/// or a bare version (`3.12`: `python3.12` on PATH, else pyenv's newest 3.12.x).
pub fn resolve(requested: &str) -> Result<PathBuf> {
    let not_found = || {
        fail(
            format!("the Python interpreter {requested:?} was not found"),
            "pass --python (or set WARP_PYTHON) to a path or a command on PATH, e.g. python3.12 or 3.12",
        )
    };
    if requested.contains('/') {
        let path = PathBuf::from(requested);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(not_found())
        };
    }
    let is_version = requested.split('.').count() == 2
        && requested
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if is_version {
        if let Some(found) = pyenv_version(requested) {
            return Ok(found);
        }
        return which::which(format!("python{requested}")).map_err(|_| not_found());
    }
    which::which(requested).map_err(|_| not_found())
}

/// `~/.pyenv/versions/X.Y.*/bin/pythonX.Y`, the highest patch release.
fn pyenv_version(version: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))?;
    let prefix = format!("{version}.");
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir(root.join("versions")).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(patch) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let exe = entry.path().join("bin").join(format!("python{version}"));
        if exe.is_file() && best.as_ref().is_none_or(|(b, _)| patch > *b) {
            best = Some((patch, exe));
        }
    }
    best.map(|(_, exe)| exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The platlib a new venv gets, said by its base without starting the
    /// venv's interpreter, is the one that interpreter reports.
    #[test]
    fn a_new_venvs_platlib_is_known_from_its_base() {
        let Ok(python) = resolve("python3") else {
            eprintln!("no python3 on PATH: skipped");
            return;
        };
        let base = probe(&python).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        assert!(!base.venv_platlib.as_os_str().is_empty());
        assert!(base.in_venv(&venv).is_none(), "no venv there yet");
        let made = Command::new(&base.base_executable)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success());
        let said = probe(&venv.join("bin").join("python")).unwrap();
        let derived = base.in_venv(&venv).unwrap();
        assert_eq!(derived.platlib, said.platlib);
        assert_eq!(derived.version, said.version);
        assert_eq!(derived.base_executable, said.base_executable);
    }
}
