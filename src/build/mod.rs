//! The builder half, first part: from an app's source to a ready virtualenv
//! (detect the layout, make the venv, install, run the hooks, collect static).
//!
//! [`build`] runs the steps of `warp build` in order, fail-fast, each printed
//! as one `==> Step (1.2 s)` line:
//! 1. the venv (made fresh when missing or when the inputs hash changed; the
//!    previous one is set aside and restored if the build fails — see [`venv`];
//!    a uv.lock built with uv has it made by step 3's `uv sync`, [`uv_sync`]);
//! 2. the `pre-build` hook, then `build-env` sourced with its exports kept;
//! 3. dependencies by layout ([`detect`], [`install`]): a lock file's exact
//!    set ([`lock`]) when the app has one;
//! 4. warp's server package ([`crate::extension::install`], linked from a
//!    copy in the user's cache for `warp build`);
//! 5. the `build` hook;
//! 6. Django's collectstatic ([`django`]), or the files it collected last time
//!    when nothing they are made from changed ([`static_reuse`]);
//! 7. the record (`<app root>/.warp/build.json`).

pub mod bytecode;
pub mod detect;
pub mod django;
pub mod inputs;
pub mod install;
pub mod lock;
pub mod plan;
pub mod probe_cache;
pub mod python;
pub mod static_reuse;
pub mod uv_sync;
pub mod venv;
pub mod wheels;

use crate::app::hooks;
use crate::app::record::{self, BuildRecord, PythonInfo};
use crate::app::vars::AppVars;
use crate::app::{App, AppPaths};
use crate::error::fail;
use crate::ui::step;
use anyhow::Result;

pub use crate::app::config::Installer;

/// The tool a build actually uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Uv,
    Pip,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Uv => "uv",
            Tool::Pip => "pip",
        }
    }
}

impl Installer {
    /// Choose the tool: `Auto` is uv when it is on PATH.
    pub fn resolve(self) -> Result<Tool> {
        let uv = which::which("uv").is_ok();
        match self {
            Installer::Auto if uv => Ok(Tool::Uv),
            Installer::Auto | Installer::Pip => Ok(Tool::Pip),
            Installer::Uv if uv => Ok(Tool::Uv),
            Installer::Uv => Err(fail(
                "--installer uv was asked for, but uv is not on PATH",
                "install it (`pip install uv`) or use --installer pip",
            )),
        }
    }
}

/// What the user chose on the command line for a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--python`, else `$WARP_PYTHON`, else `python3`.
    pub python: Option<String>,
    pub installer: Installer,
    /// Where a local build keeps its collectstatic stamps by key, so that a
    /// build into a new app root can reuse the files (see [`static_reuse`];
    /// `warp build` sets it to the user's cache; None keeps them in the app
    /// root only).
    pub static_stamps: Option<std::path::PathBuf>,
    /// Where interpreter probes are remembered between builds (see
    /// [`probe_cache`]; `warp build` sets it to the user's cache; None asks
    /// the interpreter every time).
    pub probes: Option<std::path::PathBuf>,
    /// Where the copy of warp's server package is kept to be hard-linked
    /// into each venv (see [`crate::extension::install_linked`]; `warp build`
    /// sets it to the user's cache; None writes the files).
    pub server_copies: Option<std::path::PathBuf>,
}

/// What a build would do, worked out without changing anything.
struct Prepared {
    vars: AppVars,
    home: std::path::PathBuf,
    /// The dependency plan: layout, selection, installer, interpreter, inputs.
    deps: plan::Plan,
    tool: Tool,
    /// The interpreter the venv is (or will be) made from.
    base: python::Probe,
    /// The venv already in the app root, if there is one.
    existing: Option<python::Probe>,
}

/// The inputs hash the next `warp build` of this app would compute: S2I's
/// assemble uses it to decide whether a saved venv can be reused.
pub fn inputs_hash(paths: &AppPaths, options: &BuildOptions) -> Result<String> {
    Ok(prepare(paths, options)?.deps.hash())
}

