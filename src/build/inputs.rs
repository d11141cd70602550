//! The inputs hash: sha256 over everything that decides what an install puts
//! into the venv. Unchanged hash + intact venv → the install is skipped, which
//! makes a second `warp build` near-instant.
//!
//! Hashed: the installer, the interpreter (path and version), the layout, the
//! contents of the requirement / Pipfile files (following `-r`/`-c` includes),
//! for project layouts (pyproject/setup.py, installed non-editable) a listing
//! of the source tree (path, size, mtime), the wheelhouse listing, and the
//! variables that change how pip/uv resolve.
use crate::build::detect::Layout;
use crate::build::vars::AppVars;
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The variables that change an install's result.
pub const HASHED_VARS: [&str; 13] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "WARP_PIP_NO_INDEX",
    "WARP_PIP_REQUIREMENTS",
    "UPGRADE_PIP_TO_LATEST",
    "ENABLE_PIPENV",
    "ENABLE_MICROPIPENV",
    "DISABLE_SETUP_PY_PROCESSING",
    "DISABLE_PYPROJECT_TOML_PROCESSING",
    "APP_HOME",
    "WARPDRIVE_PIP_NO_INDEX",
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

pub struct Inputs<'a> {
    pub tool: &'a str,
    pub python: &'a Path,
    pub python_version: &'a str,
    pub layout: &'a Layout,
    pub home: &'a Path,
    pub app_root: &'a Path,
    pub wheelhouse: Option<&'a Path>,
    pub vars: &'a AppVars,
}

/// One named, length-prefixed field of a hash (no two inputs run together).
pub fn hash_field(h: &mut Sha256, name: &str, value: &[u8]) {
    h.update(name.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value);
}

impl Inputs<'_> {
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| hash_field(&mut h, name, value);
        field("tool", self.tool.as_bytes());
        field("python", self.python.as_os_str().as_encoded_bytes());
        field("version", self.python_version.as_bytes());
        field("layout", self.layout.name().as_bytes());
        for var in HASHED_VARS {
            field(var, self.vars.get(var).unwrap_or_default().as_bytes());
        }
        match self.layout {
            Layout::Requirements(files) => {
                for file in files {
                    hash_requirements(&mut field, file, 0);
                }
            }
            Layout::Pipfile { .. } => {
                for name in ["Pipfile", "Pipfile.lock"] {
                    field(
                        name,
                        &std::fs::read(self.home.join(name)).unwrap_or_default(),
                    );
                }
            }
            Layout::Pyproject | Layout::SetupPy => {
                let mut listing = Vec::new();
                list_tree(self.home, self.app_root, Path::new(""), &mut listing);
                field("tree", listing.join("\n").as_bytes());
            }
            Layout::None => {}
        }
        if let Some(dir) = self.wheelhouse {
            let mut listing = Vec::new();
            list_tree(dir, self.app_root, Path::new(""), &mut listing);
            field("wheelhouse", listing.join("\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// A requirements file's bytes, then those of the files it includes.
fn hash_requirements(field: &mut impl FnMut(&str, &[u8]), file: &Path, depth: u32) {
    let bytes = std::fs::read(file).unwrap_or_default();
    field(&file.to_string_lossy(), &bytes);
    if depth > 5 {
        return;
    }
    for line in String::from_utf8_lossy(&bytes).lines() {
        let line = line.trim();
        let included = ["-r", "--requirement", "-c", "--constraint"]
            .iter()
            .find_map(|opt| line.strip_prefix(opt))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(rel) = included.filter(|r| !r.is_empty()) {
            if let Some(dir) = file.parent() {
                hash_requirements(field, &dir.join(rel), depth + 1);
            }
        }
    }
}

/// "path size mtime" for every file under `dir`, sorted, symlinks not followed.
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
                "{} {} {}.{}",
                rel.join(&name).display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
        }
    }
}
