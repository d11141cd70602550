//! Stage 2, the runtime layer: the warp binary in /usr/local/bin, a
//! group-writable /etc/passwd with the 1001 entry and /opt/app-root — the
//! same for every app on a base, so cached (tree and layer) by the binary's
//! hash and the base. Both recipes (app image, builder image) add it.
use crate::image::config::{APP_ROOT, APP_SRC};
use crate::image::layer::{self, Compression, LayerWriter, Owner};
use crate::image::store::BlobStore;
use crate::image::{roots, unpack, Layer, LoadedImage};
use anyhow::Result;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn file_hash(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// A warp binary the runtime layer carries, and its sha256.
pub struct Warp {
    pub exe: PathBuf,
    pub sha256: String,
}

impl Warp {
    /// The running binary (its hash from the cache when known).
    pub fn running(store: &BlobStore) -> Result<Warp> {
        use anyhow::Context as _;
        let exe = std::env::current_exe().context("locating the warp binary")?;
        let sha256 = exe_hash(store, &exe)?;
        Ok(Warp { exe, sha256 })
    }
}

/// The sha256 of the warp binary, remembered in the cache under its device,
/// inode, size and mtime (nanoseconds), so that a rebuild does not hash
/// megabytes to learn what it already knows. Any replacement of the binary
/// (a new build, an install) changes the mtime or the inode.
fn exe_hash(store: &BlobStore, exe: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(exe)?;
    let identity = format!(
        "{} {} {} {} {}.{}",
        exe.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let key = roots::key(&identity);
    if let Ok(known) = fs::read_to_string(store.index_path("exe", &key)) {
        if known.len() == 64 && known.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(known);
        }
    }
    let hash = file_hash(exe)?;
    store.write_index("exe", &key, hash.as_bytes())?;
    Ok(hash)
}

/// The passwd entry `warp start` expects for the image user.
pub const APP_USER_ENTRY: &str =
    "default:x:1001:0:Default Application User:/opt/app-root/src:/sbin/nologin\n";

/// The base's /etc/passwd with [`APP_USER_ENTRY`] added when no entry has uid 1001.
fn with_app_user(mut passwd: String) -> String {
    if !passwd.lines().any(|l| l.split(':').nth(2) == Some("1001")) {
        if !passwd.is_empty() && !passwd.ends_with('\n') {
            passwd.push('\n');
        }
        passwd.push_str(APP_USER_ENTRY);
    }
    passwd
}

/// The warp binary, /etc/passwd (with user 1001, group-writable so that
/// `warp start` can add an arbitrary UID) and /opt/app-root. The same for
/// every app on a base: cached (tree and layer) by the warp binary and the base.
pub fn runtime_layer(
    store: &BlobStore,
    base_root: &Path,
    base: &LoadedImage,
    warp: &Warp,
    compression: Compression,
) -> Result<(PathBuf, Layer)> {
    let files = runtime_files(store, base_root, base, warp, compression)?;
    let layer = files.layer(store, base_root, &warp.exe)?;
    Ok((files.tree, layer))
}

/// The runtime files: their tree at once (a lower layer of the build's
/// overlay), their layer when asked (so that it can be compressed while
/// other layers are).
pub struct RuntimeFiles {
    pub tree: PathBuf,
    key: String,
    passwd: String,
    passwd_rel: PathBuf,
    bin_rel: PathBuf,
    compression: Compression,
}

pub fn runtime_files(
    store: &BlobStore,
    base_root: &Path,
    base: &LoadedImage,
    warp: &Warp,
    compression: Compression,
) -> Result<RuntimeFiles> {
    let (exe, exe_hash) = (&warp.exe, &warp.sha256);
    // Paths as the base has them (through its symlinks, e.g. a merged /usr).
    let inside = |rel: &str| -> Result<PathBuf> {
        let resolved = unpack::resolve_in_root(base_root, Path::new(rel), true, "the base image")?;
        Ok(resolved.strip_prefix(base_root)?.to_path_buf())
    };
    let passwd_rel = inside("etc/passwd")?;
    let bin_rel = inside("usr/local/bin")?.join("warp");
    let passwd = with_app_user(fs::read_to_string(base_root.join(&passwd_rel)).unwrap_or_default());
    let key = roots::key(&format!("runtime-v3\n{exe_hash}\n{}", base.identity));
    let tree = roots::ensure(store, &format!("runtime-{key}"), |dir| {
        for (rel, mode) in [(&passwd_rel, 0o664), (&bin_rel, 0o755)] {
            fs::create_dir_all(dir.join(rel).parent().unwrap())?;
            if rel == &bin_rel {
                fs::copy(exe, dir.join(rel))?;
            } else {
                fs::write(dir.join(rel), &passwd)?;
            }
            fs::set_permissions(dir.join(rel), fs::Permissions::from_mode(mode))?;
        }
        fs::create_dir_all(dir.join("opt/app-root/src"))?;
        Ok(())
    })?;
    Ok(RuntimeFiles {
        tree,
        key,
        passwd,
        passwd_rel,
        bin_rel,
        compression,
    })
}

impl RuntimeFiles {
    /// The cache index kind of runtime layers in this compression.
    fn kind(&self) -> String {
        format!("runtime{}", self.compression.kind_suffix())
    }

    /// The layer written earlier for these files, if there is one.
    pub fn cached(&self, store: &BlobStore) -> Option<Layer> {
        layer::cached(store, &self.kind(), &self.key)
    }

    /// The layer: cached, else written and remembered.
    pub fn layer(&self, store: &BlobStore, base_root: &Path, exe: &Path) -> Result<Layer> {
        if let Some(layer) = self.cached(store) {
            return Ok(layer);
        }
        let mut w = LayerWriter::new();
        w.add_host_file(
            &Path::new("/").join(&self.bin_rel),
            exe,
            0o755,
            Owner::System,
        );
        w.add_bytes(
            &Path::new("/").join(&self.passwd_rel),
            self.passwd.clone().into_bytes(),
            0o664,
            Owner::System,
        );
        w.add_dir(Path::new(APP_ROOT), 0o775, Owner::App);
        w.add_dir(Path::new(APP_SRC), 0o775, Owner::App);
        w.fill_parents(base_root);
        let layer = w.write_with(store, 0, self.compression)?;
        layer::remember(store, &self.kind(), &self.key, &layer)?;
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::stage::test_support::layer_entries;

    #[test]
    fn the_app_user_is_added_once() {
        assert_eq!(with_app_user(String::new()), APP_USER_ENTRY);
        let root = "root:x:0:0:root:/root:/bin/sh";
        assert_eq!(
            with_app_user(root.to_string()),
            format!("{root}\n{APP_USER_ENTRY}")
        );
        let theirs = "app:x:1001:0::/home/app:/bin/sh\n";
        assert_eq!(with_app_user(theirs.to_string()), theirs);
    }

    #[test]
    fn the_runtime_layer_holds_warp_passwd_and_app_root() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let base_root = tempfile::tempdir().unwrap();
        fs::create_dir_all(base_root.path().join("etc")).unwrap();
        fs::create_dir_all(base_root.path().join("usr/local/bin")).unwrap();
        fs::write(
            base_root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\n",
        )
        .unwrap();
        let warp = Warp {
            exe: base_root.path().join("fake-warp"),
            sha256: "ab".into(),
        };
        fs::write(&warp.exe, "#!/bin/sh\n").unwrap();
        let base = LoadedImage {
            config: serde_json::from_value(serde_json::json!({
                "architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []}
            }))
            .unwrap(),
            layers: vec![],
            identity: "sha256:base".into(),
        };
        let (tree, layer) =
            runtime_layer(&store, base_root.path(), &base, &warp, Compression::Gzip).unwrap();
        assert!(tree.join("usr/local/bin/warp").is_file());
        let entries = layer_entries(&store, &layer);
        for (path, mode, uid) in [
            ("etc/passwd", 0o664, 0),
            ("usr/local/bin/warp", 0o755, 0),
            ("opt/app-root/", 0o775, 1001),
            ("opt/app-root/src/", 0o775, 1001),
        ] {
            let found = entries.iter().find(|e| e.0 == path);
            assert_eq!(
                found.map(|e| (e.1, e.2)),
                Some((mode, uid)),
                "{path} in {entries:?}"
            );
        }
        // The second time, the remembered layer.
        let files =
            runtime_files(&store, base_root.path(), &base, &warp, Compression::Gzip).unwrap();
        assert_eq!(files.cached(&store), Some(layer));
    }
}