fn prepare(paths: &AppPaths, options: &BuildOptions) -> Result<Prepared> {
    let App { config, vars, .. } = App::load(paths)?;
    let home = vars.app_home(paths)?;
    detect::require_app(&home, &vars)?;
    let installer = match options.installer {
        Installer::Auto => match config.installer {
            Some(chosen) => chosen,
            None => match vars.get("WARP_INSTALLER").as_deref() {
                Some("uv") => Installer::Uv,
                Some("pip") => Installer::Pip,
                _ => Installer::Auto,
            },
        },
        chosen => chosen,
    };
    let tool = installer.resolve()?;
    let probes = options.probes.as_deref();
    let existing = venv::is_venv(&paths.app_root)
        .then(|| probe_cache::probe_cached(&paths.python(), probes).ok())
        .flatten();
    let requested = options
        .python
        .clone()
        .or(config.python.clone())
        .or_else(|| vars.get("WARP_PYTHON"));
    let base = match (&requested, &existing) {
        (Some(name), _) => probe_cache::probe_cached(&python::resolve(name)?, probes)?,
        // The venv's interpreter reports its base's version and path: no
        // second interpreter start (only the platlib differs, and a plan's
        // base is used for its path and version only).
        (None, Some(probe)) => probe.clone(),
        (None, None) => probe_cache::probe_cached(&python::resolve("python3")?, probes)?,
    };

    let deps = plan::Plan::read(
        &plan::Source {
            paths,
            config: &config,
            vars: &vars,
            home: &home,
        },
        tool.name(),
        plan::Interpreter {
            path: base.base_executable.clone(),
            version: base.version.clone(),
        },
    )?;
    Ok(Prepared {
        vars,
        home,
        deps,
        tool,
        base,
        existing,
    })
}

/// The locked set to install, read before anything changes (a stale or
/// unusable lock is refused with the app root untouched).
fn read_lock(
    deps: &plan::Plan,
    home: &std::path::Path,
    base: &python::Probe,
) -> Result<Option<lock::Locked>> {
    let detect::Layout::Lock(file) = &deps.layout else {
        return Ok(None);
    };
    let title = format!("Reading {} for Python {}", file.name(), base.version);
    let locked = step(&title, || {
        let target = lock::Target::new(lock::markers::environment(&base.markers)?);
        lock::read(file, home, &target, &deps.selection)
    })?;
    Ok(Some(locked))
}

/// Build the app: the steps of `warp build`, fail-fast; returns the record it saved.
pub fn build(paths: &AppPaths, options: &BuildOptions) -> Result<BuildRecord> {
    let app_root = &paths.app_root;
    let _lock = venv::BuildLock::acquire(app_root)?;
    // Everything that can be checked without changing anything comes first.
    let Prepared {
        mut vars,
        home,
        deps,
        tool,
        base,
        existing,
    } = prepare(paths, options)?;
    let inputs_hash = deps.hash();
    if app_root.exists() && existing.is_none() && !paths.src_root.starts_with(app_root) {
        let empty = std::fs::read_dir(app_root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(fail(
                format!(
                    "the app root {} exists and is not a virtualenv",
                    app_root.display()
                ),
                "remove it, or set WARP_APP_ROOT to a new directory",
            ));
        }
    }
    let previous = BuildRecord::load(app_root).ok().flatten();
    let unchanged = existing
        .as_ref()
        .is_some_and(|e| e.base_executable == base.base_executable)
        && previous
            .as_ref()
            .is_some_and(|r| r.inputs_hash == inputs_hash);

    let locked = if unchanged {
        None
    } else {
        read_lock(&deps, &home, &base)?
    };

    // From here on the app root changes: a failure puts the previous one back.
    let existed = app_root.exists();
    let aside = if unchanged {
        None
    } else {
        venv::SetAside::try_new(app_root, &paths.src_root)?
    };
    let kept_venv = existing.filter(|_| unchanged);
    let result = build_steps(
        paths,
        &home,
        &mut vars,
        &deps,
        locked.as_ref(),
        tool,
        &base,
        kept_venv,
        inputs_hash,
        options,
    );
    match (&result, aside) {
        (Ok(_), Some(aside)) => aside.discard()?,
        (Err(_), Some(aside)) => {
            aside.restore()?;
            eprintln!("==> The previous build in {} was kept", app_root.display());
        }
        (Err(_), None) if !existed => {
            let _ = std::fs::remove_dir_all(app_root);
        }
        _ => {}
    }
    result
}

