//! The worker's settings: the JSON object the supervisor passes in the
//! `WARPSERVER_CONFIG` environment variable (see ARCHITECTURE.md
//! "Supervisor ↔ worker"). Every key is optional; the defaults are
//! mod_wsgi-express's tuned ones. Unknown keys are rejected so that a typo in
//! the supervisor is caught at once rather than silently ignored.
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting of one worker process. Times are in seconds (floats allowed);
/// `0` disables a timeout or limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `module:callable`, or a path to a WSGI script file (read by worker.py).
    pub target: String,
    /// Name of the callable in a script file (default `application`).
    pub callable_object: String,
    /// Python threads running the app in this worker.
    pub threads: usize,
    /// Worker processes in total (only for `wsgi.multiprocess`).
    pub processes: usize,
    /// Static mappings `[url_prefix, directory]`, served in Rust.
    pub url_aliases: Vec<(String, PathBuf)>,
    /// Django STATIC_URL → STATIC_ROOT (served like a url alias).
    pub django_static: Option<DjangoStatic>,
    /// Directory to chdir into before importing the app (worker.py).
    pub working_directory: Option<PathBuf>,
    /// Extra `sys.path` entries, prepended in order (worker.py).
    pub python_path: Vec<PathBuf>,
    /// `debug`, `info`, `warning` or `error`.
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
    /// Linux scheduling policy of the I/O and Python threads: "batch" or
    /// "normal" (see scheduling.rs).
    pub cpu_scheduling: crate::scheduling::CpuScheduling,
    /// Peers (CIDRs) whose proxy headers are believed.
    pub trust_proxy: Vec<String>,
    /// Which proxy headers to believe from trusted peers, e.g.
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`,
    /// `X-Forwarded-Port`, `Forwarded`. Empty = all of them.
    pub trust_proxy_headers: Vec<String>,
    /// SERVER_NAME / SERVER_PORT fallback when the request has no Host.
    pub server_name: Option<String>,
    pub server_port: Option<u16>,
    /// Serve an HTTP/1.1 request that has no Host header (RFC 9112 §3.2 says
    /// a server MUST answer it 400, as Apache and nginx do; gunicorn and
    /// granian accept it). Off by default.
    pub accept_missing_host: bool,
    /// Seconds between `{"event":"heartbeat",...}` lines on the status pipe (0 = none).
    pub heartbeat_interval: f64,
    /// Seconds the GIL may stay unobtainable before the worker declares a
    /// deadlock, says `recycle` and exits at once (0 = no check).
    pub deadlock_timeout: f64,
    /// Recycle after this many requests (0 = never). The supervisor sends
    /// each worker its own limit with the jitter already added.
    pub maximum_requests: u64,
    /// Recycle when no request came for this many seconds (0 = never).
    /// (restart-interval and memory-limit are the supervisor's: it measures
    /// them from outside, so they work even when a worker is wedged.)
    pub inactivity_timeout: f64,
    /// SCRIPT_NAME: the URL prefix the app is mounted at ("" = root).
    pub script_name: String,
    /// Post-mortem pdb on the terminal for an exception in the app (worker.py
    /// wraps the app). Implies one thread and no request or queue timeout, so
    /// that a worker sitting in pdb is neither answered 504 nor recycled.
    pub debugger: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DjangoStatic {
    pub url: String,
    pub root: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: String::new(),
            callable_object: "application".into(),
            threads: 5,
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
            cpu_scheduling: Default::default(),
            trust_proxy: Vec::new(),
            trust_proxy_headers: Vec::new(),
            server_name: None,
            server_port: None,
            accept_missing_host: false,
            heartbeat_interval: 5.0,
            deadlock_timeout: 60.0,
            maximum_requests: 0,
            inactivity_timeout: 0.0,
            script_name: String::new(),
            debugger: false,
        }
    }
}

/// A trusted network: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("trust_proxy: {text:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("trust_proxy: bad prefix length in {text:?}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Seconds as a `Duration`; `None` when the setting is off (0 or negative).
pub fn seconds(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}

impl Config {
    pub fn from_json(text: &str) -> Result<Config, String> {
        let mut config: Config =
            serde_json::from_str(text).map_err(|e| format!("WARPSERVER_CONFIG: {e}"))?;
        if config.debugger {
            config.threads = 1;
            config.request_timeout = 0.0;
            config.queue_timeout = 0.0;
        }
        if config.threads == 0 {
            return Err("WARPSERVER_CONFIG: threads must be at least 1".into());
        }
        for cidr in &config.trust_proxy {
            Cidr::parse(cidr)?;
        }
        match config.access_log_format.as_str() {
            "common" | "combined" | "json" => {}
            other => {
                return Err(format!(
                    "WARPSERVER_CONFIG: access_log_format {other:?} is not common, combined or json"
                ))
            }
        }
        Ok(config)
    }

    pub fn trusted_proxies(&self) -> Vec<Cidr> {
        self.trust_proxy
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect()
    }

    /// Every static mapping, longest URL prefix first.
    pub fn static_mounts(&self) -> Vec<(String, PathBuf)> {
        let mut mounts = self.url_aliases.clone();
        if let Some(django) = &self.django_static {
            mounts.push((django.url.clone(), django.root.clone()));
        }
        for (url, _) in mounts.iter_mut() {
            if !url.starts_with('/') {
                url.insert(0, '/');
            }
        }
        mounts.sort_by_key(|(url, _)| std::cmp::Reverse(url.len()));
        mounts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_mod_wsgi_express_ones() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.threads, 5);
        assert_eq!(c.request_timeout, 60.0);
        assert_eq!(c.queue_timeout, 45.0);
        assert_eq!(c.limit_request_body, 10 * 1024 * 1024);
    }

    #[test]
    fn unknown_keys_and_zero_threads_are_refused() {
        assert!(Config::from_json(r#"{"thread": 3}"#).is_err());
        assert!(Config::from_json(r#"{"threads": 0}"#).is_err());
        // The supervisor's recycle settings are not the worker's business.
        for key in [
            "restart_interval",
            "memory_limit",
            "maximum_requests_jitter",
        ] {
            assert!(
                Config::from_json(&format!(r#"{{"{key}": 1}}"#)).is_err(),
                "{key}"
            );
        }
    }

    #[test]
    fn the_debugger_means_one_thread_and_no_request_or_queue_timeout() {
        let c =
            Config::from_json(r#"{"debugger": true, "threads": 4, "request_timeout": 9}"#).unwrap();
        assert_eq!(
            (c.threads, c.request_timeout, c.queue_timeout),
            (1, 0.0, 0.0)
        );
        assert!(!Config::from_json("{}").unwrap().debugger);
    }

    #[test]
    fn cidr_matching() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }
}
