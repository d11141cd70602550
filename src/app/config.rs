//! `.warp/config.yaml`: optional build settings kept with the app's source.
//!
//! ```yaml
//! python: python3.12          # like --python / $WARP_PYTHON
//! installer: uv               # auto | uv | pip
//! requirements: [requirements.txt, requirements-prod.txt]
//! lock: pylock.prod.toml      # the lock file to install (`none`: ignore locks)
//! groups: [docs]              # dependency groups beyond production (WARP_GROUPS)
//! extras: [postgres]          # the project's extras (WARP_EXTRAS)
//! environment: {DJANGO_DEBUG: "0"}
//! server: {processes: 2}      # read by `warp start`, not by the build
//! image: {base: REF}          # read by `warp image`, not by the build
//! ```
//! Unknown keys are errors (a typo must not be silently ignored); every error
//! names the file, line and column.
use crate::error::fail;
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The file, relative to the source root.
pub const CONFIG_FILE: &str = ".warp/config.yaml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub python: Option<String>,
    pub installer: Option<Installer>,
    /// Requirement files to install, in order (like WARP_PIP_REQUIREMENTS).
    pub requirements: Option<Vec<String>>,
    /// The lock file to install, relative to the app (like WARP_LOCK).
    pub lock: Option<String>,
    /// Dependency groups of the lock to install beyond production (WARP_GROUPS).
    pub groups: Option<Vec<String>>,
    /// Extras of the project to install from the lock (WARP_EXTRAS).
    pub extras: Option<Vec<String>>,
    /// Variables for the build and the app, like `.warp/environment`.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Settings for `warp start`, passed through untouched.
    pub server: Option<serde_yaml_ng::Value>,
    /// Settings for `warp image`, passed through untouched.
    pub image: Option<serde_yaml_ng::Value>,
}

/// Which tool makes the venv and installs into it (`installer:` here,
/// `--installer`, `$WARP_INSTALLER`); the build turns it into the tool it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// uv when it is on PATH, else pip.
    #[default]
    Auto,
    Uv,
    Pip,
}

impl Config {
    /// Read `<src>/.warp/config.yaml`; no file is the default configuration.
    pub fn load(src_root: &Path) -> Result<Config> {
        let path = src_root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(fail(
                    format!("could not read {}: {e}", path.display()),
                    "make the file readable",
                ))
            }
        };
        parse(&text, &path)
    }
}

/// Parse the text of a config file; `origin` names it in errors.
pub fn parse(text: &str, origin: &Path) -> Result<Config> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let message = e.to_string();
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        // The library appends " at line L column C"; the position leads instead.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        fail(
            format!("{}:{line}:{column}: {message}", origin.display()),
            "the keys warp knows are python, installer, requirements, lock, groups, extras, environment, server and image",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_known_keys() {
        let cfg = parse(
            "python: python3.12\ninstaller: uv\nrequirements: [a.txt, b.txt]\nenvironment:\n  A: '1'\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(cfg.python.as_deref(), Some("python3.12"));
        assert_eq!(cfg.installer, Some(Installer::Uv));
        assert_eq!(cfg.requirements.unwrap(), ["a.txt", "b.txt"]);
        assert_eq!(cfg.environment["A"], "1");
        // The sections other commands read are accepted as they are.
        let cfg = parse(
            "server:\n  processes: 2\nimage:\n  base: x\n",
            Path::new("c"),
        )
        .unwrap();
        assert!(cfg.server.is_some() && cfg.image.is_some());
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        let err = parse(
            "python: python3\ninstaler: uv\n",
            Path::new(".warp/config.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(".warp/config.yaml:2:1: unknown field `instaler`"),
            "{err}"
        );
        let err = parse("python: [\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:"), "{err}");
    }
}
