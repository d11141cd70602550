//! `Pipfile.lock` (pipenv): JSON with a `default` section (production) and a
//! `develop` section (installed only when the `dev` group is asked for), each
//! package pinned `==version` with its hashes and an optional marker. Read by
//! warp itself: neither pipenv nor micropipenv is installed. A lock made for
//! another Python (`_meta.requires.python_version`) is refused, and so is a
//! stale one: `_meta.hash.sha256` is pipenv's sha256 of the Pipfile's
//! sections as compact sorted JSON ([`pipfile_hash`], as
//! `pipenv.utils.pipfile.Pipfile.calculate_hash`; package names PEP 503
//! normalised, or as written for pipenv before that). A package is
//! installed from the source it names (`index`), else the first of
//! `_meta.sources` ([`super::index`]; `${VAR}` in its URL from the environment).
use crate::build::lock::index::Index;
use crate::build::lock::{normalize, pyjson, Locked, Reader, Source};
use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
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
    #[serde(default)]
    sources: Vec<PipSource>,
    #[serde(default)]
    hash: BTreeMap<String, String>,
}

/// A `[[source]]` of the Pipfile, as the lock records it.
#[derive(Deserialize)]
struct PipSource {
    name: String,
    url: String,
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
    /// The name of the source it is locked from (else the first source).
    index: Option<String>,
    git: Option<String>,
    path: Option<String>,
    file: Option<String>,
}

/// The default source pipenv assumes when a Pipfile has none.
const DEFAULT_SOURCE: &str =
    "[[source]]\nname = \"pypi\"\nurl = \"https://pypi.org/simple\"\nverify_ssl = true\n";

/// Sections of a Pipfile that are not package categories.
const SECTIONS: [&str; 10] = [
    "source",
    "packages",
    "dev-packages",
    "requires",
    "scripts",
    "pipfile",
    "pipenv",
    "default",
    "develop",
    "pipenv",
];

/// pipenv's hash of a Pipfile's text (`normalized`: names PEP 503 normalised).
pub fn pipfile_hash(pipfile: &toml::Table, normalized: bool) -> String {
    let mut with_source = pipfile.clone();
    if !with_source.contains_key("source") {
        if let Ok(default) = DEFAULT_SOURCE.parse::<toml::Table>() {
            with_source.insert("source".into(), default["source"].clone());
        }
    }
    let section = |key: &str| -> Value {
        let Some(table) = with_source.get(key).and_then(|v| v.as_table()) else {
            return Value::Object(Default::default());
        };
        Value::Object(
            table
                .iter()
                .map(|(k, v)| {
                    let name = if normalized { normalize(k) } else { k.clone() };
                    (name, pyjson::from_toml(v))
                })
                .collect(),
        )
    };
    let mut meta = serde_json::Map::new();
    meta.insert("sources".into(), pyjson::from_toml(&with_source["source"]));
    meta.insert(
        "requires".into(),
        with_source
            .get("requires")
            .map(pyjson::from_toml)
            .unwrap_or(Value::Object(Default::default())),
    );
    let mut data = serde_json::Map::new();
    data.insert("_meta".into(), Value::Object(meta));
    data.insert("default".into(), section("packages"));
    data.insert("develop".into(), section("dev-packages"));
    for key in with_source.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            data.insert(key.clone(), section(key));
        }
    }
    hex::encode(Sha256::digest(
        pyjson::dumps_sorted_compact(&Value::Object(data)).as_bytes(),
    ))
}

pub fn read(text: &str, r: &Reader) -> Result<Locked> {
    let lock: PipfileLock = serde_json::from_str(text).map_err(|e| r.invalid(e))?;
    if let Ok(pipfile) = std::fs::read_to_string(r.home.join("Pipfile")) {
        let pipfile: toml::Table = pipfile.parse().map_err(|e: toml::de::Error| {
            r.error(
                format!("the Pipfile is not valid TOML: {}", e.message()),
                "fix the Pipfile",
            )
        })?;
        let recorded = lock.meta.hash.get("sha256").cloned().unwrap_or_default();
        if ![true, false]
            .iter()
            .any(|n| pipfile_hash(&pipfile, *n) == recorded)
        {
            return Err(r.stale("its _meta.hash is not that of the Pipfile"));
        }
    }
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
            let source = match &entry.index {
                Some(wanted) => Some(
                    lock.meta
                        .sources
                        .iter()
                        .find(|s| s.name == *wanted)
                        .ok_or_else(|| {
                            r.invalid(format!(
                                "{name} names the source {wanted:?}, which _meta.sources has not"
                            ))
                        })?,
                ),
                None => lock.meta.sources.first(),
            };
            let index = source.and_then(|s| Index::of(&s.url, Some(&s.name)));
            packages.push(r.pin(
                name,
                version,
                Source::Registry {
                    hashes: entry.hashes.clone(),
                    index,
                },
            )?);
        }
    }
    Ok(Locked {
        packages,
        local: Vec::new(),
        install_project: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipfile_hash_is_pipenvs() {
        // The Pipfile and the _meta.hash `pipenv lock` wrote for it.
        let pipfile: toml::Table =
            "[packages]\nflask = \"==2.3.3\"\n\n[dev-packages]\niniconfig = \"*\"\n"
                .parse()
                .unwrap();
        assert_eq!(
            pipfile_hash(&pipfile, true),
            "90b932d91c00392f96987ae11980fafff1272a67869d5d33f97e8ee50ee951cd"
        );
    }
}
