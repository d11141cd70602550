//! The server extension that warp carries inside itself, and how it gets into
//! an app's virtualenv: `warpserver/_core.abi3.so` (built by build.rs from
//! `server/`) plus the pure-Python files of `server/python/warpserver/`.
//!
//! One abi3 build serves every CPython ≥ 3.9, so installing is a file copy.
//!
//! A local `warp build` links instead ([`install_linked`]): it keeps one copy
//! of the package per content (`<cache>/build-cache/warpserver/<digest>/`,
//! the digest made by build.rs) and hard-links its files into each new venv,
//! as uv links the packages from its cache. A venv's files then cost no new
//! inode and no write of the 2 MB extension: that step of a cold locked
//! build fell from about 10 ms to 0.3 (on this ext4 without a journal, a new
//! inode right after `rm -rf` of the previous venv costs a scan past the
//! recently deleted ones; see [`install_linked`] for the directories). The copy's
//! files are checked before each use against the sizes and mtimes it was
//! made with (`files`, beside them): a file of a venv written in place, which
//! writes the shared copy, makes warp make a new copy. Anything that keeps
//! the links from being made (another file system, no cache) writes the
//! files as [`install`] does. An image's build has no such cache: its venv
//! gets written files.
use anyhow::{Context, Result};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The compiled extension module.
pub const CORE_SO: &[u8] = include_bytes!(env!("WARPSERVER_SO"));

/// The pure-Python files of the `warpserver` package, by path relative to site-packages.
pub const PYTHON_FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/python_files.rs"));

/// The file name of the extension inside the package directory.
pub const CORE_FILE: &str = "_core.abi3.so";

/// A file in the package naming the `warp` binary that installed it, so that
/// `manage.py runwarp` finds the warp whose server the package is.
pub const INSTALLED_BY_FILE: &str = "installed-by-warp";

/// Put the `warpserver` package into `site_packages` (a venv's platlib).
/// Files already identical are left alone; changed ones are replaced by rename,
/// so a worker that has the old copy mapped keeps running.
pub fn install(site_packages: &Path) -> Result<()> {
    for (rel, bytes) in package_files() {
        write_if_changed(&site_packages.join(rel), bytes)?;
    }
    write_installed_by(&site_packages.join("warpserver"))
}

/// Write the file naming this binary into the package directory.
fn write_installed_by(package: &Path) -> Result<()> {
    if let Ok(exe) = std::env::current_exe() {
        let line = format!("{}\n", exe.display());
        write_if_changed(&package.join(INSTALLED_BY_FILE), line.as_bytes())?;
    }
    Ok(())
}

/// The content digest of the package (the extension and the Python files).
const DIGEST: &str = env!("WARPSERVER_DIGEST");

/// The copies kept in a cache directory, the newest first; older ones go.
const COPIES_KEPT: usize = 4;

/// The list of a copy's files with their sizes and mtimes, in its directory.
const COPY_FILES: &str = "files";

/// Every file of the package by path relative to site-packages (not
/// [`INSTALLED_BY_FILE`], which names the binary).
fn package_files() -> impl Iterator<Item = (String, &'static [u8])> {
    std::iter::once((format!("warpserver/{CORE_FILE}"), CORE_SO)).chain(
        PYTHON_FILES
            .iter()
            .map(|(rel, bytes)| (rel.to_string(), *bytes)),
    )
}

