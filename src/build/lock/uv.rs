//! `uv.lock`: what `uv export --frozen --no-dev` would print, done by warp.
//!
//! The lock is a graph: the project (source `virtual`/`editable` ".") lists
//! its dependencies, optional dependencies (extras) and dev-dependencies
//! (groups), and each edge may carry a marker and name the version when the
//! lock forks (one version for Python 3.9, another for 3.12). warp walks the
//! graph from the project, following only edges whose markers hold for the
//! build's interpreter.
//!
//! Stale: by uv's rule ([`uv_stale`]), for the project and for every
//! workspace member the build installs.
//!
//! Workspaces (`[tool.uv.workspace] members`, the lock's `[manifest]
//! members`): a member the project depends on (source `editable`/`directory`
//! under the project) is installed as a local package, non-editable, after
//! the registry packages; members the project does not depend on are not.
//! A member path is input: one that is absolute, climbs out with `..` or
//! leaves the project through a symbolic link is refused.
//!
//! Indexes: a registry package's `source = { registry = URL }` is the index
//! it is installed from ([`super::index`]; named by pyproject's
//! `[[tool.uv.index]]` for its credentials).
use crate::build::lock::index::Index;
use crate::build::lock::requirements::hash_option;
use crate::build::lock::{normalize, tool_table, uv_stale, Locked, Pinned, Reader, Source};
use anyhow::Result;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvLock {
    version: u32,
    requires_python: Option<String>,
    #[serde(default)]
    manifest: Manifest,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: toml::Table,
    #[serde(default)]
    dependencies: Vec<Dep>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dep>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<Dep>>,
    sdist: Option<Dist>,
    #[serde(default)]
    wheels: Vec<Dist>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Dep {
    name: String,
    version: Option<String>,
    source: Option<toml::Table>,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Deserialize)]
struct Dist {
    hash: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(super) struct Metadata {
    #[serde(default)]
    pub requires_dist: Vec<MetaReq>,
    #[serde(default)]
    pub requires_dev: BTreeMap<String, Vec<MetaReq>>,
}

#[derive(Deserialize)]
pub(super) struct MetaReq {
    pub name: String,
    pub specifier: Option<String>,
    pub marker: Option<String>,
    #[serde(default)]
    pub extras: Vec<String>,
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: UvLock = toml::from_str(text).map_err(|e| r.invalid(e.message()))?;
    if lock.version != 1 {
        return Err(r.error(
            format!("lock version {} is not one warp reads (1)", lock.version),
            "update warp, or lock with a uv that writes version 1",
        ));
    }
    let root = lock
        .package
        .iter()
        .position(|p| {
            ["virtual", "editable", "directory"]
                .iter()
                .any(|k| p.source.get(*k).and_then(|v| v.as_str()) == Some("."))
        })
        .ok_or_else(|| {
            r.error(
                "no package for the project itself (source \".\")",
                "run `uv lock` in the app's directory",
            )
        })?;
    let pyproject = r.pyproject()?;
    let workspace = lock.manifest.members.len() > 1;
    // A workspace's requires-python is the intersection of its members':
    // compared for a single project only.
    let lock_python = (!workspace).then_some(lock.requires_python.as_deref());
    if let Some(why) = uv_stale::why(
        "pyproject.toml",
        &pyproject,
        lock.package[root].metadata.as_ref(),
        lock_python,
    ) {
        return Err(r.stale(why));
    }
    r.check_python(lock.requires_python.as_deref())?;
    for group in &r.selection.groups {
        if !lock.package[root]
            .dev_dependencies
            .keys()
            .any(|g| normalize(g) == *group)
        {
            return Err(r.error(
                format!("the project has no dependency group {group:?}"),
                "name a group of [dependency-groups] in groups: / WARP_GROUPS",
            ));
        }
    }

    // Walk the graph from the project: (package, extra) pairs already taken.
    let mut seen: HashSet<(usize, Option<String>)> = HashSet::new();
    let mut queue: Vec<(usize, Option<String>)> = vec![(root, None)];
    for extra in &r.selection.extras {
        queue.push((root, Some(extra.clone())));
    }
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    while let Some((at, extra)) = queue.pop() {
        if !seen.insert((at, extra.clone())) {
            continue;
        }
        let package = &lock.package[at];
        let mut edges: Vec<&Dep> = Vec::new();
        match &extra {
            None => {
                edges.extend(&package.dependencies);
                if at == root {
                    for (group, deps) in &package.dev_dependencies {
                        if r.selection.has_group(group) {
                            edges.extend(deps);
                        }
                    }
                }
            }
            Some(extra) => {
                let found = package
                    .optional_dependencies
                    .iter()
                    .find(|(name, _)| normalize(name) == normalize(extra));
                match found {
                    Some((_, deps)) => edges.extend(deps),
                    None if at == root => return Err(r.error(
                        format!("the project has no extra {extra:?}"),
                        "name an extra of [project.optional-dependencies] in extras: / WARP_EXTRAS",
                    )),
                    None => {}
                }
            }
        }
        for dep in edges {
            if !r.holds(&dep.name, dep.marker.as_deref())? {
                continue;
            }
            let target = find(&lock.package, dep).ok_or_else(|| {
                r.invalid(format!(
                    "{} depends on {}, which is not in the lock",
                    package.name, dep.name
                ))
            })?;
            if target != root {
                taken.insert(target);
            }
            queue.push((target, None));
            for e in &dep.extra {
                queue.push((target, Some(e.clone())));
            }
        }
    }

