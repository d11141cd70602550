//! The packages of a Poetry 1.x `poetry.lock` (lock-version 1.x/2.0) to
//! install: those locks name no groups and no markers per package, so —
//! as Poetry 1.x itself does when it installs from its lock — warp walks the
//! dependency graph from pyproject's `[tool.poetry.dependencies]` (plus the
//! groups asked for: `[tool.poetry.group.NAME.dependencies]`, the legacy
//! `dev-dependencies` as group `dev`; plus the `[tool.poetry.extras]` asked
//! for) through each package's `[package.dependencies]`, following an edge
//! when its `markers` and `python` constraint hold for the build's
//! interpreter and, for an optional one, when an extra asked for names it.
//! A lock-version 1.x package's `category` is not used: the walk decides.
use crate::build::lock::poetry::poetry_constraint;
use crate::build::lock::{normalize, tool_table, Reader};
use anyhow::Result;
use pep440_rs::{Version, VersionSpecifiers};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// What the walk needs of a locked package.
pub struct Node<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub dependencies: &'a toml::Table,
    pub extras: &'a BTreeMap<String, Vec<String>>,
}

/// One constraint of a dependency (a dependency may list several, each for
/// its markers).
struct Spec {
    version: Option<String>,
    markers: Option<String>,
    python: Option<String>,
    extras: Vec<String>,
    optional: bool,
}

fn specs(value: &toml::Value) -> Vec<Spec> {
    let text = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
    match value {
        toml::Value::String(v) => vec![Spec {
            version: Some(v.clone()),
            markers: None,
            python: None,
            extras: Vec::new(),
            optional: false,
        }],
        toml::Value::Table(t) => vec![Spec {
            version: text(t, "version"),
            markers: text(t, "markers"),
            python: text(t, "python"),
            extras: t
                .get("extras")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|e| e.as_str()).map(normalize).collect())
                .unwrap_or_default(),
            optional: t.get("optional").and_then(|o| o.as_bool()).unwrap_or(false),
        }],
        toml::Value::Array(list) => list.iter().flat_map(specs).collect(),
        _ => Vec::new(),
    }
}

/// The name an extra's requirement names (`Babel (>=2.7)`, `a[b]>=1`).
fn requirement_name(text: &str) -> String {
    let end = text
        .find([' ', '[', '(', '<', '>', '=', '!', '~', ';'])
        .unwrap_or(text.len());
    normalize(&text[..end])
}

/// Whether a Poetry version constraint holds for `version` (unreadable: yes).
fn constraint_holds(constraint: &str, version: &str) -> bool {
    let specifiers = poetry_constraint(constraint);
    if specifiers.is_empty() {
        return true;
    }
    match (
        VersionSpecifiers::from_str(&specifiers),
        Version::from_str(version),
    ) {
        (Ok(s), Ok(v)) => s.contains(&v),
        _ => true,
    }
}

/// The indexes (into `nodes`) of the packages to install.
pub fn walk(nodes: &[Node], pyproject: &toml::Table, r: &Reader) -> Result<BTreeSet<usize>> {
    let poetry = tool_table(pyproject, "poetry");
    let table = |v: Option<&toml::Value>| v.and_then(|v| v.as_table()).cloned().unwrap_or_default();
    let mut roots = table(poetry.get("dependencies"));
    roots.remove("python");
    let groups = table(poetry.get("group"));
    for group in &r.selection.groups {
        let found = groups.iter().find(|(g, _)| normalize(g) == *group);
        let deps = match found {
            Some((_, g)) => table(g.get("dependencies")),
            None if group == "dev" && poetry.contains_key("dev-dependencies") => {
                table(poetry.get("dev-dependencies"))
            }
            None => {
                return Err(r.error(
                    format!("the project has no dependency group {group:?}"),
                    "name a group of [tool.poetry.group] in groups: / WARP_GROUPS",
                ))
            }
        };
        roots.extend(deps);
    }
    // The project's extras name some of its optional dependencies.
    let extras = table(poetry.get("extras"));
    let mut wanted_optional: BTreeSet<String> = BTreeSet::new();
    for extra in &r.selection.extras {
        let Some((_, names)) = extras.iter().find(|(e, _)| normalize(e) == *extra) else {
            return Err(r.error(
                format!("the project has no extra {extra:?}"),
                "name an extra of [tool.poetry.extras] in extras: / WARP_EXTRAS",
            ));
        };
        for name in names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
        {
            wanted_optional.insert(requirement_name(name));
        }
    }

    let mut taken: BTreeSet<usize> = BTreeSet::new();
    let mut seen: BTreeSet<(usize, Vec<String>)> = BTreeSet::new();
    // (dependency name, its specs, requested by the project itself?, the
    // extras of the package that depends on it).
    let mut queue: Vec<(String, toml::Value, bool, Vec<String>)> = roots
        .into_iter()
        .map(|(name, spec)| (name, spec, true, Vec::new()))
        .collect();
    while let Some((name, value, from_root, parent_extras)) = queue.pop() {
        let key = normalize(&name);
        for spec in specs(&value) {
            if spec.optional {
                let wanted = if from_root {
                    wanted_optional.contains(&key)
                } else {
                    parent_extras.contains(&key)
                };
                if !wanted {
                    continue;
                }
            }
            if !r.holds(&name, spec.markers.as_deref())? {
                continue;
            }
            if let Some(python) = &spec.python {
                let ok = VersionSpecifiers::from_str(&poetry_constraint(python))
                    .map(|s| s.contains(&r.target.version))
                    .unwrap_or(true);
                if !ok {
                    continue;
                }
            }
            let candidates: Vec<usize> = (0..nodes.len())
                .filter(|i| normalize(nodes[*i].name) == key)
                .collect();
            let at = match candidates.as_slice() {
                [] => return Err(r.invalid(format!("{name} is a dependency, and not in the lock"))),
                [one] => *one,
                several => *several
                    .iter()
                    .find(|i| {
                        spec.version
                            .as_deref()
                            .is_none_or(|c| constraint_holds(c, nodes[**i].version))
                    })
                    .unwrap_or(&several[0]),
            };
            taken.insert(at);
            let mut extras = spec.extras.clone();
            extras.sort();
            if !seen.insert((at, extras.clone())) {
                continue;
            }
            // The dependencies an asked-for extra of this package names.
            let optional: Vec<String> = extras
                .iter()
                .filter_map(|e| nodes[at].extras.iter().find(|(n, _)| normalize(n) == *e))
                .flat_map(|(_, reqs)| reqs.iter().map(|q| requirement_name(q)))
                .collect();
            for (dep, value) in nodes[at].dependencies {
                queue.push((dep.clone(), value.clone(), false, optional.clone()));
            }
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_constraints() {
        assert_eq!(requirement_name("Babel (>=2.7)"), "babel");
        assert_eq!(requirement_name("jaraco.test (>=5.4)"), "jaraco-test");
        assert!(constraint_holds("^8.1", "8.1.7"));
        assert!(!constraint_holds("<8.1", "8.1.7"));
        assert!(constraint_holds("*", "1"));
    }
}
