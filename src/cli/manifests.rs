//! `warp manifests`: Kubernetes manifests (Deployment + Service) for an app image.
use crate::s2i::manifests::{self, ManifestOptions, ProbeMode};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warp manifests quay.io/team/myapp:1.0 | kubectl apply -f -
  warp manifests myapp:1.0 --replicas 3 --memory 512Mi --output myapp.yaml
  warp manifests myapp:1.0 --probe http --readiness-path /healthz")]
pub struct ManifestsArgs {
    /// The app image, e.g. quay.io/team/myapp:1.0.
    pub image: String,
    /// Name of the Deployment and Service (default: the image's last path component).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace to put in the manifests (default: none, kubectl's current one).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The port the server listens on in the container (and the Service port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// CPU request.
    #[arg(long, default_value = "100m")]
    pub cpu: String,
    /// Memory request.
    #[arg(long, default_value = "256Mi")]
    pub memory: String,
    /// CPU limit (default: none).
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// Memory limit (default: none).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Liveness/readiness probes: `warp alive`/`warp ready` in the container, or HTTP GETs
    /// (default: exec, or http when a path is given).
    #[arg(long, value_enum)]
    pub probe: Option<ProbeKind>,
    /// Path of the HTTP liveness probe (implies --probe http).
    #[arg(long, value_name = "PATH")]
    pub liveness_path: Option<String>,
    /// Path of the HTTP readiness probe (implies --probe http).
    #[arg(long, value_name = "PATH")]
    pub readiness_path: Option<String>,
    /// The server's graceful-timeout, in seconds (the grace period is sized from it).
    #[arg(long, value_name = "SECONDS", default_value_t = manifests::DEFAULT_GRACEFUL_TIMEOUT)]
    pub graceful_timeout: u32,
    /// The server's shutdown-timeout, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = manifests::DEFAULT_SHUTDOWN_TIMEOUT)]
    pub shutdown_timeout: u32,
    /// Seconds a terminating pod keeps serving while it leaves the endpoints (preStop sleep; 0: none).
    #[arg(long, value_name = "SECONDS", default_value_t = manifests::DEFAULT_DRAIN_DELAY)]
    pub drain_delay: u32,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Exec,
    Http,
}

pub fn run(args: ManifestsArgs) -> anyhow::Result<i32> {
    let paths_given = args.liveness_path.is_some() || args.readiness_path.is_some();
    let probe = match args.probe {
        Some(ProbeKind::Exec) if paths_given => {
            return Err(crate::error::fail_with_code(
                "--liveness-path and --readiness-path need --probe http",
                "drop --probe exec, or drop the paths to use `warp alive`/`warp ready`",
                2,
            ))
        }
        Some(ProbeKind::Http) => true,
        Some(ProbeKind::Exec) => false,
        None => paths_given,
    };
    let mut options = ManifestOptions::new(&args.image);
    options.name = args.name;
    options.namespace = args.namespace;
    options.port = args.port;
    options.replicas = args.replicas;
    options.cpu_request = args.cpu;
    options.memory_request = args.memory;
    options.cpu_limit = args.cpu_limit;
    options.memory_limit = args.memory_limit;
    options.graceful_timeout = args.graceful_timeout;
    options.shutdown_timeout = args.shutdown_timeout;
    options.drain_delay = args.drain_delay;
    if probe {
        options.probe = ProbeMode::Http {
            liveness_path: args.liveness_path.unwrap_or_else(|| "/".into()),
            readiness_path: args.readiness_path.unwrap_or_else(|| "/".into()),
        };
    }
    let text = manifests::render(&options)?;
    match args.output {
        Some(path) => crate::files::write_atomically(&path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(0)
}
