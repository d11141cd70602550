//! `warp exec`: run a command in the app environment, with PID-1 duties.
use clap::Args;
use std::ffi::OsString;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp exec python manage.py check
  warp exec -- sh -c 'echo $VIRTUAL_ENV'
As a container's PID 1, warp forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to the
command, reaps zombies and exits with the command's exit code.")]
pub struct ExecArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

pub fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let env = crate::runtime::app_environment(&args.app.load()?)?;
    crate::runtime::pid1::exec(&args.command, &env)
}
