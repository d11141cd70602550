//! `warp start` in a real container with CPU and memory limits: the tuned
//! defaults come from the cgroup limits, not from the host.
use crate::support;

use std::process::Command;
use support::{stdout, TempApp};

#[test]
fn defaults_follow_the_container_cgroup_limits() {
    let (Some(podman), Ok(image)) = (
        support::which("podman"),
        std::env::var("WARP_TEST_BASE_IMAGE"),
    ) else {
        support::require_all("podman and WARP_TEST_BASE_IMAGE (the Debian+python3 base image)");
        return;
    };
    let app = TempApp::new();
    app.write(
        "wsgi.py",
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n",
    );
    // warp builds the app in the container (python3 -m venv), starts it, and
    // is stopped as soon as it serves; everything is bounded by `timeout`.
    let script = "cd /app && timeout 90 warp start --host 127.0.0.1 --port 0 > /app/log 2>&1 & pid=$!; \
                  for i in $(seq 900); do grep -q 'serving on' /app/log 2>/dev/null && break; sleep 0.1; done; \
                  kill -TERM $pid; wait $pid; cat /app/log";
    let out = Command::new("timeout")
        .arg("150")
        .arg(&podman)
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--cpus",
            "2",
            "--memory",
            "200m",
            "-v",
        ])
        .arg(format!(
            "{}:/usr/local/bin/warp:ro",
            support::warp_bin().display()
        ))
        .arg("-v")
        .arg(format!("{}:/app", app.path().display()))
        .arg(&image)
        .args(["sh", "-c", script])
        .output()
        .expect("running podman");
    let text = stdout(&out);
    // 2 CPUs but 200 MiB: one process (128 MiB each) of 2 threads, growing.
    assert!(
        text.contains(
            "Request Capacity   : 2 (1 process * 2 threads) [tuned for 2 CPU, 200 MiB memory]"
        ),
        "{text}\n{}",
        support::stderr(&out)
    );
    assert!(
        text.contains("Thread Growth      : up to 32 threads per process"),
        "{text}\n{}",
        support::stderr(&out)
    );
    assert!(text.contains("serving on"), "{text}");
}
