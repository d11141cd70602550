//! The builder half, first part: from an app's source to a ready virtualenv
//! (detect the layout, make the venv, install, run the hooks, collect static).

pub mod app;
pub mod hooks;
pub mod record;

use crate::build::app::AppPaths;
use crate::build::record::BuildRecord;
use anyhow::Result;

/// Which tool makes the venv and installs into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Installer {
    /// uv when it is on PATH, else pip.
    #[default]
    Auto,
    Uv,
    Pip,
}

/// What the user chose on the command line for a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--python`, else `$WARP_PYTHON`, else `python3`.
    pub python: Option<String>,
    pub installer: Installer,
}

/// Build the app: the steps of `warp build`, fail-fast; returns the record it saved.
pub fn build(paths: &AppPaths, options: &BuildOptions) -> Result<BuildRecord> {
    let _ = (paths, options);
    Err(crate::error::fail_with_code(
        "`warp build` is not built yet",
        "it is planned in issue 2",
        2,
    ))
}
