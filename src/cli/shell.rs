//! `warp shell`: an interactive shell in the app environment.
use clap::Args;
use std::ffi::OsString;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp shell\n  warp shell --src myapp")]
pub struct ShellArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(args: ShellArgs) -> anyhow::Result<i32> {
    let env = crate::runtime::app_environment(&args.app.load()?)?;
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| OsString::from("/bin/sh"));
    crate::runtime::pid1::exec(&[shell, OsString::from("-i")], &env)
}