/// The steps that change the app root, in order.
#[allow(clippy::too_many_arguments)]
fn build_steps(
    paths: &AppPaths,
    home: &std::path::Path,
    vars: &mut AppVars,
    deps: &plan::Plan,
    locked: Option<&lock::Locked>,
    tool: Tool,
    base: &python::Probe,
    kept_venv: Option<python::Probe>,
    inputs_hash: String,
    options: &BuildOptions,
) -> Result<BuildRecord> {
    let app_root = &paths.app_root;
    let layout = &deps.layout;
    let unchanged = kept_venv.is_some();
    // A uv.lock with uv: the venv is made by the install (one `uv sync`).
    let synced = !unchanged && uv_sync::applies(tool, layout, locked, paths, home, vars);
    if !unchanged && !synced {
        let title = format!(
            "Creating virtualenv {} (Python {}, {})",
            app_root.display(),
            base.version,
            tool.name()
        );
        step(&title, || {
            let env = if tool == Tool::Uv {
                install::uv_env(vars)
            } else {
                Vec::new()
            };
            venv::create(tool, &base.base_executable, app_root, &env)
        })?;
    }
    if !synced {
        std::fs::create_dir_all(app_root.join("tmp"))?;
    }
    let venv_python = paths.python();

    if hooks::find(paths, "pre-build").is_some() {
        let env = crate::app::environment::base(paths, vars);
        step("Running the pre-build hook", || {
            hooks::run_with(paths, "pre-build", &env)
        })?;
    }
    if hooks::find(paths, "build-env").is_some() {
        let env = crate::app::environment::base(paths, vars);
        let exported = step("Sourcing the build-env hook", || {
            hooks::source_env(paths, "build-env", &env)
        })?;
        for (k, v) in exported {
            vars.set(&k, &v);
        }
    }

    let env = crate::app::environment::base(paths, vars);
    let installer = install::Installer {
        tool,
        python: &venv_python,
        home,
        src_root: &paths.src_root,
        vars,
        env: &env,
    };
    if unchanged {
        eprintln!("==> Dependencies unchanged since the last build, install skipped");
    } else {
        if vars.flag("UPGRADE_PIP_TO_LATEST") && tool == Tool::Pip {
            step("Upgrading pip to the latest version", || {
                installer.upgrade_pip()
            })?;
        }
        match (layout, locked) {
            (detect::Layout::None, _) => {}
            (detect::Layout::Lock(file), Some(locked)) if synced => {
                let title = format!(
                    "Installing dependencies from {} ({} packages, hashes verified) \
                     into a new virtualenv {} (Python {}) with uv sync",
                    file.name(),
                    locked.packages.len(),
                    app_root.display(),
                    base.version,
                );
                step(&title, || {
                    uv_sync::sync(
                        &installer,
                        file,
                        locked,
                        &deps.selection,
                        &base.base_executable,
                        app_root,
                    )
                })?;
                std::fs::create_dir_all(app_root.join("tmp"))?;
            }
            (detect::Layout::Lock(file), Some(locked)) => {
                let title = format!(
                    "Installing dependencies from {} ({} packages, hashes verified)",
                    file.name(),
                    locked.packages.len()
                );
                step(&title, || installer.install_lock(file, locked))?;
            }
            _ => {
                let title = format!("Installing dependencies from {}", layout.name());
                step(&title, || installer.install(layout))?;
            }
        }
    }
    // A new venv's interpreter is not started to ask where its
    // site-packages is: the base's scheme says, when that directory is there.
    let venv_probe = match kept_venv.or_else(|| base.in_venv(app_root)) {
        Some(probe) => probe,
        None => python::probe(&venv_python)?,
    };
    step("Installing warp's WSGI server support", || {
        match &options.server_copies {
            Some(copies) => crate::extension::install_linked(&venv_probe.platlib, copies, app_root),
            None => crate::extension::install(&venv_probe.platlib),
        }
    })?;
    if hooks::find(paths, "build").is_some() {
        step("Running the build hook", || {
            hooks::run_with(paths, "build", &env)
        })?;
    }

    let django = match detect::django_settings(home, vars) {
        Some(module) if !vars.flag("DISABLE_COLLECTSTATIC") => {
            let key_inputs = static_reuse::KeyInputs {
                home,
                app_root,
                settings_module: &module,
                inputs_hash: &inputs_hash,
                python_version: &venv_probe.version,
                platlib: &venv_probe.platlib,
                env: &env,
            };
            Some(collect_static(
                &key_inputs,
                vars,
                &venv_python,
                options.static_stamps.as_deref(),
            )?)
        }
        Some(module) => Some(step(
            "Reading Django settings (DISABLE_COLLECTSTATIC is set)",
            || django::inspect(&venv_python, home, app_root, &module, false, &env),
        )?),
        None => None,
    };
    let entry = detect::entry(home, vars, django.as_ref())?;
    let record = BuildRecord {
        warp_version: env!("CARGO_PKG_VERSION").to_string(),
        src_root: paths.src_root.clone(),
        app_root: app_root.clone(),
        layout: layout_record_name(layout),
        entry,
        python: PythonInfo {
            executable: venv_python.clone(),
            version: venv_probe.version.clone(),
            site_packages: venv_probe.platlib.clone(),
        },
        inputs_hash,
        django: django.map(|(info, _)| info),
    };
    step("Recording the build", || record.save())?;
    Ok(record)
}

