//! `poetry.lock` (lock-version 2.1, Poetry 2): every package names the
//! groups it belongs to and, per group, the marker under which it is needed;
//! warp installs the packages of the `main` group (plus the groups asked for)
//! whose markers hold, with the hashes of their files. Poetry 1.x locks
//! (lock-version 1.x and 2.0) name neither: their set is walked from
//! pyproject through the lock's graph ([`poetry_graph`]) and their
//! content-hash is Poetry 1.x's ([`content_hash_v1`]); lock-version 1.x
//! (Poetry ≤ 1.2) keeps the file hashes in `[metadata.files]`, by package. The project itself is
//! installed (after its dependencies) unless it sets `package-mode = false`.
//! A package with a `legacy` `[package.source]` is installed from that index
//! ([`super::index`]; credentials also from `POETRY_HTTP_BASIC_<NAME>_*`).
//!
//! Stale: `[metadata] content-hash` is Poetry's sha256 of the relevant parts
//! of pyproject.toml, serialised as Python's `json.dumps(…, sort_keys=True)`
//! ([`content_hash`], as `poetry.packages.locker.Locker._get_content_hash`).
use crate::build::lock::index::Index;
use crate::build::lock::poetry_graph::{self, Node};
use crate::build::lock::pyjson;
use crate::build::lock::{
    may_install_project, normalize, tool_table, Kind, Locked, Reader, Source,
};
use anyhow::Result;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<Package>,
    metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    lock_version: String,
    python_versions: Option<String>,
    content_hash: String,
    /// lock-version 1.x (Poetry ≤ 1.2): the file hashes of each package,
    /// by name, here instead of in its `[[package]]`.
    #[serde(default)]
    files: std::collections::BTreeMap<String, Vec<FileHash>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    groups: Vec<String>,
    markers: Option<toml::Value>,
    #[serde(default)]
    files: Vec<FileHash>,
    source: Option<PackageSource>,
    /// Poetry 1.x locks: the edges of the graph, and the package's extras.
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    extras: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct FileHash {
    hash: String,
}

#[derive(Deserialize)]
struct PackageSource {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    reference: Option<String>,
}

/// `[project]` keys, and `[tool.poetry]` keys, that decide the lock.
const PROJECT_KEYS: [&str; 3] = ["requires-python", "dependencies", "optional-dependencies"];
const LEGACY_KEYS: [&str; 4] = ["dependencies", "source", "extras", "dev-dependencies"];

