//! Incremental S2I builds: what `save-artifacts` puts in its tar stream and
//! how `assemble` uses it the next time.
//!
//! The tar holds `warp-artifacts.json` (who made it, for which dependency
//! inputs), `venv/` (the app root's virtualenv: bin, lib, include, share,
//! pyvenv.cfg and the build record — never the app source, tmp or data) and
//! `cache/uv`, `cache/pip` (the installers' caches). The virtualenv is reused
//! only when it was made by the same warp, in the same app root, from the same
//! dependency inputs; the caches are always reused (they only speed up).
use crate::app::record::BuildRecord;
use crate::files;
use crate::s2i::paths::S2iPaths;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const META_FILE: &str = "warp-artifacts.json";
const FORMAT: u32 = 1;
const VENV_DIR: &str = "venv";
const CACHE_DIR: &str = "cache";
/// What a virtualenv is made of (lib64 is a link to lib on some systems).
const VENV_ENTRIES: [&str; 6] = ["bin", "include", "lib", "lib64", "share", "pyvenv.cfg"];
/// The installers' cache directories under the cache root.
const CACHES: [&str; 2] = ["uv", "pip"];

/// `warp-artifacts.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactsMeta {
    pub format: u32,
    pub warp_version: String,
    pub app_root: PathBuf,
    /// The build record's hash of the dependency inputs.
    pub inputs_hash: String,
    pub python_version: String,
}

impl ArtifactsMeta {
    fn from_record(record: &BuildRecord, app_root: &Path) -> ArtifactsMeta {
        ArtifactsMeta {
            format: FORMAT,
            warp_version: record.warp_version.clone(),
            app_root: app_root.to_path_buf(),
            inputs_hash: record.inputs_hash.clone(),
            python_version: record.python.version.clone(),
        }
    }
}

/// What went into the tar stream.
#[derive(Debug, Default)]
pub struct Saved {
    pub venv: bool,
    pub caches: Vec<&'static str>,
}

/// Write the artifacts of the app built in `app_root` as a tar stream to `out`.
pub fn write<W: Write>(out: W, app_root: &Path, cache_root: &Path) -> Result<Saved> {
    let mut saved = Saved::default();
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    if let Some(record) = BuildRecord::load(app_root)? {
        let meta = serde_json::to_vec_pretty(&ArtifactsMeta::from_record(&record, app_root))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, META_FILE, meta.as_slice())?;
        for entry in VENV_ENTRIES {
            append(
                &mut tar,
                &app_root.join(entry),
                &Path::new(VENV_DIR).join(entry),
            )?;
        }
        let record_rel = Path::new(".warp").join(crate::app::record::RECORD_FILE);
        append(
            &mut tar,
            &app_root.join(&record_rel),
            &Path::new(VENV_DIR).join(&record_rel),
        )?;
        saved.venv = true;
    }
    for cache in CACHES {
        if append(
            &mut tar,
            &cache_root.join(cache),
            &Path::new(CACHE_DIR).join(cache),
        )? {
            saved.caches.push(cache);
        }
    }
    tar.into_inner()?.flush()?;
    Ok(saved)
}

/// Append `path` (a directory tree, a file or a link) as `name`; false when it does not exist.
fn append<W: Write>(tar: &mut tar::Builder<W>, path: &Path, name: &Path) -> Result<bool> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if meta.is_dir() {
        tar.append_dir_all(name, path)
    } else {
        tar.append_path_with_name(path, name)
    }
    .with_context(|| format!("adding {} to the artifacts", path.display()))?;
    Ok(true)
}

/// Whether the saved virtualenv may be used for this build.
#[derive(Debug, PartialEq, Eq)]
pub enum VenvDecision {
    Restore,
    Skip(String),
}

/// Decide from the saved metadata, the app root of this build and the hash of
/// this build's dependency inputs (None: unknown, and `warp build` compares the
/// restored record itself).
pub fn decide(
    meta: Option<&ArtifactsMeta>,
    app_root: &Path,
    inputs_hash: Option<&str>,
) -> VenvDecision {
    let skip = |why: String| VenvDecision::Skip(why);
    let Some(meta) = meta else {
        return skip("the artifacts hold no virtualenv".into());
    };
    if meta.format != FORMAT {
        return skip(format!(
            "the artifacts are of format {}, not {FORMAT}",
            meta.format
        ));
    }
    if meta.warp_version != env!("CARGO_PKG_VERSION") {
        return skip(format!(
            "the virtualenv was made by warp {}, this is {}",
            meta.warp_version,
            env!("CARGO_PKG_VERSION")
        ));
    }
    if meta.app_root != app_root {
        return skip(format!(
            "the virtualenv was made for {}, this build uses {}",
            meta.app_root.display(),
            app_root.display()
        ));
    }
    match inputs_hash {
        Some(hash) if hash != meta.inputs_hash => skip("the dependency inputs changed".into()),
        _ => VenvDecision::Restore,
    }
}