/// Django's collectstatic, or the files it collected for the same static key
/// (see [`static_reuse`]; `WARP_COLLECTSTATIC=always` turns reuse off).
fn collect_static(
    inputs: &static_reuse::KeyInputs,
    vars: &AppVars,
    python: &std::path::Path,
    stamps: Option<&std::path::Path>,
) -> Result<(record::DjangoInfo, Option<String>)> {
    let always = vars.get(static_reuse::MODE_VAR).as_deref() == Some("always");
    let store = static_reuse::Store::new(
        inputs.app_root,
        std::env::var(static_reuse::CACHE_VAR).ok(),
        stamps.map(std::path::Path::to_path_buf),
    );
    let key = if always {
        None
    } else {
        static_reuse::key(inputs)?
    };
    if let Some(key) = &key {
        if let Some(reused) = store.reuse(key, inputs.home, inputs.app_root)? {
            let root = reused.collected.static_root.clone().unwrap_or_default();
            eprintln!(
                "==> Static files unchanged since they were last collected: {} reused in {} \
                 (collectstatic skipped; {}=always collects on every build)",
                reused.files,
                root.display(),
                static_reuse::MODE_VAR
            );
            return Ok(reused.collected.into_found());
        }
    }
    store.forget();
    let found = step("Collecting Django static files", || {
        django::inspect(
            python,
            inputs.home,
            inputs.app_root,
            inputs.settings_module,
            true,
            inputs.env,
        )
    })?;
    if let Some(key) = &key {
        let collected = static_reuse::Collected::from_found(&found.0, &found.1);
        store.remember(key, || static_reuse::key(inputs), &collected)?;
    }
    Ok(found)
}

/// The record's layout names: one of "requirements.txt", "Pipfile",
/// "pyproject.toml", "setup.py", "none", or the lock file's name ("uv.lock").
fn layout_record_name(layout: &detect::Layout) -> String {
    match layout {
        detect::Layout::Requirements(_) => "requirements.txt".into(),
        other => other.name(),
    }
}
