//! Lock files: the exact set of packages a project was locked to, read by
//! warp itself (no uv, Poetry, PDM or pipenv on the build machine) and turned
//! into a hashed requirements file that pip or uv installs with
//! `--require-hashes --no-deps` — nothing is resolved again.
//!
//! One module per lock kind ([`uv`], [`pylock`], [`poetry`], [`pdm`],
//! [`pipfile`]) reads its file, refuses a lock that no longer matches its
//! project (stale) or the build's interpreter, and selects the packages of
//! the production set (plus the groups and extras asked for) whose markers
//! hold for the build's interpreter ([`markers`]). What they return is the
//! same [`Locked`] value; [`requirements`] writes it out.
//!
//! Which lock is used: the one named by `lock:` in `.warp/config.yaml` or
//! `$WARP_LOCK` (a file name, or `none` to ignore lock files), else the first
//! present of [`KINDS`]' files: `pylock.toml`, `uv.lock`, `poetry.lock`,
//! `pdm.lock`, `Pipfile.lock`.
pub mod index;
pub mod markers;
pub mod pdm;
pub mod pipfile;
pub mod poetry;
pub mod poetry_graph;
pub mod pyjson;
pub mod pylock;
pub mod requirements;
pub mod selection;
pub mod uv;
pub mod uv_stale;

use crate::app::vars::{inside, AppVars};
use crate::error::fail;
use anyhow::Result;
use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::MarkerEnvironment;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use selection::Selection;

/// The kinds of lock file warp reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PEP 751 `pylock.toml` / `pylock.<name>.toml` (pip lock, uv export).
    Pylock,
    Uv,
    Poetry,
    Pdm,
    Pipfile,
}

/// The default file of each kind, in the order they are looked for.
pub const KINDS: [(Kind, &str); 5] = [
    (Kind::Pylock, "pylock.toml"),
    (Kind::Uv, "uv.lock"),
    (Kind::Poetry, "poetry.lock"),
    (Kind::Pdm, "pdm.lock"),
    (Kind::Pipfile, "Pipfile.lock"),
];

impl Kind {
    /// The tool that rewrites a lock of this kind (named in hints).
    pub fn relock_hint(self) -> &'static str {
        match self {
            Kind::Pylock => {
                "regenerate it (`pip lock`, or `uv export --format pylock.toml -o pylock.toml`)"
            }
            Kind::Uv => "run `uv lock` and commit uv.lock",
            Kind::Poetry => "run `poetry lock` and commit poetry.lock",
            Kind::Pdm => "run `pdm lock` and commit pdm.lock",
            Kind::Pipfile => "run `pipenv lock` and commit Pipfile.lock",
        }
    }

    /// The kind of a file chosen by name (`pylock.prod.toml` is a pylock).
    fn of_name(name: &str) -> Option<Kind> {
        if name.starts_with("pylock.") && name.ends_with(".toml") {
            return Some(Kind::Pylock);
        }
        KINDS.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }
}

/// The lock file a build installs from.
#[derive(Debug, Clone, PartialEq)]
pub struct LockFile {
    pub kind: Kind,
    pub path: PathBuf,
}

impl LockFile {
    /// The file's name, as shown in step lines and recorded in build.json.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }
}

/// The lock file of the app in `home`: the one chosen by `lock:` /
/// `$WARP_LOCK`, else the first of [`KINDS`] present. `None` when there is
/// none, or when the choice is `none`.
pub fn find(home: &Path, vars: &AppVars, chosen: Option<&str>) -> Result<Option<LockFile>> {
    let chosen = vars.get("WARP_LOCK").or(chosen.map(String::from));
    if let Some(name) = chosen {
        if name == "none" {
            return Ok(None);
        }
        let path = inside(home, &name, "WARP_LOCK")?;
        let file_name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(kind) = Kind::of_name(&file_name) else {
            return Err(fail(
                format!("{name} is not a lock file warp reads"),
                "name one of pylock.toml, pylock.<name>.toml, uv.lock, poetry.lock, pdm.lock, Pipfile.lock (or `none`) in lock: / WARP_LOCK",
            ));
        };
        if !path.is_file() {
            return Err(fail(
                format!("the lock file {name} does not exist in {}", home.display()),
                "lock: in .warp/config.yaml (or WARP_LOCK) names a file relative to the app",
            ));
        }
        return Ok(Some(LockFile { kind, path }));
    }
    Ok(KINDS
        .iter()
        .map(|(kind, name)| LockFile {
            kind: *kind,
            path: home.join(name),
        })
        .find(|lock| lock.path.is_file()))
}