/// What `restore` did.
#[derive(Debug, Default)]
pub struct Restored {
    pub venv: bool,
    /// Why the virtualenv was not reused (None when it was, or there were no artifacts).
    pub venv_skipped: Option<String>,
    pub caches: Vec<&'static str>,
}

/// Move the incoming artifacts into place (the virtualenv into the app root
/// when [`decide`] allows it, the caches into the cache root), then empty the
/// incoming directory so the image does not carry them twice.
pub fn restore(paths: &S2iPaths, inputs_hash: Option<&str>) -> Result<Restored> {
    let incoming = &paths.incoming_artifacts;
    let mut restored = Restored::default();
    if !incoming.is_dir() {
        return Ok(restored);
    }
    for cache in CACHES {
        let from = incoming.join(CACHE_DIR).join(cache);
        let to = paths.cache_root.join(cache);
        if from.is_dir() && fs::symlink_metadata(&to).is_err() {
            move_path(&from, &to)?;
            restored.caches.push(cache);
        }
    }
    let meta = read_meta(&incoming.join(META_FILE));
    let venv = incoming.join(VENV_DIR);
    match decide(meta.as_ref(), &paths.app_root, inputs_hash) {
        VenvDecision::Skip(why) => {
            if meta.is_some() {
                restored.venv_skipped = Some(why);
            }
        }
        VenvDecision::Restore => {
            let occupied: Vec<_> = VENV_ENTRIES
                .iter()
                .filter(|e| fs::symlink_metadata(paths.app_root.join(e)).is_ok())
                .collect();
            if occupied.is_empty() {
                fs::create_dir_all(&paths.app_root)?;
                for entry in VENV_ENTRIES.iter().copied().chain([".warp"]) {
                    let from = venv.join(entry);
                    if fs::symlink_metadata(&from).is_ok() {
                        move_path(&from, &paths.app_root.join(entry))?;
                    }
                }
                restored.venv = true;
            } else {
                restored.venv_skipped = Some(format!("the app root already has {}", occupied[0]));
            }
        }
    }
    for left in files::empty_dir(incoming) {
        eprintln!("warp: could not remove the restored artifact {left}");
    }
    Ok(restored)
}

