//! Where an app lives: its source root and its app root (the virtualenv).
//!
//! The app root is `$WARP_APP_ROOT` when set (images set /opt/app-root, and a
//! `warp project` sub-shell sets its workspace), else `<src>/.venv`.
use crate::error::fail;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The two directories every command that acts on an app needs.
#[derive(Debug, Clone)]
pub struct AppPaths {
    /// The app's source (absolute).
    pub src_root: PathBuf,
    /// The virtualenv the app runs in (absolute; may not exist yet).
    pub app_root: PathBuf,
}

impl AppPaths {
    /// Resolve the app for `--src DIR`. Fails when the directory does not exist.
    pub fn locate(src: &Path) -> Result<AppPaths> {
        if !src.is_dir() {
            return Err(fail(
                format!("the source directory {} does not exist", src.display()),
                "pass --src DIR with the directory that holds your app",
            ));
        }
        let src_root = std::fs::canonicalize(src)?;
        let app_root = match std::env::var_os("WARP_APP_ROOT").filter(|v| !v.is_empty()) {
            Some(root) => absolute(Path::new(&root))?,
            None => src_root.join(".venv"),
        };
        Ok(AppPaths { src_root, app_root })
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        self.app_root.join("bin").join("python")
    }

    /// warp's own state inside the app root (build record, markers).
    pub fn state_dir(&self) -> PathBuf {
        self.app_root.join(".warp")
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}
