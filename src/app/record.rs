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
    /// "pyproject.toml", "setup.py", "none", or the lock file installed
    /// ("uv.lock", "pylock.toml", "poetry.lock", "pdm.lock", "Pipfile.lock").
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
        let mut record: BuildRecord = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a warp build record", path.display()))?;
        record.relocate(app_root);
        Ok(Some(record))
    }

    /// A record read from an app root that has moved since the build (a
    /// copied app) names the old places: every path under the old app root —
    /// and under the old source, when the app root sits at the same place
    /// inside it, as `.venv` does — is moved to the new ones.
    fn relocate(&mut self, app_root: &Path) {
        if self.app_root == app_root {
            return;
        }
        let old_app = std::mem::replace(&mut self.app_root, app_root.to_path_buf());
        let old_src = self.src_root.clone();
        let new_src = old_app.strip_prefix(&old_src).ok().and_then(|inside| {
            app_root
                .ends_with(inside)
                .then(|| app_root.ancestors().nth(inside.components().count()))
                .flatten()
                .map(Path::to_path_buf)
        });
        let moved = |path: &mut PathBuf| {
            if let Ok(rel) = path.strip_prefix(&old_app) {
                *path = app_root.join(rel);
            } else if let (Some(new_src), Ok(rel)) = (&new_src, path.strip_prefix(&old_src)) {
                *path = new_src.join(rel);
            }
        };
        moved(&mut self.python.executable);
        moved(&mut self.python.site_packages);
        if let Some(root) = self.django.as_mut().and_then(|d| d.static_root.as_mut()) {
            moved(root);
        }
        match &mut self.entry {
            Entry::Script { path } | Entry::PythonFile { path } => moved(path),
            Entry::Wsgi { target } if target.starts_with('/') => {
                let mut path = PathBuf::from(target.as_str());
                moved(&mut path);
                *target = path.to_string_lossy().into_owned();
            }
            Entry::Wsgi { .. } | Entry::Splash => {}
        }
        if let Some(new_src) = new_src {
            self.src_root = new_src;
        }
    }

    /// Write the record atomically.
    pub fn save(&self) -> Result<()> {
        let path = Self::path(&self.app_root);
        std::fs::create_dir_all(path.parent().unwrap())?;
        crate::files::write_atomically(&path, &serde_json::to_vec_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(src: &str, app: &str) -> BuildRecord {
        BuildRecord {
            warp_version: "test".into(),
            src_root: src.into(),
            app_root: app.into(),
            layout: "none".into(),
            entry: Entry::PythonFile {
                path: format!("{src}/app.py").into(),
            },
            python: PythonInfo {
                executable: format!("{app}/bin/python").into(),
                version: "3.11.2".into(),
                site_packages: format!("{app}/lib/python3.11/site-packages").into(),
            },
            inputs_hash: "h".into(),
            django: Some(DjangoInfo {
                settings_module: "site.settings".into(),
                static_url: Some("/static/".into()),
                static_root: Some(format!("{src}/staticfiles").into()),
            }),
        }
    }

    #[test]
    fn a_copied_app_names_its_own_places() {
        let mut moved = record("/old/app", "/old/app/.venv");
        moved.relocate(Path::new("/new/copy/.venv"));
        assert_eq!(moved, record("/new/copy", "/new/copy/.venv"));
        // An app root outside the source: only what was under it moves.
        let mut apart = record("/srv/src", "/opt/venv");
        apart.relocate(Path::new("/opt/other"));
        assert_eq!(apart.src_root, Path::new("/srv/src"));
        assert_eq!(
            apart.python.site_packages,
            Path::new("/opt/other/lib/python3.11/site-packages")
        );
        assert_eq!(
            apart.django.unwrap().static_root.unwrap(),
            Path::new("/srv/src/staticfiles")
        );
    }
}
