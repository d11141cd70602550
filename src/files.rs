//! Filesystem helpers more than one half needs. [`copy_tree`] copies a tree
//! the way an app's source must be copied (S2I's assemble, the static-file
//! cache, an image build's source): every file, dot-files included,
//! permission bits kept, symbolic links copied as links (never followed, so a
//! link in the source cannot pull a file of the image in).
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// What a copy did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub files: usize,
    pub links: usize,
    pub dirs: usize,
    /// Sockets, FIFOs and devices: not app source, left out (named on stderr).
    pub skipped: usize,
}

/// Copy the contents of `from` into `to` (created when missing; what is
/// already there is replaced entry by entry).
pub fn copy_tree(from: &Path, to: &Path) -> Result<Copied> {
    let mut copied = Copied::default();
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    copy_dir_contents(from, to, &mut copied)?;
    Ok(copied)
}

fn copy_dir_contents(from: &Path, to: &Path, copied: &mut Copied) -> Result<()> {
    let entries = fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        // Whatever is at the target and is not a directory we merge into
        // (in particular a link) is replaced, never written through.
        if let Ok(existing) = fs::symlink_metadata(&target) {
            if !(kind.is_dir() && existing.is_dir()) {
                if existing.is_dir() {
                    fs::remove_dir_all(&target)?;
                } else {
                    fs::remove_file(&target)?;
                }
            }
        }
        if kind.is_symlink() {
            symlink(fs::read_link(&source)?, &target)
                .with_context(|| format!("creating the link {}", target.display()))?;
            copied.links += 1;
        } else if kind.is_dir() {
            fs::create_dir_all(&target)?;
            copy_dir_contents(&source, &target, copied)?;
            fs::set_permissions(
                &target,
                fs::Permissions::from_mode(meta.permissions().mode()),
            )?;
            copied.dirs += 1;
        } else if kind.is_file() {
            fs::copy(&source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
            copied.files += 1;
        } else {
            eprintln!(
                "warp: skipping {} (not a file, directory or link)",
                source.display()
            );
            copied.skipped += 1;
        }
    }
    Ok(())
}

/// Remove what is inside `dir` (not `dir` itself, which s2i may own), so the
/// source is not in the image twice. Best effort: returns what could not go.
pub fn empty_dir(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return left;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        if let Err(e) = removed {
            left.push(format!("{}: {e}", path.display()));
        }
    }
    left
}

/// Write `bytes` to `path` through a temporary file in the same directory, so
/// that a failure leaves nothing half-written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        crate::error::fail(
            format!("cannot write {}: {e}", path.display()),
            "choose a file in an existing, writable directory",
        )
    })?;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_dot_files_modes_and_links_without_following() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let f = from.path();
        fs::write(f.join("wsgi.py"), "application = None\n").unwrap();
        fs::write(f.join(".env"), "A=1\n").unwrap();
        fs::create_dir_all(f.join(".s2i/bin")).unwrap();
        fs::write(f.join(".s2i/bin/assemble"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(
            f.join(".s2i/bin/assemble"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        symlink("/etc/passwd", f.join("passwd-link")).unwrap();
        // A link already at the target is replaced, not written through.
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), to.path().join(".s2i")).unwrap();

        let copied = copy_tree(f, to.path()).unwrap();
        assert_eq!(
            copied,
            Copied {
                files: 3,
                links: 1,
                dirs: 2,
                skipped: 0
            }
        );
        let t = to.path();
        assert_eq!(fs::read_to_string(t.join(".env")).unwrap(), "A=1\n");
        let mode = fs::metadata(t.join(".s2i/bin/assemble"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        assert_eq!(
            fs::read_link(t.join("passwd-link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!fs::symlink_metadata(t.join(".s2i")).unwrap().is_symlink());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn empty_dir_keeps_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert!(empty_dir(dir.path()).is_empty());
        assert!(dir.path().is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
