//! `warp setup|migrate|verify|alive|ready`: run the app's hook of that name.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp migrate --src myapp\n  warp ready || echo not ready")]
pub struct HookArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(name: &str, _args: HookArgs) -> anyhow::Result<i32> {
    super::not_built(name, 2)
}
