//! What every command that runs the app shares: its environment, a passwd
//! entry for an arbitrary UID, and PID-1 duties (signal forwarding, reaping).

pub mod passwd;
pub mod pid1;

use crate::app::environment::{self, set};
use crate::app::hooks;
use crate::app::App;
use anyhow::Result;

/// The app environment as (name, value) pairs, to set on a child process on
/// top of the inherited one: PATH with the venv's bin first, VIRTUAL_ENV,
/// WARP_APP_ROOT, WARP_SRC_ROOT, PYTHONPATH with the app's directory,
/// LANG/LC_ALL as UTF-8, the app's environment files, the variables its
/// `deploy-env` hook exports, and (for a UID without a passwd entry when
/// /etc/passwd is not writable) nss_wrapper's variables.
pub fn app_environment(app: &App) -> Result<Vec<(String, String)>> {
    let paths = &app.paths;
    let home = app.home()?;
    let mut env = environment::base(paths, &app.vars);
    let pythonpath = match std::env::var("PYTHONPATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", home.display()),
        _ => home.display().to_string(),
    };
    set(&mut env, "PYTHONPATH", &pythonpath);
    set(&mut env, "PYTHONUNBUFFERED", "1");
    for (k, v) in passwd::ensure_entry(paths)? {
        set(&mut env, &k, &v);
    }
    for (k, v) in hooks::source_env(paths, "deploy-env", &env)? {
        set(&mut env, &k, &v);
    }
    Ok(env)
}

/// Run the hook `name` if the app has one, in the app environment; Ok(())
/// when it has none (`warp setup`, `migrate`, `verify`, `alive`, `ready`).
pub fn run_hook(app: &App, name: &str) -> Result<()> {
    let env = app_environment(app)?;
    hooks::run_with(&app.paths, name, &env)
}

/// What `warp start` does before the server: a passwd entry for an arbitrary
/// UID, the `deploy-cfg` hook once per app root, the `deploy` hook every time.
pub fn before_start(app: &App) -> Result<()> {
    let paths = &app.paths;
    let env = app_environment(app)?;
    if hooks::find(paths, "deploy-cfg").is_some() {
        let marker = paths.state_dir().join("deploy-cfg.done");
        if !marker.exists() {
            hooks::run_with(paths, "deploy-cfg", &env)?;
            std::fs::create_dir_all(paths.state_dir())?;
            std::fs::write(&marker, b"")?;
        }
    }
    hooks::run_with(paths, "deploy", &env)
}

/// `export NAME='value'` lines that a POSIX shell can `eval`.
pub fn export_lines(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect()
}

/// Quote `value` for a POSIX shell: single quotes, with `'` written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppPaths;

    /// deploy-cfg runs once per app root, deploy on every start (the
    /// hooks-examples versions, run by sh for real).
    #[test]
    fn before_start_runs_deploy_cfg_once_and_deploy_every_time() {
        let src = tempfile::tempdir().unwrap();
        let hooks = src.path().join(".warp/action_hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks-examples");
        for name in ["deploy-cfg", "deploy"] {
            std::fs::copy(examples.join(name), hooks.join(name)).unwrap();
        }
        let paths = AppPaths {
            src_root: src.path().to_path_buf(),
            app_root: src.path().join("root"),
        };
        std::fs::create_dir_all(paths.app_root.join("tmp")).unwrap();
        let app = App::load(&paths).unwrap();
        before_start(&app).unwrap();
        before_start(&app).unwrap();
        let log = std::fs::read_to_string(paths.app_root.join("tmp/hooks.log")).unwrap();
        assert_eq!(log, "deploy-cfg\ndeploy\ndeploy\n");
        assert!(paths.state_dir().join("deploy-cfg.done").exists());
        let cfg = std::fs::read_to_string(paths.app_root.join("tmp/app.cfg")).unwrap();
        assert!(cfg.contains("port="));
    }

    #[test]
    fn quoting_survives_quotes_and_dollars() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $HOME"), "'it'\\''s $HOME'");
        let env = vec![("A".to_string(), "x'y".to_string())];
        assert_eq!(export_lines(&env), "export A='x'\\''y'\n");
    }
}
