//! [`WorkerConfig`]: one worker's settings, the JSON object the supervisor
//! puts in `WARPSERVER_CONFIG`. Every key is optional on the wire; the
//! defaults are mod_wsgi-express's tuned ones. Times are seconds (floats), `0`
//! turns a timeout or limit off, sizes are bytes.
//!
//! The recovery settings a worker may lack support for (`maximum_requests`,
//! `inactivity_timeout`, `deadlock_timeout`, `heartbeat_interval`) and
//! `debugger` are written only when they differ from the default, so a worker
//! that does not know one fails loudly at start (unknown key) instead of
//! ignoring a setting the user turned on.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// mod_wsgi-express's deadlock timeout (seconds), the worker's default.
pub const DEFAULT_DEADLOCK_TIMEOUT: f64 = 60.0;
/// Seconds between heartbeats when the supervisor does not ask for more (SIGUSR1 shows them).
const DEFAULT_HEARTBEAT_INTERVAL: f64 = 5.0;

/// Every setting of one worker process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// `module:callable`, or the absolute path of a WSGI script (read by worker.py).
    pub target: String,
    /// Name of the callable in a script file (default `application`).
    pub callable_object: String,
    /// Python threads running the app in this worker.
    pub threads: usize,
    /// The most Python threads the worker may grow to while requests wait
    /// and the threads it has are waiting outside the GIL (on a database, a
    /// socket, a sleep); `0` (the default) or `threads` and below: no growth.
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub max_threads: usize,
    /// Worker processes in total (`wsgi.multiprocess` is `processes > 1`).
    pub processes: usize,
    /// Static mappings `[url_prefix, absolute directory]`, served in Rust.
    pub url_aliases: Vec<(String, PathBuf)>,
    /// Django STATIC_URL → STATIC_ROOT (served like a url alias).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub django_static: Option<DjangoStatic>,
    /// Directory to chdir into before importing the app (worker.py).
    pub working_directory: Option<PathBuf>,
    /// Extra `sys.path` entries, prepended in order (worker.py).
    pub python_path: Vec<PathBuf>,
    /// `debug`, `info`, `warning`, `error` or `critical`.
    pub log_level: String,
    /// Write one access log line per request to stdout.
    pub access_log: bool,
    /// `common`, `combined` or `json`.
    pub access_log_format: String,
    /// Seconds a request may run in the app before it gets a 504 and the
    /// worker asks to be recycled.
    pub request_timeout: f64,
    /// Seconds a request may wait for a free Python thread (503 at expiry).
    pub queue_timeout: f64,
    /// Requests that may wait for a thread; more get 503 at once.
    pub queue_backlog: usize,
    /// SIGTERM: seconds to let in-flight requests finish.
    pub graceful_timeout: f64,
    /// After the graceful window: seconds before the worker exits regardless.
    pub shutdown_timeout: f64,
    /// Largest request body in bytes (413 before the app is called).
    pub limit_request_body: u64,
    /// Largest request head (request line + headers) in bytes (431).
    pub limit_request_headers_size: usize,
    /// Longest request line in bytes (414), gunicorn's default.
    pub limit_request_line: usize,
    /// Longest single header field line in bytes (431), gunicorn's and Apache's default.
    pub limit_request_field_size: usize,
    /// Most header fields in a request (431).
    pub limit_request_headers_count: usize,
    /// Seconds a client has to send a complete request head.
    pub header_timeout: f64,
    /// Minimum request body rate in bytes/s once the header-timeout's grace is
    /// used up (mod_reqtimeout's MinRate, mod_wsgi-express's 500): a body may
    /// take header_timeout + received / body_min_rate seconds (0: only the
    /// per-read header-timeout applies).
    pub body_min_rate: f64,
    /// Seconds an idle keep-alive connection is kept open (0: no keep-alive).
    pub keep_alive_timeout: f64,
    /// Open connections per worker; further clients wait in the listen queue.
    pub max_connections: usize,
    /// Linux scheduling policy of the worker's I/O and Python threads.
    pub cpu_scheduling: CpuScheduling,
    /// Peers (CIDRs) whose proxy headers are believed.
    pub trust_proxy: Vec<String>,
    /// Which proxy headers to believe from trusted peers, e.g.
    /// `X-Forwarded-For`, `Forwarded`. Empty = all of them.
    pub trust_proxy_headers: Vec<String>,
    /// SERVER_NAME / SERVER_PORT fallback when the request has no Host.
    pub server_name: Option<String>,
    pub server_port: Option<u16>,
    /// Serve an HTTP/1.1 request that has no Host header (RFC 9112 §3.2 says
    /// a server MUST answer it 400, as Apache and nginx do; gunicorn and
    /// granian accept it). Off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub accept_missing_host: bool,
    /// Seconds between heartbeat events on the status pipe (0 = none).
    #[serde(skip_serializing_if = "is_default_heartbeat")]
    pub heartbeat_interval: f64,
    /// Seconds the GIL may stay unobtainable before the worker declares a
    /// deadlock, says `recycle` and exits at once (0 = no check).
    #[serde(skip_serializing_if = "is_default_deadlock")]
    pub deadlock_timeout: f64,
    /// Recycle after this many requests (0 = never). The supervisor sends
    /// each worker its own limit with the jitter already added.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub maximum_requests: u64,
    /// Recycle when no request came for this many seconds (0 = never).
    /// (restart-interval and memory-limit are the supervisor's: it measures
    /// them from outside, so they work even when a worker is wedged.)
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub inactivity_timeout: f64,
    /// SCRIPT_NAME: the URL prefix the app is mounted at ("" = root).
    pub script_name: String,
    /// Post-mortem pdb on the terminal for an exception in the app (worker.py
    /// wraps the app). The worker then runs one thread without request or
    /// queue timeout, so that a worker sitting in pdb is neither answered 504
    /// nor recycled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debugger: bool,
}