/// Where a locked package comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A registry (index) package, installed by name and version; the
    /// hashes of its files, and the index the lock took it from (None: PyPI,
    /// or not recorded: the index of the build's environment; see [`index`]).
    Registry {
        hashes: Vec<String>,
        index: Option<index::Index>,
    },
    /// A direct URL to an archive, with its hash.
    Url { url: String, hash: String },
}

/// One package of the locked set.
#[derive(Debug, Clone, PartialEq)]
pub struct Pinned {
    pub name: String,
    pub version: String,
    pub source: Source,
}

/// What a lock says to install for one interpreter and selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Locked {
    pub packages: Vec<Pinned>,
    /// Local packages of the project (uv workspace members, pylock
    /// directories), installed after the packages with `--no-deps`,
    /// non-editable; each checked to be inside the project.
    pub local: Vec<PathBuf>,
    /// The project itself is a package to install (after its dependencies,
    /// with `--no-deps`), not only an app run from its directory.
    pub install_project: bool,
}

/// The interpreter a lock is read for: its marker environment and version.
pub struct Target {
    pub env: MarkerEnvironment,
    pub version: Version,
}

impl Target {
    pub fn new(env: MarkerEnvironment) -> Target {
        let version = env.python_full_version().version.clone();
        Target { env, version }
    }
}

/// Read `lock` for `target` with the groups and extras of `selection`.
pub fn read(
    lock: &LockFile,
    home: &Path,
    target: &Target,
    selection: &Selection,
) -> Result<Locked> {
    let text = std::fs::read_to_string(&lock.path).map_err(|e| {
        fail(
            format!("could not read {}: {e}", lock.path.display()),
            "make the lock file readable",
        )
    })?;
    let reader = Reader {
        lock,
        home,
        target,
        selection,
    };
    match lock.kind {
        Kind::Uv => uv::read(&text, &reader),
        Kind::Pylock => pylock::read(&text, &reader),
        Kind::Poetry => poetry::read(&text, &reader),
        Kind::Pdm => pdm::read(&text, &reader),
        Kind::Pipfile => pipfile::read(&text, &reader),
    }
}

/// What every lock reader is given.
pub struct Reader<'a> {
    pub lock: &'a LockFile,
    pub home: &'a Path,
    pub target: &'a Target,
    pub selection: &'a Selection,
}

