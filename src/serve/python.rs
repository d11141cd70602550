//! The one time the supervisor runs Python: asking the venv's interpreter its
//! version before any worker starts (the extension needs CPython ≥ 3.9).
use crate::error::fail;
use anyhow::Result;
use std::path::Path;
use std::process::Command;

/// The oldest CPython the `warpserver` extension (abi3) supports.
pub const MINIMUM: (u32, u32) = (3, 9);

/// The interpreter's version, e.g. "3.11.7"; fails with a message when it
/// cannot run or is older than [`MINIMUM`].
pub fn check_version(python: &Path) -> Result<String> {
    if !python.exists() {
        return Err(fail(
            format!(
                "the app's virtualenv has no interpreter at {}",
                python.display()
            ),
            "run `warp build` to (re)create it",
        ));
    }
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d.%d %s' % (sys.version_info[:3] + (sys.implementation.name,)))"])
        .env_remove("PYTHONPATH")
        .output();
    let text = match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => {
            return Err(fail(
                format!(
                    "{} does not run: {}",
                    python.display(),
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("no output")
                ),
                "the virtualenv may be broken; run `warp build` to recreate it",
            ))
        }
        Err(e) => {
            return Err(fail(
                format!("{} cannot be run: {e}", python.display()),
                "the virtualenv may be broken; run `warp build` to recreate it",
            ))
        }
    };
    let (version, implementation) = text.split_once(' ').unwrap_or((&text, "cpython"));
    if implementation != "cpython" {
        return Err(fail(
            format!("the app's Python is {implementation} {version}; warp's server needs CPython"),
            "rebuild the app with a CPython interpreter: `warp build --python python3`",
        ));
    }
    if !is_supported(version) {
        return Err(fail(
            format!(
                "the app's Python is {version}; warp's server needs Python {}.{} or newer",
                MINIMUM.0, MINIMUM.1
            ),
            "rebuild the app with a newer interpreter: `warp build --python python3.11` (or any 3.9+)",
        ));
    }
    Ok(version.to_string())
}

/// Whether "X.Y.Z" is at least [`MINIMUM`].
pub fn is_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= MINIMUM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(is_supported("3.9.18"));
        assert!(is_supported("3.13.0"));
        assert!(is_supported("4.0.0"));
        assert!(!is_supported("3.8.18"));
        assert!(!is_supported("2.7.18"));
    }
}
