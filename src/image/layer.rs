//! Writing reproducible layers: entries sorted by path, every mtime set to
//! SOURCE_DATE_EPOCH, owners normalised (1001:0 for the app's files, 0:0 for
//! system files), group permissions equal to the user's on app files (g=u, for
//! arbitrary UIDs in group 0 — set here, at write time, so no second copy of
//! the files is needed as a Dockerfile's `chmod -R` layer would make),
//! no user/group names, no extended attributes, and gzip with a fixed header
//! (level 1: four times faster than the default level for ~15 % more bytes —
//! a build's time matters more than a registry's disk).
//! The same inputs always give the same bytes, hence the same digest.
use super::media;
use super::store::{BlobStore, HashingWriter};
use super::Layer;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The image user for the app's files (OpenShift's convention).
pub const APP_UID: u64 = 1001;

/// Who owns an entry in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// 1001:0 and g=u: writable by whatever UID runs the container in group 0.
    App,
    /// 0:0, modes as given.
    System,
}

#[derive(Debug, Clone)]
enum Content {
    Dir,
    HostFile(PathBuf),
    Bytes(Vec<u8>),
    Symlink(PathBuf),
}

#[derive(Debug, Clone)]
struct Entry {
    content: Content,
    mode: u32,
    owner: Owner,
}

/// The entries of a layer to be written.
#[derive(Debug, Default)]
pub struct LayerWriter {
    entries: BTreeMap<String, Entry>,
}

/// `opt/app-root` from `/opt/app-root/` (tar paths are relative).
fn tar_path(image_path: &Path) -> String {
    image_path
        .to_string_lossy()
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

impl LayerWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, image_path: &Path, entry: Entry) {
        let path = tar_path(image_path);
        if !path.is_empty() {
            self.entries.insert(path, entry);
        }
    }

    /// A directory (its parents must be added separately, with their owners).
    pub fn add_dir(&mut self, image_path: &Path, mode: u32, owner: Owner) {
        self.insert(
            image_path,
            Entry {
                content: Content::Dir,
                mode,
                owner,
            },
        );
    }

    pub fn add_bytes(&mut self, image_path: &Path, bytes: Vec<u8>, mode: u32, owner: Owner) {
        self.insert(
            image_path,
            Entry {
                content: Content::Bytes(bytes),
                mode,
                owner,
            },
        );
    }

    pub fn add_host_file(&mut self, image_path: &Path, host: &Path, mode: u32, owner: Owner) {
        self.insert(
            image_path,
            Entry {
                content: Content::HostFile(host.to_path_buf()),
                mode,
                owner,
            },
        );
    }

    /// Everything under `host_dir` (not following symlinks), at `image_dir`,
    /// with the host modes; `skip(relative path)` leaves entries (and their
    /// subtrees) out. Sockets, FIFOs and devices are left out.
    pub fn add_tree(
        &mut self,
        host_dir: &Path,
        image_dir: &Path,
        owner: Owner,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        let meta = fs::symlink_metadata(host_dir)
            .with_context(|| format!("reading {}", host_dir.display()))?;
        self.add_dir(image_dir, meta.permissions().mode() & 0o7777, owner);
        self.walk(host_dir, Path::new(""), image_dir, owner, skip)
    }

    fn walk(
        &mut self,
        host_dir: &Path,
        rel: &Path,
        image_dir: &Path,
        owner: Owner,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        let dir = host_dir.join(rel);
        let mut children: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let child_rel = rel.join(child.file_name());
            if skip(&child_rel) {
                continue;
            }
            let meta = fs::symlink_metadata(child.path())?;
            let mode = meta.permissions().mode() & 0o7777;
            let image_path = image_dir.join(&child_rel);
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = fs::read_link(child.path())?;
                self.insert(
                    &image_path,
                    Entry {
                        content: Content::Symlink(target),
                        mode: 0o777,
                        owner,
                    },
                );
            } else if kind.is_dir() {
                self.add_dir(&image_path, mode, owner);
                self.walk(host_dir, &child_rel, image_dir, owner, skip)?;
            } else if kind.is_file() {
                self.add_host_file(&image_path, &child.path(), mode, owner);
            }
        }
        Ok(())
    }

    /// Add an entry for every missing parent directory, with its mode in
    /// `root` (0755 when absent there): a layer without them would make the
    /// runtime create them as root 0755, hiding the lower layers' owners and
    /// modes (overlayfs shows the topmost directory).
    pub fn fill_parents(&mut self, root: &Path) {
        let mut missing = Vec::new();
        for path in self.entries.keys() {
            let mut ancestor = Path::new(path).parent();
            while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
                let key = dir.to_string_lossy().into_owned();
                if !self.entries.contains_key(&key) {
                    missing.push(key);
                }
                ancestor = dir.parent();
            }
        }
        for dir in missing {
            let mode = fs::metadata(root.join(&dir))
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o755);
            let owner = if Path::new(&dir).starts_with("opt/app-root") {
                Owner::App
            } else {
                Owner::System
            };
            self.add_dir(Path::new(&dir), mode, owner);
        }
    }

    /// Write the layer (tar+gzip) into the store, stamped with `epoch`.
    pub fn write(self, store: &BlobStore, epoch: u64) -> Result<Layer> {
        self.write_with(store, epoch, Compression::Gzip)
    }

    /// Write the layer compressed as `compression`, stamped with `epoch`.
    pub fn write_with(
        self,
        store: &BlobStore,
        epoch: u64,
        compression: Compression,
    ) -> Result<Layer> {
        let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())?;
        let compressed = HashingWriter::new(BufWriter::new(tmp));
        let encoder = match compression {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(compressed, flate2::Compression::fast()),
            ),
            Compression::Zstd => {
                // Level 3 (zstd's default): faster than gzip -1 and smaller.
                let mut zstd = zstd::stream::write::Encoder::new(compressed, 3)?;
                zstd.include_checksum(true)?;
                Encoder::Zstd(zstd)
            }
        };
        let mut builder = tar::Builder::new(HashingWriter::new(encoder));
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_gnu();
            let (uid, mode) = match entry.owner {
                Owner::App => (APP_UID, entry.mode | ((entry.mode & 0o700) >> 3)),
                Owner::System => (0, entry.mode),
            };
            header.set_uid(uid);
            header.set_gid(0);
            header.set_mtime(epoch);
            header.set_mode(mode);
            match &entry.content {
                Content::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
                }
                Content::Bytes(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    builder.append_data(&mut header, path, bytes.as_slice())?;
                }
                Content::HostFile(host) => {
                    let file = fs::File::open(host)
                        .with_context(|| format!("reading {}", host.display()))?;
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(file.metadata()?.len());
                    builder.append_data(&mut header, path, file)?;
                }
                Content::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    header.set_mode(0o777);
                    builder.append_link(&mut header, path, target)?;
                }
            }
        }
        let tar_hashing = builder.into_inner()?;
        let (encoder, diff_id, _) = tar_hashing.finish();
        let compressed = encoder.finish()?;
        let (buffered, digest, size) = compressed.finish();
        let mut tmp = buffered.into_inner().map_err(|e| e.into_error())?;
        tmp.flush()?;
        let target = store.path(&digest)?;
        if !target.exists() {
            tmp.persist(&target)?;
        }
        Ok(Layer {
            media_type: compression.media_type().to_string(),
            digest,
            size,
            diff_id,
        })
    }
}

