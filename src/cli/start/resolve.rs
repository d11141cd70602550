//! `warp start`'s flags → [`Settings`]: defaults filled in from the
//! environment (PORT, WEB_CONCURRENCY) and the container's resources, every
//! value checked with a one-line error and a hint, so that the supervisor
//! and the workers work from one validated set. One step per concern; each
//! returns what it resolved.
use super::flags::ServeFlags;
use crate::error::fail;
use crate::serve::config::{
    is_identifier, Settings, DEFAULT_MAX_THREADS, DEFAULT_PORT, DEFAULT_PROXY_HEADERS,
    DEFAULT_THREADS,
};
use crate::serve::resources::{self, Resources};
use anyhow::Result;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Worker processes and threads, where they came from (for the banner), and
/// the request and queue timeouts (the debugger turns them off).
struct Concurrency {
    processes: u32,
    threads: u32,
    max_threads: u32,
    source: String,
    request_timeout: Duration,
    queue_timeout: Duration,
}

impl ServeFlags {
    /// Fill in defaults and check every value. `app_dir` (APP_HOME, else the
    /// source root) is the default working directory and where relative paths
    /// start.
    pub fn resolve(
        &self,
        app_dir: &Path,
        env: &dyn Environment,
        machine: &Resources,
    ) -> Result<Settings> {
        let port = resolve_port(self.port, env)?;
        let concurrency = self.concurrency(env, machine)?;
        self.check_queues()?;
        let url_aliases = self.url_aliases(app_dir)?;
        let working_directory = self.working_directory(app_dir)?;
        let python_path = self
            .python_path
            .iter()
            .map(|p| in_dir(app_dir, p))
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
        let trust_proxy_headers = self.trust_proxy_headers()?;
        let worker_python = self
            .worker_python
            .as_deref()
            .map(worker_python)
            .transpose()?;
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        Ok(Settings {
            host: self.host.clone(),
            port,
            processes: concurrency.processes,
            threads: concurrency.threads,
            max_threads: concurrency.max_threads,
            concurrency_source: concurrency.source,
            url_aliases,
            app_dir: app_dir.to_path_buf(),
            working_directory,
            python_path,
            callable_object: self.callable_object.clone(),
            log_level: self.log_level,
            access_log: self.access_log,
            access_log_format: self.access_log_format,
            startup_timeout: self.startup_timeout,
            request_timeout: concurrency.request_timeout,
            queue_timeout: concurrency.queue_timeout,
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
            accept_missing_host: self.accept_missing_host,
            metrics_port: self.metrics_port,
            reload_on_changes: self.reload_on_changes,
            enable_debugger: self.enable_debugger,
            worker_python,
        })
    }

    /// --processes/--threads, else WEB_CONCURRENCY, else tuned for the machine;
    /// the debugger forces 1 × 1.
    fn concurrency(&self, env: &dyn Environment, machine: &Resources) -> Result<Concurrency> {
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
        let mut c = Concurrency {
            processes: tuned.processes,
            threads: tuned.threads,
            max_threads: 0,
            source: tuned.why,
            request_timeout: self.request_timeout,
            queue_timeout: self.queue_timeout,
        };
        if let Some(n) = web_concurrency {
            c.processes = n;
            c.threads = DEFAULT_THREADS;
            c.source = "WEB_CONCURRENCY".into();
        }
        if let Some(p) = self.processes {
            c.processes = p;
            c.source = "--processes".into();
        }
        if let Some(t) = self.threads {
            c.threads = t;
        }
        // Growth is the default's; threads the user fixed stay fixed unless
        // --max-threads asks for more.
        c.max_threads =
            match (self.max_threads, self.threads) {
                (Some(m), _) if m < c.threads => return Err(fail(
                    format!(
                        "--max-threads {m} is below the {} threads a worker starts with",
                        c.threads
                    ),
                    "give --max-threads at least --threads (equal: a fixed pool), or leave it out",
                )),
                (Some(m), _) => m,
                (None, Some(t)) => t,
                (None, None) => DEFAULT_MAX_THREADS.max(c.threads),
            };
        // A worker sitting in pdb must get neither a 504 nor a 503: with the
        // debugger the request and queue timeouts are off (mod_wsgi-express
        // debug mode runs the app embedded, where they do not apply either).
        if self.enable_debugger {
            c.processes = 1;
            c.threads = 1;
            c.max_threads = 1;
            c.source = "--enable-debugger".into();
            c.request_timeout = Duration::ZERO;
            c.queue_timeout = Duration::ZERO;
        }
        Ok(c)
    }

