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
//! any, chosen per package as PDM does (`include_packages`,
//! `exclude_packages`) ([`super::index`]; `${VAR}` in their URLs from the
//! environment).
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
    let sources = sources(&pyproject);
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
                index: sources.for_package(name),
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

/// The indexes of `[[tool.pdm.source]]` (type `index`), PyPI first unless
/// a source named `pypi` replaces it, each with the packages it alone
/// serves (`include_packages`) and those it never serves (`exclude_packages`).
struct Sources(Vec<(Named, Vec<String>, Vec<String>)>);

impl Sources {
    /// The indexes a package is searched on, as PDM chooses them
    /// (`get_filtered_sources`): the sources whose `include_packages` match
    /// its name, if any; else every source whose `exclude_packages` does not
    /// (patterns as `fnmatch`'s, on the PEP 503 name). None: PyPI alone.
    fn for_package(&self, name: &str) -> Option<Index> {
        let key = normalize(name);
        let matches = |patterns: &[String]| patterns.iter().any(|p| fnmatch(p, &key));
        let included: Vec<&Named> = self
            .0
            .iter()
            .filter(|(_, include, _)| matches(include))
            .map(|(n, _, _)| n)
            .collect();
        let chosen = if included.is_empty() {
            self.0
                .iter()
                .filter(|(_, _, exclude)| !matches(exclude))
                .map(|(n, _, _)| n)
                .collect()
        } else {
            included
        };
        if chosen.iter().all(|n| is_pypi(&n.url)) {
            return None;
        }
        Some(Index {
            sources: chosen.into_iter().cloned().collect(),
            poetry: false,
        })
    }
}

fn sources(pyproject: &toml::Table) -> Sources {
    let pdm = tool_table(pyproject, "pdm");
    let list = pdm.get("source").and_then(|s| s.as_array());
    let strings = |source: &toml::Value, key: &str| -> Vec<String> {
        source
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut named: Vec<(Named, Vec<String>, Vec<String>)> = Vec::new();
    for source in list.into_iter().flatten() {
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
            let source_name = Named {
                url: url.to_string(),
                name: Some(name.to_string()),
            };
            named.push((
                source_name,
                strings(source, "include_packages"),
                strings(source, "exclude_packages"),
            ));
        }
    }
    match named
        .iter()
        .position(|(n, _, _)| n.name.as_deref() == Some("pypi"))
    {
        Some(at) => {
            let pypi = named.remove(at);
            named.insert(0, pypi);
        }
        None => named.insert(
            0,
            (
                Named {
                    url: "https://pypi.org/simple".into(),
                    name: Some("pypi".into()),
                },
                Vec::new(),
                Vec::new(),
            ),
        ),
    }
    Sources(named)
}

/// Python's `fnmatch.fnmatchcase` (`*`, `?`, `[seq]`, `[!seq]`), which PDM
/// matches package names with: the `glob` crate's patterns are the same,
/// but refuse an unclosed `[`, which fnmatch takes as itself (and a name
/// holds no `[`, so such a pattern only matches itself).
fn fnmatch(pattern: &str, text: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(p) => p.matches(text),
        Err(_) => pattern == text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_is_pythons() {
        for (pattern, text, expected) in [
            ("foo", "foo", true),
            ("foo-*", "foo-bar", true),
            ("foo-*", "foo", false),
            ("*", "", true),
            ("f?o", "fxo", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("[x", "[x", true),
            ("[!]", "[!]", true),
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("a*b*c", "aXbYbc", true),
            ("a*b*c", "aXbYb", false),
        ] {
            assert_eq!(fnmatch(pattern, text), expected, "{pattern} {text}");
        }
    }

    #[test]
    fn each_package_from_the_sources_pdm_would_search() {
        let pyproject: toml::Table = "[[tool.pdm.source]]\nname = \"corp\"\n\
            url = \"https://corp/simple\"\ninclude_packages = [\"corp-*\"]\n\
            exclude_packages = [\"requests\"]\n"
            .parse()
            .unwrap();
        let sources = sources(&pyproject);
        let urls = |name: &str| {
            sources
                .for_package(name)
                .map(|i| i.sources.into_iter().map(|s| s.url).collect::<Vec<_>>())
        };
        assert_eq!(urls("corp_lib").unwrap(), ["https://corp/simple"]);
        assert_eq!(urls("requests"), None, "PyPI alone");
        assert_eq!(
            urls("flask").unwrap(),
            ["https://pypi.org/simple", "https://corp/simple"]
        );
    }

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
