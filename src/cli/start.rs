//! `warp start`: serve the app with warp's WSGI server under a supervisor.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp start --src myapp")]
pub struct StartArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: StartArgs) -> anyhow::Result<i32> {
    super::not_built("start", 3)
}
