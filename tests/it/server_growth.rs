//! Issue 16, item 3: a worker's Python threads grow from `threads` towards
//! `max_threads` while requests wait and the busy threads are waiting outside
//! the GIL, and do not grow for a view that runs Python the whole time —
//! checked on a real worker over loopback by the OS names of the threads that
//! ran the requests and by the worker's own thread count.
use crate::server_support as server;

use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `n` requests for `path` at once, each on its own connection: the JSON
/// bodies (`apps.where` and `apps.spin` name their thread and the counters).
fn at_once(addr: std::net::SocketAddr, path: &'static str, n: usize) -> Vec<Value> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let (response, raw, _) = server::timed_get(addr, path);
                let r = response
                    .unwrap_or_else(|| panic!("unparsable: {:?}", String::from_utf8_lossy(&raw)));
                assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
                serde_json::from_slice::<Value>(&r.body).unwrap()
            })
        })
        .collect();
    calls.into_iter().map(|c| c.join().unwrap()).collect()
}

fn threads_that_ran(bodies: &[Value]) -> BTreeSet<String> {
    bodies
        .iter()
        .map(|b| b["thread"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_pool_grows_while_its_threads_wait_outside_the_gil() {
    let w = server::worker("apps:where", json!({"threads": 2, "max_threads": 8})).start();
    // Eight requests that each wait a second: two threads would take four
    // seconds; grown, every request has a thread of its own.
    let bodies = at_once(w.addr, "/?s=1", 8);
    let ran = threads_that_ran(&bodies);
    assert_eq!(ran.len(), 8, "{ran:?}");
    assert!(
        ran.iter().all(|t| t.starts_with("warpserver-py-")),
        "{ran:?}"
    );
    let metrics = &w.get("/").json()["metrics"];
    assert_eq!(metrics["threads"], 8, "{metrics}");
    assert_eq!(metrics["max_threads"], 8, "{metrics}");
}

#[test]
fn a_view_running_python_keeps_the_base_threads() {
    let w = server::worker("apps:spin", json!({"threads": 2, "max_threads": 8})).start();
    // Eight requests of 300 ms of Python each: the GIL is never free, so
    // a third thread would only wait for it.
    let bodies = at_once(w.addr, "/?ms=300", 8);
    let ran = threads_that_ran(&bodies);
    assert!(ran.len() <= 2, "{ran:?}");
    let metrics = &w.get("/?ms=0").json()["metrics"];
    assert_eq!(metrics["threads"], 2, "{metrics}");
}

#[test]
fn without_max_threads_the_pool_stays_as_given() {
    let w = server::worker("apps:where", json!({"threads": 2})).start();
    let bodies = at_once(w.addr, "/?s=0.3", 6);
    assert_eq!(threads_that_ran(&bodies).len(), 2);
    let metrics = &w.get("/").json()["metrics"];
    assert_eq!(
        (&metrics["threads"], &metrics["max_threads"]),
        (&json!(2), &json!(2)),
        "{metrics}"
    );
}
