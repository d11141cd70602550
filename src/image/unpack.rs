//! Unpacking layers into a private root filesystem, safely: whiteouts
//! (`.wh.NAME`) and opaque whiteouts (`.wh..wh..opq`) are applied, and no entry
//! may write outside the root. Paths are resolved the way a chroot would see
//! them (absolute symlink targets are re-rooted); an entry with `..` or an
//! absolute path, one that would be written through a symlink pointing out of
//! the root, or a hard link to outside, makes the whole layer refused.
//!
//! Owners are not restored (the root is private to the build and every layer
//! warp writes normalises owners); modes and file mtimes are. Device nodes are skipped: the
//! build sees the host's /dev, bind-mounted.
use crate::error::fail;
use anyhow::{Context, Result};
use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Unpack one layer blob (gzip, zstd or plain tar) on top of `root`.
/// `what` names the layer in error messages.
pub fn unpack_layer(blob: &Path, root: &Path, what: &str) -> Result<()> {
    unpack_tar(decompressed(blob)?, root, what)
}

/// The tar stream of a layer blob, whatever its compression (told by its
/// first bytes: gzip 1f 8b, zstd 28 b5 2f fd, else a plain tar).
pub fn decompressed(blob: &Path) -> Result<Box<dyn Read>> {
    let mut file = BufReader::new(fs::File::open(blob)?);
    let mut head = [0u8; 4];
    {
        let buf = std::io::BufRead::fill_buf(&mut file)?;
        let n = buf.len().min(4);
        head[..n].copy_from_slice(&buf[..n]);
    }
    Ok(if head[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if head == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::with_buffer(file)?)
    } else {
        Box::new(file)
    })
}

fn refused(what: &str, entry: &str, why: &str) -> anyhow::Error {
    fail(
        format!("{what} is refused: entry {entry:?} {why}"),
        "the image may be crafted to write outside its root filesystem; use a base image you trust",
    )
}

/// The relative path of a tar entry, or an error for `..` and absolute paths.
fn entry_path(raw: &Path, what: &str) -> Result<PathBuf> {
    let shown = raw.display().to_string();
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(what, &shown, "contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(what, &shown, "is an absolute path"))
            }
        }
    }
    Ok(out)
}

