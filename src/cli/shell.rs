//! `warp shell`: an interactive shell in the app environment.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp shell")]
pub struct ShellArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: ShellArgs) -> anyhow::Result<i32> {
    super::not_built("shell", 2)
}
