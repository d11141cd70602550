//! Reusing Django's collected static files when nothing they are made from
//! changed, so that a code-only rebuild does not run `collectstatic` (a second
//! of Python for the admin's files alone).
//!
//! The static key is a sha256 over what collectstatic's output depends on:
//! - the venv's identity: the dependency inputs hash and the names of the
//!   installed distributions (`*.dist-info`, `*.egg-info`, `*.pth` in the
//!   platlib), the Python version;
//! - the settings: the module name and the source of its file (or of every
//!   `.py` file of a settings package), and the value of every environment
//!   variable whose name appears in that source (settings that read
//!   `os.environ["STATIC_URL"]` are keyed by it; unrelated variables are not);
//! - every file of the source tree that is not Python (`*.py`, `*.pyc`): the
//!   apps' `static/` directories, STATICFILES_DIRS, templates, `.env` files,
//!   hooks — by content, symlinks by target. Left out: `.git`, `__pycache__`,
//!   virtualenvs (a directory with `pyvenv.cfg`), tool caches and the app root;
//! - the app root (where warp's default STATIC_ROOT goes), the source's path
//!   (settings derive STATIC_ROOT from it), warp's version.
//!
//! A change to a `.py` file other than the settings does not change the key:
//! that is the point (a code change), and also the limit — static files made
//! by Python code (a custom storage or finder in the app's source, a settings
//! module that imports another module of the source) are not seen. For those,
//! `WARP_COLLECTSTATIC=always` collects on every build.
//!
//! Where the collected files are kept:
//! - `warp build` (local): the files stay in STATIC_ROOT; a stamp in
//!   `<app root>/.warp/collectstatic.json` holds the key computed after
//!   collecting (STATIC_ROOT may be inside the source) and a listing (path,
//!   size, mtime) of STATIC_ROOT. They are reused when both still match:
//!   files removed or edited in STATIC_ROOT since make warp collect again.
//!   When STATIC_ROOT is outside the app root, `warp build` also keeps a copy
//!   of the stamp in the user's cache, named by its key
//!   (`<cache>/build-cache/static-stamps/KEY.json`), so that a build whose
//!   app root was removed (`rm -rf .venv`, a cold build of an unchanged app)
//!   finds it: the key is the same (a fresh venv from the same inputs holds
//!   the same distributions) and the listing says the files are still those.
//! - `warp image`: each build starts from a fresh copy of the source, so the
//!   files are kept in a cache directory (`WARP_STATIC_CACHE`, a bind mount of
//!   `<cache>/static`), one tree per key computed before collecting; a hit
//!   replaces STATIC_ROOT with a copy of that tree — the same files, modes and
//!   paths collectstatic made, so the app layer has the same digest.
use crate::app::record::DjangoInfo;
use crate::build::inputs::hash_field;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `always` collects on every build; anything else (default `auto`) reuses.
pub const MODE_VAR: &str = "WARP_COLLECTSTATIC";
/// The cache directory of collected trees: set by `warp image` for the build
/// inside (read from the process environment only, never from the app's files).
pub const CACHE_VAR: &str = "WARP_STATIC_CACHE";
/// The local stamp, in the app root's `.warp/`.
const STAMP_FILE: &str = "collectstatic.json";
/// Beyond these the source tree is not hashed and collectstatic always runs.
const MAX_FILES: usize = 20_000;
const MAX_BYTES: u64 = 256 << 20;
/// Collected trees kept in the cache directory (the most recently used).
const CACHE_ENTRIES: usize = 16;
/// Stamps kept in a local build's stamp directory (the most recently used).
const STAMP_ENTRIES: usize = 64;

/// Directories never part of the key.
const SKIP_DIRS: [&str; 9] = [
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
];

/// What a collect found, kept with the files to reuse them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collected {
    pub settings_module: String,
    pub static_url: Option<String>,
    pub static_root: Option<PathBuf>,
    pub wsgi_application: Option<String>,
}

impl Collected {
    pub fn from_found(info: &DjangoInfo, wsgi: &Option<String>) -> Collected {
        Collected {
            settings_module: info.settings_module.clone(),
            static_url: info.static_url.clone(),
            static_root: info.static_root.clone(),
            wsgi_application: wsgi.clone(),
        }
    }

    pub fn into_found(self) -> (DjangoInfo, Option<String>) {
        (
            DjangoInfo {
                settings_module: self.settings_module,
                static_url: self.static_url,
                static_root: self.static_root,
            },
            self.wsgi_application,
        )
    }
}