    fn check_queues(&self) -> Result<()> {
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
        Ok(())
    }

    /// (URL prefix without its trailing /, absolute existing directory).
    fn url_aliases(&self, app_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
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
            let abs = in_dir(app_dir, dir);
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
        Ok(url_aliases)
    }

    fn working_directory(&self, app_dir: &Path) -> Result<PathBuf> {
        let Some(dir) = &self.working_directory else {
            return Ok(app_dir.to_path_buf());
        };
        let abs = in_dir(app_dir, dir);
        if !abs.is_dir() {
            return Err(fail(
                format!("--working-directory {} does not exist", abs.display()),
                "give an existing directory (relative paths start in the app's directory)",
            ));
        }
        Ok(abs)
    }

    /// The proxies' CIDRs checked, and the headers believed from them.
    fn trust_proxy_headers(&self) -> Result<Vec<String>> {
        for cidr in &self.trust_proxy {
            check_cidr(cidr)?;
        }
        if self.trust_proxy_header.is_empty() {
            return Ok(DEFAULT_PROXY_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect());
        }
        for name in &self.trust_proxy_header {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(fail(
                    format!("--trust-proxy-header {name:?} is not an HTTP header name"),
                    "e.g. --trust-proxy-header X-Forwarded-For",
                ));
            }
        }
        Ok(self.trust_proxy_header.clone())
    }
}

/// `path`, relative paths taken from `dir`.
fn in_dir(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
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

/// The interpreter `--worker-python` names (a path, a command on PATH or a
/// version, as `warp build --python` reads it), as an absolute path — not
/// resolved: a virtualenv's `bin/python` is a symlink that must stay one.
fn worker_python(python: &Path) -> Result<PathBuf> {
    let found = crate::build::python::resolve(&python.to_string_lossy()).map_err(|_| {
        fail(
            format!(
                "--worker-python {}: there is no such file",
                python.display()
            ),
            "give a CPython 3.9+ interpreter by path or by name on PATH, e.g. `--worker-python .venv/bin/python`",
        )
    })?;
    Ok(std::path::absolute(found)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::serve::config::{
        DEFAULT_PROXY_HEADERS, DEFAULT_THREADS, GRACEFUL_TIMEOUT_SECS, SHUTDOWN_TIMEOUT_SECS,
    };
    use clap::Parser;
    use std::collections::HashMap;

    /// `args` parsed as `warp start` options, `env` as the environment, on
    /// a machine with 2 CPUs and 4 GiB.
    fn resolve(args: &[&str], env: &[(&'static str, &'static str)]) -> Result<Settings> {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            flags: ServeFlags,
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
        cli.flags.resolve(Path::new("/"), &env, &machine)
    }

    #[test]
    fn the_plain_defaults_of_the_serving_half_are_these() {
        let s = resolve(&[], &[]).unwrap();
        assert_eq!(format!("{s:?}"), format!("{:?}", Settings::for_test()));
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
    fn threads_grow_by_default_and_stay_as_given() {
        let grow = |args: &[&str]| {
            let s = resolve(args, &[]).unwrap();
            (s.threads, s.max_threads)
        };
        assert_eq!(grow(&[]), (DEFAULT_THREADS, DEFAULT_MAX_THREADS));
        assert_eq!(grow(&["--threads", "3"]), (3, 3));
        assert_eq!(grow(&["--threads", "3", "--max-threads", "9"]), (3, 9));
        assert_eq!(grow(&["--max-threads", "5"]), (DEFAULT_THREADS, 5));
        assert_eq!(grow(&["--enable-debugger", "--max-threads", "9"]), (1, 1));
        let err = resolve(&["--threads", "8", "--max-threads", "4"], &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--max-threads 4 is below the 8 threads"),
            "{err}"
        );
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
}
