//! The serving half, supervisor side: bind the socket once, spawn worker
//! processes (the app's Python running the `warpserver` extension), keep them alive.
//!
//! [`start`] is `warp start`: settings → build if needed → target → checks →
//! socket → banner → [`supervisor::Supervisor`]. The supervisor never loads
//! Python; it runs the venv's interpreter once, for its version.

pub mod banner;
pub mod config;
pub mod events;
pub mod listener;
pub mod metrics;
pub mod python;
pub mod reload;
pub mod resources;
pub mod source_options;
pub mod splash;
pub mod supervisor;
pub mod target;
pub mod worker;

use crate::app::record::BuildRecord;
use crate::app::AppPaths;
use crate::build::{self, BuildOptions};
use crate::error::fail;
use crate::extension;
use anyhow::{Context, Result};
use config::{ProcessEnv, ServeOptions};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use target::AppTarget;

/// `warp start [TARGET]` for the app in `src`; the result is the exit code.
pub fn start(src: &Path, target_arg: Option<&str>, options: &ServeOptions) -> Result<i32> {
    let paths = AppPaths::locate(src)?;
    // The app may live in a subdirectory of the source (APP_HOME, as in
    // s2i-python-container): the workers run there and relative paths start there.
    let home = {
        let config = crate::app::config::Config::load(&paths.src_root)?;
        crate::app::vars::AppVars::load(&paths, &config)?.app_home(&paths)?
    };
    let machine = resources::detect();
    let mut settings = options.resolve(&home, &ProcessEnv, &machine)?;
    if let Some(note) = options.debugger_note() {
        eprintln!("warp: note: {note}");
    }
    let explicit = target_arg
        .map(|arg| target::from_argument(arg, &home, &settings.callable_object))
        .transpose()?;
    let interpreter = options
        .worker_python
        .as_deref()
        .map(worker_python)
        .transpose()?;
    let record = match BuildRecord::load(&paths.app_root)? {
        Some(record) => Some(record),
        // Another Python runs the app (runwarp): there is nothing to build into.
        None if interpreter.is_some() => None,
        None => {
            eprintln!(
                "warp: {} is not built yet, building it first",
                paths.src_root.display()
            );
            Some(build::build(&paths, &BuildOptions::default())?)
        }
    };
    let target = match (explicit, &record) {
        (Some(t), _) => t,
        (None, Some(record)) => target::from_record(record, &settings.callable_object)?,
        (None, None) => return Err(fail(
            "nothing to serve: the app is not built and no TARGET was given with --worker-python",
            "give TARGET, e.g. `warp start --worker-python PATH myapp.wsgi:application`",
        )),
    };
    let app = crate::app::App::load(&paths)?;
    crate::runtime::before_start(&app)?;
    let mut env = crate::runtime::app_environment(&app)?;
    if interpreter.is_some() {
        // That Python's environment is the caller's, not the app root's.
        env.retain(|(k, _)| k != "PATH" && k != "VIRTUAL_ENV");
    }

    let python = interpreter.clone().unwrap_or_else(|| paths.python());
    if let AppTarget::Exec { path } | AppTarget::PythonFile { path } = &target {
        // The app runs its own server: this process becomes it.
        let mut cmd = match &target {
            AppTarget::Exec { .. } => std::process::Command::new(path),
            _ => {
                let mut c = std::process::Command::new(&python);
                c.arg(path);
                c
            }
        };
        let port = settings.port.to_string();
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .env("PORT", &port)
            .env("WARP_HTTP_PORT", &port)
            .current_dir(&settings.working_directory);
        eprintln!("warp: running {}", target.describe());
        let err = cmd.exec();
        return Err(fail(
            format!("could not run {}: {err}", target.describe()),
            "check that the file exists and is executable",
        ));
    }

    let python_version = python::check_version(&python)?;
    // With --worker-python the package goes into a directory of this run, first on
    // the workers' path, so the workers run the server this binary carries
    // whatever that Python has installed; it is removed when warp stops.
    let _private_package = match (&interpreter, &record) {
        (Some(_), _) => {
            let dir = extension::private_copy()?;
            for (_, value) in env.iter_mut().filter(|(k, _)| k == "PYTHONPATH") {
                *value = format!("{}:{value}", dir.path().display());
            }
            Some(dir)
        }
        (None, Some(record)) => {
            // (A record of a copied app names the copy's venv: see BuildRecord::load.)
            let site_packages = if record.python.site_packages.as_os_str().is_empty() {
                worker::site_packages(&paths.app_root, &python_version)
            } else {
                record.python.site_packages.clone()
            };
            extension::install(&site_packages).with_context(|| {
                format!("installing warp's server into {}", site_packages.display())
            })?;
            None
        }
        (None, None) => unreachable!("without --worker-python the app is built above"),
    };
    if let Some(record) = &record {
        add_django_static(record, &mut settings);
    }

    let signals = supervisor::block_signals()?;
    let socket = listener::bind(&settings.host, settings.port, settings.listen_backlog)?;
    let addr = listener::local_addr(&socket)?;
    let describe = target.describe();
    let python_text = python.display().to_string();
    let banner = banner::render(
        &settings,
        &banner::BannerFacts {
            addr,
            app: &describe,
            python_version: &python_version,
            python: &python_text,
        },
    );
    // A closed stdout (`warp start | head`) must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = std::io::Write::write_all(&mut stdout, banner.as_bytes())
        .and_then(|_| std::io::Write::flush(&mut stdout));

    let (worker_target, callable) = target.worker_target().expect("a WSGI target");
    let mut config = worker::WorkerConfig::new(&settings, worker_target, addr.port());
    config.callable_object = callable;
    let launcher = worker::Launcher {
        python,
        env,
        working_directory: settings.working_directory.clone(),
        listen_fd: socket.as_raw_fd(),
        own_process_group: !settings.enable_debugger,
        log_fd: worker::Launcher::copy_stderr()?,
    };
    let watch = settings.reload_on_changes.then(|| reload::Watch {
        python_dirs: std::iter::once(paths.src_root.clone())
            .chain(settings.python_path.iter().cloned())
            .collect(),
        skip: paths.app_root.clone(),
        static_dirs: settings
            .url_aliases
            .iter()
            .map(|(_, d)| d.clone())
            .collect(),
    });
    let url = format!("http://{addr}/");
    let mut supervisor =
        supervisor::Supervisor::new(settings.clone(), launcher, config, url, signals, watch);
    if let Some(port) = settings.metrics_port {
        let board = metrics::Board::default();
        metrics::serve(&settings.host, port, board.clone())?;
        supervisor = supervisor.with_metrics(board);
    }
    let code = supervisor.run();
    drop(socket);
    code
}

