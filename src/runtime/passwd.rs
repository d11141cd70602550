//! A passwd entry for an arbitrary UID (OpenShift runs containers as a random
//! UID in group 0), so that `whoami`, `getpass.getuser()` and
//! `os.path.expanduser('~')` work.
//!
//! When the UID has no entry: append one to /etc/passwd if it is writable
//! (warp's images make it group-writable), else write a private copy with the
//! entry and return the variables that make nss_wrapper (Debian package
//! libnss-wrapper) answer from it. Neither possible: a warning, no failure.
use crate::app::AppPaths;
use anyhow::{Context, Result};
use nix::unistd::{getgid, getuid, User};
use std::io::Write;
use std::path::{Path, PathBuf};

const PASSWD: &str = "/etc/passwd";

/// Where nss_wrapper is installed by the usual distributions.
const NSS_WRAPPER_LIBS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
];

/// Make sure the current UID has a passwd entry; returns the variables a
/// child needs for it (empty unless nss_wrapper is used).
pub fn ensure_entry(paths: &AppPaths) -> Result<Vec<(String, String)>> {
    let uid = getuid();
    if User::from_uid(uid).ok().flatten().is_some() {
        return Ok(Vec::new());
    }
    let line = entry_line(paths);
    if nix::unistd::access(PASSWD, nix::unistd::AccessFlags::W_OK).is_ok() {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(PASSWD)
            .with_context(|| format!("opening {PASSWD}"))?;
        file.write_all(line.as_bytes())
            .with_context(|| format!("adding UID {uid} to {PASSWD}"))?;
        return Ok(Vec::new());
    }
    let Some(lib) = nss_wrapper_lib() else {
        eprintln!(
            "warp: warning: UID {uid} has no passwd entry, {PASSWD} is not writable and nss_wrapper is not installed"
        );
        eprintln!(
            "warp: hint: make {PASSWD} group-writable in the image, or install libnss-wrapper"
        );
        return Ok(Vec::new());
    };
    let file = write_private_passwd(paths, &line)?;
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() && !old.contains(&lib) => format!("{lib} {old}"),
        _ => lib,
    };
    Ok(vec![
        ("LD_PRELOAD".into(), preload),
        ("NSS_WRAPPER_PASSWD".into(), file.display().to_string()),
        ("NSS_WRAPPER_GROUP".into(), "/etc/group".into()),
    ])
}

/// `name:x:uid:gid:gecos:home:shell` for the current user: the name from
/// $USER_NAME (default `default`, as in sclorg's images), the home from $HOME
/// unless it is unset or `/`, else the app's source root.
fn entry_line(paths: &AppPaths) -> String {
    let name = std::env::var("USER_NAME")
        .ok()
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        })
        .unwrap_or_else(|| "default".into());
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty() && h != "/" && !h.contains(':') && !h.contains('\n'))
        .unwrap_or_else(|| paths.src_root.display().to_string());
    format!(
        "{name}:x:{}:{}:warp arbitrary user:{home}:/bin/sh\n",
        getuid(),
        getgid()
    )
}

fn nss_wrapper_lib() -> Option<String> {
    if let Ok(lib) = std::env::var("WARP_NSS_WRAPPER_LIB") {
        return Path::new(&lib).is_file().then_some(lib);
    }
    NSS_WRAPPER_LIBS
        .iter()
        .find(|p| Path::new(p).is_file())
        .map(|p| p.to_string())
}

/// /etc/passwd plus `line`, in the app root's state directory when it is
/// writable, else in the temporary directory.
fn write_private_passwd(paths: &AppPaths, line: &str) -> Result<PathBuf> {
    let mut text = std::fs::read_to_string(PASSWD).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    let name = format!("passwd-{}", getuid());
    for dir in [paths.state_dir(), std::env::temp_dir()] {
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir) else {
            continue;
        };
        if tmp.write_all(text.as_bytes()).is_err() {
            continue;
        }
        let dest = dir.join(&name);
        if tmp.persist(&dest).is_ok() {
            let _ = std::fs::set_permissions(
                &dest,
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            );
            return Ok(dest);
        }
    }
    anyhow::bail!("could not write a private passwd file for nss_wrapper")
}
