//! Defects the chaos soak (bench/soak.sh) found, each pinned by a test.

use crate::server_support as server;

use nix::sys::signal::Signal;
use server::worker;
use std::time::Duration;

/// A worker still importing its app got SIGUSR1 (an operator's state dump
/// sent to every worker) and died of the default action: "failed to start
/// (was killed by signal SIGUSR1)". SIGHUP likewise. Now it starts anyway.
#[test]
fn sigusr1_and_sighup_during_the_app_import_do_not_kill_a_worker() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow_import.py");
    std::fs::write(
        &script,
        "import time\ntime.sleep(1.5)\n\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'imported']\n",
    )
    .unwrap();
    for signal in [Signal::SIGUSR1, Signal::SIGHUP] {
        let mut w = worker(script.to_str().unwrap(), serde_json::json!({})).spawn();
        // Python is up and importing the app by now (the import takes 1.5 s).
        std::thread::sleep(Duration::from_millis(700));
        w.signal(signal);
        w.wait_ready();
        assert_eq!(w.get("/").text(), "imported", "after {signal}");
    }
}
