//! `warp fixup PATH`: make a tree usable by an arbitrary UID in group 0.
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp fixup /opt/app-root\n  warp fixup --strict ./build")]
pub struct FixupArgs {
    /// The tree to fix (symbolic links are not followed).
    pub path: PathBuf,
    /// Fail when something could not be changed (default: report it, exit 0).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(_args: FixupArgs) -> anyhow::Result<i32> {
    super::not_built("fixup", 2)
}
