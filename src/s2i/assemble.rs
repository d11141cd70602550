//! `assemble`: turn the source s2i put in /tmp/src into a built app in the
//! app root — the app's own `.s2i/bin/assemble` when it has one, else: copy
//! the source (dot-files too) into `<app root>/src`, restore the previous
//! image's artifacts, `warp build`, `warp fixup <app root>`.
use crate::build::BuildOptions;
use crate::error::fail;
use crate::files;
use crate::s2i::paths::S2iPaths;
use crate::s2i::{artifacts, overrides};
use crate::ui;
use anyhow::Result;
use std::process::Command;

pub fn assemble(paths: &S2iPaths) -> Result<()> {
    let incoming = &paths.incoming_src;
    if !incoming.is_dir() {
        return Err(fail(
            format!("there is no app source in {}", incoming.display()),
            "s2i and OpenShift put it there; elsewhere set WARP_S2I_SRC to the source directory",
        ));
    }
    overrides::exec_if_present(incoming, "assemble")?;

    let app_src = paths.app_src();
    ui::step(
        &format!("Copying the app source into {}", app_src.display()),
        || {
            let copied = files::copy_tree(incoming, &app_src)?;
            eprintln!(
                "    {} files, {} directories, {} links",
                copied.files, copied.dirs, copied.links
            );
            for left in files::empty_dir(incoming) {
                eprintln!("warp: could not remove {left} after copying it");
            }
            Ok(())
        },
    )?;

    if paths.incoming_artifacts.is_dir() {
        ui::step("Restoring the artifacts of the previous build", || {
            // The saved venv is reused only when the dependency inputs are what
            // they were when it was saved; otherwise only the caches are.
            let hash = crate::build::inputs_hash(&paths.app_paths(), &BuildOptions::default())?;
            let restored = artifacts::restore(paths, Some(&hash))?;
            if restored.venv {
                eprintln!("    virtualenv restored (the build reinstalls only if the dependency inputs changed)");
            }
            if let Some(why) = &restored.venv_skipped {
                eprintln!("    virtualenv not reused: {why}");
            }
            if !restored.caches.is_empty() {
                eprintln!("    installer caches: {}", restored.caches.join(", "));
            }
            Ok(())
        })?;
    }

    crate::build::build(&paths.app_paths(), &BuildOptions::default())?;

    ui::step(
        &format!("Fixing permissions of {}", paths.app_root.display()),
        || {
            // `warp fixup` reports what it could not change and never fails the build.
            let exe = std::env::current_exe()?;
            match Command::new(exe).arg("fixup").arg(&paths.app_root).status() {
                Ok(status) if status.success() => {}
                Ok(status) => eprintln!("warp: fixup ended with {status}; the build goes on"),
                Err(e) => eprintln!("warp: could not run fixup: {e}; the build goes on"),
            }
            Ok(())
        },
    )?;
    Ok(())
}
