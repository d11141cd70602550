//! What an interpreter said about itself ([`Probe`]), remembered between
//! builds: a cold build of an unchanged app does not start Python only to
//! ask it again (one interpreter start, 50–80 ms of a 0.7 s locked build).
//!
//! One JSON file per interpreter path as given (`<dir>/<sha256 of the
//! path>.json`) holds the probe and the identity of everything the answer
//! depends on, taken before the interpreter ran:
//! - the path as given (`lstat`: a symbolic link pointed elsewhere is
//!   another interpreter) and the file it resolves to (`stat`) — device,
//!   inode, size, mtime and ctime, so that an interpreter rebuilt, upgraded
//!   or replaced (even by one of the same size and mtime) is asked again;
//! - a venv's `pyvenv.cfg` (beside `bin/` or beside the executable): a venv
//!   made again at the same path is another venv;
//! - the standard library's directory (from the probe): an upgrade that
//!   replaces its files changes its mtime;
//! - the kernel (`uname`): the marker values `platform_release`,
//!   `platform_version` and `platform_machine` come from it.
//!
//! Anything different, or an entry missing or unreadable: the interpreter is
//! asked and the entry rewritten (a temporary file renamed into place). The
//! cache only saves time: not being able to read or write it fails nothing,
//! and a failed probe is never remembered.
use crate::build::python::{probe, Probe};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One remembered probe.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// [`identity`] of the interpreter when it was asked.
    identity: String,
    probe: Probe,
}

/// `probe(python)`, from the entry in `dir` when it is still true (no
/// `dir`: always asked).
pub fn probe_cached(python: &Path, dir: Option<&Path>) -> Result<Probe> {
    let Some(dir) = dir else {
        return probe(python);
    };
    let Ok(absolute) = std::path::absolute(python) else {
        return probe(python);
    };
    let file = dir.join(format!(
        "{}.json",
        hex::encode(Sha256::digest(absolute.as_os_str().as_encoded_bytes()))
    ));
    let remembered = std::fs::read(&file)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Entry>(&bytes).ok());
    if let Some(entry) = remembered {
        if identity(&absolute, &entry.probe.stdlib) == entry.identity {
            return Ok(entry.probe);
        }
    }
    // Taken before asking: a change while the interpreter runs makes the
    // next build ask again rather than trust an answer from before it.
    let before = files_identity(&interpreter_files(&absolute));
    let asked = probe(python)?;
    let entry = Entry {
        identity: with_stdlib(before, &asked.stdlib),
        probe: asked,
    };
    let _ = remember(dir, &file, &entry);
    Ok(entry.probe)
}

/// The identity of the interpreter at `absolute` whose standard library is
/// `stdlib` (see the module's documentation).
fn identity(absolute: &Path, stdlib: &Path) -> String {
    with_stdlib(files_identity(&interpreter_files(absolute)), stdlib)
}

/// An interpreter's files' identity completed with its standard library's
/// and the kernel's.
fn with_stdlib(interpreter: String, stdlib: &Path) -> String {
    let stdlib = files_identity(&[(stdlib.to_path_buf(), true)]);
    format!("{interpreter}{stdlib}{}", kernel())
}

/// The files an interpreter's answer depends on, each with whether it is
/// `stat`ed through symbolic links.
fn interpreter_files(absolute: &Path) -> Vec<(PathBuf, bool)> {
    let mut files = vec![
        (absolute.to_path_buf(), false),
        (absolute.to_path_buf(), true),
    ];
    let bin = absolute.parent();
    for dir in [bin, bin.and_then(Path::parent)].into_iter().flatten() {
        files.push((dir.join("pyvenv.cfg"), true));
    }
    files
}

/// One line per file: its path and metadata, or `-` when it is missing.
fn files_identity(files: &[(PathBuf, bool)]) -> String {
    let mut out = String::new();
    for (path, follow) in files {
        let meta = if *follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        let shown = match meta {
            Ok(m) => format!(
                "{} {} {} {} {}.{} {}.{}",
                m.dev(),
                m.ino(),
                m.mode(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            ),
            Err(_) => "-".into(),
        };
        out.push_str(&format!("{}\t{shown}\n", path.display()));
    }
    out
}

/// The kernel's name, release, version and machine.
fn kernel() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => format!(
            "{:?} {:?} {:?} {:?}\n",
            u.sysname(),
            u.release(),
            u.version(),
            u.machine()
        ),
        Err(_) => "?\n".into(),
    }
}

fn remember(dir: &Path, file: &Path, entry: &Entry) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    crate::files::write_atomically(file, &serde_json::to_vec(entry)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An "interpreter" that counts its starts and runs the real one.
    fn counting_python(dir: &Path, real: &Path) -> (PathBuf, PathBuf) {
        let starts = dir.join("starts");
        let script = dir.join("bin").join("python");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho >> {}\nexec {} \"$@\"\n",
                starts.display(),
                real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, starts)
    }

    fn starts(file: &Path) -> usize {
        std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn a_probe_is_remembered_until_the_interpreter_changes() {
        let Ok(real) = crate::build::python::resolve("python3") else {
            eprintln!("no python3 on PATH: skipped");
            return;
        };
        let work = tempfile::tempdir().unwrap();
        let cache = work.path().join("cache");
        let (python, count) = counting_python(work.path(), &real);
        let first = probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 1);
        let again = probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 1, "answered from the cache");
        assert_eq!(again.version, first.version);
        assert_eq!(again.platlib, first.platlib);
        assert_eq!(again.base_executable, first.base_executable);
        assert!(!again.stdlib.as_os_str().is_empty());

        // Another interpreter file at the same path (same size: only its
        // inode and times differ): asked again.
        let text = std::fs::read(&python).unwrap();
        std::fs::remove_file(&python).unwrap();
        std::fs::write(&python, &text).unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 2);
        probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 2);

        // A pyvenv.cfg appearing beside bin/ (a venv made there): asked again.
        std::fs::write(work.path().join("pyvenv.cfg"), "home = /nowhere\n").unwrap();
        probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 3);

        // A broken entry is asked again and rewritten; no directory: always asked.
        for entry in std::fs::read_dir(&cache).unwrap() {
            std::fs::write(entry.unwrap().path(), "{").unwrap();
        }
        probe_cached(&python, Some(&cache)).unwrap();
        probe_cached(&python, Some(&cache)).unwrap();
        assert_eq!(starts(&count), 4);
        probe_cached(&python, None).unwrap();
        assert_eq!(starts(&count), 5);
    }

    #[test]
    fn a_failed_probe_is_not_remembered() {
        let work = tempfile::tempdir().unwrap();
        let cache = work.path().join("cache");
        let fake = work.path().join("python");
        std::fs::write(&fake, "#!/bin/sh\nexit 3\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(probe_cached(&fake, Some(&cache)).is_err());
        assert!(std::fs::read_dir(&cache).map_or(true, |mut d| d.next().is_none()));
    }
}
