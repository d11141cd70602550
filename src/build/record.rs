//! `<app root>/.warp/build.json`: what `warp build` found and made, so that
//! `warp start`, `warp image` and the S2I scripts need not detect again.
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file name inside the app root's `.warp/` directory.
pub const RECORD_FILE: &str = "build.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildRecord {
    /// The warp version that wrote the record.
    pub warp_version: String,
    pub src_root: PathBuf,
    pub app_root: PathBuf,
    /// How dependencies were installed: "requirements.txt", "Pipfile",
    /// "pyproject.toml", "setup.py" or "none".
    pub layout: String,
    /// What `warp start` runs.
    pub entry: Entry,
    pub python: PythonInfo,
    /// sha256 over the dependency inputs (requirement files, lock files,
    /// interpreter version, installer, index settings): unchanged → no reinstall.
    pub inputs_hash: String,
    pub django: Option<DjangoInfo>,
}

/// What the app is, as far as starting it goes (warpdrive's detection order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// An executable shell script (app.sh, APP_SCRIPT): exec'd as it is.
    Script { path: PathBuf },
    /// A Python file that runs its own server (app.py, APP_FILE).
    PythonFile { path: PathBuf },
    /// A WSGI application for warp's server: `module:callable`, or the path
    /// of a WSGI script file whose `application` is served.
    Wsgi { target: String },
    /// Nothing to run was found: a page that says how to add an app.
    Splash,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PythonInfo {
    /// The venv's interpreter.
    pub executable: PathBuf,
    /// e.g. "3.11.7".
    pub version: String,
    /// The venv's platlib, where the `warpserver` package is installed.
    pub site_packages: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DjangoInfo {
    pub settings_module: String,
    /// URL prefix of static files (STATIC_URL), e.g. "/static/".
    pub static_url: Option<String>,
    /// Where collectstatic put them (STATIC_ROOT, or warp's injected default).
    pub static_root: Option<PathBuf>,
}

impl BuildRecord {
    pub fn path(app_root: &Path) -> PathBuf {
        app_root.join(".warp").join(RECORD_FILE)
    }

    /// The record of the last successful build, if there is one.
    pub fn load(app_root: &Path) -> Result<Option<BuildRecord>> {
        let path = Self::path(app_root);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let record = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a warp build record", path.display()))?;
        Ok(Some(record))
    }

    /// Write the record atomically.
    pub fn save(&self) -> Result<()> {
        let path = Self::path(&self.app_root);
        let dir = path.parent().unwrap();
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        tmp.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
