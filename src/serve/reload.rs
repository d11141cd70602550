//! `--reload-on-changes`: notice when a Python file of the source or of a
//! `--python-path` directory (the app's own importable modules), or a file
//! under a --url-alias directory, changes, by polling modification times once
//! a second. Polling needs no extra crate, works on every filesystem (bind
//! mounts, network volumes) and costs nothing on the request path.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directories never looked into: virtualenvs, VCS data, caches.
const SKIPPED: &[&str] = &[
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    "node_modules",
    ".warp",
    ".tox",
];
/// Stop walking after this many files, so a huge tree cannot make polling expensive.
const MAX_FILES: usize = 20_000;

/// Modification times of the watched files.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot(BTreeMap<PathBuf, SystemTime>);

/// What is watched: `.py` files under each Python directory (the source and
/// the `--python-path` entries; not inside `skip`, the app root), and every
/// file under each static directory.
pub struct Watch {
    pub python_dirs: Vec<PathBuf>,
    pub skip: PathBuf,
    pub static_dirs: Vec<PathBuf>,
}

impl Watch {
    pub fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        for dir in &self.python_dirs {
            walk(dir, &self.skip, true, &mut files);
        }
        for dir in &self.static_dirs {
            walk(dir, &self.skip, false, &mut files);
        }
        Snapshot(files)
    }
}

impl Snapshot {
    /// The first file that differs between two snapshots (added, removed or changed).
    pub fn changed_file(&self, newer: &Snapshot) -> Option<PathBuf> {
        for (path, time) in &newer.0 {
            if self.0.get(path) != Some(time) {
                return Some(path.clone());
            }
        }
        self.0.keys().find(|p| !newer.0.contains_key(*p)).cloned()
    }
}

fn walk(dir: &Path, skip: &Path, python_only: bool, out: &mut BTreeMap<PathBuf, SystemTime>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let name = entry.file_name();
            if path == skip || SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            walk(&path, skip, python_only, out);
        } else if !python_only || path.extension().is_some_and(|e| e == "py") {
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                out.insert(path, modified);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_changes_are_seen_and_other_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".venv/lib")).unwrap();
        std::fs::write(dir.path().join("app.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join(".venv/lib/site.py"), "").unwrap();
        let watch = Watch {
            python_dirs: vec![dir.path().into()],
            skip: dir.path().join(".venv"),
            static_dirs: vec![],
        };
        let before = watch.snapshot();
        assert_eq!(before.0.len(), 1);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join(".venv/lib/other.py"), "").unwrap();
        assert_eq!(before.changed_file(&watch.snapshot()), None);
        std::fs::write(dir.path().join("new.py"), "").unwrap();
        assert_eq!(
            before.changed_file(&watch.snapshot()),
            Some(dir.path().join("new.py"))
        );
        std::fs::remove_file(dir.path().join("app.py")).unwrap();
        std::fs::remove_file(dir.path().join("new.py")).unwrap();
        assert_eq!(
            before.changed_file(&watch.snapshot()),
            Some(dir.path().join("app.py"))
        );
    }
}
