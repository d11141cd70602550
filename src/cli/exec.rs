//! `warp exec`: run a command in the app environment, with PID-1 duties.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp exec python manage.py check")]
pub struct ExecArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: ExecArgs) -> anyhow::Result<i32> {
    super::not_built("exec", 2)
}
