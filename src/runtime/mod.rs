//! What every command that runs the app shares: its environment, a passwd
//! entry for an arbitrary UID, and PID-1 duties (signal forwarding, reaping).

use crate::build::app::AppPaths;
use anyhow::Result;

/// The app environment as (name, value) pairs, to set on a child process on
/// top of the inherited one: PATH with the venv's bin first, VIRTUAL_ENV,
/// WARP_APP_ROOT, WARP_SRC_ROOT, LANG/LC_ALL as UTF-8, the app's
/// `.warp/environment` and the variables its `deploy-env` hook exports.
pub fn app_environment(paths: &AppPaths) -> Result<Vec<(String, String)>> {
    let _ = paths;
    Ok(Vec::new())
}

/// What `warp start` does before the server: a passwd entry for an arbitrary
/// UID, the `deploy-cfg` hook once per app root, the `deploy` hook every time.
pub fn before_start(paths: &AppPaths) -> Result<()> {
    let _ = paths;
    Ok(())
}
