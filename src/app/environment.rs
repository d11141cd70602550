//! The environment an app's processes get on top of the inherited one: the
//! venv first on PATH, VIRTUAL_ENV, the WARP_* locations, a UTF-8 locale and
//! the app's variables. The build uses [`base`] as it is; what runs the app
//! adds PYTHONPATH, the passwd entry and `deploy-env` (`runtime`).
use crate::app::vars::AppVars;
use crate::app::AppPaths;

/// The base environment of every process of the app, and all of the build's
/// tools and hooks: the venv first on PATH,
/// WARP_* locations, a UTF-8 locale and the app's variables (no PYTHONPATH:
/// pip must not import from the app's source).
pub fn base(paths: &AppPaths, vars: &AppVars) -> Vec<(String, String)> {
    let bin = paths.app_root.join("bin");
    let path = match std::env::var("PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", bin.display()),
        _ => format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
    };
    let mut env = vec![
        ("PATH".to_string(), path),
        (
            "VIRTUAL_ENV".to_string(),
            paths.app_root.display().to_string(),
        ),
        (
            "WARP_APP_ROOT".to_string(),
            paths.app_root.display().to_string(),
        ),
        (
            "WARP_SRC_ROOT".to_string(),
            paths.src_root.display().to_string(),
        ),
    ];
    for var in ["LANG", "LC_ALL"] {
        let utf8 = std::env::var(var).is_ok_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        });
        if !utf8 {
            env.push((var.to_string(), "C.UTF-8".to_string()));
        }
    }
    for (k, v) in vars.pairs() {
        set(&mut env, k, v);
    }
    env
}

pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}
