//! The worker's production behaviour (issue 4, in-worker parts): timeouts,
//! limits, hostile clients, proxies, access log and the event API — each
//! checked against a real worker over loopback, bounded in time.
use crate::server_support as server;

use serde_json::json;
use server::{parse_response, worker};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn send_get(addr: std::net::SocketAddr, path: &str) -> std::thread::JoinHandle<(u16, Duration)> {
    let path = path.to_string();
    std::thread::spawn(move || {
        let (response, raw, took) = server::timed_get(addr, &path);
        let status = response.map(|r| r.status).unwrap_or_else(|| {
            eprintln!(
                "unparsable answer after {took:?}: {:?}",
                String::from_utf8_lossy(&raw)
            );
            0
        });
        (status, took)
    })
}

#[test]
fn request_timeout_gives_504_at_the_deadline_and_asks_for_a_recycle() {
    let mut w = worker(
        "apps:slow",
        json!({"request_timeout": 1, "graceful_timeout": 1, "shutdown_timeout": 1}),
    )
    .start();
    let (status, took) = send_get(w.addr, "/?s=30").join().unwrap();
    assert_eq!(status, 504, "{}", w.stderr());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let event = next_non_heartbeat(&w, Duration::from_secs(5));
    assert!(
        event.contains("\"recycle\"") && event.contains("request-timeout"),
        "{event}"
    );
    // Under a supervisor it keeps serving with its other threads until the
    // replacement is ready and SIGTERM comes; then it exits, stuck thread and all.
    assert_eq!(send_get(w.addr, "/?s=0").join().unwrap().0, 200);
    w.signal(nix::sys::signal::Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("the recycled worker exits");
    assert!(status.success(), "{status}");
}

fn next_non_heartbeat(w: &server::Worker, within: Duration) -> String {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(line) = w.next_event(Duration::from_millis(100)) {
            if !line.contains("heartbeat") {
                return line;
            }
        }
    }
    panic!("no status event within {within:?}");
}

#[test]
fn heartbeats_report_requests_and_a_stuck_gil_ends_the_worker() {
    let w = worker("apps:hello", json!({"heartbeat_interval": 0.5})).start();
    w.get("/");
    w.get("/");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut beat = String::new();
    while Instant::now() < deadline {
        if let Some(line) = w.next_event(Duration::from_millis(100)) {
            if line.contains("\"requests\":2") {
                beat = line;
                break;
            }
        }
    }
    assert!(
        beat.contains("\"heartbeat\"") && beat.contains("\"busy\":0"),
        "{beat:?}"
    );

    let mut w = worker(
        "apps:hold_the_gil",
        json!({"deadlock_timeout": 2, "heartbeat_interval": 0}),
    )
    .start();
    let _stuck = send_get(w.addr, "/");
    let started = Instant::now();
    let status = w
        .wait_exit(Duration::from_secs(15))
        .expect("a deadlocked worker exits");
    assert_eq!(status.code(), Some(3), "{}", w.stderr());
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(w.stderr().contains("deadlock-timeout"), "{}", w.stderr());
    assert!(next_non_heartbeat(&w, Duration::from_secs(2)).contains("deadlock-timeout"));
}

#[test]
fn process_stopping_is_published_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("stopped");
    let mut w = worker("apps:stopping", json!({}))
        .env("WARP_TEST_STOP_MARKER", marker.to_str().unwrap())
        .start();
    assert_eq!(w.get("/").status, 200);
    w.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(w
        .wait_exit(Duration::from_secs(10))
        .expect("exits")
        .success());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "SIGTERM");
}

#[test]
fn queue_timeout_gives_503_at_expiry_not_at_pickup() {
    let w = worker("apps:slow", json!({"threads": 1, "queue_timeout": 0.5})).start();
    let busy = send_get(w.addr, "/?s=3");
    std::thread::sleep(Duration::from_millis(200));
    let (status, took) = send_get(w.addr, "/?s=0").join().unwrap();
    assert_eq!(status, 503);
    assert!(
        took < Duration::from_millis(1500),
        "503 must come at expiry, came after {took:?}"
    );
    assert_eq!(busy.join().unwrap().0, 200);
}

#[test]
fn a_full_queue_is_refused_at_once() {
    let w = worker("apps:slow", json!({"threads": 1, "queue_backlog": 1})).start();
    let busy = send_get(w.addr, "/?s=2");
    std::thread::sleep(Duration::from_millis(200));
    let queued = send_get(w.addr, "/?s=0");
    std::thread::sleep(Duration::from_millis(200));
    let (status, took) = send_get(w.addr, "/?s=0").join().unwrap();
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(1));
    assert_eq!(busy.join().unwrap().0, 200);
    assert_eq!(queued.join().unwrap().0, 200);
}