/// The interpreter `--worker-python` names (a path, a command on PATH or a
/// version, as `warp build --python` reads it), as an absolute path — not
/// resolved: a virtualenv's `bin/python` is a symlink that must stay one.
fn worker_python(python: &Path) -> Result<std::path::PathBuf> {
    let found = crate::build::python::resolve(&python.to_string_lossy()).map_err(|_| {
        fail(
            format!(
                "--worker-python {}: there is no such file",
                python.display()
            ),
            "give a CPython 3.9+ interpreter by path or by name on PATH, e.g. `--worker-python .venv/bin/python`",
        )
    })?;
    Ok(std::path::absolute(found)?)
}

/// Django: serve STATIC_URL from STATIC_ROOT (what collectstatic filled),
/// unless the user mapped that URL already or STATIC_URL is another host.
fn add_django_static(record: &BuildRecord, settings: &mut config::Settings) {
    let Some(django) = &record.django else { return };
    let (Some(url), Some(root)) = (&django.static_url, &django.static_root) else {
        return;
    };
    if !url.starts_with('/') {
        return;
    }
    let url = url.trim_end_matches('/').to_string();
    if settings.url_aliases.iter().any(|(u, _)| *u == url) {
        return;
    }
    if !root.is_dir() {
        eprintln!(
            "warp: Django's STATIC_ROOT {} does not exist; {url}/ is not served (run `warp build`)",
            root.display()
        );
        return;
    }
    settings.url_aliases.push((url, root.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::record::{DjangoInfo, Entry, PythonInfo};
    use std::path::PathBuf;

    fn record(static_url: &str, static_root: &Path) -> BuildRecord {
        BuildRecord {
            warp_version: "test".into(),
            src_root: "/src".into(),
            app_root: "/src/.venv".into(),
            layout: "none".into(),
            entry: Entry::Wsgi {
                target: "site.wsgi:application".into(),
            },
            python: PythonInfo {
                executable: "/src/.venv/bin/python".into(),
                version: "3.11.7".into(),
                site_packages: PathBuf::new(),
            },
            inputs_hash: String::new(),
            django: Some(DjangoInfo {
                settings_module: "site.settings".into(),
                static_url: Some(static_url.into()),
                static_root: Some(static_root.into()),
            }),
        }
    }

    #[test]
    fn django_static_url_is_served_from_static_root() {
        let root = tempfile::tempdir().unwrap();
        let mut settings = config::settings_for_test(&[], &[]).unwrap();
        add_django_static(&record("/static/", root.path()), &mut settings);
        assert_eq!(
            settings.url_aliases,
            vec![("/static".to_string(), root.path().to_path_buf())]
        );
    }

    #[test]
    fn django_static_yields_to_a_url_alias_and_skips_other_hosts() {
        let root = tempfile::tempdir().unwrap();
        let alias = root.path().display().to_string();
        let mut settings =
            config::settings_for_test(&["--url-alias", "/static", &alias], &[]).unwrap();
        add_django_static(&record("/static/", Path::new("/elsewhere")), &mut settings);
        assert_eq!(settings.url_aliases.len(), 1);
        assert_eq!(settings.url_aliases[0].1, root.path());
        let mut settings = config::settings_for_test(&[], &[]).unwrap();
        add_django_static(
            &record("https://cdn.example.com/static/", root.path()),
            &mut settings,
        );
        assert!(settings.url_aliases.is_empty());
    }
}
