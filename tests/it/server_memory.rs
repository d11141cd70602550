//! Issue 16, item 2: uploads without needless work. A 1 MB body is read into
//! one `bytes` for the app; with glibc's default thresholds that block is
//! often a fresh mapping (its pages faulted in and zeroed, then unmapped).
//! The worker raises the thresholds (`warpserver::malloc`) unless the
//! environment sets malloc's own — checked here through the worker's own
//! report; what it buys is measured by bench/run.sh (README: the upload rows;
//! page faults counted there are too noisy under a test run's load to assert).
use crate::server_support as server;

use serde_json::json;

fn malloc_tuned(w: &server::Worker) -> serde_json::Value {
    let metrics = &w.get("/").json()["metrics"];
    metrics["malloc_tuned"].clone()
}

#[test]
fn the_worker_tunes_malloc_unless_the_environment_chose() {
    let w = server::worker("apps:where", json!({})).start();
    assert_eq!(malloc_tuned(&w), json!(true));
    for (name, value) in [
        ("GLIBC_TUNABLES", "glibc.malloc.perturb=0"),
        ("MALLOC_TRIM_THRESHOLD_", "131072"),
    ] {
        let w = server::worker("apps:where", json!({}))
            .env(name, value)
            .start();
        assert_eq!(malloc_tuned(&w), json!(false), "{name}");
    }
}
