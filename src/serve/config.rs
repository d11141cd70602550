//! The options of `warp start` (named like mod_wsgi-express's where the idea is
//! the same) and their resolution into [`Settings`]: defaults filled in from
//! the environment and the container's resources, every value checked, so the
//! supervisor and the workers work from one validated set.
use crate::error::fail;
use crate::serve::resources::{self, Resources};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// mod_wsgi-express's per-process thread count, warp's default too.
pub const DEFAULT_THREADS: u32 = 5;
/// The port when neither --port, WARP_HTTP_PORT nor PORT says otherwise
/// (warpdrive's and OpenShift's 8080, not mod_wsgi-express's 8000).
pub const DEFAULT_PORT: u16 = 8080;

/// `warp start`'s options. Durations are in seconds (fractions allowed; a
/// timeout of 0 is off), sizes in bytes with an optional unit (`10MiB`, `512M`, `1G`).
#[derive(Args, Debug, Clone, Default)]
pub struct ServeOptions {
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
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Log every request (off by default, as mod_wsgi-express).
    #[arg(long)]
    pub access_log: bool,
    /// Format of the access log.
    #[arg(long, value_enum, default_value_t = AccessLogFormat::Common)]
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
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = CpuScheduling::Batch)]
    pub cpu_scheduling: CpuScheduling,
    /// Trust proxy headers from peers in this network (repeatable), e.g. 10.0.0.0/8.
    #[arg(long, value_name = "CIDR", action = clap::ArgAction::Append)]
    pub trust_proxy: Vec<String>,
    /// A proxy header to honour from trusted peers (repeatable) [default: X-Forwarded-For,
    /// X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port, Forwarded].
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub trust_proxy_header: Vec<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CpuScheduling {
    #[default]
    Batch,
    Normal,
}

impl CpuScheduling {
    pub fn name(self) -> &'static str {
        match self {
            CpuScheduling::Batch => "batch",
            CpuScheduling::Normal => "normal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AccessLogFormat {
    #[default]
    Common,
    Combined,
    Json,
}

impl AccessLogFormat {
    pub fn name(self) -> &'static str {
        match self {
            AccessLogFormat::Common => "common",
            AccessLogFormat::Combined => "combined",
            AccessLogFormat::Json => "json",
        }
    }
}

/// The proxy headers honoured from trusted peers when no --trust-proxy-header is given.
pub const DEFAULT_PROXY_HEADERS: &[&str] = &[
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "Forwarded",
];

/// The default graceful-timeout and shutdown-timeout, in seconds (mod_wsgi-express's);
/// `warp manifests` sizes a pod's termination grace period from them. The
/// clap defaults above must say the same (a unit test checks it).
pub const GRACEFUL_TIMEOUT_SECS: u32 = 15;
pub const SHUTDOWN_TIMEOUT_SECS: u32 = 5;

/// The options after defaults and checks: what the supervisor runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub processes: u32,
    pub threads: u32,
    /// Where processes and threads came from, for the banner.
    pub concurrency_source: String,
    /// (URL prefix, absolute directory).
    pub url_aliases: Vec<(String, PathBuf)>,
    pub working_directory: PathBuf,
    pub python_path: Vec<PathBuf>,
    pub callable_object: String,
    pub log_level: LogLevel,
    pub access_log: bool,
    pub access_log_format: AccessLogFormat,
    pub startup_timeout: Duration,
    pub request_timeout: Duration,
    pub queue_timeout: Duration,
    pub listen_backlog: u32,
    pub inactivity_timeout: Option<Duration>,
    pub maximum_requests: Option<u64>,
    pub maximum_requests_jitter: u64,
    pub restart_interval: Option<Duration>,
    pub memory_limit: Option<u64>,
    pub deadlock_timeout: Duration,
    pub graceful_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub limit_request_body: u64,
    pub header_timeout: Duration,
    pub body_min_rate: u64,
    pub keep_alive_timeout: Duration,
    pub max_connections: u32,
    pub cpu_scheduling: CpuScheduling,
    pub trust_proxy: Vec<String>,
    pub trust_proxy_headers: Vec<String>,
    pub metrics_port: Option<u16>,
    pub reload_on_changes: bool,
    pub enable_debugger: bool,
}

