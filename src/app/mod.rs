//! The app model: everything about one app that every half of warp reads —
//! where it lives ([`paths`]), what its `.warp/config.yaml` says ([`config`]),
//! its variables layered from the environment files ([`envfile`], [`vars`]),
//! its hooks ([`hooks`]), the environment its processes get ([`environment`])
//! and the record its last build left ([`record`]).
//!
//! It is the ground floor: the build, serve and image halves, S2I and the
//! local commands import it, and it imports none of them. [`App::load`] reads
//! the source once, so a command does not load the config and the variables
//! again in each step.

pub mod config;
pub mod envfile;
pub mod environment;
pub mod hooks;
pub mod paths;
pub mod record;
pub mod vars;

pub use paths::AppPaths;

use anyhow::Result;
use config::Config;
use std::path::PathBuf;
use vars::AppVars;

/// One app as its source describes it: the two roots, the config file and the
/// variables (inherited environment, environment files, config), read once.
#[derive(Debug, Clone)]
pub struct App {
    pub paths: AppPaths,
    pub config: Config,
    pub vars: AppVars,
}

impl App {
    /// Read `.warp/config.yaml` and the environment files of the app at
    /// `paths`. Fails with the file and position of a bad config or env file.
    pub fn load(paths: &AppPaths) -> Result<App> {
        let config = Config::load(&paths.src_root)?;
        let vars = AppVars::load(paths, &config)?;
        Ok(App {
            paths: paths.clone(),
            config,
            vars,
        })
    }

    /// The directory that holds the app: the source root, or `APP_HOME` below
    /// it (refused when it leaves the source).
    pub fn home(&self) -> Result<PathBuf> {
        self.vars.app_home(&self.paths)
    }
}
