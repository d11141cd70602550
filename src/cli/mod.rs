//! Command-line parsing: one module per sub-command, each a thin layer that
//! turns arguments into a call of a library module (build, serve, image …).
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod build;
mod env;
mod exec;
mod fixup;
mod hook;
mod image;
mod manifests;
mod project;
mod s2i;
mod shell;
mod start;
mod wheels;

const EXAMPLES: &str = "\
Examples:
  warp build --src examples/hello        build the example app into examples/hello/.venv
  warp start --src examples/hello        build if needed, then serve it on :8080
  warp image myapp --base oci-archive:base.tar --output docker-archive:myapp.tar
  eval \"$(warp env)\"                     the app's environment in this shell";

#[derive(Parser)]
#[command(
    name = "warp",
    version,
    about = "Take a Python WSGI app from source to a running, production-grade container",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Named virtualenv workspaces for local development.
    Project(project::ProjectArgs),
    /// Detect the app, make its virtualenv, install dependencies, run the build hooks.
    Build(build::BuildArgs),
    /// Serve the app with warp's WSGI server (builds it first if needed).
    Start(Box<start::StartArgs>),
    /// Build an OCI image of the app, without a daemon or a Dockerfile.
    Image(image::ImageArgs),
    /// Make a tree usable by an arbitrary UID in group 0 (chgrp 0, g=u).
    Fixup(fixup::FixupArgs),
    /// Print the app environment as `export` lines, for `eval "$(warp env)"`.
    Env(env::EnvArgs),
    /// Run a command in the app environment (PID-1 aware).
    Exec(exec::ExecArgs),
    /// An interactive shell in the app environment.
    Shell(shell::ShellArgs),
    /// Run the app's `setup` hook (exit 0 when there is none).
    Setup(hook::HookArgs),
    /// Run the app's `migrate` hook (exit 0 when there is none).
    Migrate(hook::HookArgs),
    /// Run the app's `verify` hook (exit 0 when there is none).
    Verify(hook::HookArgs),
    /// Run the app's `alive` hook: a liveness probe (exit 0 when there is none).
    Alive(hook::HookArgs),
    /// Run the app's `ready` hook: a readiness probe (exit 0 when there is none).
    Ready(hook::HookArgs),
    /// Build a wheelhouse of the app's dependencies in .warp/wheelhouse.
    Wheels(wheels::WheelsArgs),
    /// The Source-to-Image scripts (assemble, run, save-artifacts, usage).
    S2i(s2i::S2iArgs),
    /// Print Kubernetes manifests (Deployment + Service) for an app image.
    Manifests(manifests::ManifestsArgs),
}

/// The options shared by every command that acts on an app.
#[derive(Args, Debug, Clone)]
pub struct AppArgs {
    /// The app's source directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub src: PathBuf,
}

impl AppArgs {
    /// The app at `--src`, its config and variables read once.
    pub fn load(&self) -> anyhow::Result<crate::app::App> {
        crate::app::App::load(&crate::app::AppPaths::locate(&self.src)?)
    }
}

/// Parse the command line and run the command; the result is the exit code.
pub fn run() -> anyhow::Result<i32> {
    match Cli::parse().command {
        Command::Project(a) => project::run(a),
        Command::Build(a) => build::run(a),
        Command::Start(a) => start::run(*a),
        Command::Image(a) => image::run(a),
        Command::Fixup(a) => fixup::run(a),
        Command::Env(a) => env::run(a),
        Command::Exec(a) => exec::run(a),
        Command::Shell(a) => shell::run(a),
        Command::Setup(a) => hook::run("setup", a),
        Command::Migrate(a) => hook::run("migrate", a),
        Command::Verify(a) => hook::run("verify", a),
        Command::Alive(a) => hook::run("alive", a),
        Command::Ready(a) => hook::run("ready", a),
        Command::Wheels(a) => wheels::run(a),
        Command::S2i(a) => s2i::run(a),
        Command::Manifests(a) => manifests::run(a),
    }
}