/// Where a setting may come from besides the command line.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl ServeOptions {
    /// Fill in defaults and check every value. `app_dir` (APP_HOME, else the
    /// source root) is the default working directory and where relative paths start.
    pub fn resolve(
        &self,
        app_dir: &Path,
        env: &dyn Environment,
        machine: &Resources,
    ) -> Result<Settings> {
        let port = resolve_port(self.port, env)?;
        if let Some(0) = self.threads {
            return Err(fail(
                "--threads 0: a worker needs at least one Python thread",
                "use --threads 1 or more, or leave it out for the tuned default",
            ));
        }
        if let Some(0) = self.processes {
            return Err(fail(
                "--processes 0: at least one worker process is needed",
                "use --processes 1 or more, or leave it out for the tuned default",
            ));
        }
        let web_concurrency = match env.var("WEB_CONCURRENCY") {
            None => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(fail(
                        format!("WEB_CONCURRENCY={v:?} is not a positive whole number"),
                        "set it to the number of worker processes, or unset it",
                    ))
                }
            },
        };
        let tuned = resources::tuned_concurrency(machine);
        let (mut processes, mut threads, mut source) = (tuned.processes, tuned.threads, tuned.why);
        if let Some(n) = web_concurrency {
            processes = n;
            threads = DEFAULT_THREADS;
            source = "WEB_CONCURRENCY".into();
        }
        if let Some(p) = self.processes {
            processes = p;
            source = "--processes".into();
        }
        if let Some(t) = self.threads {
            threads = t;
        }
        // A worker sitting in pdb must get neither a 504 nor a 503: with the
        // debugger the request and queue timeouts are off (mod_wsgi-express
        // debug mode runs the app embedded, where they do not apply either).
        let (mut request_timeout, mut queue_timeout) = (self.request_timeout, self.queue_timeout);
        if self.enable_debugger {
            processes = 1;
            threads = 1;
            source = "--enable-debugger".into();
            request_timeout = Duration::ZERO;
            queue_timeout = Duration::ZERO;
        }
        if self.listen_backlog == 0 {
            return Err(fail(
                "--listen-backlog 0 would refuse every connection",
                "use a queue depth of 1 or more (default 100)",
            ));
        }
        if self.max_connections == 0 {
            return Err(fail(
                "--max-connections 0 would refuse every connection",
                "use 1 or more (default 1000 per worker)",
            ));
        }
        let mut url_aliases = Vec::new();
        for pair in self.url_alias.chunks(2) {
            let (url, dir) = (&pair[0], Path::new(&pair[1]));
            if !url.starts_with('/') {
                return Err(fail(
                    format!(
                        "--url-alias {url} {}: the URL must start with /",
                        dir.display()
                    ),
                    "e.g. --url-alias /static static",
                ));
            }
            let abs = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                app_dir.join(dir)
            };
            if !abs.is_dir() {
                return Err(fail(
                    format!(
                        "--url-alias {url}: the directory {} does not exist",
                        abs.display()
                    ),
                    "give an existing directory (relative paths start in the app's directory)",
                ));
            }
            url_aliases.push((url.trim_end_matches('/').to_string(), abs));
        }
        let working_directory = match &self.working_directory {
            None => app_dir.to_path_buf(),
            Some(dir) => {
                let abs = if dir.is_absolute() {
                    dir.clone()
                } else {
                    app_dir.join(dir)
                };
                if !abs.is_dir() {
                    return Err(fail(
                        format!("--working-directory {} does not exist", abs.display()),
                        "give an existing directory (relative paths start in the app's directory)",
                    ));
                }
                abs
            }
        };
        let python_path = self
            .python_path
            .iter()
            .map(|p| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    app_dir.join(p)
                }
            })
            .collect();
        if !is_identifier(&self.callable_object) {
            return Err(fail(
                format!(
                    "--callable-object {:?} is not a Python name",
                    self.callable_object
                ),
                "give the name of the WSGI callable in the script, e.g. application",
            ));
        }
        for cidr in &self.trust_proxy {
            check_cidr(cidr)?;
        }
        let trust_proxy_headers = if self.trust_proxy_header.is_empty() {
            DEFAULT_PROXY_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            for name in &self.trust_proxy_header {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(fail(
                        format!("--trust-proxy-header {name:?} is not an HTTP header name"),
                        "e.g. --trust-proxy-header X-Forwarded-For",
                    ));
                }
            }
            self.trust_proxy_header.clone()
        };
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        Ok(Settings {
            host: self.host.clone(),
            port,
            processes,
            threads,
            concurrency_source: source,
            url_aliases,
            working_directory,
            python_path,
            callable_object: self.callable_object.clone(),
            log_level: self.log_level,
            access_log: self.access_log,
            access_log_format: self.access_log_format,
            startup_timeout: self.startup_timeout,
            request_timeout,
            queue_timeout,
            listen_backlog: self.listen_backlog,
            inactivity_timeout: nonzero(self.inactivity_timeout),
            maximum_requests: (self.maximum_requests > 0).then_some(self.maximum_requests),
            maximum_requests_jitter: self.maximum_requests_jitter,
            restart_interval: nonzero(self.restart_interval),
            memory_limit: self.memory_limit.filter(|&m| m > 0),
            deadlock_timeout: self.deadlock_timeout,
            graceful_timeout: self.graceful_timeout,
            shutdown_timeout: self.shutdown_timeout,
            limit_request_body: self.limit_request_body,
            header_timeout: self.header_timeout,
            body_min_rate: self.body_min_rate,
            keep_alive_timeout: self.keep_alive_timeout,
            max_connections: self.max_connections,
            cpu_scheduling: self.cpu_scheduling,
            trust_proxy: self.trust_proxy.clone(),
            trust_proxy_headers,
            metrics_port: self.metrics_port,
            reload_on_changes: self.reload_on_changes,
            enable_debugger: self.enable_debugger,
        })
    }
}