/// Poetry's content-hash of a pyproject.toml (Poetry ≥ 2.3; `with_groups`
/// false gives the hash of earlier Poetry 2 versions, which left
/// `[dependency-groups]` out).
pub fn content_hash(pyproject: &toml::Table, with_groups: bool) -> String {
    let table = |v: Option<&toml::Value>| v.and_then(|v| v.as_table()).cloned();
    let project = table(pyproject.get("project")).unwrap_or_default();
    let groups = table(pyproject.get("dependency-groups")).filter(|g| with_groups && !g.is_empty());
    let poetry = tool_table(pyproject, "poetry");

    let mut relevant_project = toml::Table::new();
    for key in PROJECT_KEYS {
        if let Some(v) = project.get(key) {
            relevant_project.insert(key.into(), v.clone());
        }
    }
    // A key absent from [tool.poetry] counts as null only for the legacy
    // keys, and only when neither [project] nor [dependency-groups] has content.
    let mut relevant_poetry = serde_json::Map::new();
    for key in LEGACY_KEYS.iter().chain(&["group"]) {
        match poetry.get(*key) {
            Some(v) => {
                relevant_poetry.insert(key.to_string(), pyjson::from_toml(v));
            }
            None if LEGACY_KEYS.contains(key)
                && relevant_project.is_empty()
                && groups.is_none() =>
            {
                relevant_poetry.insert(key.to_string(), serde_json::Value::Null);
            }
            None => {}
        }
    }
    let mut relevant = serde_json::Map::new();
    if !relevant_project.is_empty() {
        relevant.insert(
            "project".into(),
            pyjson::from_toml(&toml::Value::Table(relevant_project)),
        );
    }
    if let Some(groups) = groups {
        relevant.insert(
            "dependency-groups".into(),
            pyjson::from_toml(&toml::Value::Table(groups)),
        );
    }
    let content = if relevant.is_empty() {
        serde_json::Value::Object(relevant_poetry)
    } else {
        let mut tool = serde_json::Map::new();
        tool.insert("poetry".into(), serde_json::Value::Object(relevant_poetry));
        relevant.insert("tool".into(), serde_json::Value::Object(tool));
        serde_json::Value::Object(relevant)
    };
    hex::encode(Sha256::digest(pyjson::dumps_sorted(&content).as_bytes()))
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: PoetryLock = toml::from_str(text).map_err(|e| r.invalid(e.message()))?;
    let version = lock.metadata.lock_version.as_str();
    // Poetry 1.x writes 1.x and 2.0: no groups and markers per package.
    let v1 = version.starts_with("1.") || version == "2.0";
    if !v1 && !version.starts_with("2.") {
        return Err(r.error(
            format!("lock-version {version} is not one warp reads (1.1 to 2.x)"),
            "run `poetry lock` and commit poetry.lock",
        ));
    }
    let pyproject = r.pyproject()?;
    let hash = &lock.metadata.content_hash;
    let fresh = [true, false]
        .iter()
        .any(|groups| content_hash(&pyproject, *groups) == *hash)
        || (v1 && content_hash_v1(&pyproject) == *hash);
    if !fresh {
        return Err(r.stale("its content-hash is not that of pyproject.toml"));
    }
    let project_python = pyproject
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .and_then(|v| v.as_str())
        .map(String::from);
    let poetry_python = pyproject
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.get("python"))
        .and_then(|v| v.as_str())
        .map(poetry_constraint);
    let python = match project_python.filter(|_| !v1).or(poetry_python) {
        Some(range) => Some(range),
        None => lock
            .metadata
            .python_versions
            .as_deref()
            .map(poetry_constraint),
    };
    r.check_python(python.as_deref())?;

    let chosen: Vec<&Package> = if v1 {
        let nodes: Vec<Node> = lock
            .package
            .iter()
            .map(|p| Node {
                name: &p.name,
                version: &p.version,
                dependencies: &p.dependencies,
                extras: &p.extras,
            })
            .collect();
        poetry_graph::walk(&nodes, &pyproject, r)?
            .into_iter()
            .map(|at| &lock.package[at])
            .collect()
    } else {
        by_group(&lock.package, r)?
    };
    // lock-version 1.x: the file hashes by package name, beside the packages.
    let metadata_files: std::collections::HashMap<String, &Vec<FileHash>> = lock
        .metadata
        .files
        .iter()
        .map(|(name, files)| (normalize(name), files))
        .collect();
    let mut packages = Vec::new();
    for p in chosen {
        if let Some(source) = p.source.as_ref().filter(|s| s.kind != "legacy") {
            let what = match source.kind.as_str() {
                "git" => "a git repository",
                "directory" | "file" => "a local path",
                "url" => "a direct URL",
                _ => "a source warp does not know",
            };
            return Err(r.unsupported(&p.name, what));
        }
        let files = match metadata_files.get(&normalize(&p.name)) {
            Some(files) if p.files.is_empty() => files,
            _ => &p.files,
        };
        let hashes: Vec<String> = files.iter().map(|f| f.hash.clone()).collect();
        if hashes.is_empty() {
            return Err(r.error(
                format!("{} {} has no file hashes in the lock", p.name, p.version),
                "run `poetry lock` and commit poetry.lock",
            ));
        }
        // A `legacy` source: a PEP 503 index, named for its credentials.
        let index = p.source.as_ref().and_then(|s| {
            let mut index = Index::of(s.url.as_deref()?, s.reference.as_deref())?;
            index.poetry = true;
            Some(index)
        });
        packages.push(r.pin(&p.name, &p.version, Source::Registry { hashes, index })?);
    }
    Ok(Locked {
        packages,
        local: Vec::new(),
        install_project: may_install_project(Kind::Poetry, r.home),
    })
}

