//! `warp start --metrics-port`: the supervisor's Prometheus endpoint, scraped
//! while a real app answers real requests; a worker killed with SIGKILL must
//! count as a restart without the request totals going down. 127.0.0.1 only;
//! every wait is bounded; the server is stopped by pid (Server's Drop).
#[path = "support/start.rs"]
mod start_support;
mod support;

use start_support::{http_get, prepare_app_root, test_python, Server};
use std::time::{Duration, Instant};
use support::{free_port, TempApp};

/// `/status?N` answers with status N; anything else 200.
const STATUS_APP: &str = r#"
def application(environ, start_response):
    code = int(environ.get("QUERY_STRING") or "200") if environ.get("PATH_INFO") == "/status" else 200
    body = b"status %d\n" % code
    start_response("%d X" % code, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn status_app() -> TempApp {
    let app = TempApp::new();
    app.write("wsgi.py", STATUS_APP);
    prepare_app_root(&app, &test_python(), "wsgi.py");
    app
}

/// `warp start ARGS --metrics-port FREE`: the server and the metrics port.
fn start_with_metrics(app: &TempApp, args: &[&str]) -> (Server, u16) {
    let metrics = free_port();
    let port = metrics.to_string();
    let mut all = args.to_vec();
    all.extend(["--metrics-port", &port]);
    (Server::start(app, &all), metrics)
}

fn scrape(port: u16) -> String {
    let (status, body) = http_get(port, "/metrics", Duration::from_secs(5)).expect("scrape");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of one series (`name{labels}` exactly as exposed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrape until `done` holds (workers report about once a second).
fn scrape_until(port: u16, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(port);
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(port: u16, path: &str) -> u16 {
    http_get(port, path, Duration::from_secs(10)).expect(path).0
}

fn by_class(text: &str, class: &str) -> f64 {
    value(text, &format!("warp_requests_total{{status=\"{class}\"}}")).unwrap_or(-1.0)
}

/// Cumulative bucket values of a histogram, in order, ending with +Inf.
fn buckets(text: &str, name: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn assert_histogram(text: &str, name: &str, count: f64) {
    let b = buckets(text, name);
    assert_eq!(b.len(), 12, "{name}:\n{text}");
    assert!(
        b.windows(2).all(|w| w[0] <= w[1]),
        "{name} not monotonic: {b:?}"
    );
    assert_eq!(*b.last().unwrap(), count, "{name} +Inf");
    assert_eq!(value(text, &format!("{name}_count")), Some(count), "{text}");
    assert!(
        text.contains(&format!("{name}_bucket{{le=\"+Inf\"}}")),
        "{text}"
    );
}

#[test]
fn metrics_count_requests_by_class_and_survive_a_killed_worker() {
    let app = status_app();
    let (mut server, metrics) = start_with_metrics(&app, &["--processes", "2", "--threads", "3"]);
    server.wait_ready(2);
    assert!(
        server
            .output()
            .contains(&format!("http://127.0.0.1:{metrics}/metrics")),
        "banner: {}",
        server.output()
    );
    for (path, n, want) in [
        ("/", 10, 200),
        ("/status?404", 4, 404),
        ("/status?500", 3, 500),
    ] {
        for _ in 0..n {
            assert_eq!(get(server.port, path), want);
        }
    }
    let text = scrape_until(metrics, "counted 17 requests", |t| {
        by_class(t, "2xx") == 10.0 && by_class(t, "4xx") == 4.0 && by_class(t, "5xx") == 3.0
    });
    assert_eq!(by_class(&text, "1xx"), 0.0);
    assert_eq!(by_class(&text, "3xx"), 0.0);
    assert_histogram(&text, "warp_request_duration_seconds", 17.0);
    assert_histogram(&text, "warp_queue_wait_seconds", 17.0);
    assert!(text.contains("# TYPE warp_request_duration_seconds histogram"));
    assert_eq!(value(&text, "warp_capacity_threads"), Some(6.0), "{text}");
    assert_eq!(value(&text, "warp_workers{state=\"ready\"}"), Some(2.0));
    let busy = value(&text, "warp_busy_threads").expect("busy gauge");
    assert!((0.0..=6.0).contains(&busy), "{busy}");
    let utilization = value(&text, "warp_capacity_utilization").expect("utilization");
    assert!((0.0..=1.0).contains(&utilization), "{utilization}");
    assert_eq!(
        value(&text, "warp_worker_restarts_total{reason=\"signal\"}"),
        None
    );
    // Only /metrics is served.
    assert_eq!(get(metrics, "/other"), 404);

    let victim = server.workers()[0];
    assert!(start_support::kill(victim, libc::SIGKILL));
    let text = scrape_until(metrics, "counted the restart", |t| {
        value(t, "warp_worker_restarts_total{reason=\"signal\"}") == Some(1.0)
            && value(t, "warp_workers{state=\"ready\"}") == Some(2.0)
    });
    // The killed worker's counts stay in the totals.
    assert_eq!(by_class(&text, "2xx"), 10.0, "{text}");
    assert_eq!(by_class(&text, "4xx"), 4.0);
    assert_eq!(by_class(&text, "5xx"), 3.0);
    assert_histogram(&text, "warp_request_duration_seconds", 17.0);
    for _ in 0..5 {
        assert_eq!(get(server.port, "/"), 200);
    }
    let text = scrape_until(metrics, "counted 5 more", |t| by_class(t, "2xx") == 15.0);
    assert_histogram(&text, "warp_request_duration_seconds", 22.0);
    assert!(server
        .output()
        .contains(&format!("(pid {victim}) was killed by signal SIGKILL")));
}

#[test]
fn a_recycle_is_counted_with_its_reason() {
    let app = status_app();
    let (mut server, metrics) =
        start_with_metrics(&app, &["--processes", "1", "--maximum-requests", "3"]);
    server.wait_ready(1);
    for _ in 0..4 {
        assert_eq!(get(server.port, "/"), 200);
    }
    // The recycled worker's last requests are in its final heartbeat.
    let text = scrape_until(metrics, "counted the recycle and every request", |t| {
        value(t, "warp_worker_restarts_total{reason=\"maximum-requests\"}") == Some(1.0)
            && by_class(t, "2xx") == 4.0
    });
    assert_histogram(&text, "warp_request_duration_seconds", 4.0);
}

#[test]
fn a_taken_metrics_port_fails_the_start() {
    let app = status_app();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut server = Server::start(&app, &["--metrics-port", &port.to_string()]);
    let code = server
        .wait_exit(Duration::from_secs(30))
        .expect("warp start exits");
    assert_ne!(code, Some(0));
    assert!(
        server.output().contains("--metrics-port"),
        "{}",
        server.output()
    );
}
