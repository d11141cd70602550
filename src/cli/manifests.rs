//! `warp manifests`: Kubernetes manifests for the app's image.
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp manifests registry.example/myapp:1.0")]
pub struct ManifestsArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
}

pub fn run(_args: ManifestsArgs) -> anyhow::Result<i32> {
    super::not_built("manifests", 6)
}
