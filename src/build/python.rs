//! Finding the interpreter a venv is made from, and asking an interpreter
//! (once) what a build needs to know about it: version, base interpreter,
//! platlib and PEP 508 marker values (as `packaging.markers.default_environment`
//! computes them, for reading lock files).
use crate::error::fail;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest Python warp's server supports.
pub const MIN_VERSION: (u32, u32) = (3, 9);

/// What an interpreter says about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    /// e.g. "3.11.7".
    pub version: String,
    /// The interpreter outside any venv (what a new venv is made from).
    pub base_executable: PathBuf,
    /// sysconfig's platlib: a venv's site-packages.
    pub platlib: PathBuf,
    /// The PEP 508 marker values (for reading lock files).
    pub markers: crate::build::lock::markers::Values,
}

const PROBE: &str = "import json, os, platform, sys, sysconfig\n\
def fmt(i):\n    v = '%d.%d.%d' % (i.major, i.minor, i.micro)\n    \
return v if i.releaselevel == 'final' else v + i.releaselevel[0] + str(i.serial)\n\
print(json.dumps({'version': platform.python_version(), \
'base_executable': getattr(sys, '_base_executable', sys.executable), \
'platlib': sysconfig.get_paths()['platlib'], \
'markers': {'implementation_name': sys.implementation.name, \
'implementation_version': fmt(sys.implementation.version), 'os_name': os.name, \
'platform_machine': platform.machine(), \
'platform_python_implementation': platform.python_implementation(), \
'platform_release': platform.release(), 'platform_system': platform.system(), \
'platform_version': platform.version(), 'python_full_version': platform.python_version(), \
'python_version': '.'.join(platform.python_version_tuple()[:2]), 'sys_platform': sys.platform}}))";

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