/// Django's static files: STATIC_URL served from STATIC_ROOT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DjangoStatic {
    pub url: String,
    pub root: PathBuf,
}

/// The `cpu_scheduling` setting: `batch` (SCHED_BATCH) or `normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuScheduling {
    #[default]
    Batch,
    Normal,
}

impl CpuScheduling {
    pub const NAMES: [&'static str; 2] = ["batch", "normal"];

    pub fn name(self) -> &'static str {
        match self {
            CpuScheduling::Batch => "batch",
            CpuScheduling::Normal => "normal",
        }
    }

    pub fn from_name(name: &str) -> Option<CpuScheduling> {
        match name {
            "batch" => Some(CpuScheduling::Batch),
            "normal" => Some(CpuScheduling::Normal),
            _ => None,
        }
    }
}

fn is_default_heartbeat(v: &f64) -> bool {
    *v == DEFAULT_HEARTBEAT_INTERVAL
}

fn is_default_deadlock(v: &f64) -> bool {
    *v == DEFAULT_DEADLOCK_TIMEOUT
}

fn is_zero_usize(v: &usize) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            target: String::new(),
            callable_object: "application".into(),
            threads: 5,
            max_threads: 0,
            processes: 1,
            url_aliases: Vec::new(),
            django_static: None,
            working_directory: None,
            python_path: Vec::new(),
            log_level: "info".into(),
            access_log: false,
            access_log_format: "common".into(),
            request_timeout: 60.0,
            queue_timeout: 45.0,
            queue_backlog: 100,
            graceful_timeout: 15.0,
            shutdown_timeout: 5.0,
            limit_request_body: 10 * 1024 * 1024,
            limit_request_headers_size: 64 * 1024,
            limit_request_line: 4094,
            limit_request_field_size: 8190,
            limit_request_headers_count: 100,
            header_timeout: 15.0,
            body_min_rate: 500.0,
            keep_alive_timeout: 2.0,
            max_connections: 1000,
            cpu_scheduling: CpuScheduling::default(),
            trust_proxy: Vec::new(),
            trust_proxy_headers: Vec::new(),
            server_name: None,
            server_port: None,
            accept_missing_host: false,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            deadlock_timeout: DEFAULT_DEADLOCK_TIMEOUT,
            maximum_requests: 0,
            inactivity_timeout: 0.0,
            script_name: String::new(),
            debugger: false,
        }
    }
}

impl WorkerConfig {
    /// The `WARPSERVER_CONFIG` text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a WorkerConfig always serialises")
    }

    /// Read a `WARPSERVER_CONFIG` text; unknown keys are an error.
    pub fn from_json(text: &str) -> Result<WorkerConfig, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_survives_the_round_trip() {
        let config = WorkerConfig {
            target: "wsgi:app".into(),
            threads: 3,
            max_threads: 12,
            url_aliases: vec![("/static".into(), "/srv/static".into())],
            django_static: Some(DjangoStatic {
                url: "/s".into(),
                root: "/r".into(),
            }),
            working_directory: Some("/srv".into()),
            cpu_scheduling: CpuScheduling::Normal,
            server_name: Some("localhost".into()),
            server_port: Some(8080),
            heartbeat_interval: 1.0,
            deadlock_timeout: 30.0,
            maximum_requests: 7,
            inactivity_timeout: 2.5,
            debugger: true,
            ..WorkerConfig::default()
        };
        assert_eq!(WorkerConfig::from_json(&config.to_json()).unwrap(), config);
        let plain = WorkerConfig::default();
        assert_eq!(WorkerConfig::from_json(&plain.to_json()).unwrap(), plain);
    }

    #[test]
    fn settings_left_at_their_default_are_not_written() {
        let json: serde_json::Value =
            serde_json::from_str(&WorkerConfig::default().to_json()).unwrap();
        for off in [
            "maximum_requests",
            "inactivity_timeout",
            "deadlock_timeout",
            "heartbeat_interval",
            "debugger",
            "django_static",
        ] {
            assert!(json.get(off).is_none(), "{off} written: {json}");
        }
        assert_eq!(json["request_timeout"], 60.0);
        assert_eq!(json["cpu_scheduling"], "batch");
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_ones_defaulted() {
        assert!(WorkerConfig::from_json(r#"{"thread": 3}"#).is_err());
        assert!(WorkerConfig::from_json(r#"{"cpu_scheduling": "fifo"}"#).is_err());
        let c = WorkerConfig::from_json(r#"{"threads": 2}"#).unwrap();
        assert_eq!((c.threads, c.queue_timeout), (2, 45.0));
        for name in CpuScheduling::NAMES {
            assert_eq!(CpuScheduling::from_name(name).unwrap().name(), name);
        }
    }
}