/// How warp's layers are compressed (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => media::OCI_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The suffix of cache index kinds for layers in this compression
    /// (none for gzip: the keys written before zstd stay valid).
    pub fn kind_suffix(self) -> &'static str {
        match self {
            Compression::Gzip => "",
            Compression::Zstd => "-zstd",
        }
    }
}

/// The compressor a layer is written through.
enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn finish(self) -> std::io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// A layer written earlier under `key` (of `kind`), if its blob is still there.
pub fn cached(store: &BlobStore, kind: &str, key: &str) -> Option<Layer> {
    let text = fs::read(store.index_path(kind, key)).ok()?;
    let layer: Layer = serde_json::from_slice(&text).ok()?;
    store.has(&layer.digest).then_some(layer)
}

/// Remember `layer` under `key` (of `kind`).
pub fn remember(store: &BlobStore, kind: &str, key: &str, layer: &Layer) -> Result<()> {
    store.write_index(kind, key, &serde_json::to_vec(layer)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("pkg/sub")).unwrap();
        fs::write(dir.path().join("pkg/sub/z.py"), "z").unwrap();
        fs::write(dir.path().join("a.py"), "a").unwrap();
        fs::set_permissions(dir.path().join("a.py"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("a.py", dir.path().join("link")).unwrap();
        fs::create_dir_all(dir.path().join(".git")).unwrap();
        dir
    }

    fn write(tree: &Path, store: &BlobStore) -> Layer {
        let mut w = LayerWriter::new();
        w.add_dir(Path::new("/opt"), 0o755, Owner::System);
        w.add_tree(tree, Path::new("/opt/app-root/src"), Owner::App, &|p| {
            p == Path::new(".git")
        })
        .unwrap();
        w.write(store, 1_700_000_000).unwrap()
    }

    #[test]
    fn layers_are_reproducible_and_normalised() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let first = write(sample_tree().path(), &store);
        // Another tree with the same content, made later: same bytes.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write(sample_tree().path(), &store);
        assert_eq!(first, second);
        assert_ne!(first.digest, first.diff_id);

        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(store.path(&first.digest).unwrap()).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(super::super::store::sha256_digest(&bytes), first.diff_id);
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000, "{path}");
            assert_eq!(h.gid().unwrap(), 0);
            if path.starts_with("opt/app-root") {
                assert_eq!(h.uid().unwrap(), 1001, "{path}");
            }
            if path == "opt/app-root/src/a.py" {
                assert_eq!(h.mode().unwrap(), 0o660, "g=u on app files");
            }
            seen.push(path);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert!(seen.contains(&"opt/app-root/src/link".to_string()));
        assert!(!seen.iter().any(|p| p.contains(".git")));
    }

    #[test]
    fn zstd_layers_hold_the_same_tar() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let tree = sample_tree();
        let gzip = write(tree.path(), &store);
        let mut w = LayerWriter::new();
        w.add_dir(Path::new("/opt"), 0o755, Owner::System);
        w.add_tree(
            tree.path(),
            Path::new("/opt/app-root/src"),
            Owner::App,
            &|p| p == Path::new(".git"),
        )
        .unwrap();
        let zstd = w
            .write_with(&store, 1_700_000_000, Compression::Zstd)
            .unwrap();
        assert_eq!(zstd.media_type, media::OCI_LAYER_ZSTD);
        assert_eq!(zstd.diff_id, gzip.diff_id, "the same tar inside");
        assert_ne!(zstd.digest, gzip.digest);
        let mut tar = Vec::new();
        crate::image::unpack::decompressed(&store.path(&zstd.digest).unwrap())
            .unwrap()
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(crate::image::store::sha256_digest(&tar), gzip.diff_id);
    }
}
