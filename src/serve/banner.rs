//! The startup banner, laid out like mod_wsgi-express's: where the server is,
//! what it runs, its capacity and every recovery setting.
use crate::serve::config::Settings;
use crate::ui::human_size;
use std::net::SocketAddr;
use std::time::Duration;

/// What the banner shows besides the settings.
pub struct BannerFacts<'a> {
    pub addr: SocketAddr,
    pub app: &'a str,
    pub python_version: &'a str,
    pub python: &'a str,
}

pub fn render(s: &Settings, facts: &BannerFacts) -> String {
    let secs = |d: Duration| format!("{} (seconds)", trim(d.as_secs_f64()));
    // Timeouts the user turned off with 0.
    let timeout = |d: Duration| {
        if d.is_zero() {
            "off".to_string()
        } else {
            secs(d)
        }
    };
    let off_or = |d: Option<Duration>| d.map_or("off".to_string(), secs);
    let plural = |n: u32, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "es" });
    let url = if facts.addr.ip().is_unspecified() {
        format!(
            "http://localhost:{}/ (all addresses, {})",
            facts.addr.port(),
            facts.addr
        )
    } else {
        format!("http://{}/", facts.addr)
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("Server URL", url),
        ("Application", facts.app.to_string()),
        (
            "Python",
            format!("{} ({})", facts.python_version, facts.python),
        ),
        (
            "Request Capacity",
            format!(
                "{} ({} * {} threads) [{}]",
                s.processes * s.threads,
                plural(s.processes, "process"),
                s.threads,
                s.concurrency_source
            ),
        ),
        (
            "Thread Growth",
            if s.max_threads > s.threads {
                format!(
                    "up to {} threads per process while requests wait and the GIL is free",
                    s.max_threads
                )
            } else {
                "off".into()
            },
        ),
        ("Request Timeout", timeout(s.request_timeout)),
        ("Startup Timeout", timeout(s.startup_timeout)),
        (
            "Queue Backlog",
            format!("{} (connections)", s.listen_backlog),
        ),
        ("Queue Timeout", timeout(s.queue_timeout)),
        ("Inactivity Timeout", off_or(s.inactivity_timeout)),
        (
            "Maximum Requests",
            s.maximum_requests.map_or("off".into(), |n| {
                if s.maximum_requests_jitter > 0 {
                    format!("{n} (+ up to {} jitter)", s.maximum_requests_jitter)
                } else {
                    n.to_string()
                }
            }),
        ),
        ("Restart Interval", off_or(s.restart_interval)),
        (
            "Memory Limit",
            s.memory_limit
                .map_or("off".into(), |m| format!("{} (per process)", human_size(m))),
        ),
        ("Deadlock Timeout", timeout(s.deadlock_timeout)),
        ("Graceful Timeout", secs(s.graceful_timeout)),
        ("Shutdown Timeout", secs(s.shutdown_timeout)),
        ("Header Timeout", timeout(s.header_timeout)),
        (
            "Body Minimum Rate",
            if s.body_min_rate == 0 {
                "off".to_string()
            } else {
                format!("{} (bytes/s)", s.body_min_rate)
            },
        ),
        ("Keep-Alive Timeout", secs(s.keep_alive_timeout)),
        ("Request Body Limit", human_size(s.limit_request_body)),
        (
            "Max Connections",
            format!("{} (per process)", s.max_connections),
        ),
        ("CPU Scheduling", s.cpu_scheduling.name().to_string()),
        (
            "Trusted Proxies",
            if s.trust_proxy.is_empty() {
                "none".into()
            } else {
                format!(
                    "{} ({})",
                    s.trust_proxy.join(", "),
                    s.trust_proxy_headers.join(", ")
                )
            },
        ),
        (
            "Access Log",
            if s.access_log {
                s.access_log_format.name().to_string()
            } else {
                "off".into()
            },
        ),
        ("Log Level", s.log_level.name().to_string()),
    ];
    for (url, dir) in &s.url_aliases {
        rows.push(("URL Alias", format!("{url} -> {}", dir.display())));
    }
    if let Some(port) = s.metrics_port {
        let mut metrics = facts.addr;
        metrics.set_port(port);
        let host = if metrics.ip().is_unspecified() {
            format!("localhost:{port}")
        } else {
            metrics.to_string()
        };
        rows.push(("Metrics URL", format!("http://{host}/metrics")));
    }
    if s.reload_on_changes {
        rows.push(("Reload On Changes", "on".into()));
    }
    if s.enable_debugger {
        rows.push(("Debugger", "on (post-mortem pdb)".into()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$} : {v}\n"))
        .collect()
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_shows_capacity_and_every_timeout() {
        // --processes 2 --maximum-requests 50
        let mut settings = Settings::for_test();
        settings.processes = 2;
        settings.maximum_requests = Some(50);
        let text = render(
            &settings,
            &BannerFacts {
                addr: "127.0.0.1:8080".parse().unwrap(),
                app: "wsgi.py (application)",
                python_version: "3.11.7",
                python: "/app/.venv/bin/python",
            },
        );
        for needle in [
            "Server URL         : http://127.0.0.1:8080/",
            "Request Capacity   : 4 (2 processes * 2 threads)",
            "Thread Growth      : up to 32 threads per process while requests wait and the GIL is free",
            "Request Timeout    : 60 (seconds)",
            "Startup Timeout    : 15 (seconds)",
            "Queue Backlog      : 100 (connections)",
            "Queue Timeout      : 45 (seconds)",
            "Maximum Requests   : 50",
            "Graceful Timeout   : 15 (seconds)",
            "Shutdown Timeout   : 5 (seconds)",
            "Request Body Limit : 10 MiB",
            "Python             : 3.11.7",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
    }
}
