//! `run`: the image's command. The app's own `.s2i/bin/run` when it has one,
//! else — as sclorg's python builder does — `manage.py migrate` for a Django
//! app (unless DISABLE_MIGRATE is set), then `warp start` for the app in
//! `<app root>/src`, exec'd so that warp's supervisor is the container's PID 1
//! (it forwards signals and reaps).
use crate::app::record::BuildRecord;
use crate::app::{App, AppPaths};
use crate::error::fail;
use crate::s2i::overrides;
use crate::s2i::paths::S2iPaths;
use crate::ui;
use anyhow::Result;
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn run(paths: &S2iPaths) -> Result<i32> {
    let app = paths.app_paths();
    overrides::exec_if_present(&app.src_root, "run")?;
    let is_django = BuildRecord::load(&app.app_root)?.is_some_and(|r| r.django.is_some());
    if is_django {
        migrate_django(&app)?;
    }
    let exe = std::env::current_exe()?;
    let err = Command::new(&exe)
        .arg("start")
        .arg("--src")
        .arg(&app.src_root)
        .env("WARP_APP_ROOT", &app.app_root)
        .exec();
    Err(anyhow::anyhow!(
        "could not run {} start: {err}",
        exe.display()
    ))
}

/// `python manage.py migrate --noinput` in the app's directory, in the app
/// environment; a failure stops the container (as sclorg's run does).
fn migrate_django(paths: &AppPaths) -> Result<()> {
    let app = App::load(paths)?;
    if app.vars.flag("DISABLE_MIGRATE") {
        eprintln!("==> DISABLE_MIGRATE is set: the Django database is not migrated");
        return Ok(());
    }
    let home = app.home()?;
    if !home.join("manage.py").is_file() {
        return Ok(());
    }
    let env = crate::runtime::app_environment(&app)?;
    ui::step("Migrating the Django database (manage.py migrate)", || {
        let status = Command::new(paths.python())
            .args(["manage.py", "migrate", "--noinput"])
            .current_dir(&home)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(fail(
                format!("manage.py migrate failed ({status})"),
                "fix the migrations or the database settings, or set DISABLE_MIGRATE=1 to start without migrating",
            ))
        }
    })
}
