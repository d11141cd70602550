//! The variables an app's build and run see on top of the inherited
//! environment: `.s2i/environment`, then `.warpdrive/environment`, then
//! `.warp/environment`, then `environment:` of `.warp/config.yaml` (later ones
//! win, and all of them win over the inherited environment, as S2I does), plus
//! what the `build-env` / `deploy-env` hooks export.
use crate::app::config::Config;
use crate::app::envfile;
use crate::app::AppPaths;
use crate::error::fail;
use anyhow::Result;
use std::path::{Component, Path, PathBuf};

/// The environment files, lowest precedence first, relative to the source root.
pub const ENV_FILES: [&str; 3] = [
    ".s2i/environment",
    ".warpdrive/environment",
    ".warp/environment",
];

/// Variables set on top of the process environment, in the order they were set.
#[derive(Debug, Clone, Default)]
pub struct AppVars {
    overrides: Vec<(String, String)>,
}

impl AppVars {
    /// The app's own variables (files and config), without hooks.
    pub fn load(paths: &AppPaths, config: &Config) -> Result<AppVars> {
        let mut vars = AppVars::default();
        for rel in ENV_FILES {
            for (k, v) in envfile::read(&paths.src_root.join(rel))? {
                vars.set(&k, &v);
            }
        }
        for (k, v) in &config.environment {
            vars.set(k, v);
        }
        Ok(vars)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.overrides.retain(|(k, _)| k != key);
        self.overrides.push((key.to_string(), value.to_string()));
    }

    /// The value the app sees: an override, else the inherited one. Empty is unset.
    pub fn get(&self, key: &str) -> Option<String> {
        self.overrides
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
            .filter(|v| !v.is_empty())
    }

    /// A yes/no switch (DISABLE_COLLECTSTATIC=1 …): set, non-empty and not
    /// `0`, `false` or `no`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no"))
    }

    /// The overrides, for a child's environment.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.overrides
    }

    /// The directory holding the app: `<src>/$APP_HOME`, or the source root.
    pub fn app_home(&self, paths: &AppPaths) -> Result<PathBuf> {
        match self.get("APP_HOME") {
            None => Ok(paths.src_root.clone()),
            Some(home) => {
                let dir = inside(&paths.src_root, &home, "APP_HOME")?;
                if !dir.is_dir() {
                    return Err(fail(
                        format!(
                            "APP_HOME={home} is not a directory in {}",
                            paths.src_root.display()
                        ),
                        "set APP_HOME to the subdirectory of the source that holds the app",
                    ));
                }
                Ok(dir)
            }
        }
    }
}

/// `rel` resolved under `root`, refusing absolute paths and `..` (an input
/// never names a file outside the app's source). `what` names the setting.
pub fn inside(root: &Path, rel: &str, what: &str) -> Result<PathBuf> {
    let path = Path::new(rel);
    let ok = !rel.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !ok {
        return Err(fail(
            format!("{what}={rel} is not a path inside the app's source"),
            "use a relative path without `..`",
        ));
    }
    Ok(root.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_settings_win_and_empty_is_unset() {
        let mut vars = AppVars::default();
        vars.set("WARP_TEST_X", "1");
        vars.set("WARP_TEST_X", "2");
        assert_eq!(vars.get("WARP_TEST_X").as_deref(), Some("2"));
        vars.set("WARP_TEST_Y", "");
        assert_eq!(vars.get("WARP_TEST_Y"), None);
        vars.set("WARP_TEST_F", "false");
        assert!(!vars.flag("WARP_TEST_F"));
        vars.set("WARP_TEST_F", "yes");
        assert!(vars.flag("WARP_TEST_F"));
    }

    #[test]
    fn inside_refuses_escapes() {
        let root = Path::new("/src");
        assert_eq!(
            inside(root, "a/b.txt", "X").unwrap(),
            Path::new("/src/a/b.txt")
        );
        assert!(inside(root, "../etc/passwd", "X").is_err());
        assert!(inside(root, "/etc/passwd", "X").is_err());
        assert!(inside(root, "", "X").is_err());
    }
}
