//! `warp fixup PATH`: make a tree usable by an arbitrary UID in group 0.
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  warp fixup /opt/app-root\n  warp fixup --strict ./build")]
pub struct FixupArgs {
    /// The tree to fix (symbolic links are not followed).
    pub path: PathBuf,
    /// Fail when something could not be changed (default: report it, exit 0).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: FixupArgs) -> anyhow::Result<i32> {
    if std::fs::symlink_metadata(&args.path).is_err() {
        return Err(crate::error::fail(
            format!("{} does not exist", args.path.display()),
            "pass the directory to fix, e.g. warp fixup /opt/app-root",
        ));
    }
    let report = crate::fixup::fixup(&args.path)?;
    for (path, errno) in report.failures.iter().take(20) {
        eprintln!("warp: could not fix {}: {}", path.display(), errno.desc());
    }
    if report.failures.len() > 20 {
        eprintln!("warp: … and {} more", report.failures.len() - 20);
    }
    eprintln!(
        "==> Fixed permissions of {}: {} entries, {} changed, {} failed",
        args.path.display(),
        report.visited,
        report.changed,
        report.failures.len()
    );
    if args.strict && !report.failures.is_empty() {
        return Err(crate::error::fail(
            format!(
                "{} entries under {} could not be fixed",
                report.failures.len(),
                args.path.display()
            ),
            "run as the owner of the files (or root), or drop --strict to only report them",
        ));
    }
    Ok(0)
}
