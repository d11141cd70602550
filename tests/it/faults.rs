//! Fault injection under real load: killed workers, rolling restarts,
//! recycling and graceful stops, with the real binary and the real worker.
//! Every run is bounded in time and request count; 127.0.0.1 only.
use crate::start_support;

use start_support::{hello_app, Load, Server};
use std::time::{Duration, Instant};

/// Requests of 20 ms from 6 clients keep both workers busy.
const PATH: &str = "/sleep?0.02";

#[test]
fn a_worker_killed_under_load_is_respawned_within_a_second() {
    let app = hello_app();
    let threads = 4;
    let mut server = Server::start(
        &app,
        &["--processes", "2", "--threads", &threads.to_string()],
    );
    server.wait_ready(2);
    let clients = 6;
    let load = Load::start(server.port, PATH, clients, Duration::from_secs(20), 400);
    load.wait_ok(50, Duration::from_secs(10));
    let victim = server.workers()[0];
    assert!(start_support::kill(victim, libc::SIGKILL));
    let killed_at = Instant::now();
    let respawned = loop {
        let now = server.workers();
        if now.len() == 2 && !now.contains(&victim) {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < Duration::from_secs(5), "no respawn");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ok_before = load.ok.load(std::sync::atomic::Ordering::Relaxed);
    load.wait_ok(ok_before + 100, Duration::from_secs(10));
    let report = load.finish();
    let out = server.output();
    assert!(
        respawned < Duration::from_secs(1),
        "respawn took {respawned:?}"
    );
    assert!(
        out.contains(&format!("(pid {victim}) was killed by signal SIGKILL")),
        "{out}"
    );
    // Only the requests in flight on the killed worker may fail: each client
    // has one request at a time, so at most one per client (a worker holds
    // the connections it accepted, running or waiting for a thread).
    assert!(
        report.failed <= clients as u64,
        "{} failed (more than the {clients} requests in flight): {:?}",
        report.failed,
        report.errors
    );
    assert!(report.ok > 150, "{report:?}");
}

#[test]
fn sighup_under_load_restarts_every_worker_without_a_failed_request() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "2", "--threads", "4"]);
    server.wait_ready(2);
    let before = server.workers();
    let load = Load::start(server.port, PATH, 6, Duration::from_secs(30), 2000);
    load.wait_ok(50, Duration::from_secs(10));
    server.signal("HUP");
    server.wait_ready(4);
    server.wait_for_output(") stopped (", 2, Duration::from_secs(20));
    let ok_before = load.ok.load(std::sync::atomic::Ordering::Relaxed);
    load.wait_ok(ok_before + 50, Duration::from_secs(10));
    let report = load.finish();
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    let after = server.workers();
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} {after:?}"
    );
}

#[test]
fn maximum_requests_under_load_recycles_without_a_failed_request() {
    let app = hello_app();
    let mut server = Server::start(
        &app,
        &[
            "--processes",
            "2",
            "--threads",
            "4",
            "--maximum-requests",
            "50",
        ],
    );
    server.wait_ready(2);
    let load = Load::start(server.port, "/", 6, Duration::from_secs(30), 100);
    let report = load.join();
    assert_eq!(report.failed, 0, "{:?}\n{}", report.errors, server.output());
    assert_eq!(report.ok, 600);
    // 600 requests over workers of 50 each: several replacements, each old
    // worker stopped only once its replacement was ready.
    server.wait_for_output(
        "will be replaced: maximum-requests",
        2,
        Duration::from_secs(10),
    );
    server.wait_for_output(") stopped (", 2, Duration::from_secs(20));
}

#[test]
fn sigterm_lets_requests_in_flight_complete_then_exits_zero() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "2", "--threads", "2"]);
    server.wait_ready(2);
    let port = server.port;
    let slow: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                start_support::http_get(port, "/sleep?1.5", Duration::from_secs(10))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    server.signal("TERM");
    for request in slow {
        let (status, _) = request
            .join()
            .unwrap()
            .expect("the request in flight completes");
        assert_eq!(status, 200);
    }
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(Some(0)));
    assert!(server.output().contains("all workers stopped"));
}

#[test]
fn a_worker_over_the_memory_limit_is_replaced_without_a_failed_request() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1", "--memory-limit", "150MiB"]);
    server.wait_ready(1);
    let first = server.workers()[0];
    let load = Load::start(server.port, "/", 2, Duration::from_secs(20), 5000);
    assert_eq!(server.must_get("/grow?200").0, 200);
    server.wait_for_output(") stopped (", 1, Duration::from_secs(15));
    let report = load.finish();
    let out = server.output();
    assert!(
        out.contains(&format!(
            "(pid {first}) will be replaced: memory-limit: resident memory"
        )),
        "{out}"
    );
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    assert!(!server.workers().contains(&first));
}

