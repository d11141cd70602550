//! `warp project`: named virtualenv workspaces for local development.
use crate::error::fail;
use crate::project;
use clap::Args;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  warp project --create --python python3.12 shop\n  warp project shop\n  warp project --list\n  warp project --destroy shop\nWorkspaces live in $WARP_HOME (default ~/.warp/projects)."
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
    #[arg(long, conflicts_with_all = ["name", "destroy", "create"])]
    pub list: bool,
    /// Remove a workspace.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "create"])]
    pub destroy: Option<String>,
}

pub fn run(args: ProjectArgs) -> anyhow::Result<i32> {
    if args.list {
        let active = project::active();
        for name in project::list()? {
            let mark = if active.as_deref() == Some(name.as_str()) {
                "*"
            } else {
                " "
            };
            println!("{mark} {name}");
        }
        return Ok(0);
    }
    if let Some(name) = args.destroy {
        project::destroy(&name)?;
        eprintln!("==> Destroyed project {name}");
        return Ok(0);
    }
    let Some(name) = args.name else {
        return Err(fail(
            "which project?",
            "warp project NAME (add --create for a new one), or warp project --list",
        ));
    };
    if args.create {
        project::create(&name, args.python.as_deref())?;
    }
    project::enter(&name)
}
