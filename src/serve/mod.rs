//! The serving half, supervisor side: bind the socket once, spawn worker
//! processes (the app's Python running the `warpserver` extension), keep them alive.
//!
//! [`start`] is `warp start`, given resolved [`config::Settings`] (the flags
//! are parsed and resolved in `cli/start`): build if needed → target →
//! checks → server package → socket → banner → [`supervisor::Supervisor`].
//! The supervisor never loads Python; it runs the venv's interpreter once,
//! for its version. What passes between the supervisor and its workers is the
//! shared `warp-protocol` crate (`protocol/`).

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
use crate::app::{App, AppPaths};
use crate::build::{self, BuildOptions};
use crate::error::fail;
use crate::extension;
use anyhow::{Context, Result};
use config::Settings;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use target::AppTarget;

/// `warp start [TARGET]` for `app` (loaded once by the caller) with resolved
/// `settings`; the result is the exit code.
pub fn start(app: &App, target_arg: Option<&str>, mut settings: Settings) -> Result<i32> {
    let paths = &app.paths;
    let explicit = target_arg
        .map(|arg| target::from_argument(arg, &settings.app_dir, &settings.callable_object))
        .transpose()?;
    let interpreter = settings.worker_python.clone();
    let record = built_record(paths, interpreter.is_some())?;
    let target = match (explicit, &record) {
        (Some(t), _) => t,
        (None, Some(record)) => target::from_record(record, &settings.callable_object)?,
        (None, None) => return Err(fail(
            "nothing to serve: the app is not built and no TARGET was given with --worker-python",
            "give TARGET, e.g. `warp start --worker-python PATH myapp.wsgi:application`",
        )),
    };
    crate::runtime::before_start(app)?;
    let mut env = crate::runtime::app_environment(app)?;
    if interpreter.is_some() {
        // That Python's environment is the caller's, not the app root's.
        env.retain(|(k, _)| k != "PATH" && k != "VIRTUAL_ENV");
    }
    let python = interpreter.clone().unwrap_or_else(|| paths.python());
    if let AppTarget::Exec { .. } | AppTarget::PythonFile { .. } = &target {
        return exec_own_server(&target, &python, &env, &settings);
    }
    let python_version = python::check_version(&python)?;
    let _private_package = install_server_package(
        paths,
        record.as_ref(),
        &python_version,
        interpreter.is_some(),
        &mut env,
    )?;
    if let Some(record) = &record {
        add_django_static(record, &mut settings);
    }
    serve_wsgi(paths, &target, settings, python, &python_version, env)
}
/// The app's build record; the app is built first when it has none (unless
/// another Python runs it: with --worker-python there is nothing to build into).
fn built_record(paths: &AppPaths, other_python: bool) -> Result<Option<BuildRecord>> {
    Ok(match BuildRecord::load(&paths.app_root)? {
        Some(record) => Some(record),
        None if other_python => None,
        None => {
            eprintln!(
                "warp: {} is not built yet, building it first",
                paths.src_root.display()
            );
            Some(build::build(paths, &BuildOptions::default())?)
        }
    })
}

/// The app runs its own server (an executable, or a Python file): this
/// process becomes it. Returns only when it could not be run.
fn exec_own_server(
    target: &AppTarget,
    python: &Path,
    env: &[(String, String)],
    settings: &Settings,
) -> Result<i32> {
    let mut cmd = match target {
        AppTarget::Exec { path } => std::process::Command::new(path),
        AppTarget::PythonFile { path } => {
            let mut c = std::process::Command::new(python);
            c.arg(path);
            c
        }
        _ => unreachable!("only an app with its own server is exec'd"),
    };
    let port = settings.port.to_string();
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("PORT", &port)
        .env("WARP_HTTP_PORT", &port)
        .current_dir(&settings.working_directory);
    eprintln!("warp: running {}", target.describe());
    let err = cmd.exec();
    Err(fail(
        format!("could not run {}: {err}", target.describe()),
        "check that the file exists and is executable",
    ))
}

/// Put warp's server package where the workers import it: the app's
/// site-packages, or — with --worker-python — a directory of this run, first
/// on the workers' PYTHONPATH, so the workers run the server this binary
/// carries whatever that Python has installed. The directory (returned) is
/// removed when it is dropped, when warp stops.
fn install_server_package(
    paths: &AppPaths,
    record: Option<&BuildRecord>,
    python_version: &str,
    other_python: bool,
    env: &mut [(String, String)],
) -> Result<Option<tempfile::TempDir>> {
    if other_python {
        let dir = extension::private_copy()?;
        for (_, value) in env.iter_mut().filter(|(k, _)| k == "PYTHONPATH") {
            *value = format!("{}:{value}", dir.path().display());
        }
        return Ok(Some(dir));
    }
    let record = record.expect("without --worker-python the app is built");
    // (A record of a copied app names the copy's venv: see BuildRecord::load.)
    let site_packages = if record.python.site_packages.as_os_str().is_empty() {
        worker::site_packages(&paths.app_root, python_version)
    } else {
        record.python.site_packages.clone()
    };
    extension::install(&site_packages)
        .with_context(|| format!("installing warp's server into {}", site_packages.display()))?;
    Ok(None)
}

/// Bind the socket, print the banner, and run the supervisor over WSGI
/// workers until it stops.
fn serve_wsgi(
    paths: &AppPaths,
    target: &AppTarget,
    settings: Settings,
    python: PathBuf,
    python_version: &str,
    env: Vec<(String, String)>,
) -> Result<i32> {
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
            python_version,
            python: &python_text,
        },
    );
    // A closed stdout (`warp start | head`) must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = std::io::Write::write_all(&mut stdout, banner.as_bytes())
        .and_then(|_| std::io::Write::flush(&mut stdout));

    let (worker_target, callable) = target.worker_target().expect("a WSGI target");
    let mut config = worker::worker_config(&settings, worker_target, addr.port());
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

/// Django: serve STATIC_URL from STATIC_ROOT (what collectstatic filled),
/// unless the user mapped that URL already or STATIC_URL is another host.
fn add_django_static(record: &BuildRecord, settings: &mut Settings) {
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
        let mut settings = Settings::for_test();
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
        let mut settings = Settings::for_test();
        settings.url_aliases = vec![("/static".into(), PathBuf::from(&alias))];
        add_django_static(&record("/static/", Path::new("/elsewhere")), &mut settings);
        assert_eq!(settings.url_aliases.len(), 1);
        assert_eq!(settings.url_aliases[0].1, root.path());
        let mut settings = Settings::for_test();
        add_django_static(
            &record("https://cdn.example.com/static/", root.path()),
            &mut settings,
        );
        assert!(settings.url_aliases.is_empty());
    }
}
