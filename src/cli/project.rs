//! `warp project`: named virtualenv workspaces for local development.
use clap::Args;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  warp project --create --python python3.12 shop\n  warp project shop\n  warp project --list\n  warp project --destroy shop"
)]
pub struct ProjectArgs {
    /// The workspace's name.
    pub name: Option<String>,
    /// Create the workspace if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// The Python interpreter for a new workspace.
    #[arg(long, value_name = "PY")]
    pub python: Option<String>,
    /// List the workspaces.
    #[arg(long)]
    pub list: bool,
    /// Remove a workspace.
    #[arg(long, value_name = "NAME")]
    pub destroy: Option<String>,
}

pub fn run(_args: ProjectArgs) -> anyhow::Result<i32> {
    super::not_built("project", 2)
}