fn read_meta(path: &Path) -> Option<ArtifactsMeta> {
    let text = fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(meta) => Some(meta),
        Err(e) => {
            eprintln!("warp: ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Rename, or copy and remove when `from` and `to` are on different file systems.
fn move_path(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    if fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let meta = fs::symlink_metadata(from)?;
    if meta.is_dir() {
        files::copy_tree(from, to)?;
        fs::remove_dir_all(from)?;
    } else if meta.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        fs::remove_file(from)?;
    } else {
        fs::copy(from, to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        fs::remove_file(from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::record::{Entry, PythonInfo};

    fn fake_built_app(app_root: &Path, hash: &str) {
        fs::create_dir_all(app_root.join("bin")).unwrap();
        fs::create_dir_all(app_root.join("lib/python3.11/site-packages/flask")).unwrap();
        fs::write(
            app_root.join("lib/python3.11/site-packages/flask/__init__.py"),
            "",
        )
        .unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", app_root.join("bin/python")).unwrap();
        std::os::unix::fs::symlink("lib", app_root.join("lib64")).unwrap();
        fs::write(app_root.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        fs::create_dir_all(app_root.join("src")).unwrap();
        fs::write(app_root.join("src/wsgi.py"), "").unwrap();
        fs::create_dir_all(app_root.join("tmp")).unwrap();
        BuildRecord {
            warp_version: env!("CARGO_PKG_VERSION").into(),
            src_root: app_root.join("src"),
            app_root: app_root.to_path_buf(),
            layout: "requirements.txt".into(),
            entry: Entry::Wsgi {
                target: "wsgi.py".into(),
            },
            python: PythonInfo {
                executable: app_root.join("bin/python"),
                version: "3.11.2".into(),
                site_packages: app_root.join("lib/python3.11/site-packages"),
            },
            inputs_hash: hash.into(),
            django: None,
        }
        .save()
        .unwrap();
    }

    /// Save from one app root, unpack as s2i does, restore into a fresh one.
    fn round_trip(hash_now: Option<&str>) -> (tempfile::TempDir, S2iPaths, Restored, Saved) {
        let work = tempfile::tempdir().unwrap();
        let old_root = work.path().join("old");
        let old_cache = work.path().join("old-cache");
        fake_built_app(&old_root, "h1");
        fs::create_dir_all(old_cache.join("pip/wheels")).unwrap();
        fs::write(old_cache.join("pip/wheels/x.whl"), "wheel").unwrap();

        let mut stream = Vec::new();
        let saved = write(&mut stream, &old_root, &old_cache).unwrap();
        let incoming = work.path().join("artifacts");
        tar::Archive::new(stream.as_slice())
            .unpack(&incoming)
            .unwrap();

        // The new build has the same app root path: move the old one away.
        fs::rename(&old_root, work.path().join("previous")).unwrap();
        let paths = S2iPaths {
            incoming_src: work.path().join("src"),
            incoming_artifacts: incoming,
            app_root: old_root,
            cache_root: work.path().join("cache"),
        };
        let restored = restore(&paths, hash_now).unwrap();
        (work, paths, restored, saved)
    }

    #[test]
    fn the_venv_comes_back_when_inputs_are_unchanged() {
        let (_work, paths, restored, saved) = round_trip(Some("h1"));
        assert!(saved.venv);
        assert_eq!(saved.caches, ["pip"]);
        assert!(restored.venv, "{:?}", restored.venv_skipped);
        assert_eq!(restored.caches, ["pip"]);
        let root = &paths.app_root;
        assert!(root
            .join("lib/python3.11/site-packages/flask/__init__.py")
            .is_file());
        assert_eq!(
            fs::read_link(root.join("bin/python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
        assert_eq!(fs::read_link(root.join("lib64")).unwrap(), Path::new("lib"));
        assert_eq!(BuildRecord::load(root).unwrap().unwrap().inputs_hash, "h1");
        // Never the source, tmp or data of the old image.
        assert!(!root.join("src").exists() && !root.join("tmp").exists());
        assert!(paths.cache_root.join("pip/wheels/x.whl").is_file());
        assert_eq!(fs::read_dir(&paths.incoming_artifacts).unwrap().count(), 0);
    }

    #[test]
    fn changed_inputs_keep_only_the_caches() {
        let (_work, paths, restored, _) = round_trip(Some("h2"));
        assert!(!restored.venv);
        assert_eq!(
            restored.venv_skipped.as_deref(),
            Some("the dependency inputs changed")
        );
        assert!(!paths.app_root.join("lib").exists());
        assert!(paths.cache_root.join("pip/wheels/x.whl").is_file());
    }

    #[test]
    fn decisions() {
        let root = Path::new("/opt/app-root");
        let meta = ArtifactsMeta {
            format: FORMAT,
            warp_version: env!("CARGO_PKG_VERSION").into(),
            app_root: root.into(),
            inputs_hash: "h".into(),
            python_version: "3.12.1".into(),
        };
        assert_eq!(decide(Some(&meta), root, Some("h")), VenvDecision::Restore);
        assert_eq!(decide(Some(&meta), root, None), VenvDecision::Restore);
        assert!(matches!(
            decide(None, root, Some("h")),
            VenvDecision::Skip(_)
        ));
        assert!(matches!(
            decide(Some(&meta), Path::new("/srv"), Some("h")),
            VenvDecision::Skip(_)
        ));
        let old = ArtifactsMeta {
            warp_version: "0.0.1".into(),
            ..meta.clone()
        };
        assert!(
            matches!(decide(Some(&old), root, Some("h")), VenvDecision::Skip(w) if w.contains("0.0.1"))
        );
    }

    #[test]
    fn without_a_build_only_caches_are_saved() {
        let work = tempfile::tempdir().unwrap();
        fs::create_dir_all(work.path().join("cache/uv")).unwrap();
        let mut stream = Vec::new();
        let saved = write(
            &mut stream,
            &work.path().join("root"),
            &work.path().join("cache"),
        )
        .unwrap();
        assert!(!saved.venv);
        let names: Vec<String> = tar::Archive::new(stream.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["cache/uv/"]);
    }
}
