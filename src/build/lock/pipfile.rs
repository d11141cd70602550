//! `Pipfile.lock` (pipenv): JSON with a `default` section (production) and a
//! `develop` section (installed only when the `dev` group is asked for), each
//! package pinned `==version` with its hashes and an optional marker. Read by
//! warp itself: neither pipenv nor micropipenv is installed. A lock made for
//! another Python (`_meta.requires.python_version`) is refused.
use crate::build::lock::{normalize, Locked, Pinned, Reader, Source};
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(rename = "_meta", default)]
    meta: Meta,
    #[serde(default)]
    default: BTreeMap<String, Entry>,
    #[serde(default)]
    develop: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    requires: Requires,
}

#[derive(Deserialize, Default)]
struct Requires {
    python_version: Option<String>,
    python_full_version: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    markers: Option<String>,
    git: Option<String>,
    path: Option<String>,
    file: Option<String>,
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: PipfileLock = serde_json::from_str(text).map_err(|e| r.invalid(e))?;
    let wanted = lock
        .meta
        .requires
        .python_full_version
        .as_ref()
        .map(|v| format!("=={v}"))
        .or(lock
            .meta
            .requires
            .python_version
            .as_ref()
            .map(|v| format!("=={v}.*")));
    r.check_python(wanted.as_deref())?;
    let develop = r.selection.has_group("dev") || r.selection.has_group("develop");
    let mut packages = Vec::new();
    let sections = std::iter::once(&lock.default).chain(develop.then_some(&lock.develop));
    let mut names: Vec<String> = Vec::new();
    for section in sections {
        for (name, entry) in section {
            if names.contains(&normalize(name)) || !r.holds(name, entry.markers.as_deref())? {
                continue;
            }
            names.push(normalize(name));
            if entry.git.is_some() {
                return Err(r.unsupported(name, "a git repository"));
            }
            if entry.path.is_some() || entry.file.is_some() {
                return Err(r.unsupported(name, "a local path or URL"));
            }
            let Some(version) = entry.version.as_deref().and_then(|v| v.strip_prefix("==")) else {
                return Err(r.error(
                    format!("{name} is not pinned to one version"),
                    "run `pipenv lock` and commit Pipfile.lock",
                ));
            };
            if entry.hashes.is_empty() {
                return Err(r.error(
                    format!("{name} {version} has no hashes in the lock"),
                    "run `pipenv lock` and commit Pipfile.lock",
                ));
            }
            packages.push(Pinned {
                name: name.clone(),
                version: version.to_string(),
                source: Source::Registry {
                    hashes: entry.hashes.clone(),
                },
            });
        }
    }
    Ok(Locked {
        packages,
        install_project: false,
    })
}