#[test]
fn restart_interval_replaces_workers_without_a_failed_request() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "2", "--restart-interval", "1"]);
    server.wait_ready(2);
    let load = Load::start(server.port, PATH, 4, Duration::from_secs(20), 5000);
    server.wait_for_output(
        "will be replaced: restart-interval",
        2,
        Duration::from_secs(10),
    );
    server.wait_for_output(") stopped (", 2, Duration::from_secs(15));
    let report = load.finish();
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    assert!(report.ok > 0);
}

#[test]
fn a_hanging_request_gets_504_and_its_worker_is_replaced() {
    let app = hello_app();
    let mut server = Server::start(
        &app,
        &[
            "--processes",
            "1",
            "--threads",
            "2",
            "--request-timeout",
            "1",
        ],
    );
    server.wait_ready(1);
    let first = server.workers()[0];
    let started = Instant::now();
    let (status, _) = server.must_get("/sleep?30");
    assert_eq!(status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.wait_for_output(
        "will be replaced: request-timeout",
        1,
        Duration::from_secs(5),
    );
    server.wait_ready(2);
    // Capacity is back without an operator: the new worker answers.
    assert_eq!(server.must_get("/").0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.workers().contains(&first) {
        assert!(Instant::now() < deadline, "{}", server.output());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_crashing_worker_is_logged_and_a_crash_loop_backs_off() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1"]);
    server.wait_ready(1);
    for n in 1..=4 {
        let victim = server.workers()[0];
        let answer = server.get("/crash");
        assert!(
            answer.is_err(),
            "a crashed request has no answer, got {answer:?}; output:\n{}",
            server.output()
        );
        server.wait_for_output(
            &format!("(pid {victim}) was killed by signal SIGSEGV"),
            1,
            Duration::from_secs(10),
        );
        if n < 4 {
            server.wait_ready(n + 1);
        }
    }
    // The fourth death within seconds of starting: no longer at once.
    server.wait_for_output(
        "it keeps dying, next start in 1 s",
        1,
        Duration::from_secs(5),
    );
    server.wait_ready(5);
    assert_eq!(server.must_get("/").0, 200);
}

#[test]
fn a_replacement_that_never_gets_ready_leaves_the_old_worker_serving() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1", "--startup-timeout", "1"]);
    server.wait_ready(1);
    let old = server.workers()[0];
    app.write("sleep-import", "60");
    server.signal("HUP");
    server.wait_for_output(
        "not ready within 1 s (--startup-timeout)",
        1,
        Duration::from_secs(10),
    );
    server.wait_for_output("next attempt in 1 s", 1, Duration::from_secs(10));
    // The old worker was never stopped and still answers.
    let report = Load::start(server.port, "/", 2, Duration::from_secs(5), 20).join();
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    assert!(server.workers().contains(&old));
    // Once the app loads again, the pending restart completes.
    std::fs::remove_file(app.path().join("sleep-import")).unwrap();
    server.wait_for_output(") stopped (", 1, Duration::from_secs(20));
    assert!(!server.workers().contains(&old));
    assert_eq!(server.must_get("/").0, 200);
}

#[test]
fn a_second_sigint_stops_at_once() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1", "--graceful-timeout", "30"]);
    server.wait_ready(1);
    let port = server.port;
    let slow = std::thread::spawn(move || {
        start_support::http_get(port, "/sleep?20", Duration::from_secs(30))
    });
    std::thread::sleep(Duration::from_millis(300));
    server.signal("INT");
    server.wait_for_output(
        "SIGINT: stopping 1 worker(s) gracefully",
        1,
        Duration::from_secs(5),
    );
    assert_eq!(
        server.wait_exit(Duration::from_millis(500)),
        None,
        "the first SIGINT waits"
    );
    let second = Instant::now();
    server.signal("INT");
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(Some(0)));
    assert!(second.elapsed() < Duration::from_secs(3));
    assert!(server
        .output()
        .contains("SIGINT again: killing 1 worker(s) now"));
    assert!(
        slow.join().unwrap().is_err(),
        "the killed request has no answer"
    );
}

#[test]
fn an_idle_worker_is_replaced_after_the_inactivity_timeout() {
    // The worker owns inactivity-timeout (its exact request counter): it
    // asks to be recycled; the supervisor replaces it.
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1", "--inactivity-timeout", "1"]);
    server.wait_ready(1);
    let first = server.workers()[0];
    server.wait_for_output(
        "will be replaced: inactivity-timeout",
        1,
        Duration::from_secs(10),
    );
    server.wait_for_output(") stopped (", 1, Duration::from_secs(15));
    assert!(!server.workers().contains(&first));
    assert_eq!(server.must_get("/").0, 200);
}