#[derive(Serialize, Deserialize)]
struct Stamp {
    key: String,
    listing: String,
    collected: Collected,
}

/// What the key is made of, besides the source tree.
pub struct KeyInputs<'a> {
    pub home: &'a Path,
    pub app_root: &'a Path,
    pub settings_module: &'a str,
    pub inputs_hash: &'a str,
    pub python_version: &'a str,
    pub platlib: &'a Path,
    /// The variables the collect process gets on top of warp's environment.
    pub env: &'a [(String, String)],
}

/// The static key, or None when the source tree is too big to hash.
pub fn key(inputs: &KeyInputs) -> Result<Option<String>> {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| hash_field(&mut h, name, value);
    field("schema", b"collectstatic-v1");
    field("warp", env!("CARGO_PKG_VERSION").as_bytes());
    field("inputs", inputs.inputs_hash.as_bytes());
    field("python", inputs.python_version.as_bytes());
    field("app_root", inputs.app_root.as_os_str().as_encoded_bytes());
    // Settings derive STATIC_ROOT from BASE_DIR: a moved source is another key.
    field("home", inputs.home.as_os_str().as_encoded_bytes());
    field("settings", inputs.settings_module.as_bytes());
    field("dists", installed_distributions(inputs.platlib).as_bytes());
    let settings_text = settings_source(inputs.home, inputs.settings_module);
    field("settings_source", settings_text.as_bytes());
    let mut environment: Vec<(String, String)> = std::env::vars().collect();
    for (k, v) in inputs.env {
        environment.retain(|(name, _)| name != k);
        environment.push((k.clone(), v.clone()));
    }
    environment.sort();
    for (name, value) in &environment {
        if mentions(&settings_text, name) {
            field(&format!("env {name}"), value.as_bytes());
        }
    }
    let mut walk = Walk::default();
    walk.tree(inputs.home, inputs.app_root, Path::new(""))?;
    if walk.too_big {
        return Ok(None);
    }
    field("tree", &walk.hasher.finalize());
    Ok(Some(hex::encode(h.finalize())))
}

/// The distributions installed in the venv, sorted.
fn installed_distributions(platlib: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(platlib)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.ends_with(".dist-info") || n.ends_with(".egg-info") || n.ends_with(".pth")
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join("\n")
}

/// The settings module's source under `home`: its file, or every `.py` file
/// of its package (sorted, each preceded by its path). Empty when the module
/// is not in the source (an installed package's: keyed by the venv).
fn settings_source(home: &Path, module: &str) -> String {
    let rel: PathBuf = module.split('.').collect();
    let file = home.join(&rel).with_extension("py");
    if let Ok(text) = fs::read_to_string(&file) {
        return text;
    }
    let mut files = Vec::new();
    list_py(&home.join(&rel), &mut files);
    files.sort();
    let mut text = String::new();
    for path in files {
        text.push_str(&format!("# {}\n", path.display()));
        text.push_str(&fs::read_to_string(&path).unwrap_or_default());
    }
    text
}

fn list_py(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && entry.file_name() != "__pycache__" {
            list_py(&path, out);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// Whether `name` occurs in `text` as a whole identifier.
fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let is_ident = |c: char| c == '_' || c.is_ascii_alphanumeric();
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The non-Python files of a source tree, hashed in path order.
#[derive(Default)]
struct Walk {
    hasher: Sha256,
    files: usize,
    bytes: u64,
    too_big: bool,
}

impl Walk {
    fn tree(&mut self, root: &Path, app_root: &Path, rel: &Path) -> Result<()> {
        let dir = root.join(rel);
        if dir == app_root || dir.join("pyvenv.cfg").exists() {
            return Ok(());
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if self.too_big {
                return Ok(());
            }
            let name = entry.file_name();
            let child = rel.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|s| name == *s) {
                    self.tree(root, app_root, &child)?;
                }
                continue;
            }
            let text = name.to_string_lossy();
            if text.ends_with(".py") || text.ends_with(".pyc") || text.ends_with(".pyo") {
                continue;
            }
            let path_bytes = child.as_os_str().as_encoded_bytes();
            if kind.is_symlink() {
                let target = fs::read_link(entry.path())?;
                self.record(b"link", path_bytes, target.as_os_str().as_encoded_bytes());
            } else if kind.is_file() {
                let meta = entry.metadata()?;
                self.files += 1;
                self.bytes += meta.len();
                if self.files > MAX_FILES || self.bytes > MAX_BYTES {
                    self.too_big = true;
                    return Ok(());
                }
                // As `record`, with the content streamed rather than held.
                self.record_part(b"file");
                self.record_part(path_bytes);
                self.hasher.update(meta.len().to_le_bytes());
                fs::File::open(entry.path())
                    .and_then(|mut f| std::io::copy(&mut f, &mut self.hasher))
                    .with_context(|| format!("reading {}", entry.path().display()))?;
                self.hasher.update((meta.mode() & 0o111).to_le_bytes());
            }
        }
        Ok(())
    }

    /// Each part length-prefixed, so no two entries run together.
    fn record(&mut self, kind: &[u8], path: &[u8], content: &[u8]) {
        for part in [kind, path, content] {
            self.record_part(part);
        }
    }

    fn record_part(&mut self, part: &[u8]) {
        self.hasher.update((part.len() as u64).to_le_bytes());
        self.hasher.update(part);
    }
}

