//! The index a lock's registry packages are downloaded from, and the
//! credentials for it — never written anywhere.
//!
//! Each reader records, per registry package, the index the lock took it
//! from ([`Index`]; `None` for PyPI). The install then runs once per index
//! ([`batches`]):
//! - packages locked from PyPI come from the index of the build's
//!   environment (`PIP_INDEX_URL`, `UV_INDEX_URL`/`UV_DEFAULT_INDEX`, or
//!   pypi.org): a mirror configured there replaces PyPI, as for any build;
//! - packages locked from another index come from that index alone (the
//!   environment's indexes are not asked for them), with the credentials the
//!   environment holds for it: `UV_INDEX_<NAME>_USERNAME`/`_PASSWORD` (uv's
//!   names; `POETRY_HTTP_BASIC_<NAME>_*` for Poetry's sources), an
//!   environment index variable holding the same URL with `user:password@`,
//!   `${VAR}` in a Pipfile/PDM source URL, or netrc (read by pip and uv);
//! - with `WARP_PIP_NO_INDEX` everything comes from the wheelhouse.
//!
//! Hashes are verified whatever the index. The URL with its credentials is
//! handed to pip/uv in their environment only (`PIP_INDEX_URL` /
//! `UV_DEFAULT_INDEX`), never on a command line, in the requirements file,
//! the venv, the record or a message: what warp prints is [`redact`]ed.
use crate::app::vars::AppVars;
use crate::build::lock::{Locked, Pinned, Source};
use crate::error::fail;
use anyhow::Result;

/// An index a lock names for some of its packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The index URL(s) as locked (the first the default, the others searched
    /// too: PDM's several sources); without credentials.
    pub sources: Vec<Named>,
    /// Credentials come from `POETRY_HTTP_BASIC_<NAME>_*` too.
    pub poetry: bool,
}

/// One index URL and its name in the project (uv's `[[tool.uv.index]]
/// name`, Poetry's source `reference`, a Pipfile or PDM source `name`), which
/// names its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub url: String,
    pub name: Option<String>,
}

/// Whether `url` is PyPI's simple index (the default of every tool).
pub fn is_pypi(url: &str) -> bool {
    let bare = url.trim_end_matches('/');
    let bare = bare
        .strip_prefix("https://")
        .or_else(|| bare.strip_prefix("http://"))
        .unwrap_or(bare);
    matches!(
        bare,
        "pypi.org/simple" | "pypi.python.org/simple" | "pypi.org/pypi" | "pypi.python.org/pypi"
    )
}

impl Index {
    /// The index of a package locked from `url` (None: PyPI).
    pub fn of(url: &str, name: Option<&str>) -> Option<Index> {
        (!is_pypi(url)).then(|| Index {
            sources: vec![Named {
                url: url.to_string(),
                name: name.map(String::from),
            }],
            poetry: false,
        })
    }

    /// The index as shown in messages (credentials removed).
    pub fn shown(&self) -> String {
        self.sources
            .iter()
            .map(|s| redact(&s.url))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the URLs are ones warp hands to an installer: http(s) or
    /// file, no white space (a lock is input).
    pub fn valid(&self) -> Result<(), String> {
        for url in self.sources.iter().map(|s| &s.url) {
            let scheme_ok = ["http://", "https://", "file://"]
                .iter()
                .any(|s| url.starts_with(s));
            if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("the index URL {:?}", redact(url)));
            }
        }
        Ok(())
    }
}

/// One install: the packages locked from one index (None: the environment's).
pub struct Batch<'a> {
    pub index: Option<Use>,
    pub packages: Vec<&'a Pinned>,
}

/// An index as the installer is given it: with credentials (secret) and as shown.
pub struct Use {
    urls: Vec<String>,
    pub shown: String,
}

