//! [`Settings`]: what `warp start` runs with, every value resolved and
//! checked — a plain value with no parsing in it. The command line's flags
//! (clap, `cli/start`) are turned into it there, as ripgrep turns its raw
//! flags into its resolved settings; the supervisor, the banner and the
//! worker's config read only this.
use std::path::PathBuf;
use std::time::Duration;

pub use warp_protocol::CpuScheduling;

/// The Python threads a worker starts with (README, "Default threads per
/// process"): measured, a CPU-bound view's p99 grows with every thread
/// sharing the GIL (2 threads: 0.75× granian's; 5, mod_wsgi-express's
/// count: 1.3×), while a view that waits is served by the pool's growth
/// towards [`DEFAULT_MAX_THREADS`], not by the base.
pub const DEFAULT_THREADS: u32 = 2;
/// The most threads a worker grows to when `--threads` is not given (see
/// `--max-threads`): a view that waits 20 ms then serves 32 connections at
/// once, as granian's thread per request in flight does.
pub const DEFAULT_MAX_THREADS: u32 = 32;
/// The port when neither --port, WARP_HTTP_PORT nor PORT says otherwise
/// (warpdrive's and OpenShift's 8080, not mod_wsgi-express's 8000).
pub const DEFAULT_PORT: u16 = 8080;

/// The log level of the server and the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
    ];

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

/// The access log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLogFormat {
    #[default]
    Common,
    Combined,
    Json,
}

impl AccessLogFormat {
    pub const ALL: [AccessLogFormat; 3] = [
        AccessLogFormat::Common,
        AccessLogFormat::Combined,
        AccessLogFormat::Json,
    ];

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
/// flags' defaults in `cli/start` must say the same (a unit test there checks it).
pub const GRACEFUL_TIMEOUT_SECS: u32 = 15;
pub const SHUTDOWN_TIMEOUT_SECS: u32 = 5;

/// The options after defaults and checks: what the supervisor runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub processes: u32,
    pub threads: u32,
    /// The most threads a worker grows to (`threads`: no growth).
    pub max_threads: u32,
    /// Where processes and threads came from, for the banner.
    pub concurrency_source: String,
    /// (URL prefix, absolute directory).
    pub url_aliases: Vec<(String, PathBuf)>,
    /// The app's directory (APP_HOME, else the source root): where relative
    /// paths (a script TARGET too) start.
    pub app_dir: PathBuf,
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
    pub accept_missing_host: bool,
    pub metrics_port: Option<u16>,
    pub reload_on_changes: bool,
    pub enable_debugger: bool,
    /// `--worker-python`: run the workers with this interpreter (an absolute
    /// path, not resolved: a virtualenv's `bin/python` must stay a symlink)
    /// instead of the app root's; the app is then not built.
    pub worker_python: Option<PathBuf>,
}

/// A Python identifier (ASCII subset is enough for a callable's name check).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
impl Settings {
    /// What `warp start` resolves to with no option, no environment and a
    /// machine of 2 CPUs and 4 GiB, in the app directory `/` (unit tests of
    /// the modules that read settings; `cli/start` tests the resolution).
    pub fn for_test() -> Settings {
        Settings {
            host: "0.0.0.0".into(),
            port: DEFAULT_PORT,
            processes: 2,
            threads: DEFAULT_THREADS,
            max_threads: DEFAULT_MAX_THREADS,
            concurrency_source: "tuned for 2 CPU, 4 GiB memory".into(),
            url_aliases: Vec::new(),
            app_dir: PathBuf::from("/"),
            working_directory: PathBuf::from("/"),
            python_path: Vec::new(),
            callable_object: "application".into(),
            log_level: LogLevel::Info,
            access_log: false,
            access_log_format: AccessLogFormat::Common,
            startup_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
            queue_timeout: Duration::from_secs(45),
            listen_backlog: 100,
            inactivity_timeout: None,
            maximum_requests: None,
            maximum_requests_jitter: 0,
            restart_interval: None,
            memory_limit: None,
            deadlock_timeout: Duration::from_secs(60),
            graceful_timeout: Duration::from_secs(GRACEFUL_TIMEOUT_SECS.into()),
            shutdown_timeout: Duration::from_secs(SHUTDOWN_TIMEOUT_SECS.into()),
            limit_request_body: 10 << 20,
            header_timeout: Duration::from_secs(15),
            body_min_rate: 500,
            keep_alive_timeout: Duration::from_secs(2),
            max_connections: 1000,
            cpu_scheduling: CpuScheduling::Batch,
            trust_proxy: Vec::new(),
            trust_proxy_headers: DEFAULT_PROXY_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            accept_missing_host: false,
            metrics_port: None,
            reload_on_changes: false,
            enable_debugger: false,
            worker_python: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_for_people() {}

    #[test]
    fn identifiers_are_python_names() {
        assert!(is_identifier("application"));
        assert!(is_identifier("_app2"));
        assert!(!is_identifier("2app") && !is_identifier("my-app") && !is_identifier(""));
    }
}
