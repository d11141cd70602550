//! `warp start --metrics-port`: the supervisor's Prometheus endpoint, scraped
//! while a real app answers real requests; a worker killed with SIGKILL must
//! count as a restart without the request totals going down. 127.0.0.1 only;
//! every wait is bounded; the server is stopped by pid (Server's Drop).
use crate::start_support;
use crate::support;

use start_support::{http_get, prepare_app_root, test_python, Server};
use std::time::{Duration, Instant};
use support::{free_port, TempApp};

/// `/status?N` answers with status N; `/sleep?S` sleeps S seconds, then 200;
/// anything else 200.
const STATUS_APP: &str = r#"
import time

def application(environ, start_response):
    if environ.get("PATH_INFO") == "/sleep":
        time.sleep(float(environ["QUERY_STRING"]))
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
        by_class(t, "2xx") == 10.0
            && by_class(t, "4xx") == 4.0
            && by_class(t, "5xx") == 3.0
            && value(t, "warp_request_duration_seconds_count") == Some(17.0)
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

/// The status line's code of one raw HTTP/1.1 exchange (the server closes).
fn raw_status(port: u16, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf).expect("read the status line");
        assert!(n > 0, "closed before a status line");
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

/// Responses made without the app — a static file (200), a missing one
/// (404), a body over the limit (413) — are counted in their classes, once;
/// the latency histogram holds only the requests the app ran.
#[test]
fn responses_made_without_the_app_are_counted_once() {
    let app = status_app();
    app.write("assets/site.css", "body { color: black }\n");
    let (mut server, metrics) = start_with_metrics(
        &app,
        &[
            "--processes",
            "1",
            "--url-alias",
            "/static",
            "assets",
            "--limit-request-body",
            "1KiB",
        ],
    );
    server.wait_ready(1);
    assert_eq!(get(server.port, "/static/site.css"), 200);
    assert_eq!(get(server.port, "/static/site.css"), 200);
    assert_eq!(get(server.port, "/static/missing.css"), 404);
    let too_big = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(server.port, too_big), 413);
    assert_eq!(get(server.port, "/"), 200);
    assert_eq!(get(server.port, "/status?404"), 404);
    // 6 requests: 4 answered in Rust without the app, 2 by the app.
    let text = scrape_until(metrics, "counted all 6 responses", |t| {
        by_class(t, "2xx") == 3.0
            && by_class(t, "4xx") == 3.0
            && value(t, "warp_request_duration_seconds_count") == Some(2.0)
    });
    let total: f64 = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        .iter()
        .map(|c| by_class(&text, c))
        .sum();
    assert_eq!(total, 6.0, "every request counted exactly once:\n{text}");
    assert_histogram(&text, "warp_request_duration_seconds", 2.0);
    assert_histogram(&text, "warp_queue_wait_seconds", 2.0);
    // Nothing is counted late (a second count would show up by now).
    std::thread::sleep(Duration::from_millis(1500));
    let text = scrape(metrics);
    assert_eq!(by_class(&text, "2xx"), 3.0, "{text}");
    assert_eq!(by_class(&text, "4xx"), 3.0, "{text}");
}

/// The 504 of the request-timeout and the 503 of the queue-timeout count
/// as 5xx once each; the app's late 200 for the timed-out request was never
/// sent and is not counted.
#[test]
fn timeout_answers_are_counted_once_and_the_late_reply_not_at_all() {
    let app = status_app();
    let (mut server, metrics) = start_with_metrics(
        &app,
        &[
            "--processes",
            "1",
            "--threads",
            "1",
            "--request-timeout",
            "2",
            "--queue-timeout",
            "1",
        ],
    );
    server.wait_ready(1);
    let port = server.port;
    let slow = std::thread::spawn(move || get(port, "/sleep?3"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(port, "/"), 503, "queued behind the only thread");
    assert_eq!(slow.join().unwrap(), 504);
    // The worker is replaced after the app's thread returns (at ~3 s); its
    // last heartbeat has everything it counted.
    let text = scrape_until(metrics, "counted the recycle", |t| {
        value(t, "warp_worker_restarts_total{reason=\"request-timeout\"}") == Some(1.0)
            && value(t, "warp_workers{state=\"ready\"}") == Some(1.0)
            && by_class(t, "5xx") == 2.0
    });
    std::thread::sleep(Duration::from_millis(1500));
    let text = [text, scrape(metrics)];
    for t in &text {
        assert_eq!(by_class(t, "5xx"), 2.0, "{t}");
        assert_eq!(by_class(t, "2xx"), 0.0, "the late 200 was counted:\n{t}");
    }
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
