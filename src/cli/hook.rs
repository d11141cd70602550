//! `warp setup|migrate|verify|alive|ready`: run the app's hook of that name.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp migrate --src myapp
  warp ready || echo not ready
The hook is .warp/action_hooks/NAME (or .warpdrive/action_hooks/NAME); with no hook the command exits 0.")]
pub struct HookArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(name: &str, args: HookArgs) -> anyhow::Result<i32> {
    crate::runtime::run_hook(&args.app.load()?, name)?;
    Ok(0)
}
