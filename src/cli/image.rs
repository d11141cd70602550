//! `warp image`: build an OCI image of the app without a daemon or a Dockerfile.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp image myapp --output docker-archive:myapp.tar")]
pub struct ImageArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: ImageArgs) -> anyhow::Result<i32> {
    super::not_built("image", 5)
}