/// Poetry 2 locks: the packages of `main` and the groups asked for whose
/// per-group marker holds.
fn by_group<'a>(packages: &'a [Package], r: &Reader) -> Result<Vec<&'a Package>> {
    let wanted = |group: &str| group == "main" || r.selection.has_group(group);
    let mut out = Vec::new();
    for p in packages {
        for group in p.groups.iter().filter(|g| wanted(g)) {
            let marker = match &p.markers {
                Some(toml::Value::String(m)) => Some(m.as_str()),
                Some(toml::Value::Table(t)) => t.get(group).and_then(|m| m.as_str()),
                _ => None,
            };
            if r.holds(&p.name, marker)? {
                out.push(p);
                break;
            }
        }
    }
    Ok(out)
}

/// Poetry 1.x's content-hash (`Locker._get_content_hash` of 1.8): the
/// `dependencies`, `source`, `extras`, `dev-dependencies` (null when absent)
/// and `group` (when present) of `[tool.poetry]` — `[project]` is not read
/// by Poetry 1.x. That is Poetry 2's rule for a pyproject without `[project]`
/// and `[dependency-groups]`.
pub fn content_hash_v1(pyproject: &toml::Table) -> String {
    let mut poetry_only = pyproject.clone();
    poetry_only.remove("project");
    poetry_only.remove("dependency-groups");
    content_hash(&poetry_only, false)
}

/// A Poetry version constraint (`^3.9`, `~3.9`, `>=3.9,<4.0`, `3.9.*`,
/// alternatives with `||`) as PEP 440 specifiers for the requires-python
/// check. Alternatives keep the first, widest-reaching one.
pub fn poetry_constraint(text: &str) -> String {
    let first = text.split("||").next().unwrap_or("").trim();
    let mut out = Vec::new();
    for term in first
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let parts = |v: &str| -> Vec<u64> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
        if let Some(v) = term.strip_prefix('^') {
            let p = parts(v);
            let upper = match p.as_slice() {
                [0, minor, ..] => format!("0.{}", minor + 1),
                [major, ..] => format!("{}", major + 1),
                [] => continue,
            };
            out.push(format!(">={v},<{upper}"));
        } else if let Some(v) = term.strip_prefix('~').filter(|v| !v.starts_with('=')) {
            let p = parts(v);
            let upper = match p.as_slice() {
                [major] => format!("{}", major + 1),
                [major, minor, ..] => format!("{major}.{}", minor + 1),
                [] => continue,
            };
            out.push(format!(">={v},<{upper}"));
        } else if term == "*" {
            continue;
        } else if term.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(format!("=={term}"));
        } else {
            out.push(term.to_string());
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_poetrys() {
        // The pyproject and the content-hash `poetry lock` (Poetry 2.5.1) wrote for it.
        let pyproject: toml::Table = "[project]\nname = \"poapp\"\nversion = \"0.1.0\"\n\
            requires-python = \">=3.9\"\ndependencies = [\"flask>=2.2\"]\n\n[tool.poetry]\n\
            package-mode = false\n\n[tool.poetry.group.dev.dependencies]\npytest-timeout = \"*\"\n"
            .parse()
            .unwrap();
        assert_eq!(
            content_hash(&pyproject, true),
            "92a1730b263641fc7924e94530da63636a2d403a58beb97922b9e65b31023118"
        );
    }

    #[test]
    fn poetry_constraints_as_pep440() {
        assert_eq!(poetry_constraint("^3.9"), ">=3.9,<4");
        assert_eq!(poetry_constraint("~3.9"), ">=3.9,<3.10");
        assert_eq!(poetry_constraint(">=3.9,<4.0"), ">=3.9,<4.0");
        assert_eq!(poetry_constraint("3.11.*"), "==3.11.*");
        assert_eq!(poetry_constraint("*"), "");
    }
}