impl Reader<'_> {
    /// An error about the lock file: "<file>: <what>", with a hint.
    pub fn error(
        &self,
        what: impl std::fmt::Display,
        hint: impl std::fmt::Display,
    ) -> anyhow::Error {
        fail(format!("{}: {what}", self.lock.name()), hint.to_string())
    }

    /// A lock that no longer matches its project.
    pub fn stale(&self, why: impl std::fmt::Display) -> anyhow::Error {
        self.error(
            format!("the lock is out of date with the project ({why})"),
            format!(
                "{}; warp installs a lock as it is and never re-resolves",
                self.lock.kind.relock_hint()
            ),
        )
    }

    /// A parse error of the lock file.
    pub fn invalid(&self, e: impl std::fmt::Display) -> anyhow::Error {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or_default().to_string();
        self.error(
            format!("not a valid lock file: {first}"),
            self.lock.kind.relock_hint(),
        )
    }

    /// Refuse the lock when its Python range excludes the build's interpreter.
    pub fn check_python(&self, requires_python: Option<&str>) -> Result<()> {
        let Some(range) = requires_python.filter(|r| !r.trim().is_empty()) else {
            return Ok(());
        };
        let specifiers = VersionSpecifiers::from_str(range)
            .map_err(|e| self.invalid(format!("requires-python {range:?}: {e}")))?;
        if specifiers.contains(&self.target.version) {
            return Ok(());
        }
        Err(self.error(
            format!(
                "the lock is for Python {range}, and the build's interpreter is Python {}",
                self.target.version
            ),
            format!("build with a Python in {range} (--python, WARP_PYTHON or python: in .warp/config.yaml), or relock for this one"),
        ))
    }

    /// Whether a marker holds for the build's interpreter (and the extras asked for).
    pub fn holds(&self, package: &str, marker: Option<&str>) -> Result<bool> {
        markers::holds(marker, &self.target.env, &self.selection.extra_names()).map_err(|e| {
            self.error(
                format!("the marker of {package} cannot be read: {e}"),
                self.lock.kind.relock_hint(),
            )
        })
    }

    /// A package the lock holds but warp cannot install by hash.
    pub fn unsupported(&self, package: &str, what: &str) -> anyhow::Error {
        self.error(
            format!("{package} is locked from {what}, which warp cannot install from a lock with verified hashes"),
            format!("publish {package} to an index (or a wheel in .warp/wheelhouse) and lock it from there, or install it in the build hook"),
        )
    }

    /// A locked package, checked before it becomes a line of the hashed
    /// requirements file: the name a PEP 508 name, the version a PEP 440
    /// version, every hash `algorithm:hex`, a URL without white space — so
    /// that nothing a lock holds can be read by pip as another line or option
    /// (a lock is input: it may be broken or written to mislead).
    pub fn pin(&self, name: &str, version: &str, source: Source) -> Result<Pinned> {
        let bad = |what: String| self.invalid(what);
        pep508_rs::PackageName::from_str(name)
            .map_err(|e| bad(format!("the package name {name:?}: {e}")))?;
        if !version.is_empty() || matches!(source, Source::Registry { .. }) {
            Version::from_str(version)
                .map_err(|e| bad(format!("the version {version:?} of {name}: {e}")))?;
        }
        let hash_ok = |h: &str| {
            h.split_once(':').is_some_and(|(algorithm, hex)| {
                !algorithm.is_empty()
                    && algorithm
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && !hex.is_empty()
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
        };
        match &source {
            Source::Registry { hashes, index } => {
                if let Some(Err(what)) = index.as_ref().map(index::Index::valid) {
                    return Err(bad(format!("{what} of {name}")));
                }
                if hashes.is_empty() {
                    return Err(self.error(
                        format!("{name} {version} has no file hashes in the lock"),
                        "lock against an index that serves hashes",
                    ));
                }
                if let Some(h) = hashes.iter().find(|h| !hash_ok(h)) {
                    return Err(bad(format!("the hash {h:?} of {name} {version}")));
                }
            }
            Source::Url { url, hash } => {
                if !hash_ok(hash) {
                    return Err(bad(format!("the hash {hash:?} of {name}")));
                }
                if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(bad(format!("the URL {url:?} of {name}")));
                }
            }
        }
        Ok(Pinned {
            name: name.to_string(),
            version: version.to_string(),
            source,
        })
    }

    /// A local package's directory named by the lock (`path`, relative to
    /// the project): refused unless it is a directory inside the project —
    /// no absolute path, no `..`, no symbolic link out of it.
    pub fn local_dir(&self, package: &str, path: &str) -> Result<PathBuf> {
        let outside = || {
            self.error(
                format!("{package} is locked from the path {path:?}, which is not a directory inside the project"),
                "keep local packages (workspace members) in the project's directory, and relock",
            )
        };
        let dir = inside(self.home, path, "path").map_err(|_| outside())?;
        let (Ok(real), Ok(home)) = (dir.canonicalize(), self.home.canonicalize()) else {
            return Err(outside());
        };
        if !real.is_dir() || !real.starts_with(&home) {
            return Err(outside());
        }
        Ok(real)
    }

    /// The project's pyproject.toml as a TOML table (empty when absent).
    pub fn pyproject(&self) -> Result<toml::Table> {
        let path = self.home.join("pyproject.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                fail(
                    format!("pyproject.toml is not valid TOML: {}", e.message()),
                    "fix pyproject.toml",
                )
            }),
            Err(_) => Ok(toml::Table::new()),
        }
    }
}

/// Whether the project itself is installed as a package with this lock
/// (then its code is a dependency input too): read from pyproject.toml as
/// each tool decides it (Poetry's `package-mode`, PDM's `distribution`, uv's
/// `package`, else whether there is a `[build-system]`), without the lock.
pub fn may_install_project(kind: Kind, home: &Path) -> bool {
    let Some(pyproject) = std::fs::read_to_string(home.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return false;
    };
    let tool = |name: &str, key: &str| {
        pyproject
            .get("tool")
            .and_then(|t| t.get(name))
            .and_then(|t| t.get(key))
            .and_then(|v| v.as_bool())
    };
    let backend = pyproject.contains_key("build-system");
    match kind {
        Kind::Pipfile => false,
        // A workspace installs its members: their code is an input too.
        Kind::Uv => {
            tool("uv", "package").unwrap_or(backend)
                || pyproject
                    .get("tool")
                    .and_then(|t| t.get("uv"))
                    .is_some_and(|u| u.get("workspace").is_some())
        }
        Kind::Poetry => backend && tool("poetry", "package-mode") != Some(false),
        Kind::Pdm => tool("pdm", "distribution").unwrap_or(backend),
        Kind::Pylock => backend,
    }
}

