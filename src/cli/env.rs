//! `warp env`: print the app environment as export lines.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  eval \"$(warp env)\"\n  warp env --src myapp > app.env")]
pub struct EnvArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(args: EnvArgs) -> anyhow::Result<i32> {
    let env = crate::runtime::app_environment(&args.app.load()?)?;
    print!("{}", crate::runtime::export_lines(&env));
    Ok(0)
}
