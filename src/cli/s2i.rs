//! `warp s2i`: the Source-to-Image scripts, which builders/s2i/* exec.
use crate::s2i::paths::S2iPaths;
use crate::s2i::{artifacts, assemble, run as run_script, usage};
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp s2i assemble
  warp s2i save-artifacts > artifacts.tar

Paths (defaults): WARP_S2I_SRC (/tmp/src), WARP_S2I_ARTIFACTS (/tmp/artifacts),
WARP_APP_ROOT or APP_ROOT (/opt/app-root).")]
pub struct S2iArgs {
    #[command(subcommand)]
    pub script: Script,
}

#[derive(Subcommand, Debug)]
pub enum Script {
    /// Copy /tmp/src into the app root, restore artifacts, build, fix permissions.
    Assemble,
    /// Start the app (exec warp start).
    Run,
    /// Write a tar of what speeds up the next build to standard output.
    SaveArtifacts,
    /// How to use this builder image.
    Usage,
}

pub fn run(args: S2iArgs) -> anyhow::Result<i32> {
    let paths = S2iPaths::from_env();
    match args.script {
        Script::Assemble => assemble::assemble(&paths).map(|()| 0),
        Script::Run => run_script::run(&paths),
        Script::SaveArtifacts => {
            crate::s2i::overrides::exec_if_present(&paths.app_src(), "save-artifacts")?;
            // Standard output is the tar stream: every message goes to stderr.
            let stdout = std::io::stdout().lock();
            let saved = artifacts::write(
                std::io::BufWriter::new(stdout),
                &paths.app_root,
                &paths.cache_root,
            )?;
            eprintln!(
                "==> Saved artifacts: virtualenv {}, caches [{}]",
                if saved.venv { "yes" } else { "no" },
                saved.caches.join(", ")
            );
            Ok(0)
        }
        Script::Usage => {
            std::io::stdout().write_all(usage::text(&usage::image_name()).as_bytes())?;
            Ok(0)
        }
    }
}
