//! `warp build`: detect the app, make its virtualenv, install its dependencies, run the build hooks.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp build --src myapp")]
pub struct BuildArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: BuildArgs) -> anyhow::Result<i32> {
    super::not_built("build", 2)
}
