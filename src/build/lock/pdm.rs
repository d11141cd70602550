//! `pdm.lock` (lock_version 4.x with the default `inherit_metadata`
//! strategy): every package names its groups (`default` is production) and
//! the marker under which it is needed; warp installs those of `default`
//! (plus the groups and extras asked for: PDM locks an extra as a group of
//! its name) whose markers hold. The project is installed
//! when `[tool.pdm] distribution` is true (or unset with a `[build-system]`).
//!
//! The lock holds for the build's interpreter when one of its
//! `[[metadata.targets]]` does (Python range, implementation, platform).
//! Packages come from pyproject's `[[tool.pdm.source]]` indexes when it has
//! any ([`super::index`]; `${VAR}` in their URLs from the environment).
//!
//! Stale: `content_hash` is PDM's sha256 of the relevant parts of
//! pyproject.toml as Python's `json.dumps(…, sort_keys=True)`
//! ([`content_hash`], as `pdm.project.project_file.PyProject.content_hash`).
use crate::build::lock::index::{is_pypi, Index, Named};
use crate::build::lock::{
    may_install_project, normalize, pyjson, tool_table, Kind, Locked, Pinned, Reader, Source,
};
use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct PdmLock {
    metadata: Metadata,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    strategy: Vec<String>,
    lock_version: String,
    content_hash: Option<String>,
    #[serde(default)]
    targets: Vec<Target>,
}

/// One environment the lock was made for (`pdm lock --python/--platform/
/// --implementation`; several with `--append`).
#[derive(Deserialize)]
struct Target {
    requires_python: Option<String>,
    platform: Option<String>,
    implementation: Option<String>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    marker: Option<String>,
    #[serde(default)]
    files: Vec<FileHash>,
    path: Option<String>,
    url: Option<String>,
    git: Option<String>,
}

#[derive(Deserialize)]
struct FileHash {
    hash: String,
}

/// PDM's content hash of a pyproject.toml (hex, without the `sha256:`).
pub fn content_hash(pyproject: &toml::Table) -> String {
    let get = |v: Option<&toml::Value>| v.map(pyjson::from_toml);
    let project = pyproject.get("project");
    let pdm = pyproject.get("tool").and_then(|t| t.get("pdm"));
    let mut dev = serde_json::Map::new();
    let groups = pyproject
        .get("dependency-groups")
        .and_then(|g| g.as_table());
    let legacy = pdm
        .and_then(|p| p.get("dev-dependencies"))
        .and_then(|g| g.as_table());
    for (name, deps) in groups
        .into_iter()
        .flatten()
        .chain(legacy.into_iter().flatten())
    {
        let entry = dev
            .entry(normalize(name))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let (Value::Array(list), Value::Array(more)) = (entry, pyjson::from_toml(deps)) {
            list.extend(more);
        }
    }
    let mut dump = serde_json::Map::new();
    dump.insert(
        "sources".into(),
        get(pdm.and_then(|p| p.get("source"))).unwrap_or(Value::Array(Vec::new())),
    );
    dump.insert(
        "dependencies".into(),
        get(project.and_then(|p| p.get("dependencies"))).unwrap_or(Value::Array(Vec::new())),
    );
    dump.insert("dev-dependencies".into(), Value::Object(dev));
    dump.insert(
        "optional-dependencies".into(),
        get(project.and_then(|p| p.get("optional-dependencies")))
            .unwrap_or(Value::Object(Default::default())),
    );
    dump.insert(
        "requires-python".into(),
        get(project.and_then(|p| p.get("requires-python"))).unwrap_or(Value::String(String::new())),
    );
    dump.insert(
        "resolution".into(),
        get(pdm.and_then(|p| p.get("resolution"))).unwrap_or(Value::Object(Default::default())),
    );
    hex::encode(Sha256::digest(
        pyjson::dumps_sorted(&Value::Object(dump)).as_bytes(),
    ))
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: PdmLock = toml::from_str(text).map_err(|e| r.invalid(e.message()))?;
    if !lock.metadata.lock_version.starts_with("4.") {
        return Err(r.error(
            format!(
                "lock_version {} is not one warp reads (4.x)",
                lock.metadata.lock_version
            ),
            "run `pdm lock` with PDM 2.11 or newer and commit pdm.lock",
        ));
    }
    if !lock
        .metadata
        .strategy
        .iter()
        .any(|s| s == "inherit_metadata")
    {
        return Err(r.error(
            "the lock was made without the inherit_metadata strategy (no groups and markers per package)",
            "run `pdm lock --strategy inherit_metadata` and commit pdm.lock",
        ));
    }
    let pyproject = r.pyproject()?;
    if let Some(hash) = &lock.metadata.content_hash {
        let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
        if hex != content_hash(&pyproject) {
            return Err(r.stale("its content_hash is not that of pyproject.toml"));
        }
    }
    check_targets(&lock.metadata.targets, r)?;
    for group in r.selection.groups.iter().chain(&r.selection.extras) {
        if !lock.metadata.groups.iter().any(|g| normalize(g) == *group) {
            return Err(r.error(
                format!("the lock has no group {group:?}"),
                "name a locked group in groups: / WARP_GROUPS (pdm lock -G GROUP locks it)",
            ));
        }
    }
    let index = sources(&pyproject);
    // PDM locks the project's extras as groups of the same name.
    let wanted = |g: &str| g == "default" || r.selection.has_group(g) || r.selection.has_extra(g);
    let mut packages: Vec<Pinned> = Vec::new();
    for p in &lock.package {
        // `name[extra]` entries repeat a package for its extras' dependencies.
        let name = p.name.split('[').next().unwrap_or(&p.name);
        if !p.groups.iter().any(|g| wanted(g)) || !r.holds(name, p.marker.as_deref())? {
            continue;
        }
        if packages
            .iter()
            .any(|q| normalize(&q.name) == normalize(name))
        {
            continue;
        }
        if p.git.is_some() {
            return Err(r.unsupported(name, "a git repository"));
        }
        if p.path.is_some() || p.url.is_some() {
            return Err(r.unsupported(name, "a local path or direct URL"));
        }
        let version = p.version.clone().unwrap_or_default();
        let hashes: Vec<String> = p.files.iter().map(|f| f.hash.clone()).collect();
        if hashes.is_empty() {
            return Err(r.error(
                format!("{name} {version} has no file hashes in the lock"),
                "run `pdm lock` and commit pdm.lock",
            ));
        }
        packages.push(r.pin(
            name,
            &version,
            Source::Registry {
                hashes,
                index: index.clone(),
            },
        )?);
    }
    Ok(Locked {
        packages,
        local: Vec::new(),
        install_project: may_install_project(Kind::Pdm, r.home),
    })
}

