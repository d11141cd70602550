//! `warp start`'s raw flags ([`ServeFlags`], clap), as typed: what the user
//! said, before defaults from the environment and the machine and before any
//! check across options. `resolve.rs` turns them into the plain
//! [`Settings`](crate::serve::config::Settings) the serving half runs with —
//! ripgrep's split of its low-level flags from its resolved settings.
//!
//! Why the flags live here and nowhere else: clap types stay in `cli/`, and
//! nothing outside `cli/` needs them. The options a source carries
//! (`serve::source_options`: `.warp/config.yaml`'s `server:`, `server_args`,
//! `APP_CONFIG`) are turned into *arguments* there and parsed by this same
//! struct in `cli::start::run`, in front of the command line's — one parser
//! for both, so an option is spelled, defaulted and checked alike wherever it
//! comes from, and the library module never imports `cli`.
use crate::serve::config::{AccessLogFormat, CpuScheduling, LogLevel};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `warp start`'s options. Durations are in seconds (fractions allowed; a
/// timeout of 0 is off), sizes in bytes with an optional unit (`10MiB`, `512M`, `1G`).
#[derive(Args, Debug, Clone, Default)]
pub struct ServeFlags {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on [default: $WARP_HTTP_PORT, else $PORT, else 8080].
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Worker processes [default: from the CPUs and memory the container has, or $WEB_CONCURRENCY].
    #[arg(long, value_name = "N")]
    pub processes: Option<u32>,
    /// Python threads per worker process [default: 5, more when memory limits the processes].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Most Python threads a worker grows to while requests wait and its
    /// threads are waiting outside the GIL (on a database, a socket) [default:
    /// 32 when --threads is not given, else --threads: no growth].
    #[arg(long, value_name = "N")]
    pub max_threads: Option<u32>,
    /// Serve the files under DIR at URL (repeatable), e.g. `--url-alias /static static`.
    #[arg(long, num_args = 2, value_names = ["URL", "DIR"], action = clap::ArgAction::Append)]
    pub url_alias: Vec<String>,
    /// Directory the workers run in [default: the app directory: $APP_HOME, else the source].
    #[arg(long, value_name = "DIR")]
    pub working_directory: Option<PathBuf>,
    /// Extra directory on the app's sys.path (repeatable).
    #[arg(long, value_name = "DIR", action = clap::ArgAction::Append)]
    pub python_path: Vec<PathBuf>,
    /// Name of the WSGI callable in a script TARGET.
    #[arg(long, value_name = "NAME", default_value = "application")]
    pub callable_object: String,
    /// Log level of the server and the supervisor.
    #[arg(long, default_value = "info", value_parser = log_levels())]
    pub log_level: LogLevel,
    /// Log every request (off by default, as mod_wsgi-express).
    #[arg(long)]
    pub access_log: bool,
    /// Format of the access log.
    #[arg(long, default_value = "common", value_parser = access_log_formats())]
    pub access_log_format: AccessLogFormat,

    /// A worker not ready this long after it started is killed and started again (with backoff).
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = parse_seconds)]
    pub startup_timeout: Duration,
    /// A request running longer gets 504 and its worker is replaced gracefully.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    pub request_timeout: Duration,
    /// A request waiting this long for a Python thread gets 503.
    #[arg(long, value_name = "SECS", default_value = "45", value_parser = parse_seconds)]
    pub queue_timeout: Duration,
    /// Depth of the listening socket's queue of connections not yet accepted.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub listen_backlog: u32,
    /// Replace a worker that has had no request for this long (0 = never).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = parse_seconds)]
    pub inactivity_timeout: Duration,
    /// Replace a worker after this many requests (0 = never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub maximum_requests: u64,
    /// Add a random 0..=N to --maximum-requests per worker, so workers do not all restart at once.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub maximum_requests_jitter: u64,
    /// Replace each worker after it has run this long (0 = never).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = parse_seconds)]
    pub restart_interval: Duration,
    /// Replace a worker whose resident memory exceeds this (e.g. 512MiB) [default: no limit].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// Restart a worker whose Python interpreter (GIL) is blocked this long.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    pub deadlock_timeout: Duration,
    /// How long a stopping worker may take to finish its in-flight requests.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = parse_seconds)]
    pub graceful_timeout: Duration,
    /// After the graceful timeout, how long before a stopping worker is killed.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,
    /// Larger request bodies get 413 before the app is called.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub limit_request_body: u64,
    /// Time a client has to send the request headers.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Minimum request body rate in bytes/s: a body may take header-timeout
    /// plus one second per this many bytes (0: off).
    #[arg(long, value_name = "BYTES", default_value_t = 500)]
    pub body_min_rate: u64,
    /// How long an idle keep-alive connection is kept open.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_seconds)]
    pub keep_alive_timeout: Duration,
    /// Concurrent connections per worker; more wait in the listen queue.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_connections: u32,
    /// Linux CPU scheduling of the workers' threads: `batch` (SCHED_BATCH: a
    /// worker's I/O and Python threads hand requests over in runs instead of
    /// preempting each other on every wake-up) or `normal`.
    #[arg(long, value_name = "POLICY", default_value = "batch", value_parser = cpu_schedulings())]
    pub cpu_scheduling: CpuScheduling,
    /// Trust proxy headers from peers in this network (repeatable), e.g. 10.0.0.0/8.
    #[arg(long, value_name = "CIDR", action = clap::ArgAction::Append)]
    pub trust_proxy: Vec<String>,
    /// A proxy header to honour from trusted peers (repeatable) [default: X-Forwarded-For,
    /// X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port, Forwarded].
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub trust_proxy_header: Vec<String>,
    /// Serve an HTTP/1.1 request that has no Host header (RFC 9112 says 400,
    /// which warp answers by default, as Apache and nginx do).
    #[arg(long)]
    pub accept_missing_host: bool,
    /// Serve Prometheus metrics on this port (off by default).
    #[arg(long, value_name = "N")]
    pub metrics_port: Option<u16>,
    /// Restart the workers when a Python file of the source changes (development).
    #[arg(long)]
    pub reload_on_changes: bool,
    /// Post-mortem pdb on the terminal for an exception; forces 1 process, 1 thread (development).
    #[arg(long)]
    pub enable_debugger: bool,
    /// Run the workers with this Python instead of the app root's (`manage.py runwarp` passes
    /// its own); the app is then not built, and the workers get warp's server package from a
    /// private directory of this run, not from that Python's site-packages.
    #[arg(long, value_name = "PATH")]
    pub worker_python: Option<PathBuf>,
}

