//! Whether a `uv.lock` still matches its project, by uv's own rule: a
//! project's (or workspace member's) `[package.metadata] requires-dist` /
//! `requires-dev` (what uv locked from) must equal its pyproject's
//! `[project]` dependencies, optional dependencies and `[dependency-groups]`,
//! compared as parsed PEP 508 requirements (markers by meaning, as
//! `pep508_rs` normalises them); and the lock's `requires-python` must be
//! the project's (for a single project: a workspace's is the intersection of
//! its members').
use crate::build::lock::normalize;
use crate::build::lock::uv::Metadata;
use pep508_rs::{MarkerTree, Requirement};
use std::collections::BTreeSet;
use std::str::FromStr;

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

fn lock_canon(m: &crate::build::lock::uv::MetaReq) -> Option<Canon> {
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

/// Why the project of `pyproject` (`file`, named in the reason) no longer
/// matches what the lock recorded for it, if it does not. `lock_python`: the
/// lock's requires-python, compared when given.
pub(super) fn why(
    file: &str,
    pyproject: &toml::Table,
    metadata: Option<&Metadata>,
    lock_python: Option<Option<&str>>,
) -> Option<String> {
    let Some(project) = pyproject.get("project").and_then(|p| p.as_table()) else {
        return Some(format!("{file} has no [project] table"));
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
    if let Some(why) = differ(file, "dependencies", wanted, locked) {
        return Some(why);
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
        if let Some(why) = differ(file, &format!("dependency group {group}"), wanted, locked) {
            return Some(why);
        }
    }

    let lock_python = lock_python?;
    let wanted_python = project.get("requires-python").and_then(|v| v.as_str());
    let same_python = match (wanted_python, lock_python) {
        (None, _) => true,
        (Some(a), Some(b)) => specifiers(a) == specifiers(b),
        (Some(_), None) => false,
    };
    (!same_python).then(|| {
        format!(
            "{file}'s requires-python is {:?}, the lock's {:?}",
            wanted_python.unwrap_or_default(),
            lock_python.unwrap_or_default()
        )
    })
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
    file: &str,
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
            "{file}'s {what} have {}, which the lock was not made from",
            show(added)
        ));
    }
    let gone = locked.iter().find(|l| !wanted.contains(l)).unwrap_or(&None);
    Some(format!(
        "the lock was made from {} in {what}, which {file} no longer has",
        show(gone)
    ))
}
