//! Issue 16, item 1: with `WARPSERVER_INLINE=1` a request runs on the
//! worker's I/O thread when that pays, and goes to the Python thread pool
//! when it does not; without it every request is handed off — checked on a
//! real worker over loopback by the OS name of the thread that ran the app
//! (`warpserver-io-N` or `warpserver-py-N`) and by the worker's counters.
use crate::server_support as server;

use serde_json::{json, Value};
use server::worker;
use std::time::{Duration, Instant};

/// GET `path` on a new connection: the status, the JSON body (Null when
/// not JSON) and how long it took.
fn timed_get(addr: std::net::SocketAddr, path: &str) -> (u16, Value, Duration) {
    let (response, raw, took) = server::timed_get(addr, path);
    let r = response.unwrap_or_else(|| panic!("unparsable: {:?}", String::from_utf8_lossy(&raw)));
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, body, took)
}

fn thread_of(seen: &Value) -> &str {
    seen["thread"].as_str().unwrap_or_default()
}

#[test]
fn fast_requests_run_on_the_io_thread_and_slow_ones_go_to_the_pool() {
    let w = worker("apps:where", json!({"threads": 2}))
        .env("WARPSERVER_INLINE", "1")
        .start();
    for _ in 0..3 {
        let seen = w.get("/").json();
        assert_eq!(thread_of(&seen), "warpserver-io-0", "{seen}");
    }
    // Nothing says the next ones are slow: they run inline too (50 ms each)…
    for _ in 0..5 {
        let seen = w.get("/?s=0.05").json();
        assert_eq!(thread_of(&seen), "warpserver-io-0", "{seen}");
    }
    // …and once over a tenth of the recent calls were slow and seen to wait
    // (the first of these is not measured; the fifth passes the tenth), for
    // a second at least, requests go to the pool: a
    // slow one runs on a Python thread while the I/O thread serves another
    // connection at once, on the other Python thread.
    let addr = w.addr;
    let slow = std::thread::spawn(move || timed_get(addr, "/?s=1"));
    std::thread::sleep(Duration::from_millis(100));
    let (status, seen, took) = timed_get(w.addr, "/");
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert!(thread_of(&seen).starts_with("warpserver-py-"), "{seen}");
    let (status, slow_seen, slow_took) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(slow_took >= Duration::from_secs(1));
    assert!(
        thread_of(&slow_seen).starts_with("warpserver-py-"),
        "{slow_seen}"
    );
    assert_ne!(thread_of(&slow_seen), thread_of(&seen));
    // The counters say the same (an inline request is counted when its call
    // returns, a handed-off one when queued: this one is in its own figures).
    let metrics = &seen["metrics"];
    assert_eq!(metrics["inline_requests"], 8, "{metrics}");
    assert_eq!(metrics["handed_off_requests"], 2, "{metrics}");
}

#[test]
fn a_call_holding_the_io_thread_gets_a_new_loop_and_the_request_timeout_answers_it() {
    let mut w = worker(
        "apps:where",
        json!({"threads": 2, "request_timeout": 1.5, "graceful_timeout": 1, "shutdown_timeout": 1}),
    )
    .env("WARPSERVER_INLINE", "1")
    .start();
    // The first request runs inline (nothing known yet) and hangs.
    let addr = w.addr;
    let stuck = std::thread::spawn(move || timed_get(addr, "/?s=30"));
    std::thread::sleep(Duration::from_millis(100));
    // Another connection is accepted by a new I/O loop within the rescue
    // delay (200 ms, checked every 100 ms) and runs on a Python thread.
    let (status, seen, took) = timed_get(w.addr, "/");
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(800), "{took:?}");
    assert!(thread_of(&seen).starts_with("warpserver-py-"), "{seen}");
    assert!(
        w.stderr().contains("loop 1 takes over accepting"),
        "{}",
        w.stderr()
    );
    // The watchdog answers the stuck one at its request-timeout, as the I/O
    // side does for a pool thread's request, and asks for the recycle.
    let (status, _, took) = stuck.join().unwrap();
    assert_eq!(status, 504);
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut recycle = String::new();
    while Instant::now() < deadline && recycle.is_empty() {
        if let Some(line) = w.next_event(Duration::from_millis(100)) {
            if line.contains("\"recycle\"") {
                recycle = line;
            }
        }
    }
    assert!(recycle.contains("request-timeout"), "{recycle:?}");
    // It keeps serving until SIGTERM, counts the 504 once, then exits.
    let (status, seen, _) = timed_get(w.addr, "/");
    assert_eq!(status, 200);
    let metrics = &seen["metrics"];
    assert_eq!(metrics["request_timeouts"], 1, "{metrics}");
    assert_eq!(metrics["status_5xx"], 1, "{metrics}");
    w.signal(nix::sys::signal::Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("the recycled worker exits");
    assert!(status.success(), "{status}");
}

#[test]
fn a_long_response_begun_inline_is_finished_by_a_pool_thread() {
    let w = worker("apps:stream_threads", json!({}))
        .env("WARPSERVER_INLINE", "1")
        .start();
    let body = w.get("/?n=300").text();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 300, "{body}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("{i}:")), "{line}");
    }
    // The I/O thread iterates while the reply channel has room, then hands
    // the generator to a Python thread, which keeps the order.
    assert!(lines[0].ends_with(":warpserver-io-0"), "{body}");
    assert!(lines[299].contains(":warpserver-py-"), "{body}");
    // A short stream stays on the I/O thread.
    let body = w.get("/?n=5").text();
    assert!(
        body.lines().all(|l| l.ends_with(":warpserver-io-0")),
        "{body}"
    );
    // write() more often than the channel holds: nothing lost or reordered.
    drop(w);
    let w = worker("apps:many_writes", json!({}))
        .env("WARPSERVER_INLINE", "1")
        .start();
    let expected: String = (0..200).map(|i| format!("{i},")).collect::<String>() + "end";
    assert_eq!(w.get("/").text(), expected);
}

#[test]
fn by_default_every_request_is_handed_off() {
    let w = worker("apps:where", json!({})).start();
    for _ in 0..3 {
        let seen = w.get("/").json();
        assert!(thread_of(&seen).starts_with("warpserver-py-"), "{seen}");
        assert_eq!(seen["metrics"]["inline_requests"], 0, "{seen}");
    }
}
