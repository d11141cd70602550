//! `.s2i/bin/NAME` in the app source replaces the builder's script NAME (the
//! S2I convention). An override usually ends by calling the builder's own
//! script (/usr/libexec/s2i/NAME); the guard variable lists the scripts whose
//! override is already running, so that call runs warp's logic instead of the
//! override again (no loop).
use anyhow::Result;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Comma-separated names of the scripts whose override is running.
pub const GUARD_VAR: &str = "WARP_S2I_OVERRIDE_ACTIVE";

/// The override of `script` in the app source `src`, when there is an
/// executable one and it is not already running (per `guard`, the value of
/// [`GUARD_VAR`]).
pub fn find(src: &Path, script: &str, guard: Option<&str>) -> Option<PathBuf> {
    if guard.is_some_and(|g| g.split(',').any(|s| s == script)) {
        return None;
    }
    let path = src.join(".s2i").join("bin").join(script);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(path)
}

/// The guard value once `script` is running.
pub fn guard_with(guard: Option<&str>, script: &str) -> String {
    match guard.filter(|g| !g.is_empty()) {
        Some(g) => format!("{g},{script}"),
        None => script.to_string(),
    }
}

/// Look for an override of `script` in `src`; when there is one, replace this
/// process with it (returns only on failure to start it). Ok(()) when there is none.
pub fn exec_if_present(src: &Path, script: &str) -> Result<()> {
    let guard = std::env::var(GUARD_VAR).ok();
    let Some(path) = find(src, script, guard.as_deref()) else {
        return Ok(());
    };
    eprintln!(
        "==> running the app's {} (overrides the builder's {script})",
        path.display()
    );
    let err = Command::new(&path)
        .env(GUARD_VAR, guard_with(guard.as_deref(), script))
        .exec();
    Err(crate::error::fail(
        format!("could not run {}: {err}", path.display()),
        "make it an executable script with a #! line, or remove it to use the builder's own",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executable_overrides_unless_guarded() {
        let src = tempfile::tempdir().unwrap();
        let bin = src.path().join(".s2i/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("assemble"), "#!/bin/sh\n").unwrap();
        std::fs::write(bin.join("run"), "#!/bin/sh\n").unwrap(); // not executable
        std::fs::set_permissions(bin.join("assemble"), std::fs::Permissions::from_mode(0o755))
            .unwrap();

        assert_eq!(
            find(src.path(), "assemble", None),
            Some(bin.join("assemble"))
        );
        assert_eq!(find(src.path(), "assemble", Some("run,assemble")), None);
        assert_eq!(
            find(src.path(), "assemble", Some("assemblex")),
            Some(bin.join("assemble"))
        );
        assert_eq!(find(src.path(), "run", None), None);
        assert_eq!(find(src.path(), "save-artifacts", None), None);
    }

    #[test]
    fn guard_accumulates() {
        assert_eq!(guard_with(None, "assemble"), "assemble");
        assert_eq!(guard_with(Some(""), "run"), "run");
        assert_eq!(guard_with(Some("assemble"), "run"), "assemble,run");
    }
}