impl ServeFlags {
    /// What `--enable-debugger` overrides among the options given, said once
    /// at start: pdb needs the one terminal, so it runs 1 process × 1 thread
    /// (as mod_wsgi-express) whatever --processes/--threads say.
    pub fn debugger_note(&self) -> Option<String> {
        if !self.enable_debugger {
            return None;
        }
        let mut ignored = Vec::new();
        if let Some(p) = self.processes.filter(|&p| p != 1) {
            ignored.push(format!("--processes {p}"));
        }
        if let Some(t) = self.threads.filter(|&t| t != 1) {
            ignored.push(format!("--threads {t}"));
        }
        if let Some(t) = self.max_threads.filter(|&t| t != 1) {
            ignored.push(format!("--max-threads {t}"));
        }
        (!ignored.is_empty()).then(|| {
            format!(
                "--enable-debugger runs 1 process with 1 thread: {} ignored",
                ignored.join(" and ")
            )
        })
    }
}

/// `--log-level`'s values.
fn log_levels() -> impl TypedValueParser<Value = LogLevel> {
    PossibleValuesParser::new(LogLevel::ALL.map(LogLevel::name))
        .map(|name| *LogLevel::ALL.iter().find(|l| l.name() == name).unwrap())
}

/// `--access-log-format`'s values.
fn access_log_formats() -> impl TypedValueParser<Value = AccessLogFormat> {
    PossibleValuesParser::new(AccessLogFormat::ALL.map(AccessLogFormat::name)).map(|name| {
        *AccessLogFormat::ALL
            .iter()
            .find(|f| f.name() == name)
            .unwrap()
    })
}

/// `--cpu-scheduling`'s values.
fn cpu_schedulings() -> impl TypedValueParser<Value = CpuScheduling> {
    PossibleValuesParser::new(CpuScheduling::NAMES)
        .map(|name| CpuScheduling::from_name(&name).unwrap())
}

/// Seconds, whole or fractional: `15`, `0.5`, `2s`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let number = text.trim().trim_end_matches('s');
    match number.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{text:?} is not a number of seconds (e.g. 15 or 0.5)"
        )),
    }
}

/// Bytes with an optional unit: `1048576`, `10MiB`, `512M`, `1G`, `64k`
/// (K/M/G and KiB/MiB/GiB are all powers of 1024, as memory limits are).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a size (e.g. 10MiB, 512M, 1048576)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debugger_notes_the_concurrency_it_overrides() {
        let options = |debugger, processes, threads| ServeFlags {
            enable_debugger: debugger,
            processes,
            threads,
            ..ServeFlags::default()
        };
        assert_eq!(
            options(true, Some(2), Some(4)).debugger_note().as_deref(),
            Some("--enable-debugger runs 1 process with 1 thread: --processes 2 and --threads 4 ignored")
        );
        assert_eq!(options(true, None, Some(1)).debugger_note(), None);
        assert_eq!(options(false, Some(2), None).debugger_note(), None);
    }

    #[test]
    fn sizes_and_seconds_parse() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("15s"), Ok(Duration::from_secs(15)));
        assert!(parse_seconds("-1").is_err());
    }
}