/// Resolve `rel` inside `root` following symlinks as a chroot would, except
/// the last component when `follow_last` is false. A relative symlink whose
/// `..` would climb above the root is an escape: refused.
pub fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool, what: &str) -> Result<PathBuf> {
    let shown = rel.display().to_string();
    let mut todo: VecDeque<OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(c) => Some(c.to_os_string()),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(component) = todo.pop_front() {
        if component == ".." {
            if resolved.pop().is_none() {
                return Err(refused(
                    what,
                    &shown,
                    "goes through a symlink that points outside the root",
                ));
            }
            continue;
        }
        if component == "." {
            continue;
        }
        resolved.push(component);
        let is_last = todo.is_empty();
        if is_last && !follow_last {
            break;
        }
        let here: PathBuf = resolved.iter().collect();
        let full = root.join(&here);
        let Ok(meta) = fs::symlink_metadata(&full) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        hops += 1;
        if hops > 40 {
            return Err(refused(what, &shown, "goes through too many symlinks"));
        }
        let target = fs::read_link(&full)?;
        resolved.pop();
        if target.is_absolute() {
            resolved.clear();
        }
        let mut next: VecDeque<OsString> = target
            .components()
            .filter_map(|c| match c {
                Component::Normal(c) => Some(c.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        next.extend(todo.drain(..));
        todo = next;
    }
    Ok(root.join(resolved.iter().collect::<PathBuf>()))
}

/// Remove whatever is at `path` (file, symlink or tree); absent is fine.
/// Whether a directory was removed.
fn remove_any(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path)?;
            Ok(true)
        }
        Ok(_) => {
            fs::remove_file(path)?;
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}

/// Directories known to exist in the root, so that each entry's parent is
/// not made again (a `mkdir` that fails with EEXIST costs as much as one
/// that succeeds). Forgotten whenever a directory is removed.
#[derive(Default)]
struct KnownDirs(HashSet<PathBuf>);

impl KnownDirs {
    fn ensure(&mut self, dir: &Path) -> Result<()> {
        if !self.0.contains(dir) {
            fs::create_dir_all(dir)?;
            self.0.insert(dir.to_path_buf());
        }
        Ok(())
    }

    /// `remove_any`, forgetting every known directory if it removed one.
    fn remove(&mut self, path: &Path) -> Result<()> {
        if remove_any(path)? {
            self.0.clear();
        }
        Ok(())
    }
}

/// Unpack one uncompressed tar stream on top of `root` (what `unpack_layer`
/// does after sniffing gzip). Public for the fuzz targets.
pub fn unpack_tar(reader: impl Read, root: &Path, what: &str) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    // Paths written by this layer: an opaque whiteout hides only lower layers.
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut directory_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut known = KnownDirs::default();
    for entry in archive
        .entries()
        .with_context(|| format!("reading {what}"))?
    {
        let mut entry = entry.with_context(|| format!("reading {what}"))?;
        let raw = entry.path()?.into_owned();
        let rel = entry_path(&raw, what)?;
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let name = rel.file_name().unwrap().to_string_lossy().into_owned();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = resolve_in_root(root, &parent_rel, true, what)?;
        if name == OPAQUE_MARKER {
            if let Ok(children) = fs::read_dir(&parent) {
                for child in children.flatten() {
                    let child_rel = parent_rel.join(child.file_name());
                    if !written.contains(&child_rel) {
                        known.remove(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(refused(
                    what,
                    &raw.display().to_string(),
                    "is a malformed whiteout",
                ));
            }
            known.remove(&parent.join(hidden))?;
            continue;
        }
        known.ensure(&parent)?;
        let target = parent.join(&name);
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = header.entry_type();
        let mtime = header.mtime().ok();
        written.insert(rel.clone());
        match kind {
            tar::EntryType::Directory => {
                if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                    known.remove(&target)?;
                    fs::create_dir(&target)?;
                }
                // Set at the end: a read-only directory must still be filled.
                directory_modes.push((target, mode));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                known.remove(&target)?;
                let mut out = fs::File::create(&target)?;
                std::io::copy(&mut entry, &mut out)
                    .with_context(|| format!("writing {} from {what}", rel.display()))?;
                // The layer's mtime: Python checks a .pyc against its
                // source's, and a base's compiled stdlib would otherwise be
                // stale, recompiled by every interpreter the build starts.
                if let Some(mtime) = mtime {
                    out.set_modified(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime),
                    )?;
                }
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let link = entry.link_name()?.ok_or_else(|| {
                    refused(
                        what,
                        &raw.display().to_string(),
                        "is a symlink without a target",
                    )
                })?;
                known.remove(&target)?;
                std::os::unix::fs::symlink(&link, &target)?;
            }
            tar::EntryType::Link => {
                let link = entry.link_name()?.ok_or_else(|| {
                    refused(
                        what,
                        &raw.display().to_string(),
                        "is a hard link without a target",
                    )
                })?;
                let link_rel = entry_path(&link, what).map_err(|_| {
                    refused(
                        what,
                        &raw.display().to_string(),
                        "is a hard link to outside the root",
                    )
                })?;
                let source = resolve_in_root(root, &link_rel, false, what)?;
                let meta = fs::symlink_metadata(&source).map_err(|_| {
                    refused(
                        what,
                        &raw.display().to_string(),
                        "is a hard link to a file the layer does not have",
                    )
                })?;
                if meta.is_dir() {
                    return Err(refused(
                        what,
                        &raw.display().to_string(),
                        "is a hard link to a directory",
                    ));
                }
                if source != target {
                    known.remove(&target)?;
                    fs::hard_link(&source, &target)?;
                }
            }
            // Devices, FIFOs, extended headers: nothing to write in a private root.
            _ => {}
        }
    }
    for (dir, mode) in directory_modes.into_iter().rev() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let bytes = builder.into_inner().unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        file
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, body: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`: write the raw name, as a crafted layer would.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(kind);
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        let linkname = &mut h.as_old_mut().linkname;
        linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn whiteouts_and_opaque_directories_apply_to_lower_layers() {
        let root = tempfile::tempdir().unwrap();
        let lower = layer(|b| {
            file(b, "etc/a", "a");
            file(b, "etc/b", "b");
            file(b, "opt/x/old", "old");
        });
        unpack_layer(lower.path(), root.path(), "lower").unwrap();
        let upper = layer(|b| {
            file(b, "etc/.wh.a", "");
            file(b, "opt/x/new", "new");
            file(b, "opt/x/.wh..wh..opq", "");
        });
        unpack_layer(upper.path(), root.path(), "upper").unwrap();
        assert!(!root.path().join("etc/a").exists());
        assert!(root.path().join("etc/b").exists());
        assert!(!root.path().join("opt/x/old").exists());
        assert_eq!(
            fs::read_to_string(root.path().join("opt/x/new")).unwrap(),
            "new"
        );
    }

    /// A directory removed within a layer is made again for a later entry
    /// (the directories known to exist are forgotten), and a file's mtime is
    /// the entry's.
    #[test]
    fn a_directory_removed_in_a_layer_is_made_again_and_mtimes_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let one = layer(|b| {
            file(b, "x/y/first", "1");
            file(b, "x/.wh.y", "");
            file(b, "x/y/second", "2");
        });
        unpack_layer(one.path(), root.path(), "one").unwrap();
        assert!(!root.path().join("x/y/first").exists());
        assert_eq!(
            fs::read_to_string(root.path().join("x/y/second")).unwrap(),
            "2"
        );
        let mtime = fs::metadata(root.path().join("x/y/second"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, std::time::UNIX_EPOCH, "the header's mtime (0)");
    }

    #[test]
    fn symlinks_inside_the_root_are_followed_rerooted() {
        let root = tempfile::tempdir().unwrap();
        let l = layer(|b| {
            file(b, "usr/lib/keep", "k");
            link(b, tar::EntryType::Symlink, "lib", "usr/lib");
            link(b, tar::EntryType::Symlink, "abs", "/usr");
            file(b, "lib/via-link", "v");
            file(b, "abs/lib/via-abs", "w");
            link(b, tar::EntryType::Link, "usr/hard", "usr/lib/keep");
        });
        unpack_layer(l.path(), root.path(), "layer").unwrap();
        assert!(root.path().join("usr/lib/via-link").is_file());
        assert!(root.path().join("usr/lib/via-abs").is_file());
        assert_eq!(
            fs::read_to_string(root.path().join("usr/hard")).unwrap(),
            "k"
        );
    }

    #[test]
    fn escapes_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        type Craft = Box<dyn Fn(&mut tar::Builder<Vec<u8>>)>;
        let cases: Vec<(&str, Craft)> = vec![
            ("contains `..`", Box::new(|b| file(b, "a/../../evil", "x"))),
            ("absolute path", Box::new(|b| file(b, "/etc/evil", "x"))),
            (
                "symlink that points outside",
                Box::new(|b| {
                    link(b, tar::EntryType::Symlink, "up", "../../../../../../tmp");
                    file(b, "up/evil", "x");
                }),
            ),
            (
                "hard link to outside",
                Box::new(|b| link(b, tar::EntryType::Link, "h", "../../../etc/passwd")),
            ),
        ];
        for (why, build) in cases {
            let root = tempfile::tempdir_in(outside.path()).unwrap();
            let l = layer(|b| build(b));
            let err = unpack_layer(l.path(), root.path(), "the crafted layer").unwrap_err();
            assert!(err.to_string().contains("is refused"), "{why}: {err}");
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
        assert!(!Path::new("/tmp/evil").exists());
    }
}
