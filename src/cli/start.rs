//! `warp start`: serve the app with warp's WSGI server under a supervisor.
//! Parses the flags (the source's options in front of the command line's),
//! resolves them into the serving half's `Settings`, and calls `serve::start`.
mod flags;
mod resolve;

use clap::Args;
use flags::ServeFlags;
use resolve::ProcessEnv;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp start --src myapp                      what `warp build` detected, on :8080
  warp start wsgi.py --port 8000              a WSGI script (callable `application`)
  warp start myapp.wsgi:app --processes 2 --threads 10
  warp start --maximum-requests 1000 --maximum-requests-jitter 100 --memory-limit 512MiB

Options may also come from the source: the `server:` mapping of .warp/config.yaml
or .warpdrive/server_args (the command line wins).

Signals: TERM/INT stop gracefully, HUP restarts the workers one by one,
USR1 prints the workers' states to the log.")]
pub struct StartArgs {
    /// `module:callable`, a WSGI script path, or nothing for what `warp build` detected.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub app: super::AppArgs,
    #[command(flatten)]
    pub serve: ServeFlags,
}

/// `warp start` alone, for parsing again with the source's options in front.
#[derive(clap::Parser)]
#[command(name = "warp start", args_override_self = true)]
struct StartCommand {
    #[command(flatten)]
    args: StartArgs,
}

pub fn run(args: StartArgs) -> anyhow::Result<i32> {
    // The app (paths, config, variables) read once, for every step below.
    let app = args.app.load()?;
    let from_source = crate::serve::source_options::load(&app)?;
    let args = if from_source.is_empty() {
        args
    } else {
        // The source's options first, the command line's after them (it wins).
        let command_line = std::env::args_os().skip(2);
        let argv = std::iter::once("warp start".into())
            .chain(from_source.iter().map(std::ffi::OsString::from))
            .chain(command_line);
        match <StartCommand as clap::Parser>::try_parse_from(argv) {
            Ok(parsed) => parsed.args,
            Err(e) => {
                let text = e.to_string();
                return Err(crate::error::fail(
                    format!(
                        "the server options of the source are not valid: {}",
                        text.lines()
                            .next()
                            .unwrap_or("")
                            .trim_start_matches("error: ")
                    ),
                    format!("they are: {}", from_source.join(" ")),
                ));
            }
        }
    };
    // The app may live in a subdirectory of the source (APP_HOME, as in
    // s2i-python-container): the workers run there and relative paths start there.
    let home = app.home()?;
    let settings = args
        .serve
        .resolve(&home, &ProcessEnv, &crate::serve::resources::detect())?;
    if let Some(note) = args.serve.debugger_note() {
        eprintln!("warp: note: {note}");
    }
    crate::serve::start(&app, args.target.as_deref(), settings)
}