/// "path mode size mtime" of every entry under `dir`, sorted ("" when
/// absent), and how many of them are not directories.
fn listing(dir: &Path) -> (String, usize) {
    fn walk(dir: &Path, rel: &Path, out: &mut Vec<String>, files: &mut usize) {
        let Ok(entries) = fs::read_dir(dir.join(rel)) else {
            return;
        };
        for entry in entries.flatten() {
            let child = rel.join(entry.file_name());
            let Ok(meta) = entry.metadata() else { continue };
            out.push(format!(
                "{} {} {} {}.{}",
                child.display(),
                meta.mode(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                walk(dir, &child, out, files);
            } else {
                *files += 1;
            }
        }
    }
    let (mut out, mut files) = (Vec::new(), 0);
    if dir.is_dir() {
        out.push(String::from("."));
        walk(dir, Path::new(""), &mut out, &mut files);
    }
    out.sort();
    (out.join("\n"), files)
}

/// Where collected files are kept between builds.
pub enum Store {
    /// Local builds: STATIC_ROOT itself, checked by the stamp in the app
    /// root, or by its copy in `stamps` (named by key) when the app root was
    /// made anew.
    Stamp {
        app_root: PathBuf,
        stamps: Option<PathBuf>,
    },
    /// Image builds: copies of collected trees, one per key.
    Cache { dir: PathBuf },
}

/// A reuse that happened: how many files STATIC_ROOT holds, and what the
/// collect that made them found.
pub struct Reused {
    pub collected: Collected,
    pub files: usize,
}

impl Store {
    /// `cache`: an image build's tree cache (WARP_STATIC_CACHE); else a
    /// local build, with `stamps` the directory of stamps by key, if any.
    pub fn new(app_root: &Path, cache: Option<String>, stamps: Option<PathBuf>) -> Store {
        match cache.filter(|c| !c.is_empty()) {
            Some(dir) => Store::Cache { dir: dir.into() },
            None => Store::Stamp {
                app_root: app_root.to_path_buf(),
                stamps,
            },
        }
    }

    /// Reuse the files collected for `key`, if they are there (in the
    /// cache: copied into STATIC_ROOT).
    pub fn reuse(&self, key: &str, home: &Path, app_root: &Path) -> Result<Option<Reused>> {
        match self {
            Store::Stamp { app_root, stamps } => {
                let local =
                    read_stamp(&app_root.join(".warp").join(STAMP_FILE)).filter(|s| s.key == key);
                let kept = stamps.as_ref().map(|dir| dir.join(format!("{key}.json")));
                let from_cache = local.is_none();
                let stamp = local.or_else(|| read_stamp(kept.as_ref()?));
                let Some(stamp) = stamp else {
                    return Ok(None);
                };
                let Some(root) = stamp.collected.static_root.clone() else {
                    return Ok(None);
                };
                let (now, files) = listing(&root);
                if stamp.key != key || stamp.listing != now {
                    return Ok(None);
                }
                if from_cache {
                    // The next build finds it in the app root; the cache's
                    // copy is the most recently used.
                    write_stamp(&app_root.join(".warp"), STAMP_FILE, &stamp)?;
                    if let Some(kept) = &kept {
                        let _ = fs::File::open(kept)
                            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    }
                }
                Ok(Some(Reused {
                    files,
                    collected: stamp.collected,
                }))
            }
            Store::Cache { dir } => {
                let entry = dir.join(key);
                let Ok(text) = fs::read(entry.join("collected.json")) else {
                    return Ok(None);
                };
                let Ok(collected) = serde_json::from_slice::<Collected>(&text) else {
                    return Ok(None);
                };
                let Some(root) = collected.static_root.clone() else {
                    return Ok(None);
                };
                // Never replace a directory that holds the source or the venv.
                if !root.is_absolute() || home.starts_with(&root) || app_root.starts_with(&root) {
                    return Ok(None);
                }
                if root.exists() {
                    fs::remove_dir_all(&root)
                        .with_context(|| format!("replacing {}", root.display()))?;
                }
                let copied = copy_tree(&entry.join("files"), &root).with_context(|| {
                    format!("restoring the static files into {}", root.display())
                })?;
                // Most recently used first when the cache is pruned.
                let _ = fs::File::open(&entry)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Ok(Some(Reused {
                    files: copied.files + copied.links,
                    collected,
                }))
            }
        }
    }

    /// Keep what a collect made. `before` is the key computed before it ran;
    /// `after` computes it again (STATIC_ROOT may be inside the source).
    pub fn remember(
        &self,
        before: &str,
        after: impl FnOnce() -> Result<Option<String>>,
        collected: &Collected,
    ) -> Result<()> {
        let Some(root) = collected.static_root.clone() else {
            return Ok(());
        };
        match self {
            Store::Stamp { app_root, stamps } => {
                let Some(key) = after()? else { return Ok(()) };
                let stamp = Stamp {
                    key,
                    listing: listing(&root).0,
                    collected: collected.clone(),
                };
                write_stamp(&app_root.join(".warp"), STAMP_FILE, &stamp)?;
                // Files inside the app root go with it: no use keeping their stamp.
                if let Some(stamps) = stamps.as_ref().filter(|_| !root.starts_with(app_root)) {
                    // A cache that cannot be written costs the next cold build a collect, nothing else.
                    let name = format!("{}.json", stamp.key);
                    if write_stamp(stamps, &name, &stamp).is_ok() {
                        prune(stamps, STAMP_ENTRIES);
                    }
                }
                Ok(())
            }
            Store::Cache { dir } => {
                if !root.is_dir() || dir.join(before).is_dir() {
                    return Ok(());
                }
                fs::create_dir_all(dir)?;
                let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(dir)?;
                copy_tree(&root, &tmp.path().join("files"))?;
                fs::write(
                    tmp.path().join("collected.json"),
                    serde_json::to_vec(collected)?,
                )?;
                fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
                let staged = tmp.keep();
                if fs::rename(&staged, dir.join(before)).is_err() {
                    let _ = fs::remove_dir_all(&staged);
                }
                prune(dir, CACHE_ENTRIES);
                Ok(())
            }
        }
    }

    /// Forget a local stamp (before a collect, so that a failed one leaves
    /// nothing claiming the files are complete).
    pub fn forget(&self) {
        if let Store::Stamp { app_root, .. } = self {
            let _ = fs::remove_file(app_root.join(".warp").join(STAMP_FILE));
        }
    }
}

fn read_stamp(file: &Path) -> Option<Stamp> {
    let text = fs::read(file).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Write `stamp` as `dir/name`, whole or not at all.
fn write_stamp(dir: &Path, name: &str, stamp: &Stamp) -> Result<()> {
    fs::create_dir_all(dir)?;
    crate::files::write_atomically(&dir.join(name), &serde_json::to_vec_pretty(stamp)?)
}

/// Copy a tree as the S2I source copy does (modes kept, symlinks as links),
/// the top directory's mode included.
fn copy_tree(from: &Path, to: &Path) -> Result<crate::files::Copied> {
    let copied = crate::files::copy_tree(from, to)?;
    let mode = fs::metadata(from)?.permissions().mode();
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(copied)
}

/// Keep the `keep` most recently used entries (trees or stamps) of `dir`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut trees: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    trees.sort();
    let excess = trees.len().saturating_sub(keep);
    for (_, path) in trees.into_iter().take(excess) {
        let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_count_only_as_whole_names() {
        let text = "STATIC_URL = os.environ.get('CDN_URL', '/static/')\n";
        assert!(mentions(text, "CDN_URL"));
        assert!(mentions(text, "STATIC_URL"));
        assert!(!mentions(text, "CDN"));
        assert!(!mentions(text, "URL"));
        assert!(!mentions(text, "MY_CDN_URL"));
    }

    fn key_of(home: &Path, env: &[(String, String)]) -> Option<String> {
        key(&KeyInputs {
            home,
            app_root: &home.join(".venv"),
            settings_module: "site.settings",
            inputs_hash: "h",
            python_version: "3.11.2",
            platlib: &home.join(".venv/lib/python3.11/site-packages"),
            env,
        })
        .unwrap()
    }

    #[test]
    fn the_key_follows_static_inputs_and_settings_but_not_code() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        fs::create_dir_all(h.join("site/static")).unwrap();
        fs::create_dir_all(h.join(".venv/lib/python3.11/site-packages")).unwrap();
        fs::write(h.join("site/settings.py"), "X = os.environ.get('CDN')\n").unwrap();
        fs::write(h.join("site/views.py"), "v = 1\n").unwrap();
        fs::write(h.join("site/static/app.css"), "body{}").unwrap();
        let first = key_of(h, &[]).unwrap();

        fs::write(h.join("site/views.py"), "v = 2\n").unwrap();
        fs::create_dir_all(h.join("site/__pycache__")).unwrap();
        fs::write(h.join("site/__pycache__/views.cpython-311.pyc"), "x").unwrap();
        fs::write(h.join(".venv/anything.txt"), "x").unwrap();
        assert_eq!(key_of(h, &[]).unwrap(), first, "code only");
        let unrelated = [("UNRELATED".to_string(), "1".to_string())];
        assert_eq!(key_of(h, &unrelated).unwrap(), first);

        let cdn = [("CDN".to_string(), "https://cdn/".to_string())];
        assert_ne!(
            key_of(h, &cdn).unwrap(),
            first,
            "a variable the settings read"
        );
        fs::write(h.join("site/static/app.css"), "body{x}").unwrap();
        let css = key_of(h, &[]).unwrap();
        assert_ne!(css, first, "a static file");
        fs::write(h.join("site/settings.py"), "X = 2\n").unwrap();
        assert_ne!(key_of(h, &[]).unwrap(), css, "the settings");
        let settings = key_of(h, &[]).unwrap();
        fs::write(
            h.join(".venv/lib/python3.11/site-packages/pkg-1.0.dist-info"),
            "",
        )
        .unwrap();
        assert_ne!(key_of(h, &[]).unwrap(), settings, "an installed package");
    }

    /// A local build whose app root was removed finds the stamp kept by key
    /// in the stamp directory, while STATIC_ROOT (outside the app root) still
    /// holds what was collected; an edit there, another key, or a STATIC_ROOT
    /// inside the app root (gone with it) means collecting again.
    #[test]
    fn a_new_app_root_reuses_files_by_the_stamp_kept_in_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (app_root, stamps) = (dir.path().join(".venv"), dir.path().join("stamps"));
        let static_root = dir.path().join("staticfiles");
        fs::create_dir_all(static_root.join("admin")).unwrap();
        fs::write(static_root.join("admin/base.css"), "body{}").unwrap();
        let store = Store::new(&app_root, None, Some(stamps.clone()));
        let collected = |root: &Path| Collected {
            settings_module: "site.settings".into(),
            static_url: Some("/static/".into()),
            static_root: Some(root.to_path_buf()),
            wsgi_application: Some("site.wsgi.application".into()),
        };
        let key = || Ok(Some("k1".to_string()));
        store.remember("k0", key, &collected(&static_root)).unwrap();
        assert!(stamps.join("k1.json").is_file());

        fs::remove_dir_all(&app_root).unwrap();
        let reused = store.reuse("k1", dir.path(), &app_root).unwrap().unwrap();
        assert_eq!(reused.files, 1);
        assert_eq!(reused.collected.static_root, Some(static_root.clone()));
        assert!(
            app_root.join(".warp").join(STAMP_FILE).is_file(),
            "the stamp is back in the app root"
        );
        assert!(store.reuse("k2", dir.path(), &app_root).unwrap().is_none());

        fs::remove_dir_all(&app_root).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(static_root.join("admin/base.css"), "body{x}").unwrap();
        assert!(store.reuse("k1", dir.path(), &app_root).unwrap().is_none());

        // Inside the app root: no stamp kept outside it.
        let inside = app_root.join("tmp/django/static");
        fs::create_dir_all(&inside).unwrap();
        let inside_key = || Ok(Some("k3".to_string()));
        store
            .remember("k", inside_key, &collected(&inside))
            .unwrap();
        assert!(!stamps.join("k3.json").exists());
    }
}