impl ServeOptions {
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
        (!ignored.is_empty()).then(|| {
            format!(
                "--enable-debugger runs 1 process with 1 thread: {} ignored",
                ignored.join(" and ")
            )
        })
    }
}

/// --port, else WARP_HTTP_PORT, else PORT, else 8080.
fn resolve_port(flag: Option<u16>, env: &dyn Environment) -> Result<u16> {
    if let Some(port) = flag {
        return Ok(port);
    }
    for name in ["WARP_HTTP_PORT", "PORT"] {
        if let Some(value) = env.var(name) {
            return value.trim().parse::<u16>().map_err(|_| {
                fail(
                    format!("{name}={value:?} is not a port number"),
                    format!("set {name} to a number from 1 to 65535, or pass --port N"),
                )
            });
        }
    }
    Ok(DEFAULT_PORT)
}

/// A Python identifier (ASCII subset is enough for a callable's name check).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn check_cidr(cidr: &str) -> Result<()> {
    let bad = || {
        fail(
            format!("--trust-proxy {cidr:?} is not an IP address or network"),
            "e.g. --trust-proxy 10.0.0.0/8 or --trust-proxy 127.0.0.1",
        )
    };
    let (addr, prefix) = match cidr.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (cidr, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    if let Some(prefix) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match prefix.parse::<u8>() {
            Ok(p) if p <= max => {}
            _ => return Err(bad()),
        }
    }
    Ok(())
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

