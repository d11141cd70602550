//! `warp start`: serve the app with warp's WSGI server under a supervisor.
use crate::serve::config::ServeOptions;
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp start --src myapp                      what `warp build` detected, on :8080
  warp start wsgi.py --port 8000              a WSGI script (callable `application`)
  warp start myapp.wsgi:app --processes 2 --threads 10
  warp start --maximum-requests 1000 --maximum-requests-jitter 100 --memory-limit 512MiB

Signals: TERM/INT stop gracefully, HUP restarts the workers one by one,
USR1 prints the workers' states to the log.")]
pub struct StartArgs {
    /// `module:callable`, a WSGI script path, or nothing for what `warp build` detected.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub app: super::AppArgs,
    #[command(flatten)]
    pub serve: ServeOptions,
}

pub fn run(args: StartArgs) -> anyhow::Result<i32> {
    crate::serve::start(&args.app.src, args.target.as_deref(), &args.serve)
}
