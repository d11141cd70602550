//! `warp build`: detect the app, make its virtualenv, install its dependencies, run the build hooks.
use crate::app::AppPaths;
use crate::build::{self, BuildOptions, Installer};
use clap::{Args, ValueEnum};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp build                              the app in the current directory, into ./.venv
  warp build --src myapp --python 3.12    pyenv's newest 3.12 (or python3.12 on PATH)
  WARP_APP_ROOT=/opt/app-root warp build  into another app root
  warp build --installer pip              python -m venv + pip even when uv is on PATH")]
pub struct BuildArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
    /// The interpreter for the venv: a path, a command (python3.12) or a version (3.12).
    #[arg(long, value_name = "PY")]
    pub python: Option<String>,
    /// Which tool makes the venv and installs (auto: uv when it is on PATH).
    #[arg(long, value_enum, default_value_t = InstallerArg::Auto)]
    pub installer: InstallerArg,
}

/// `--installer`: the flag's values; the build takes [`Installer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstallerArg {
    /// uv when it is on PATH, else pip.
    Auto,
    Uv,
    Pip,
}

impl From<InstallerArg> for Installer {
    fn from(arg: InstallerArg) -> Installer {
        match arg {
            InstallerArg::Auto => Installer::Auto,
            InstallerArg::Uv => Installer::Uv,
            InstallerArg::Pip => Installer::Pip,
        }
    }
}

pub fn run(args: BuildArgs) -> anyhow::Result<i32> {
    let paths = AppPaths::locate(&args.app.src)?;
    // No cache directory (no HOME): the static stamp stays in the app root
    // alone, and the interpreter is asked on every build.
    let build_cache = crate::image::store::cache_dir()
        .ok()
        .map(|dir| dir.join("build-cache"));
    let record = build::build(
        &paths,
        &BuildOptions {
            python: args.python,
            installer: args.installer.into(),
            static_stamps: build_cache.as_ref().map(|dir| dir.join("static-stamps")),
            probes: build_cache.as_ref().map(|dir| dir.join("python-probes")),
            server_copies: build_cache.as_ref().map(|dir| dir.join("warpserver")),
        },
    )?;
    eprintln!(
        "==> Built {} (Python {}, layout {}) into {}",
        paths.src_root.display(),
        record.python.version,
        record.layout,
        record.app_root.display()
    );
    Ok(0)
}
