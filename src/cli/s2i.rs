//! `warp s2i`: the Source-to-Image scripts, which builders/s2i/* call.
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp s2i assemble\n  warp s2i save-artifacts > artifacts.tar")]
pub struct S2iArgs {
    #[command(subcommand)]
    pub script: Script,
}

#[derive(Subcommand, Debug)]
pub enum Script {
    /// Restore artifacts, copy /tmp/src into the app root, build, fix permissions.
    Assemble,
    /// Start the app (exec warp start).
    Run,
    /// Write a tar of what speeds up the next build to standard output.
    SaveArtifacts,
    /// How to use this builder image.
    Usage,
}

pub fn run(_args: S2iArgs) -> anyhow::Result<i32> {
    super::not_built("s2i", 6)
}