    let names = index_names(&pyproject);
    let mut packages = Vec::new();
    let mut local = Vec::new();
    for at in taken {
        let package = &lock.package[at];
        if workspace
            && lock
                .manifest
                .members
                .iter()
                .any(|m| normalize(m) == normalize(&package.name))
        {
            if let Some(dir) = member(package, r)? {
                local.push(dir);
            }
            continue;
        }
        packages.push(pinned(package, &names, r)?);
    }
    let install_project = lock.package[root].source.contains_key("editable")
        || lock.package[root].source.contains_key("directory");
    Ok(Locked {
        packages,
        local,
        install_project,
    })
}

/// A workspace member the project depends on: its directory, checked to be
/// inside the project and up to date with the lock (None: a virtual member,
/// nothing to install but its dependencies).
fn member(p: &Package, r: &Reader) -> Result<Option<PathBuf>> {
    let (kind, path) = ["editable", "directory", "virtual"]
        .iter()
        .find_map(|k| p.source.get(*k).and_then(|v| v.as_str()).map(|v| (*k, v)))
        .ok_or_else(|| r.unsupported(&p.name, "a workspace source warp does not know"))?;
    let dir = r.local_dir(&p.name, path)?;
    let file = format!("{}/pyproject.toml", path.trim_end_matches('/'));
    let pyproject: toml::Table = std::fs::read_to_string(dir.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            r.stale(format!(
                "{file} of workspace member {} cannot be read",
                p.name
            ))
        })?;
    if let Some(why) = uv_stale::why(&file, &pyproject, p.metadata.as_ref(), None) {
        return Err(r.stale(why));
    }
    Ok((kind != "virtual").then_some(dir))
}

/// pyproject's `[[tool.uv.index]]`: (url, name) pairs.
fn index_names(pyproject: &toml::Table) -> Vec<(String, String)> {
    tool_table(pyproject, "uv")
        .get("index")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i.get("url")?.as_str()?.trim_end_matches('/').to_string(),
                i.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The package an edge points to: by name, and by version and source when
/// the lock holds several of that name.
fn find(packages: &[Package], dep: &Dep) -> Option<usize> {
    let name = normalize(&dep.name);
    packages.iter().position(|p| {
        normalize(&p.name) == name
            && dep
                .version
                .as_ref()
                .is_none_or(|v| p.version.as_ref() == Some(v))
            && dep.source.as_ref().is_none_or(|s| *s == p.source)
    })
}

/// A locked package as something pip can install by hash.
fn pinned(p: &Package, names: &[(String, String)], r: &Reader) -> Result<Pinned> {
    let version = p.version.clone().unwrap_or_default();
    if let Some(registry) = p.source.get("registry") {
        let Some(url) = registry.as_str() else {
            return Err(r.invalid(format!("the registry of {}", p.name)));
        };
        let name = names
            .iter()
            .find(|(u, _)| u == url.trim_end_matches('/'))
            .map(|(_, n)| n.as_str());
        let hashes: Vec<String> = p
            .wheels
            .iter()
            .chain(&p.sdist)
            .filter_map(|d| d.hash.as_deref())
            .map(hash_option)
            .collect();
        if hashes.is_empty() {
            return Err(r.error(
                format!("{} {version} has no file hashes in the lock", p.name),
                "run `uv lock` against an index that serves hashes",
            ));
        }
        return r.pin(
            &p.name,
            &version,
            Source::Registry {
                hashes,
                index: Index::of(url, name),
            },
        );
    }
    if let (Some(url), Some(hash)) = (
        p.source.get("url").and_then(|v| v.as_str()),
        p.sdist
            .as_ref()
            .or(p.wheels.first())
            .and_then(|d| d.hash.as_deref()),
    ) {
        return r.pin(
            &p.name,
            &version,
            Source::Url {
                url: url.to_string(),
                hash: hash_option(hash),
            },
        );
    }
    let what = match p.source.keys().next().map(String::as_str) {
        Some("git") => "a git repository",
        Some("path") | Some("directory") | Some("editable") | Some("virtual") => "a local path",
        _ => "a source without a hash",
    };
    Err(r.unsupported(&p.name, what))
}
