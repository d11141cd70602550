//! `uv.lock`: what `uv export --frozen --no-dev` would print, done by warp.
//!
//! The lock is a graph: the project (source `virtual`/`editable` ".") lists
//! its dependencies, optional dependencies (extras) and dev-dependencies
//! (groups), and each edge may carry a marker and name the version when the
//! lock forks (one version for Python 3.9, another for 3.12). warp walks the
//! graph from the project, following only edges whose markers hold for the
//! build's interpreter.
//!
//! Stale: the project's `[package.metadata] requires-dist` / `requires-dev`
//! (what uv locked from) must equal pyproject's `[project]` dependencies,
//! optional dependencies and `[dependency-groups]`, compared as parsed PEP 508
//! requirements (markers by meaning, as `pep508_rs` normalises them), and
//! the lock's `requires-python` must be pyproject's.
use crate::build::lock::requirements::hash_option;
use crate::build::lock::{normalize, Locked, Pinned, Reader, Source};
use anyhow::Result;
use pep508_rs::{MarkerTree, Requirement};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvLock {
    version: u32,
    requires_python: Option<String>,
    #[serde(default)]
    package: Vec<Package>,
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
struct Metadata {
    #[serde(default)]
    requires_dist: Vec<MetaReq>,
    #[serde(default)]
    requires_dev: BTreeMap<String, Vec<MetaReq>>,
}

#[derive(Deserialize)]
struct MetaReq {
    name: String,
    specifier: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
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
    check_stale(&lock, &lock.package[root], r)?;
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

    let mut packages = Vec::new();
    for at in taken {
        packages.push(pinned(&lock.package[at], r)?);
    }
    let install_project = lock.package[root].source.contains_key("editable")
        || lock.package[root].source.contains_key("directory");
    Ok(Locked {
        packages,
        install_project,
    })
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
fn pinned(p: &Package, r: &Reader) -> Result<Pinned> {
    let version = p.version.clone().unwrap_or_default();
    if p.source.contains_key("registry") {
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
        return r.pin(&p.name, &version, Source::Registry { hashes });
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

/// A requirement in a canonical form (name, sorted extras, sorted
/// specifiers, marker by meaning), for comparing pyproject with the lock.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Canon {
    name: String,
    extras: Vec<String>,
    specifiers: Vec<String>,
    marker: String,
}

fn canon(req: &Requirement, extra_marker: Option<&str>) -> Canon {
    let mut marker = req.marker.clone();
    if let Some(extra) = extra_marker {
        if let Ok(tree) = MarkerTree::from_str(&format!("extra == '{extra}'")) {
            marker.and(tree);
        }
    }
    let mut extras: Vec<String> = req.extras.iter().map(|e| normalize(e.as_ref())).collect();
    extras.sort();
    let mut specifiers: Vec<String> = match &req.version_or_url {
        Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => {
            s.iter().map(|v| v.to_string()).collect()
        }
        _ => Vec::new(),
    };
    specifiers.sort();
    Canon {
        name: normalize(req.name.as_ref()),
        extras,
        specifiers,
        marker: marker.try_to_string().unwrap_or_default(),
    }
}

fn lock_canon(m: &MetaReq) -> Option<Canon> {
    let mut text = m.name.clone();
    if !m.extras.is_empty() {
        text.push_str(&format!("[{}]", m.extras.join(",")));
    }
    text.push_str(m.specifier.as_deref().unwrap_or(""));
    if let Some(marker) = &m.marker {
        text.push_str(&format!(" ; {marker}"));
    }
    Requirement::<pep508_rs::VerbatimUrl>::from_str(&text)
        .ok()
        .map(|r| canon(&r, None))
}

fn pyproject_canon(text: &str, extra: Option<&str>) -> Option<Canon> {
    Requirement::<pep508_rs::VerbatimUrl>::from_str(text)
        .ok()
        .map(|r| canon(&r, extra))
}

fn check_stale(lock: &UvLock, root: &Package, r: &Reader) -> Result<()> {
    let pyproject = r.pyproject()?;
    let Some(project) = pyproject.get("project").and_then(|p| p.as_table()) else {
        return Err(r.stale("pyproject.toml has no [project] table"));
    };
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let metadata = root.metadata.as_ref();
    let empty = Metadata::default();
    let metadata = metadata.unwrap_or(&empty);

    let mut wanted: Vec<Option<Canon>> = strings(project.get("dependencies"))
        .iter()
        .map(|s| pyproject_canon(s, None))
        .collect();
    if let Some(optional) = project
        .get("optional-dependencies")
        .and_then(|o| o.as_table())
    {
        for (extra, list) in optional {
            let extra = normalize(extra);
            for s in strings(Some(list)) {
                wanted.push(pyproject_canon(&s, Some(&extra)));
            }
        }
    }
    let locked: Vec<Option<Canon>> = metadata.requires_dist.iter().map(lock_canon).collect();
    if let Some(why) = differ("dependencies", wanted, locked) {
        return Err(r.stale(why));
    }

    let mut groups = pyproject
        .get("dependency-groups")
        .and_then(|g| g.as_table())
        .cloned()
        .unwrap_or_default();
    // uv's older spelling of the dev group.
    if let Some(dev) = pyproject
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("dev-dependencies"))
        .and_then(|d| d.as_array())
    {
        let mut all = groups
            .get("dev")
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        all.extend(dev.iter().cloned());
        groups.insert("dev".into(), toml::Value::Array(all));
    }
    let names: BTreeSet<String> = groups
        .keys()
        .chain(metadata.requires_dev.keys())
        .map(|g| normalize(g))
        .collect();
    for group in names {
        let listed = groups
            .iter()
            .find(|(g, _)| normalize(g) == group)
            .map(|(_, v)| v);
        // Groups that include other groups are expanded by uv: not compared.
        if listed
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|e| !e.is_str()))
        {
            continue;
        }
        let wanted = strings(listed)
            .iter()
            .map(|s| pyproject_canon(s, None))
            .collect();
        let locked = metadata
            .requires_dev
            .iter()
            .find(|(g, _)| normalize(g) == group)
            .map(|(_, l)| l.iter().map(lock_canon).collect())
            .unwrap_or_default();
        if let Some(why) = differ(&format!("dependency group {group}"), wanted, locked) {
            return Err(r.stale(why));
        }
    }

    let wanted_python = project.get("requires-python").and_then(|v| v.as_str());
    let same_python = match (wanted_python, lock.requires_python.as_deref()) {
        (None, _) => true,
        (Some(a), Some(b)) => specifiers(a) == specifiers(b),
        (Some(_), None) => false,
    };
    if !same_python {
        return Err(r.stale(format!(
            "pyproject.toml's requires-python is {:?}, the lock's {:?}",
            wanted_python.unwrap_or_default(),
            lock.requires_python.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

fn specifiers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = pep440_rs::VersionSpecifiers::from_str(text)
        .map(|s| s.iter().map(|v| v.to_string()).collect())
        .unwrap_or_else(|_| vec![text.to_string()]);
    out.sort();
    out
}

/// Why two lists of requirements differ, if they do.
fn differ(
    what: &str,
    mut wanted: Vec<Option<Canon>>,
    mut locked: Vec<Option<Canon>>,
) -> Option<String> {
    wanted.sort();
    locked.sort();
    if wanted == locked {
        return None;
    }
    let show = |c: &Option<Canon>| match c {
        Some(c) => format!("{}{}", c.name, c.specifiers.join(",")),
        None => "an unreadable requirement".into(),
    };
    if let Some(added) = wanted.iter().find(|w| !locked.contains(w)) {
        return Some(format!(
            "pyproject.toml's {what} have {}, which the lock was not made from",
            show(added)
        ));
    }
    let gone = locked.iter().find(|l| !wanted.contains(l)).unwrap_or(&None);
    Some(format!(
        "the lock was made from {} in {what}, which pyproject.toml no longer has",
        show(gone)
    ))
}