impl Use {
    /// The environment of a `pip install` / `uv pip install` that takes
    /// packages from this index alone: (set, removed) variables.
    pub fn env(&self, uv: bool) -> (Vec<(String, String)>, Vec<&'static str>) {
        let first = self.urls[0].clone();
        let extra = self.urls[1..].join(" ");
        if uv {
            let mut set = vec![("UV_DEFAULT_INDEX".to_string(), first)];
            let mut removed = vec!["UV_INDEX_URL", "UV_EXTRA_INDEX_URL"];
            if extra.is_empty() {
                removed.push("UV_INDEX");
            } else {
                set.push(("UV_INDEX".into(), extra));
                // Several sources searched alike, as PDM does; hashes decide.
                set.push(("UV_INDEX_STRATEGY".into(), "unsafe-best-match".into()));
            }
            (set, removed)
        } else {
            let mut set = vec![("PIP_INDEX_URL".to_string(), first)];
            let mut removed = Vec::new();
            if extra.is_empty() {
                removed.push("PIP_EXTRA_INDEX_URL");
            } else {
                set.push(("PIP_EXTRA_INDEX_URL".into(), extra));
            }
            (set, removed)
        }
    }
}

/// The installs of `locked`: the packages from PyPI (the environment's
/// index) first, then one per other index, in the lock's order. Offline
/// (WARP_PIP_NO_INDEX) it is one install from the wheelhouse.
pub fn batches<'a>(locked: &'a Locked, vars: &AppVars, offline: bool) -> Result<Vec<Batch<'a>>> {
    let mut out: Vec<(Option<&Index>, Vec<&Pinned>)> = vec![(None, Vec::new())];
    for p in &locked.packages {
        let index = match &p.source {
            Source::Registry { index, .. } if !offline => index.as_ref(),
            _ => None,
        };
        match out.iter_mut().find(|(i, _)| *i == index) {
            Some((_, list)) => list.push(p),
            None => out.push((index, vec![p])),
        }
    }
    out.into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(index, packages)| {
            let index = index.map(|i| with_credentials(i, vars)).transpose()?;
            Ok(Batch { index, packages })
        })
        .collect()
}

/// The index's URLs with the credentials the environment holds for them.
fn with_credentials(index: &Index, vars: &AppVars) -> Result<Use> {
    let mut urls = Vec::new();
    for source in &index.sources {
        let url = expand(&source.url, vars)?;
        if is_pypi(&url) {
            // A mirror of PyPI configured for the build replaces it.
            if let Some(mirror) = ["PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL"]
                .iter()
                .find_map(|k| vars.get(k))
            {
                urls.push(mirror);
                continue;
            }
        }
        let named = source.name.as_deref().and_then(|name| {
            let key = env_name(name);
            let pair = |prefix: &str| {
                let user = vars.get(&format!("{prefix}{key}_USERNAME"));
                let password = vars.get(&format!("{prefix}{key}_PASSWORD"));
                (user.is_some() || password.is_some())
                    .then(|| (user.unwrap_or_default(), password.unwrap_or_default()))
            };
            pair("UV_INDEX_").or_else(|| index.poetry.then(|| pair("POETRY_HTTP_BASIC_")).flatten())
        });
        let url = match named {
            Some((user, password)) => with_userinfo(&url, &user, &password),
            None => from_environment(&url, vars).unwrap_or(url),
        };
        urls.push(url);
    }
    Ok(Use {
        shown: index.shown(),
        urls,
    })
}

/// The environment variables that name an index for pip or uv.
pub const INDEX_VARS: [&str; 6] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
];

/// An index variable of the environment naming the same URL with
/// credentials: that URL (PIP_INDEX_URL=https://u:p@host/simple gives its
/// credentials to a lock that names https://host/simple).
fn from_environment(url: &str, vars: &AppVars) -> Option<String> {
    let same = |candidate: &str| {
        let candidate = candidate
            .split_once('=')
            .filter(|(name, _)| !name.contains(':'))
            .map_or(candidate, |(_, u)| u);
        (redact(candidate) != candidate
            && strip_userinfo(candidate).trim_end_matches('/') == url.trim_end_matches('/'))
        .then(|| candidate.to_string())
    };
    INDEX_VARS
        .iter()
        .filter_map(|k| vars.get(k))
        .flat_map(|v| {
            v.split_whitespace()
                .map(String::from)
                .collect::<Vec<String>>()
        })
        .find_map(|c| same(&c))
}

