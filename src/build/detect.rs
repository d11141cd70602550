//! What kind of app a source tree holds: how its dependencies are installed
//! (the layout, first match wins: requirement files named by
//! WARP_PIP_REQUIREMENTS / `requirements:`, then a lock file — see
//! [`crate::build::lock`] for which —, then requirements.txt, a Pipfile
//! without lock, pyproject.toml, setup.py) and what `warp start` runs (the entry,
//! in warpdrive's order, with the S2I variables APP_SCRIPT, APP_FILE and
//! APP_MODULE taking precedence).
use crate::app::config::Config;
use crate::app::record::{DjangoInfo, Entry};
use crate::app::vars::{inside, AppVars};
use crate::build::lock;
use crate::error::fail;
use anyhow::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How dependencies are installed.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// `pip install -r` each file, in order.
    Requirements(Vec<PathBuf>),
    /// Exactly the packages of a lock file, read by warp ([`lock`]).
    Lock(lock::LockFile),
    /// A Pipfile installed with pipenv (ENABLE_PIPENV, or no Pipfile.lock),
    /// or its lock with micropipenv (ENABLE_MICROPIPENV).
    Pipfile { tool: PipfileTool },
    /// `pip install .` of a PEP 621 / poetry / setuptools project.
    Pyproject,
    /// `pip install .` of a setup.py / setup.cfg project.
    SetupPy,
    /// Nothing to install.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PipfileTool {
    Pipenv,
    Micropipenv,
}

