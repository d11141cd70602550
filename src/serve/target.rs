//! What `warp start` serves: the TARGET argument (`module:callable` or a WSGI
//! script path), else what `warp build` recorded (its `Entry`).
use crate::app::record::{BuildRecord, Entry};
use crate::error::fail;
use crate::serve::config::is_identifier;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// What runs.
#[derive(Debug, Clone, PartialEq)]
pub enum AppTarget {
    /// A WSGI app in a module: `package.module:callable`.
    Module { module: String, callable: String },
    /// A WSGI script file whose `callable` is the app (mod_wsgi's style).
    Script { path: PathBuf, callable: String },
    /// Not served by warp: an executable the process becomes (app.sh).
    Exec { path: PathBuf },
    /// Not served by warp: `python FILE` runs its own server (app.py).
    PythonFile { path: PathBuf },
    /// The built-in splash page (a script written by `serve::splash`).
    Splash { path: PathBuf },
}

impl AppTarget {
    /// The `target` and `callable_object` a worker loads, for WSGI targets.
    pub fn worker_target(&self) -> Option<(String, String)> {
        match self {
            AppTarget::Module { module, callable } => {
                Some((format!("{module}:{callable}"), callable.clone()))
            }
            AppTarget::Script { path, callable } => {
                Some((path.display().to_string(), callable.clone()))
            }
            AppTarget::Splash { path } => Some((path.display().to_string(), "application".into())),
            AppTarget::Exec { .. } | AppTarget::PythonFile { .. } => None,
        }
    }

    /// How the banner names it.
    pub fn describe(&self) -> String {
        match self {
            AppTarget::Module { module, callable } => format!("{module}:{callable}"),
            AppTarget::Script { path, callable } => format!("{} ({callable})", path.display()),
            AppTarget::Exec { path } => format!("{} (executable)", path.display()),
            AppTarget::PythonFile { path } => format!("python {}", path.display()),
            AppTarget::Splash { .. } => "warp's splash page (the source has no app yet)".into(),
        }
    }
}

/// Resolve the TARGET argument. Relative script paths are looked up in the
/// current directory, then in the source directory.
pub fn from_argument(arg: &str, src_root: &Path, callable_object: &str) -> Result<AppTarget> {
    let looks_like_path = arg.contains('/') || arg.ends_with(".py") || arg.ends_with(".wsgi");
    if !looks_like_path {
        if let Some((module, callable)) = arg.split_once(':') {
            if !is_module_path(module) || !is_identifier(callable) {
                return Err(fail(
                    format!("TARGET {arg:?} is not module:callable"),
                    "e.g. `warp start myapp.wsgi:application`, or give the path of a WSGI script",
                ));
            }
            return Ok(AppTarget::Module {
                module: module.into(),
                callable: callable.into(),
            });
        }
    }
    let candidates = [PathBuf::from(arg), src_root.join(arg)];
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => Ok(AppTarget::Script {
            path: std::fs::canonicalize(path)?,
            callable: callable_object.into(),
        }),
        None if !looks_like_path && is_module_path(arg) => Ok(AppTarget::Module {
            module: arg.into(),
            callable: callable_object.into(),
        }),
        None => Err(fail(
            format!("TARGET {arg} does not exist"),
            format!(
                "give a WSGI script (relative to the current directory or to {}) or module:callable",
                src_root.display()
            ),
        )),
    }
}

/// What the build record says to run.
pub fn from_record(record: &BuildRecord, callable_object: &str) -> Result<AppTarget> {
    let in_src = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            record.src_root.join(p)
        }
    };
    Ok(match &record.entry {
        Entry::Wsgi { target } => from_argument(target, &record.src_root, callable_object)?,
        Entry::Script { path } => AppTarget::Exec { path: in_src(path) },
        Entry::PythonFile { path } => AppTarget::PythonFile { path: in_src(path) },
        Entry::Splash => AppTarget::Splash {
            path: crate::serve::splash::install(&record.app_root)?,
        },
    })
}

fn is_module_path(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(is_identifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_callable_is_parsed_and_checked() {
        let t = from_argument("pkg.wsgi:app", Path::new("/nonexistent"), "application").unwrap();
        assert_eq!(
            t,
            AppTarget::Module {
                module: "pkg.wsgi".into(),
                callable: "app".into()
            }
        );
        assert!(from_argument("pkg.:app", Path::new("/"), "application").is_err());
        assert!(from_argument("pkg:app()", Path::new("/"), "application").is_err());
    }

    #[test]
    fn a_bare_module_uses_the_callable_object() {
        let t = from_argument("hello", Path::new("/nonexistent"), "app").unwrap();
        assert_eq!(t.worker_target().unwrap().0, "hello:app");
    }

    #[test]
    fn scripts_are_found_in_the_source_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wsgi.py"), "application = None\n").unwrap();
        let t = from_argument("wsgi.py", dir.path(), "application").unwrap();
        match t {
            AppTarget::Script { path, callable } => {
                assert!(path.ends_with("wsgi.py"));
                assert_eq!(callable, "application");
            }
            other => panic!("{other:?}"),
        }
        let err = from_argument("missing.py", dir.path(), "application").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(from_argument("sub/dir/app.wsgi", dir.path(), "application").is_err());
    }
}