/// pyproject's `[tool.NAME]` table (empty when absent).
pub fn tool_table(pyproject: &toml::Table, name: &str) -> toml::Table {
    pyproject
        .get("tool")
        .and_then(|t| t.get(name))
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default()
}

/// PEP 503 name normalisation: `Flask_Login` → `flask-login`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalize("Flask_Login"), "flask-login");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a--b"), "a-b");
    }

    #[test]
    fn chosen_kinds() {
        assert_eq!(Kind::of_name("pylock.prod.toml"), Some(Kind::Pylock));
        assert_eq!(Kind::of_name("uv.lock"), Some(Kind::Uv));
        assert_eq!(Kind::of_name("requirements.txt"), None);
    }

    /// A reader of `kind` for CPython 3.11 on Linux, in an empty directory.
    fn with_reader<T>(kind: Kind, name: &str, f: impl FnOnce(&Reader) -> T) -> T {
        let home = tempfile::tempdir().unwrap();
        let values: markers::Values = serde_json::from_str(
            r#"{"implementation_name": "cpython", "implementation_version": "3.11.7",
                "os_name": "posix", "platform_machine": "x86_64",
                "platform_python_implementation": "CPython", "platform_release": "6.1.0",
                "platform_system": "Linux", "platform_version": "1",
                "python_full_version": "3.11.7", "python_version": "3.11",
                "sys_platform": "linux"}"#,
        )
        .unwrap();
        let target = Target::new(markers::environment(&values).unwrap());
        let lock = LockFile {
            kind,
            path: home.path().join(name),
        };
        let selection = Selection::default();
        f(&Reader {
            lock: &lock,
            home: home.path(),
            target: &target,
            selection: &selection,
        })
    }

    /// Found by the lock_files fuzz target (its input is kept in
    /// fuzz/corpus/lock_files): a pylock.toml (from a real `uv export`) whose
    /// itsdangerous has `version = ""` was read, and would have become the
    /// requirement line `itsdangerous==`; it is refused as an invalid lock.
    #[test]
    fn a_package_without_a_version_is_an_invalid_lock() {
        let input = include_bytes!("../../../fuzz/corpus/lock_files/crash-pylock-empty-version");
        let text = std::str::from_utf8(&input[1..]).unwrap();
        let e = with_reader(Kind::Pylock, "pylock.toml", |r| pylock::read(text, r))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pylock.toml: not a valid lock file"), "{e}");
        assert!(e.contains("itsdangerous"), "{e}");
    }

    /// What a lock holds becomes lines of a requirements file: a name, a
    /// version, a hash or a URL that pip could read as another line or an
    /// option is refused.
    #[test]
    fn nothing_in_a_pin_can_become_another_requirement_line() {
        let hashes = |h: &str| Source::Registry {
            hashes: vec![h.to_string()],
            index: None,
        };
        let good = "sha256:c6242fc49e35958c8b15141343aa660db5fc54d4f13a1db01a3f5891b98700ef";
        with_reader(Kind::Uv, "uv.lock", |r| {
            assert!(r.pin("flask", "2.3.3", hashes(good)).is_ok());
            for (name, version, source) in [
                ("flask\n--index-url http://evil", "2.3.3", hashes(good)),
                ("flask", "2.3.3 --pre", hashes(good)),
                ("flask", "", hashes(good)),
                ("flask", "2.3.3", hashes("sha256:aa --no-deps")),
                (
                    "flask",
                    "",
                    Source::Url {
                        url: "https://x/f.whl\n-e .".into(),
                        hash: good.into(),
                    },
                ),
            ] {
                let e = r.pin(name, version, source).unwrap_err().to_string();
                assert!(e.contains("uv.lock: not a valid lock file"), "{e}");
            }
        });
    }
}
