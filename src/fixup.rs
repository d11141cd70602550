//! Permissions for arbitrary UIDs in group 0 (what sclorg's fix-permissions
//! and warpdrive's fixup do): group → 0, g+rw on everything, g+x where the
//! owner has x, g+x on directories.
//!
//! The tree is walked once with directory file descriptors (`openat`,
//! `fstatat`, `fchownat`, `fchmodat` relative to the parent), never following
//! a symbolic link: a link's own group is changed, its target is not visited.
//! Only what needs a change is changed, so a second run does nothing.
use anyhow::Result;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, Gid};
use std::ffi::{CStr, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a fixup did.
#[derive(Debug, Default)]
pub struct Report {
    /// Entries looked at.
    pub visited: u64,
    /// Entries changed (group or mode).
    pub changed: u64,
    /// What could not be changed, and why.
    pub failures: Vec<(PathBuf, Errno)>,
}

/// The mode an entry should have (only permission bits are touched).
pub fn wanted_mode(mode: u32, is_dir: bool) -> u32 {
    let mut wanted = mode | 0o060;
    if is_dir || mode & 0o100 != 0 {
        wanted |= 0o010;
    }
    wanted
}

/// Fix the tree at `root` (the root itself included).
pub fn fixup(root: &Path) -> Result<Report> {
    let mut report = Report::default();
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = root
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| ".".into());
    let parent_dir = Dir::open(
        parent,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
    let name = std::ffi::CString::new(name.as_bytes())?;
    fix_entry(&parent_dir, &name, &|| root.to_path_buf(), &mut report);
    Ok(report)
}

/// Fix one entry of `dir` (named `name`; `path()` makes its full path, only
/// when needed: for a report or a subdirectory), then its children.
fn fix_entry(dir: &Dir, name: &CStr, path: &dyn Fn() -> PathBuf, report: &mut Report) {
    report.visited += 1;
    let stat = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(e) => return report.failures.push((path(), e)),
    };
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    let mut changed = false;
    if stat.st_gid != 0 {
        match fchownat(
            dir.as_fd(),
            name,
            None,
            Some(Gid::from_raw(0)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => changed = true,
            Err(e) => report.failures.push((path(), e)),
        }
    }
    if kind != SFlag::S_IFLNK {
        changed |= fix_mode(dir, name, path, &stat, kind == SFlag::S_IFDIR, report);
    }
    if changed {
        report.changed += 1;
    }
    if kind == SFlag::S_IFDIR {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut sub = match Dir::openat(dir.as_fd(), name, flags, Mode::empty()) {
            Ok(sub) => sub,
            Err(e) => return report.failures.push((path(), e)),
        };
        let names: Vec<std::ffi::CString> = sub
            .iter()
            .flatten()
            .map(|e| e.file_name().to_owned())
            .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
            .collect();
        let dir_path = path();
        for child in names {
            let child_path = || dir_path.join(OsStr::from_bytes(child.as_bytes()));
            fix_entry(&sub, &child, &child_path, report);
        }
    }
}

fn fix_mode(
    dir: &Dir,
    name: &CStr,
    path: &dyn Fn() -> PathBuf,
    stat: &FileStat,
    is_dir: bool,
    report: &mut Report,
) -> bool {
    let mode = stat.st_mode & 0o7777;
    // chgrp by a non-root user clears set-id bits; never set them back.
    let mode = if stat.st_gid != 0 && !nix::unistd::geteuid().is_root() {
        mode & !0o6000
    } else {
        mode
    };
    let wanted = wanted_mode(mode, is_dir);
    if wanted == stat.st_mode & 0o7777 {
        return false;
    }
    match fchmodat(
        dir.as_fd(),
        name,
        Mode::from_bits_truncate(wanted),
        FchmodatFlags::FollowSymlink,
    ) {
        Ok(()) => true,
        Err(e) => {
            report.failures.push((path(), e));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(wanted_mode(0o644, false), 0o664);
        assert_eq!(wanted_mode(0o755, false), 0o775);
        assert_eq!(wanted_mode(0o700, true), 0o770);
        assert_eq!(wanted_mode(0o600, false), 0o660);
        assert_eq!(wanted_mode(0o4755, false), 0o4775);
    }
}