/// Bytes for people: `10 MiB`, `1.5 GiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Settings for unit tests: `args` parsed as `warp start` options, `env` as
/// the environment, on a machine with 2 CPUs and 4 GiB.
#[cfg(test)]
pub fn settings_for_test(args: &[&str], env: &[(&'static str, &'static str)]) -> Result<Settings> {
    use clap::Parser;
    use std::collections::HashMap;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        options: ServeOptions,
    }

    struct FakeEnv(HashMap<&'static str, &'static str>);
    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    let cli = Cli::try_parse_from(std::iter::once("start").chain(args.iter().copied()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let env = FakeEnv(env.iter().copied().collect());
    let machine = Resources {
        cpus: 2.0,
        memory_bytes: Some(4 << 30),
    };
    cli.options.resolve(Path::new("/"), &env, &machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str], env: &[(&'static str, &'static str)]) -> Result<Settings> {
        settings_for_test(args, env)
    }

    #[test]
    fn defaults_are_mod_wsgi_express_ones() {
        let s = resolve(&[], &[]).unwrap();
        assert_eq!(s.port, 8080);
        assert_eq!(s.startup_timeout, Duration::from_secs(15));
        assert_eq!(s.request_timeout, Duration::from_secs(60));
        assert_eq!(s.queue_timeout, Duration::from_secs(45));
        assert_eq!(
            s.graceful_timeout,
            Duration::from_secs(GRACEFUL_TIMEOUT_SECS.into())
        );
        assert_eq!(
            s.shutdown_timeout,
            Duration::from_secs(SHUTDOWN_TIMEOUT_SECS.into())
        );
        assert_eq!(s.limit_request_body, 10 << 20);
        assert_eq!(s.listen_backlog, 100);
        assert_eq!(s.maximum_requests, None);
        assert_eq!(s.threads, DEFAULT_THREADS);
        assert_eq!(s.processes, 2);
        assert!(!s.access_log);
        assert_eq!(s.trust_proxy_headers.len(), DEFAULT_PROXY_HEADERS.len());
    }

    #[test]
    fn port_comes_from_flag_then_warp_http_port_then_port() {
        let env = [("WARP_HTTP_PORT", "9000"), ("PORT", "9001")];
        assert_eq!(resolve(&["--port", "7000"], &env).unwrap().port, 7000);
        assert_eq!(resolve(&[], &env).unwrap().port, 9000);
        assert_eq!(resolve(&[], &[("PORT", "9001")]).unwrap().port, 9001);
        let err = resolve(&[], &[("PORT", "http")]).unwrap_err();
        assert!(err.to_string().contains("PORT=\"http\""), "{err}");
    }

    #[test]
    fn web_concurrency_sets_processes_and_flags_win() {
        let s = resolve(&[], &[("WEB_CONCURRENCY", "7")]).unwrap();
        assert_eq!(
            (s.processes, s.concurrency_source.as_str()),
            (7, "WEB_CONCURRENCY")
        );
        let s = resolve(&["--processes", "3"], &[("WEB_CONCURRENCY", "7")]).unwrap();
        assert_eq!(s.processes, 3);
        assert!(resolve(&[], &[("WEB_CONCURRENCY", "lots")]).is_err());
    }

    #[test]
    fn zero_threads_or_processes_are_refused() {
        let err = resolve(&["--threads", "0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--threads 0"), "{err}");
        assert!(resolve(&["--processes", "0"], &[]).is_err());
        assert!(resolve(&["--listen-backlog", "0"], &[]).is_err());
        // Timeouts of 0 are off, as in mod_wsgi-express.
        let s = resolve(&["--startup-timeout", "0", "--request-timeout", "0"], &[]).unwrap();
        assert!(s.startup_timeout.is_zero() && s.request_timeout.is_zero());
    }

    #[test]
    fn debugger_forces_one_process_one_thread() {
        let s = resolve(
            &["--enable-debugger", "--processes", "4", "--threads", "8"],
            &[],
        )
        .unwrap();
        assert_eq!((s.processes, s.threads), (1, 1));
        assert!(s.request_timeout.is_zero() && s.queue_timeout.is_zero());
    }

    #[test]
    fn the_debugger_notes_the_concurrency_it_overrides() {
        let options = |debugger, processes, threads| ServeOptions {
            enable_debugger: debugger,
            processes,
            threads,
            ..ServeOptions::default()
        };
        assert_eq!(
            options(true, Some(2), Some(4)).debugger_note().as_deref(),
            Some("--enable-debugger runs 1 process with 1 thread: --processes 2 and --threads 4 ignored")
        );
        assert_eq!(options(true, None, Some(1)).debugger_note(), None);
        assert_eq!(options(false, Some(2), None).debugger_note(), None);
    }

    #[test]
    fn zero_means_off_for_recycling_options() {
        let s = resolve(
            &[
                "--maximum-requests",
                "50",
                "--restart-interval",
                "0",
                "--inactivity-timeout",
                "2.5",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.maximum_requests, Some(50));
        assert_eq!(s.restart_interval, None);
        assert_eq!(s.inactivity_timeout, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn url_alias_needs_a_slash_and_an_existing_directory() {
        let s = resolve(&["--url-alias", "/static/", "/tmp"], &[]).unwrap();
        assert_eq!(
            s.url_aliases,
            vec![("/static".to_string(), PathBuf::from("/tmp"))]
        );
        assert!(resolve(&["--url-alias", "static", "/tmp"], &[]).is_err());
        assert!(resolve(&["--url-alias", "/s", "/no/such/dir"], &[]).is_err());
    }

    #[test]
    fn trust_proxy_takes_addresses_and_networks_only() {
        assert!(resolve(
            &["--trust-proxy", "10.0.0.0/8", "--trust-proxy", "::1"],
            &[]
        )
        .is_ok());
        assert!(resolve(&["--trust-proxy", "10.0.0.0/33"], &[]).is_err());
        assert!(resolve(&["--trust-proxy", "proxy.local"], &[]).is_err());
        let s = resolve(&["--trust-proxy-header", "X-Real-IP"], &[]).unwrap();
        assert_eq!(s.trust_proxy_headers, vec!["X-Real-IP"]);
        assert!(resolve(&["--trust-proxy-header", "bad header"], &[]).is_err());
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
        assert_eq!(human_size(10 << 20), "10 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
