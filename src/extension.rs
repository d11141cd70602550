//! The server extension that warp carries inside itself, and how it gets into
//! an app's virtualenv: `warpserver/_core.abi3.so` (built by build.rs from
//! `server/`) plus the pure-Python files of `server/python/warpserver/`.
//!
//! One abi3 build serves every CPython ≥ 3.9, so installing is a file copy.
use anyhow::{Context, Result};
use std::fs;
use std::path::Path;

/// The compiled extension module.
pub const CORE_SO: &[u8] = include_bytes!(env!("WARPSERVER_SO"));

/// The pure-Python files of the `warpserver` package, by path relative to site-packages.
pub const PYTHON_FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/python_files.rs"));

/// The file name of the extension inside the package directory.
pub const CORE_FILE: &str = "_core.abi3.so";

/// A file in the package naming the `warp` binary that installed it, so that
/// `manage.py runwarp` finds the warp whose server the package is.
pub const INSTALLED_BY_FILE: &str = "installed-by-warp";

/// Put the `warpserver` package into `site_packages` (a venv's platlib).
/// Files already identical are left alone; changed ones are replaced by rename,
/// so a worker that has the old copy mapped keeps running.
pub fn install(site_packages: &Path) -> Result<()> {
    let package = site_packages.join("warpserver");
    fs::create_dir_all(&package).with_context(|| format!("creating {}", package.display()))?;
    write_if_changed(&package.join(CORE_FILE), CORE_SO)?;
    for (rel, bytes) in PYTHON_FILES {
        write_if_changed(&site_packages.join(rel), bytes)?;
    }
    if let Ok(exe) = std::env::current_exe() {
        let line = format!("{}\n", exe.display());
        write_if_changed(&package.join(INSTALLED_BY_FILE), line.as_bytes())?;
    }
    Ok(())
}

/// A private copy of the package for one `warp start --worker-python` run, in
/// a temporary directory `warpserver-PID-…` removed when the returned handle is
/// dropped. Copies left by runs that were killed (their PID gone) are removed
/// first: only directories of this user that hold the package's marker file.
pub fn private_copy() -> Result<tempfile::TempDir> {
    remove_stale_private_copies(&std::env::temp_dir());
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PRIVATE_PREFIX}{}-", std::process::id()))
        .tempdir()
        .context("creating a private directory for warp's server")?;
    install(dir.path()).context("installing warp's server")?;
    Ok(dir)
}

const PRIVATE_PREFIX: &str = "warpserver-";

fn remove_stale_private_copies(tmp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let uid = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PRIVATE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        // symlink_metadata: a link planted under that name is never followed.
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid)
            && path.join("warpserver").join(INSTALLED_BY_FILE).is_file();
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn write_if_changed(dest: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(dest).map(|old| old == bytes).unwrap_or(false) {
        return Ok(());
    }
    let dir = dest.parent().expect("a file inside a package");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    let mut perms = fs::metadata(tmp.path())?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(tmp.path(), perms)?;
    tmp.persist(dest)
        .with_context(|| format!("installing {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_records_the_binary_that_installed_the_package() {
        let site = tempfile::tempdir().unwrap();
        install(site.path()).unwrap();
        let package = site.path().join("warpserver");
        assert!(package.join(CORE_FILE).is_file());
        assert!(package.join("__init__.py").is_file());
        let recorded = fs::read_to_string(package.join(INSTALLED_BY_FILE)).unwrap();
        assert_eq!(
            recorded.trim_end(),
            std::env::current_exe().unwrap().display().to_string()
        );
    }
}
