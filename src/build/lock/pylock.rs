//! PEP 751 `pylock.toml` (written by `pip lock` and `uv export --format
//! pylock.toml`): a flat list of packages, each with an optional marker and
//! the hashes of its files. The packages whose markers hold are installed;
//! a `directory` entry for the project itself (path ".") installs the project,
//! one for a directory inside it (a uv workspace member, as `uv export`
//! writes it) installs that local package. A package's `index` is the index
//! it is installed from ([`super::index`]).
//! There is no project hash to check staleness against; `requires-python`
//! and each package's own `requires-python` are checked.
use crate::build::lock::index::Index;
use crate::build::lock::{Locked, Reader, Source};
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Pylock {
    lock_version: String,
    requires_python: Option<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    requires_python: Option<String>,
    index: Option<String>,
    vcs: Option<toml::Value>,
    directory: Option<Directory>,
    archive: Option<File>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
}

#[derive(Deserialize)]
struct Directory {
    path: String,
}

#[derive(Deserialize)]
struct File {
    url: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

impl File {
    /// The strongest hash as pip takes it (`sha256:…`).
    fn hash(&self) -> Option<String> {
        ["sha512", "sha384", "sha256"]
            .iter()
            .find_map(|alg| self.hashes.get(*alg).map(|h| format!("{alg}:{h}")))
            .or_else(|| {
                self.hashes
                    .iter()
                    .find(|(alg, _)| *alg != "md5")
                    .map(|(a, h)| format!("{a}:{h}"))
            })
    }
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: Pylock = toml::from_str(text).map_err(|e| r.invalid(e.message()))?;
    if !lock.lock_version.starts_with("1.") {
        return Err(r.error(
            format!(
                "lock-version {} is not one warp reads (1.x)",
                lock.lock_version
            ),
            "lock with a tool that writes PEP 751 version 1",
        ));
    }
    r.check_python(lock.requires_python.as_deref())?;
    let mut packages = Vec::new();
    let mut install_project = false;
    let mut local = Vec::new();
    for p in &lock.packages {
        if !r.holds(&p.name, p.marker.as_deref())? {
            continue;
        }
        if let Some(range) = &p.requires_python {
            let ok = pep440_rs::VersionSpecifiers::from_str(range)
                .map(|s| s.contains(&r.target.version))
                .unwrap_or(true);
            if !ok {
                return Err(r.error(
                    format!(
                        "{} needs Python {range}, and the build's interpreter is Python {}",
                        p.name, r.target.version
                    ),
                    "build with another Python (--python), or relock for this one",
                ));
            }
        }
        let version = p.version.clone().unwrap_or_default();
        if let Some(dir) = &p.directory {
            if dir.path.trim_end_matches('/') == "." {
                install_project = true;
                continue;
            }
            local.push(r.local_dir(&p.name, &dir.path)?);
            continue;
        }
        if p.vcs.is_some() {
            return Err(r.unsupported(&p.name, "a version control repository"));
        }
        if let Some(archive) = &p.archive {
            let (Some(url), Some(hash)) = (&archive.url, archive.hash()) else {
                return Err(r.unsupported(&p.name, "a local archive"));
            };
            packages.push(r.pin(
                &p.name,
                &version,
                Source::Url {
                    url: url.clone(),
                    hash,
                },
            )?);
            continue;
        }
        let hashes: Vec<String> = p
            .wheels
            .iter()
            .chain(&p.sdist)
            .filter_map(File::hash)
            .collect();
        if hashes.is_empty() {
            return Err(r.error(
                format!("{} {version} has no file hashes in the lock", p.name),
                "lock against an index that serves hashes",
            ));
        }
        let index = p.index.as_deref().and_then(|url| Index::of(url, None));
        packages.push(r.pin(&p.name, &version, Source::Registry { hashes, index })?);
    }
    Ok(Locked {
        packages,
        local,
        install_project,
    })
}