/// The lock must hold one of its targets for the build's interpreter: its
/// Python range, its implementation (`cpython`) and its platform
/// (`linux_x86_64`, `manylinux_2_17_x86_64`, `macos_arm64`, `windows_amd64`…:
/// the operating system and machine are compared).
fn check_targets(targets: &[Target], r: &Reader) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let env = &r.target.env;
    let mut python_error = None;
    for target in targets {
        if let Err(e) = r.check_python(target.requires_python.as_deref()) {
            python_error.get_or_insert(e);
            continue;
        }
        let implementation_ok = target
            .implementation
            .as_deref()
            .is_none_or(|i| i.eq_ignore_ascii_case(env.implementation_name()));
        let platform_ok = target.platform.as_deref().is_none_or(|p| {
            let os = match env.sys_platform() {
                "linux" => ["linux", "manylinux", "musllinux"].as_slice(),
                "darwin" => ["macos"].as_slice(),
                "win32" => ["windows"].as_slice(),
                _ => [].as_slice(),
            };
            let machine = env.platform_machine().to_ascii_lowercase();
            let machine_ok = p.ends_with(&machine)
                || (machine == "x86_64" && p.ends_with("amd64"))
                || (machine == "aarch64" && p.ends_with("arm64"));
            os.iter().any(|o| p.starts_with(o)) && machine_ok
        });
        if implementation_ok && platform_ok {
            return Ok(());
        }
    }
    if let (Some(e), 1) = (python_error.take(), targets.len()) {
        return Err(e);
    }
    let shown: Vec<String> = targets
        .iter()
        .map(|t| {
            [&t.requires_python, &t.implementation, &t.platform]
                .iter()
                .filter_map(|v| v.as_deref())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Err(r.error(
        format!(
            "the lock is for {}, and the build's interpreter is {} {} on {} {}",
            shown.join("; "),
            env.implementation_name(),
            r.target.version,
            env.sys_platform(),
            env.platform_machine()
        ),
        "build with an interpreter the lock targets (--python), or `pdm lock --append` a target for this one",
    ))
}

/// The indexes of `[[tool.pdm.source]]` (type `index`): PyPI first unless a
/// source named `pypi` replaces it, then the others, all searched as PDM
/// does (the lock records no index per package). None: PyPI alone.
fn sources(pyproject: &toml::Table) -> Option<Index> {
    let pdm = tool_table(pyproject, "pdm");
    let list = pdm.get("source").and_then(|s| s.as_array())?;
    let mut named: Vec<Named> = Vec::new();
    for source in list {
        let kind = source
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("index");
        let (Some(name), Some(url)) = (
            source.get("name").and_then(|n| n.as_str()),
            source.get("url").and_then(|u| u.as_str()),
        ) else {
            continue;
        };
        if kind == "index" {
            named.push(Named {
                url: url.to_string(),
                name: Some(name.to_string()),
            });
        }
    }
    if !named.iter().any(|n| n.name.as_deref() == Some("pypi")) {
        named.insert(
            0,
            Named {
                url: "https://pypi.org/simple".into(),
                name: Some("pypi".into()),
            },
        );
    } else if let Some(at) = named.iter().position(|n| n.name.as_deref() == Some("pypi")) {
        let pypi = named.remove(at);
        named.insert(0, pypi);
    }
    if named.iter().all(|n| is_pypi(&n.url)) {
        return None;
    }
    Some(Index {
        sources: named,
        poetry: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_pdms() {
        // The pyproject and the content_hash `pdm lock` (PDM 2.29.4) wrote for it.
        let pyproject: toml::Table = "[project]\nname = \"pdapp\"\nversion = \"0.1.0\"\n\
            requires-python = \">=3.9\"\ndependencies = [\"flask>=2.2\"]\n\n\
            [dependency-groups]\ndev = [\"pytest-timeout\"]\n\n[tool.pdm]\ndistribution = false\n"
            .parse()
            .unwrap();
        assert_eq!(
            content_hash(&pyproject),
            "3e67c036b7c839d281cdd057f085a621776de189a0359db5a9029ad772655358"
        );
    }
}