#[test]
fn oversize_bodies_get_413_before_the_app_is_called() {
    let w = worker("apps:events", json!({"limit_request_body": 1000})).start();
    w.get("/subscribe");
    let r = w.request("POST", "/", &[], &[b'x'; 1001]);
    assert_eq!(r.status, 413);
    let mut s = w.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        let _ = s.write_all(b"190\r\n");
        let _ = s.write_all(&[b'y'; 400]);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let r = parse_response(&server::read_to_close(&mut s), false).unwrap();
    assert_eq!(r.status, 413, "chunked bodies are limited too");
    let ok = w.request("POST", "/", &[], &[b'x'; 1000]);
    assert_eq!(ok.status, 200);
    // The app saw only that last request.
    let seen = w.get("/events").json();
    let started: Vec<_> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "request_started")
        .collect();
    assert_eq!(started.len(), 2, "{seen}"); // the 1000-byte POST and this GET
    assert_eq!(started[0]["input_length"], 1000);
}

#[test]
fn oversize_headers_get_431() {
    let w = worker(
        "apps:hello",
        json!({"limit_request_headers_count": 10, "limit_request_headers_size": 4096}),
    )
    .start();
    let many: Vec<(String, String)> = (0..20)
        .map(|i| (format!("X-H{i}"), "v".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(w.request("GET", "/", &refs, b"").status, 431);
    let big = "z".repeat(5000);
    let raw = w.raw(format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {big}\r\n\r\n").as_bytes());
    assert_eq!(parse_response(&raw, false).map(|r| r.status), Some(431));
    let field = "z".repeat(9000);
    let w2 = worker("apps:hello", json!({})).start();
    let raw = w2.raw(format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {field}\r\n\r\n").as_bytes());
    assert_eq!(
        parse_response(&raw, false).map(|r| r.status),
        Some(431),
        "8190-byte field limit by default"
    );
    assert_eq!(w.get("/").status, 200);
}

#[test]
fn slowloris_connections_take_no_python_thread_and_are_cut_at_the_header_timeout() {
    let w = worker("apps:hello", json!({"threads": 1, "header_timeout": 2})).start();
    let mut trickling = Vec::new();
    // The figure: 300 slowloris connections (well under the
    // worker's max_connections of 1000 and a 1024 fd limit).
    for _ in 0..300 {
        let mut s = std::net::TcpStream::connect(w.addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            .unwrap();
        trickling.push(s);
    }
    // A normal client is served promptly meanwhile.
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(w.get("/").status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    // Bodies that trickle are read on the I/O side too: the app thread stays free.
    let mut slow_body = std::net::TcpStream::connect(w.addr).unwrap();
    slow_body
        .write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let started = Instant::now();
    assert_eq!(w.get("/").status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // After the header timeout the trickling connections are closed.
    std::thread::sleep(Duration::from_millis(2500));
    let mut closed = 0;
    for s in trickling.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 512];
        if s.read(&mut buf).is_ok() {
            closed += 1; // EOF or a 408 then EOF
        }
    }
    assert!(
        closed >= 290,
        "only {closed} of 300 slow connections were closed"
    );
}

#[test]
fn idle_keep_alive_connections_close_after_the_keep_alive_timeout() {
    let w = worker("apps:hello", json!({"keep_alive_timeout": 0.5})).start();
    let mut s = w.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the idle connection");
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
}

/// The header-timeout runs from the accept, and on a keep-alive connection
/// from the first byte of the next request — never during the idle wait,
/// which is the keep-alive timeout's.
#[test]
fn the_header_timeout_runs_from_the_accept_or_the_first_byte_of_a_head() {
    let w = worker(
        "apps:hello",
        json!({"header_timeout": 1, "keep_alive_timeout": 30}),
    )
    .start();
    let closed_after = |s: &mut std::net::TcpStream| {
        let started = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(
            n,
            0,
            "expected a close, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        started.elapsed()
    };
    // A connection that never sends a byte.
    let mut silent = w.connect();
    let waited = closed_after(&mut silent);
    assert!(
        waited > Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // A keep-alive connection: idle longer than the header-timeout is fine...
    let mut s = w.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(1600));
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "the idle wait must not count as a slow head"
    );
    // ...but a head that starts and stalls is cut about a second after its first byte.
    std::thread::sleep(Duration::from_millis(1600));
    s.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    let waited = closed_after(&mut s);
    assert!(
        waited > Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn max_connections_applies_back_pressure_instead_of_collapsing() {
    let w = worker(
        "apps:hello",
        json!({"max_connections": 2, "keep_alive_timeout": 30}),
    )
    .start();
    let mut a = w.connect();
    let b = w.connect();
    a.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    assert!(a.read(&mut buf).unwrap() > 0);
    // The third client is not answered while two connections are open …
    let mut c = w.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(c.read(&mut buf).is_err(), "served beyond max_connections");
    // … and is served (not dropped) as soon as one closes.
    drop(a);
    drop(b);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let raw = server::read_to_close(&mut c);
    assert_eq!(parse_response(&raw, false).map(|r| r.status), Some(200));
}

#[test]
fn proxy_headers_are_believed_only_from_trusted_peers() {
    let spoof = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"),
    ];
    let w = worker("apps:echo", json!({})).start();
    let body = w.request("GET", "/", &spoof, b"").json();
    let env = &body["environ"];
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["HTTP_HOST"], "127.0.0.1");
    assert_eq!(
        env["HTTP_X_FORWARDED_FOR"], "6.6.6.6",
        "passed through untouched"
    );

    let w = worker("apps:echo", json!({"trust_proxy": ["127.0.0.0/8"]})).start();
    let body = w
        .request(
            "GET",
            "/",
            &[
                ("X-Forwarded-For", "203.0.113.7, 127.0.0.5"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "www.example.com"),
                ("X-Forwarded-Port", "8443"),
            ],
            b"",
        )
        .json();
    let env = &body["environ"];
    assert_eq!(
        env["REMOTE_ADDR"], "203.0.113.7",
        "the nearest untrusted hop"
    );
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["HTTP_HOST"], "www.example.com");
    assert_eq!(env["SERVER_NAME"], "www.example.com");
    assert_eq!(env["SERVER_PORT"], "8443");
    let body = w
        .request(
            "GET",
            "/",
            &[(
                "Forwarded",
                "for=198.51.100.17;proto=https;host=shop.example",
            )],
            b"",
        )
        .json();
    let env = &body["environ"];
    assert_eq!(env["REMOTE_ADDR"], "198.51.100.17");
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["HTTP_HOST"], "shop.example");

    // Only the headers named in trust_proxy_headers are believed.
    let w = worker(
        "apps:echo",
        json!({"trust_proxy": ["127.0.0.1"], "trust_proxy_headers": ["X-Forwarded-For"]}),
    )
    .start();
    let body = w
        .request(
            "GET",
            "/",
            &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
            ],
            b"",
        )
        .json();
    assert_eq!(body["environ"]["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(body["environ"]["wsgi.url_scheme"], "http");
}

#[test]
fn access_log_formats_carry_the_request_id() {
    for (format, check) in [
        (
            "common",
            "\"GET /logged?q=1 HTTP/1.1\" 200 14 request_id=abc-123",
        ),
        (
            "combined",
            "\"https://ref.example/\" \"test-agent/1.0\" request_id=abc-123",
        ),
        ("json", "\"request_id\":\"abc-123\""),
    ] {
        let w = worker(
            "apps:hello",
            json!({"access_log": true, "access_log_format": format}),
        )
        .start();
        let r = w.request(
            "GET",
            "/logged?q=1",
            &[
                ("X-Request-Id", "abc-123"),
                ("Referer", "https://ref.example/"),
                ("User-Agent", "test-agent/1.0"),
            ],
            b"",
        );
        assert_eq!(r.status, 200);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !w.stdout().contains("abc-123") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = w.stdout();
        assert!(log.contains(check), "{format}: {log}");
        if format == "json" {
            let line = log.lines().find(|l| l.contains("abc-123")).unwrap();
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["status"], 200);
            assert_eq!(v["path"], "/logged?q=1");
        }
        // A request without an id gets a generated one.
        w.get("/second");
        std::thread::sleep(Duration::from_millis(200));
        let line = w
            .stdout()
            .lines()
            .find(|l| l.contains("/second"))
            .map(str::to_string)
            .unwrap_or_default();
        assert!(line.contains("request_id"), "{line}");
    }
    let w = worker("apps:hello", json!({})).start();
    w.get("/");
    std::thread::sleep(Duration::from_millis(100));
    assert!(w.stdout().is_empty(), "access log is off by default");
}

#[test]
fn the_event_api_reports_requests_like_mod_wsgi() {
    let w = worker("apps:events", json!({"threads": 2})).start();
    w.get("/subscribe");
    let r = w.request("GET", "/hello", &[("X-Request-Id", "evt-1")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(w.get("/fail").status, 500);
    let events = w.get("/events").json();
    let list = events.as_array().unwrap();
    let of = |name: &str, id: Option<&str>| {
        list.iter()
            .find(|e| e["name"] == name && id.is_none_or(|id| e["request_id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} event in {events}"))
    };
    let started = of("request_started", Some("evt-1"));
    assert!(started["request_start"].as_f64().unwrap() > 1e9);
    let finished = of("request_finished", Some("evt-1"));
    assert_eq!(finished["status"], 200);
    assert_eq!(finished["output_length"], 14);
    assert!(finished["application_time"].as_f64().unwrap() >= 0.0);
    assert!(finished["cpu_user_time"].as_f64().is_some());
    assert!(finished["cpu_system_time"].as_f64().is_some());
    of("response_started", None);
    of("request_exception", None);
    let failed = list
        .iter()
        .filter(|e| e["name"] == "request_finished" && e["status"] == 500)
        .count();
    assert_eq!(failed, 1);

    let metrics = w.get("/metrics").json();
    assert!(
        // 4 requests before this one; the last may still be wrapping up on its thread
        metrics["request"]["requests"].as_u64().unwrap() >= 3,
        "{metrics}"
    );
    let utilization = metrics["request"]["capacity_utilization"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&utilization));
    assert_eq!(metrics["request"]["threads"], 2);
    assert!(metrics["process"]["memory_rss"].as_u64().unwrap() > 1_000_000);
    assert!(metrics["process"]["pid"].as_u64().unwrap() > 1);
}

#[test]
fn recycle_triggers_maximum_requests_and_inactivity() {
    for (settings, requests, reason) in [
        (
            json!({"maximum_requests": 3, "heartbeat_interval": 0}),
            3,
            "maximum-requests",
        ),
        (
            json!({"inactivity_timeout": 0.5, "heartbeat_interval": 0}),
            0,
            "inactivity-timeout",
        ),
    ] {
        let mut w = worker("apps:hello", settings).start();
        for _ in 0..requests {
            assert_eq!(w.get("/").status, 200);
        }
        let event = next_non_heartbeat(&w, Duration::from_secs(5));
        assert!(
            event.contains("recycle") && event.contains(reason),
            "{reason}: {event}"
        );
        assert_eq!(w.get("/").status, 200, "still serving until SIGTERM");
        w.signal(nix::sys::signal::Signal::SIGTERM);
        let status = w
            .wait_exit(Duration::from_secs(10))
            .expect("recycled worker exits");
        assert!(status.success(), "{reason}: {status}");
    }
}

/// Send a POST head with `Content-Length: total`, then the body in `chunk`-byte
/// pieces every `every` (stopping when the server has closed), and return the
/// status line the server answered with (empty when none came).
fn trickle_post(addr: std::net::SocketAddr, total: usize, chunk: usize, every: Duration) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {total}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while sent < total && Instant::now() < deadline {
        let n = chunk.min(total - sent);
        if s.write_all(&vec![b'x'; n]).is_err() {
            break; // the server gave up on us
        }
        sent += n;
        std::thread::sleep(every);
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_body_slower_than_the_minimum_rate_gets_408_and_a_steady_one_passes() {
    // header_timeout 1 s + one second per 1000 bytes: a body arriving at
    // 500 B/s (100 bytes every 200 ms — each read well within the 1 s
    // per-read timeout) falls behind after about 2 s and is refused; one at
    // 4000 B/s is read and the app answers.
    let w = worker(
        "apps:hello",
        json!({"threads": 1, "header_timeout": 1, "body_min_rate": 1000}),
    )
    .start();
    let started = Instant::now();
    let slow = trickle_post(w.addr, 4000, 100, Duration::from_millis(200));
    assert!(slow.contains(" 408 "), "slow body answered {slow:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the slow body was cut only after {:?}",
        started.elapsed()
    );
    let steady = trickle_post(w.addr, 4000, 400, Duration::from_millis(100));
    assert!(steady.contains(" 200 "), "steady body answered {steady:?}");
}

/// RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 and never reaches
/// the app; `accept_missing_host` serves it (HTTP/1.0 needs no Host either way).
#[test]
fn http11_without_host_gets_400_unless_accepted() {
    let strict = server::worker("apps:hello", json!({})).start();
    let lenient = server::worker("apps:hello", json!({"accept_missing_host": true})).start();
    let status = |w: &server::Worker, request: &[u8]| {
        server::parse_response(&w.raw(request), false)
            .map(|r| (r.status, r.text()))
            .unwrap()
    };
    let no_host = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    let (code, text) = status(&strict, no_host);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("Host"), "{text}");
    assert_eq!(status(&lenient, no_host).0, 200);
    // The absolute form does not excuse it.
    let absolute = b"GET http://example.com/ HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(status(&strict, absolute).0, 400);
    let http10 = b"GET / HTTP/1.0\r\n\r\n";
    assert_eq!(status(&strict, http10).0, 200);
    assert_eq!(
        status(
            &strict,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        .0,
        200
    );
}