impl Layout {
    /// The name recorded in build.json and shown in step lines.
    pub fn name(&self) -> String {
        match self {
            Layout::Requirements(files) => files
                .iter()
                .map(|f| {
                    f.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect::<Vec<_>>()
                .join(", "),
            Layout::Lock(lock) => lock.name(),
            Layout::Pipfile { .. } => "Pipfile".into(),
            Layout::Pyproject => "pyproject.toml".into(),
            Layout::SetupPy => "setup.py".into(),
            Layout::None => "none".into(),
        }
    }
}

/// The files whose presence makes a directory a Python app.
pub const APP_MARKERS: [&str; 15] = [
    "requirements.txt",
    "pylock.toml",
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "Pipfile",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "app.sh",
    "app.py",
    "manage.py",
    "wsgi.py",
    "wsgi/__init__.py",
];

/// Fail with "no app found" when `home` has none of [`APP_MARKERS`] and no
/// APP_* variable names the app.
pub fn require_app(home: &Path, vars: &AppVars) -> Result<()> {
    let named = [
        "APP_MODULE",
        "APP_FILE",
        "APP_SCRIPT",
        "WARP_PIP_REQUIREMENTS",
    ]
    .iter()
    .any(|k| vars.get(k).is_some());
    if named || APP_MARKERS.iter().any(|m| home.join(m).exists()) {
        return Ok(());
    }
    Err(fail(
        format!("no app found in {}", home.display()),
        format!(
            "warp looked for {}; add one of them (or set APP_MODULE=module:callable)",
            APP_MARKERS.join(", ")
        ),
    ))
}

/// The dependency layout of the app in `home`.
pub fn layout(home: &Path, vars: &AppVars, config: &Config) -> Result<Layout> {
    let listed: Option<Vec<String>> = vars
        .get("WARP_PIP_REQUIREMENTS")
        .or_else(|| vars.get("WARPDRIVE_PIP_REQUIREMENTS"))
        .map(|v| {
            v.split([' ', ',', ':'])
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .or_else(|| config.requirements.clone());
    if let Some(names) = listed {
        let mut files = Vec::new();
        for name in names {
            let file = inside(home, &name, "WARP_PIP_REQUIREMENTS")?;
            if !file.is_file() {
                return Err(fail(
                    format!("the requirements file {name} does not exist in {}", home.display()),
                    "WARP_PIP_REQUIREMENTS (or requirements: in .warp/config.yaml) lists files relative to the app",
                ));
            }
            files.push(file);
        }
        return Ok(Layout::Requirements(files));
    }
    let pipfile_tool = vars.flag("ENABLE_PIPENV") || vars.flag("ENABLE_MICROPIPENV");
    if let Some(found) = lock::find(home, vars, config.lock.as_deref())? {
        // ENABLE_PIPENV / ENABLE_MICROPIPENV keep Pipfile.lock with its own tools.
        if !(found.kind == lock::Kind::Pipfile && pipfile_tool) {
            return Ok(Layout::Lock(found));
        }
    }
    if home.join("requirements.txt").is_file() {
        return Ok(Layout::Requirements(vec![home.join("requirements.txt")]));
    }
    let lock = home.join("Pipfile.lock").is_file();
    if lock || home.join("Pipfile").is_file() {
        let tool = match (vars.flag("ENABLE_PIPENV"), vars.flag("ENABLE_MICROPIPENV")) {
            (true, true) => {
                return Err(fail(
                    "ENABLE_PIPENV and ENABLE_MICROPIPENV are both set",
                    "set only one of them: they choose the tool that installs the Pipfile",
                ))
            }
            (true, false) => PipfileTool::Pipenv,
            (false, true) => PipfileTool::Micropipenv,
            // micropipenv is small and installs a lock file with plain pip;
            // a Pipfile without a lock needs pipenv to lock it.
            (false, false) if lock => PipfileTool::Micropipenv,
            (false, false) => PipfileTool::Pipenv,
        };
        if tool == PipfileTool::Micropipenv && !lock {
            return Err(fail(
                format!(
                    "micropipenv needs a Pipfile.lock, and {} has only a Pipfile",
                    home.display()
                ),
                "run `pipenv lock` and commit Pipfile.lock, or set ENABLE_PIPENV=1",
            ));
        }
        return Ok(Layout::Pipfile { tool });
    }
    if !vars.flag("DISABLE_PYPROJECT_TOML_PROCESSING") && is_project(&home.join("pyproject.toml")) {
        return Ok(Layout::Pyproject);
    }
    if !vars.flag("DISABLE_SETUP_PY_PROCESSING")
        && (home.join("setup.py").is_file() || home.join("setup.cfg").is_file())
    {
        return Ok(Layout::SetupPy);
    }
    Ok(Layout::None)
}

/// A pyproject.toml that describes an installable project (not only tool settings).
fn is_project(pyproject: &Path) -> bool {
    std::fs::read_to_string(pyproject).is_ok_and(|text| {
        text.lines()
            .any(|l| matches!(l.trim(), "[project]" | "[tool.poetry]" | "[build-system]"))
    })
}

/// The Django settings module named by `manage.py`, if the app is a Django
/// project (manage.py that sets DJANGO_SETTINGS_MODULE). $DJANGO_SETTINGS_MODULE wins.
pub fn django_settings(home: &Path, vars: &AppVars) -> Option<String> {
    let text = std::fs::read_to_string(home.join("manage.py")).ok()?;
    let at = text.find("DJANGO_SETTINGS_MODULE")?;
    if let Some(module) = vars.get("DJANGO_SETTINGS_MODULE") {
        return Some(module);
    }
    // os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    let rest = &text[at + "DJANGO_SETTINGS_MODULE".len()..];
    let rest = rest.trim_start_matches(['"', '\'']).trim_start();
    let rest = rest.strip_prefix(',')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let module: String = rest[1..].chars().take_while(|c| *c != quote).collect();
    let valid = !module.is_empty()
        && module
            .chars()
            .all(|c| c == '.' || c == '_' || c.is_ascii_alphanumeric());
    valid.then_some(module)
}

/// What `warp start` runs, given the Django info if the app is Django.
pub fn entry(
    home: &Path,
    vars: &AppVars,
    django: Option<&(DjangoInfo, Option<String>)>,
) -> Result<Entry> {
    if let Some(script) = vars.get("APP_SCRIPT") {
        let path = inside(home, &script, "APP_SCRIPT")?;
        require_executable_file(&path, "APP_SCRIPT")?;
        return Ok(Entry::Script { path });
    }
    if let Some(file) = vars.get("APP_FILE") {
        let path = inside(home, &file, "APP_FILE")?;
        if !path.is_file() {
            return Err(fail(
                format!("APP_FILE={file} does not exist in {}", home.display()),
                "set APP_FILE to the Python file that runs the app, relative to the app",
            ));
        }
        return Ok(Entry::PythonFile { path });
    }
    if let Some(module) = vars.get("APP_MODULE") {
        if !is_wsgi_target(&module) {
            return Err(fail(
                format!("APP_MODULE={module} is not a module:callable"),
                "write it like myapp.wsgi:application (the callable defaults to `application`)",
            ));
        }
        return Ok(Entry::Wsgi { target: module });
    }
    let script = home.join("app.sh");
    if script.exists() {
        require_executable_file(&script, "app.sh")?;
        return Ok(Entry::Script { path: script });
    }
    if home.join("app.py").is_file() {
        return Ok(Entry::PythonFile {
            path: home.join("app.py"),
        });
    }
    if let Some((_, Some(wsgi_application))) = django {
        // "mysite.wsgi.application" → "mysite.wsgi:application"
        if let Some((module, callable)) = wsgi_application.rsplit_once('.') {
            return Ok(Entry::Wsgi {
                target: format!("{module}:{callable}"),
            });
        }
    }
    for candidate in ["wsgi.py", "wsgi/__init__.py"] {
        if home.join(candidate).is_file() {
            return Ok(Entry::Wsgi {
                target: home.join(candidate).to_string_lossy().into_owned(),
            });
        }
    }
    Ok(Entry::Splash)
}

/// `module`, or `module:callable`, with dotted Python identifiers.
fn is_wsgi_target(target: &str) -> bool {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c == '_' || c.is_alphanumeric())
    };
    let (module, callable) = target.split_once(':').unwrap_or((target, "application"));
    module.split('.').all(ident) && ident(callable)
}

fn require_executable_file(path: &Path, what: &str) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|_| {
        fail(
            format!("{what} {} does not exist", path.display()),
            "name an executable shell script inside the app",
        )
    })?;
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(fail(
            format!("{what} {} is not executable", path.display()),
            format!("make it executable: chmod +x {}", path.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsgi_targets() {
        assert!(is_wsgi_target("app"));
        assert!(is_wsgi_target("my_app.wsgi:application"));
        assert!(!is_wsgi_target("../x:y"));
        assert!(!is_wsgi_target("a b:c"));
        assert!(!is_wsgi_target("a:"));
    }

    #[test]
    fn django_settings_from_manage_py() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manage.py"),
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
        )
        .unwrap();
        let vars = AppVars::default();
        if std::env::var_os("DJANGO_SETTINGS_MODULE").is_none() {
            assert_eq!(
                django_settings(dir.path(), &vars).as_deref(),
                Some("mysite.settings")
            );
        }
        std::fs::write(dir.path().join("manage.py"), "print('not django')\n").unwrap();
        assert_eq!(django_settings(dir.path(), &vars), None);
    }
}