/// uv's variable part of an index name: `private-one` → `PRIVATE_ONE`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `${VAR}` in a source URL (Pipfile, PDM) from the environment; an unset
/// one is an error naming the variable (not its value).
fn expand(url: &str, vars: &AppVars) -> Result<String> {
    let mut out = String::new();
    let mut rest = url;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find('}') else {
            break;
        };
        let name = &rest[at + 2..at + end];
        let value = vars.get(name).ok_or_else(|| {
            fail(
                format!(
                    "the lock's index {} needs ${{{name}}}, which is not set",
                    redact(url)
                ),
                format!("set {name} in the build's environment (it is never written into the venv or the record)"),
            )
        })?;
        out.push_str(&value);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The authority part of a URL: (scheme and `//`, userinfo, rest).
fn split(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |e| start + e);
    let authority = &url[start..end];
    match authority.rfind('@') {
        Some(at) => Some((
            &url[..start],
            Some(&authority[..at]),
            &url[start + at + 1..],
        )),
        None => Some((&url[..start], None, &url[start..])),
    }
}

fn strip_userinfo(url: &str) -> String {
    match split(url) {
        Some((scheme, Some(_), rest)) => format!("{scheme}{rest}"),
        _ => url.to_string(),
    }
}

/// A URL as it may be printed: `user:password@` replaced by `***@`.
pub fn redact(url: &str) -> String {
    match split(url) {
        Some((scheme, Some(_), rest)) => format!("{scheme}***@{rest}"),
        _ => url.to_string(),
    }
}

/// `url` with `user:password@` (percent-encoded), replacing any it had.
fn with_userinfo(url: &str, user: &str, password: &str) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    match split(url) {
        Some((scheme, _, rest)) if password.is_empty() => {
            format!("{scheme}{}@{rest}", encode(user))
        }
        Some((scheme, _, rest)) => format!("{scheme}{}:{}@{rest}", encode(user), encode(password)),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_added() {
        assert_eq!(
            redact("https://u:p@host:8/simple/"),
            "https://***@host:8/simple/"
        );
        assert_eq!(redact("https://host/simple"), "https://host/simple");
        assert_eq!(
            with_userinfo("http://old@h/s", "me", "p@ss:/"),
            "http://me:p%40ss%3A%2F@h/s"
        );
        assert_eq!(env_name("private-one.x"), "PRIVATE_ONE_X");
        assert!(is_pypi("https://pypi.org/simple/"));
        assert!(Index::of("https://pypi.org/simple", None).is_none());
    }

    #[test]
    fn named_and_environment_credentials() {
        let mut vars = AppVars::default();
        let index = Index::of("http://127.0.0.1:1/simple", Some("private-one")).unwrap();
        assert_eq!(
            with_credentials(&index, &vars).unwrap().urls,
            ["http://127.0.0.1:1/simple"]
        );
        vars.set("PIP_EXTRA_INDEX_URL", "http://a:b@127.0.0.1:1/simple/");
        assert_eq!(
            with_credentials(&index, &vars).unwrap().urls,
            ["http://a:b@127.0.0.1:1/simple/"]
        );
        vars.set("UV_INDEX_PRIVATE_ONE_USERNAME", "user");
        vars.set("UV_INDEX_PRIVATE_ONE_PASSWORD", "pw");
        let used = with_credentials(&index, &vars).unwrap();
        assert_eq!(used.urls, ["http://user:pw@127.0.0.1:1/simple"]);
        assert_eq!(used.shown, "http://127.0.0.1:1/simple");
        let templated = Index::of("https://${IDX_USER}:${IDX_PW}@h/simple", None).unwrap();
        let e = with_credentials(&templated, &vars)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("needs ${IDX_USER}") && e.contains("https://***@h/simple"),
            "{e}"
        );
        vars.set("IDX_USER", "u");
        vars.set("IDX_PW", "secret");
        assert_eq!(
            with_credentials(&templated, &vars).unwrap().urls,
            ["https://u:secret@h/simple"]
        );
    }
}
