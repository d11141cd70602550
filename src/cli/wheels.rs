//! `warp wheels`: build a wheelhouse of the app's dependencies.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp wheels --src myapp")]
pub struct WheelsArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: WheelsArgs) -> anyhow::Result<i32> {
    super::not_built("wheels", 2)
}
