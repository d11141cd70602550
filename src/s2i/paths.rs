//! Where the S2I scripts find things. The defaults are the S2I and sclorg
//! conventions; each can be moved by an environment variable (the tests run
//! the scripts outside a container that way).
use crate::app::AppPaths;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct S2iPaths {
    /// Where s2i put the app source: `$WARP_S2I_SRC`, default /tmp/src.
    pub incoming_src: PathBuf,
    /// Where s2i put the previous image's artifacts: `$WARP_S2I_ARTIFACTS`, default /tmp/artifacts.
    pub incoming_artifacts: PathBuf,
    /// The app root (the virtualenv): `$WARP_APP_ROOT`, else `$APP_ROOT`, default /opt/app-root.
    pub app_root: PathBuf,
    /// The installers' cache directory: `$XDG_CACHE_HOME`, else `$HOME/.cache`,
    /// else `<app root>/.cache` (uv and pip put their caches in `uv/` and `pip/` there).
    pub cache_root: PathBuf,
}

impl S2iPaths {
    pub fn from_env() -> S2iPaths {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let app_root = var("WARP_APP_ROOT")
            .or_else(|| var("APP_ROOT"))
            .unwrap_or_else(|| PathBuf::from("/opt/app-root"));
        let cache_root = var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(|| app_root.join(".cache"));
        S2iPaths {
            incoming_src: var("WARP_S2I_SRC").unwrap_or_else(|| PathBuf::from("/tmp/src")),
            incoming_artifacts: var("WARP_S2I_ARTIFACTS")
                .unwrap_or_else(|| PathBuf::from("/tmp/artifacts")),
            app_root,
            cache_root,
        }
    }

    /// Where the app source lives in the image: `<app root>/src`.
    pub fn app_src(&self) -> PathBuf {
        self.app_root.join("src")
    }

    /// The app as `warp build` and `warp start` see it.
    pub fn app_paths(&self) -> AppPaths {
        AppPaths {
            src_root: self.app_src(),
            app_root: self.app_root.clone(),
        }
    }
}
