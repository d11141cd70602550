//! `run`: the image's command. The app's own `.s2i/bin/run` when it has one,
//! else `warp start` for the app in `<app root>/src`, exec'd so that warp's
//! supervisor is the container's PID 1 (it forwards signals and reaps).
use crate::s2i::overrides;
use crate::s2i::paths::S2iPaths;
use anyhow::Result;
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn run(paths: &S2iPaths) -> Result<i32> {
    let app_src = paths.app_src();
    overrides::exec_if_present(&app_src, "run")?;
    let exe = std::env::current_exe()?;
    let err = Command::new(&exe)
        .arg("start")
        .arg("--src")
        .arg(&app_src)
        .env("WARP_APP_ROOT", &paths.app_root)
        .exec();
    Err(anyhow::anyhow!(
        "could not run {} start: {err}",
        exe.display()
    ))
}
