//! The parts of the inputs hash that come from the app's source: the
//! variables that change how pip/uv resolve ([`HASHED_VARS`]) and the app's
//! own files that decide the install ([`source_inputs`]): the lock file with
//! pyproject.toml (and a package project's tree), the requirement / Pipfile
//! files (following `-r`/`-c` includes), for project layouts
//! (pyproject/setup.py, installed non-editable) every file of the source
//! tree, and the wheelhouse. Files count by content, never by mtime: a copy
//! or a fresh clone of the same source (as an image build makes) hashes the
//! same. [`crate::build::plan`] puts them together with the installer and
//! the interpreter and hashes them.
use crate::build::detect::Layout;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The variables that change an install's result.
pub const HASHED_VARS: [&str; 18] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "WARP_PIP_NO_INDEX",
    "WARP_PIP_REQUIREMENTS",
    "UPGRADE_PIP_TO_LATEST",
    "ENABLE_PIPENV",
    "ENABLE_MICROPIPENV",
    "DISABLE_SETUP_PY_PROCESSING",
    "DISABLE_PYPROJECT_TOML_PROCESSING",
    "APP_HOME",
    "WARPDRIVE_PIP_NO_INDEX",
    "WARP_LOCK",
    "WARP_GROUPS",
    "WARP_EXTRAS",
];

/// Directories never part of a project's inputs.
const SKIP_DIRS: [&str; 10] = [
    ".git",
    ".venv",
    "__pycache__",
    "node_modules",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    "build",
    "dist",
    ".warp",
];

/// One named, length-prefixed field of a hash (no two inputs run together).
pub fn hash_field(h: &mut Sha256, name: &str, value: &[u8]) {
    h.update(name.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value);
}

/// The app's own files that decide what an install puts into the venv, as
/// (name, bytes) pairs in a fixed order: the requirement files (with their
/// includes), the lock file and pyproject.toml, or the Pipfile and its lock, for project layouts a listing of
/// the source tree, and a listing of the wheelhouse. Listings name each file
/// with its size and the sha256 of its content.
pub fn source_inputs(
    layout: &Layout,
    home: &Path,
    app_root: &Path,
    wheelhouse: Option<&Path>,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    match layout {
        Layout::Requirements(files) => {
            for file in files {
                requirement_files(home, file, 0, &mut out);
            }
            // A requirements file may install the project itself (`.`).
            out.extend(present(home, &["pyproject.toml", "setup.py", "setup.cfg"]));
        }
        Layout::Pipfile { .. } => {
            for name in ["Pipfile", "Pipfile.lock"] {
                out.push((
                    name.to_string(),
                    std::fs::read(home.join(name)).unwrap_or_default(),
                ));
            }
        }
        Layout::Lock(lock) => {
            out.push((lock.name(), std::fs::read(&lock.path).unwrap_or_default()));
            // The staleness check reads the project's metadata.
            out.extend(present(home, &["pyproject.toml", "Pipfile"]));
            if crate::build::lock::may_install_project(lock.kind, home) {
                let mut listing = Vec::new();
                list_tree(home, app_root, Path::new(""), &mut listing);
                out.push(("tree".to_string(), listing.join("\n").into_bytes()));
            }
        }
        Layout::Pyproject | Layout::SetupPy => {
            let mut listing = Vec::new();
            list_tree(home, app_root, Path::new(""), &mut listing);
            out.push(("tree".to_string(), listing.join("\n").into_bytes()));
        }
        Layout::None => {}
    }
    if let Some(dir) = wheelhouse {
        let mut listing = Vec::new();
        list_tree(dir, app_root, Path::new(""), &mut listing);
        out.push(("wheelhouse".to_string(), listing.join("\n").into_bytes()));
    }
    out
}

/// The app's settings files under the source root, as (name, bytes), those
/// present: `.warp/config.yaml` and the environment files. Whole files, not
/// the values the build reads from them: they can set any pip or uv variable
/// (`PIP_PRE`, `UV_PRERELEASE`, …), and a variable not in [`HASHED_VARS`]
/// can still change what gets installed.
pub fn settings_files(src_root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![crate::app::config::CONFIG_FILE];
    names.extend(crate::app::vars::ENV_FILES);
    present(src_root, &names)
}

/// The files `names` under `dir` that exist, as (name, bytes).
fn present(dir: &Path, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .filter_map(|name| Some((name.to_string(), std::fs::read(dir.join(name)).ok()?)))
        .collect()
}

/// A requirements file's bytes, then those of the files it includes; named
/// relative to the app's home, so that the same source elsewhere hashes the same.
fn requirement_files(home: &Path, file: &Path, depth: u32, out: &mut Vec<(String, Vec<u8>)>) {
    let bytes = std::fs::read(file).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let name = file.strip_prefix(home).unwrap_or(file);
    out.push((name.to_string_lossy().into_owned(), bytes));
    if depth > 5 {
        return;
    }
    for line in text.lines() {
        let line = line.trim();
        let included = ["-r", "--requirement", "-c", "--constraint"]
            .iter()
            .find_map(|opt| line.strip_prefix(opt))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(rel) = included.filter(|r| !r.is_empty()) {
            if let Some(dir) = file.parent() {
                requirement_files(home, &dir.join(rel), depth + 1, out);
            }
        }
    }
}

/// "path size sha256" for every file under `dir`, sorted, symlinks not followed.
fn list_tree(dir: &Path, app_root: &Path, rel: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let skip = SKIP_DIRS.iter().any(|s| name == *s)
                || name.to_string_lossy().ends_with(".egg-info")
                || path == app_root;
            if !skip && out.len() < 100_000 {
                list_tree(dir, app_root, &rel.join(&name), out);
            }
        } else {
            out.push(format!(
                "{} {} {}",
                rel.join(&name).display(),
                meta.len(),
                content_digest(&path)
            ));
        }
    }
}

/// sha256 of a file's content, read in blocks ("unreadable" if it cannot be read).
fn content_digest(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "unreadable".into();
    };
    let mut h = Sha256::new();
    match std::io::copy(&mut file, &mut h) {
        Ok(_) => hex::encode(h.finalize()),
        Err(_) => "unreadable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn project_files_count_by_content_and_relative_names_not_mtimes_or_places() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [a.path(), b.path()] {
            fs::create_dir_all(dir.join("pkg")).unwrap();
            fs::write(dir.join("pkg/__init__.py"), "x = 1\n").unwrap();
            fs::write(dir.join("requirements.txt"), "-r base.txt\n").unwrap();
            fs::write(dir.join("base.txt"), "flask\n").unwrap();
        }
        // b's copy is older: only its mtimes differ.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(b.path().join("pkg/__init__.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let inputs =
            |dir: &Path, layout: &Layout| source_inputs(layout, dir, &dir.join(".venv"), None);
        let reqs = |dir: &Path| Layout::Requirements(vec![dir.join("requirements.txt")]);
        assert_eq!(
            inputs(a.path(), &reqs(a.path())),
            inputs(b.path(), &reqs(b.path()))
        );
        assert_eq!(
            inputs(a.path(), &reqs(a.path())).len(),
            2,
            "the include is followed"
        );
        assert_eq!(
            inputs(a.path(), &Layout::Pyproject),
            inputs(b.path(), &Layout::Pyproject)
        );
        // Same size, other content: a different input.
        fs::write(b.path().join("pkg/__init__.py"), "x = 2\n").unwrap();
        assert_ne!(
            inputs(a.path(), &Layout::Pyproject),
            inputs(b.path(), &Layout::Pyproject)
        );
    }
}