/// [`install`], hard-linking the files from the copy of the package kept in
/// `copies` (made there when missing or changed); see the module's doc.
///
/// A venv without the package gets it made in `stage` (the venv's root) and
/// renamed into site-packages: its directories are then new inodes beside
/// the venv's root, not among the recently deleted ones of the previous
/// venv's site-packages, which this ext4 scans past (0.35–0.55 ms a
/// directory there, against 0.03–0.1).
pub fn install_linked(site_packages: &Path, copies: &Path, stage: &Path) -> Result<()> {
    let package = site_packages.join("warpserver");
    let linked = copy_in(copies).and_then(|copy| {
        if fs::symlink_metadata(&package).is_ok() {
            return link_files(&copy, &package);
        }
        let staged = stage.join(format!(".warpserver-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staged);
        let made = link_files(&copy, &staged).and_then(|()| fs::rename(&staged, &package));
        if made.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        made
    });
    match linked {
        Ok(()) => Ok(()),
        Err(_) => install(site_packages),
    }
}

/// Link every file of the package from `copy` into the directory `package`,
/// and write the file naming this binary.
fn link_files(copy: &Path, package: &Path) -> io::Result<()> {
    for (rel, _) in package_files() {
        let dest = package.join(rel.strip_prefix("warpserver/").unwrap_or(&rel));
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        link_file(&copy.join(&rel), &dest)?;
    }
    write_installed_by(package).map_err(io::Error::other)
}

/// Make `dest` a link of `src`: left alone when it already is one, else
/// replaced by rename (a worker that has the old file mapped keeps it).
fn link_file(src: &Path, dest: &Path) -> io::Result<()> {
    match fs::hard_link(src, dest) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        other => return other,
    }
    let (a, b) = (fs::metadata(src)?, fs::symlink_metadata(dest)?);
    if a.dev() == b.dev() && a.ino() == b.ino() {
        return Ok(());
    }
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dest.with_file_name(format!(".{name}.warp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    fs::hard_link(src, &tmp)?;
    fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The copy of this package in `copies`, checked, or made (a temporary
/// directory renamed into place; the oldest copies beyond [`COPIES_KEPT`]
/// removed).
fn copy_in(copies: &Path) -> io::Result<PathBuf> {
    let copy = copies.join(DIGEST);
    if copy_intact(&copy) {
        return Ok(copy);
    }
    fs::create_dir_all(copies)?;
    let tmp = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(copies)?;
    let mut listing = String::new();
    for (rel, bytes) in package_files() {
        let path = tmp.path().join(&rel);
        write_if_changed(&path, bytes).map_err(io::Error::other)?;
        listing.push_str(&format!("{} {rel}\n", stamp(&fs::metadata(&path)?)));
    }
    fs::write(tmp.path().join(COPY_FILES), listing)?;
    let _ = fs::remove_dir_all(&copy);
    fs::rename(tmp.path(), &copy)?;
    // The directory is in place: nothing left for the handle to remove.
    let _ = tmp.keep();
    prune(copies, &copy);
    Ok(copy)
}

/// A file's size and mtime, as a copy's listing holds them.
fn stamp(meta: &fs::Metadata) -> String {
    format!("{} {}.{}", meta.size(), meta.mtime(), meta.mtime_nsec())
}

/// Whether every file of `copy` is there with the size and mtime it was made
/// with, and the size of this package's file.
fn copy_intact(copy: &Path) -> bool {
    let Ok(listing) = fs::read_to_string(copy.join(COPY_FILES)) else {
        return false;
    };
    let listed: std::collections::HashMap<&str, &str> = listing
        .lines()
        .filter_map(|line| line.rsplit_once(' ').map(|(stamp, rel)| (rel, stamp)))
        .collect();
    package_files().all(|(rel, bytes)| {
        let Ok(meta) = fs::symlink_metadata(copy.join(&rel)) else {
            return false;
        };
        meta.is_file()
            && meta.len() == bytes.len() as u64
            && listed.get(rel.as_str()) == Some(&stamp(&meta).as_str())
    })
}

/// Remove the copies in `copies` beyond the [`COPIES_KEPT`] most recently
/// made (`keep` always stays; a temporary directory left by a stopped build
/// counts as a copy).
fn prune(copies: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(copies) else {
        return;
    };
    let mut made: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path() != keep && e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    made.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (_, path) in made.into_iter().skip(COPIES_KEPT - 1) {
        let _ = fs::remove_dir_all(path);
    }
}

/// A private copy of the package for one `warp start --worker-python` run, in
/// a temporary directory `warpserver-PID-…` removed when the returned handle is
/// dropped. Copies left by runs that were killed (their PID gone) are removed
/// first: only directories of this user that hold the package's marker file.
pub fn private_copy() -> Result<tempfile::TempDir> {
    remove_stale_private_copies(&std::env::temp_dir());
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PRIVATE_PREFIX}{}-", std::process::id()))
        .tempdir()
        .context("creating a private directory for warp's server")?;
    install(dir.path()).context("installing warp's server")?;
    Ok(dir)
}

const PRIVATE_PREFIX: &str = "warpserver-";

fn remove_stale_private_copies(tmp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let uid = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PRIVATE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        // symlink_metadata: a link planted under that name is never followed.
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid)
            && path.join("warpserver").join(INSTALLED_BY_FILE).is_file();
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn write_if_changed(dest: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(dest).map(|old| old == bytes).unwrap_or(false) {
        return Ok(());
    }
    let dir = dest.parent().expect("a file inside a package");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    let mut perms = fs::metadata(tmp.path())?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(tmp.path(), perms)?;
    tmp.persist(dest)
        .with_context(|| format!("installing {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_made_once_and_again_when_written_through() {
        let copies = tempfile::tempdir().unwrap();
        let first = copy_in(copies.path()).unwrap();
        let worker = first.join("warpserver/worker.py");
        let inode = |p: &Path| fs::metadata(p).unwrap().ino();
        let before = inode(&worker);
        assert_eq!(copy_in(copies.path()).unwrap(), first);
        assert_eq!(inode(&worker), before, "an intact copy is used as it is");

        let mut file = fs::OpenOptions::new().append(true).open(&worker).unwrap();
        std::io::Write::write_all(&mut file, b"#").unwrap();
        drop(file);
        assert!(!copy_intact(&first));
        assert_eq!(copy_in(copies.path()).unwrap(), first);
        assert_ne!(inode(&worker), before, "made again");
        assert!(copy_intact(&first));
        let (rel, bytes) = package_files().last().unwrap();
        assert_eq!(fs::read(first.join(rel)).unwrap(), bytes);
    }

    #[test]
    fn older_copies_are_removed_beyond_the_newest_four() {
        let copies = tempfile::tempdir().unwrap();
        for (i, age) in [50u64, 40, 30, 20, 10].iter().enumerate() {
            let old = copies.path().join(format!("old{i}"));
            fs::create_dir(&old).unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age * 3600);
            fs::File::open(&old).unwrap().set_modified(when).unwrap();
        }
        copy_in(copies.path()).unwrap();
        let mut left: Vec<String> = fs::read_dir(copies.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [DIGEST, "old2", "old3", "old4"]);
    }

    #[test]
    fn a_venv_gets_links_of_the_copy() {
        let (copies, venv) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let site = venv.path().join("lib/python3.11/site-packages");
        fs::create_dir_all(&site).unwrap();
        install_linked(&site, copies.path(), venv.path()).unwrap();
        let copy = copies.path().join(DIGEST);
        for (rel, bytes) in package_files() {
            let (a, b) = (
                fs::metadata(site.join(&rel)).unwrap(),
                fs::metadata(copy.join(&rel)).unwrap(),
            );
            assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{rel}");
            assert_eq!(fs::read(site.join(&rel)).unwrap(), bytes);
        }
        assert!(site.join("warpserver").join(INSTALLED_BY_FILE).is_file());
        let staged: Vec<_> = fs::read_dir(venv.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(staged, ["lib"], "no staging directory left");
        // Again, into the package now there: nothing changes.
        install_linked(&site, copies.path(), venv.path()).unwrap();
        assert!(copy_intact(&copy));
    }

    #[test]
    fn install_records_the_binary_that_installed_the_package() {
        let site = tempfile::tempdir().unwrap();
        install(site.path()).unwrap();
        let package = site.path().join("warpserver");
        assert!(package.join(CORE_FILE).is_file());
        assert!(package.join("__init__.py").is_file());
        let recorded = fs::read_to_string(package.join(INSTALLED_BY_FILE)).unwrap();
        assert_eq!(
            recorded.trim_end(),
            std::env::current_exe().unwrap().display().to_string()
        );
    }
}
