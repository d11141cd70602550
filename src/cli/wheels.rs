//! `warp wheels`: build a wheelhouse of the app's dependencies.
use crate::app::AppPaths;
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp wheels --src myapp
  WARP_PIP_NO_INDEX=1 warp build --src myapp    then install from the wheelhouse alone")]
pub struct WheelsArgs {
    #[command(flatten)]
    pub app: super::AppArgs,
    /// The interpreter whose pip builds the wheels (default: the venv's, else python3).
    #[arg(long, value_name = "PY")]
    pub python: Option<String>,
}

pub fn run(args: WheelsArgs) -> anyhow::Result<i32> {
    let paths = AppPaths::locate(&args.app.src)?;
    let dir = crate::ui::step("Building wheels", || {
        crate::build::wheels::build_wheelhouse(&paths, args.python.as_deref())
    })?;
    eprintln!("==> Wheelhouse: {}", dir.display());
    Ok(0)
}
