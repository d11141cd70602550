//! Cached root-file-system trees under `<cache>/roots/`: the unpacked base,
//! the runtime files, an unpacked dependencies layer. They are made once
//! (in a temporary directory, renamed into place) and never written again:
//! builds see them as the read-only lower layers of an overlay, so a rebuild
//! unpacks nothing. Also the per-build scratch directory.
use super::store::BlobStore;
use anyhow::Result;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A short stable name for `text` (a digest or a cache key).
pub fn key(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The tree `name`, made by `fill` when it is not there yet.
pub fn ensure(
    store: &BlobStore,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let roots = store.root().join("roots");
    let target = roots.join(name);
    if target.is_dir() {
        return Ok(target);
    }
    fs::create_dir_all(&roots)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&roots)?;
    fill(tmp.path())?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    let staged = tmp.keep();
    if fs::rename(&staged, &target).is_err() {
        // Another build made it first: theirs is as good as ours.
        remove_tree(&staged);
    }
    Ok(target)
}

/// Keep `app_root` (a built /opt/app-root on the store's file system) as
/// the tree `name`, at `opt/app-root`, without the parts in `leave_out`
/// (`.warp` is kept: the build record tells the next build nothing changed).
pub fn adopt(store: &BlobStore, name: &str, app_root: &Path, leave_out: &[&str]) -> Result<()> {
    let roots = store.root().join("roots");
    let target = roots.join(name);
    if target.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(&roots)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&roots)?;
    fs::create_dir_all(tmp.path().join("opt"))?;
    let moved = tmp.path().join("opt/app-root");
    fs::rename(app_root, &moved)?;
    for part in leave_out.iter().filter(|p| **p != ".warp") {
        let path = moved.join(part);
        if path.exists() {
            remove_tree(&path);
        }
    }
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    let staged = tmp.keep();
    if fs::rename(&staged, &target).is_err() {
        remove_tree(&staged);
    }
    Ok(())
}

/// A scratch directory for one build, removed (whatever overlayfs left in
/// it, e.g. its mode-000 work directory) when dropped.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(store: &BlobStore) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(store.tmp_dir())?
            .keep();
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

/// Remove a tree even where directories lost their permissions.
fn remove_tree(dir: &Path) {
    if fs::remove_dir_all(dir).is_ok() {
        return;
    }
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(dir);
    let _ = fs::remove_dir_all(dir);
}
