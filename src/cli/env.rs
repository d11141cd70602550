//! `warp env`: print the app environment as export lines.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  eval \"$(warp env)\"")]
pub struct EnvArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: EnvArgs) -> anyhow::Result<i32> {
    super::not_built("env", 2)
}
