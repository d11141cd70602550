//! The Kubernetes contract on a real engine: the Deployment `warp manifests`
//! prints, run by `podman kube play` (Debian's podman 4.3) with an image
//! `warp image` built. The pod runs as the image's non-root user, its probes
//! pass, the app answers; a failing liveness probe gets the container
//! restarted and serving again; stopping the pod under load drains.
//!
//! What podman does not do here, the test does in the kubelet's place, and
//! README (under "Kubernetes manifests", "On a real engine") says so: podman
//! 4.3's `kube down` stops the pod's network with the app (the test stops the
//! app container first, as a kubelet's order would); podman runs no readiness or
//! startup probe, and runs the liveness probe (as a healthcheck) only from
//! systemd timers, which this machine has not — so the test runs each probe
//! command of the manifest in the container (`podman exec`), and on
//! `failureThreshold` liveness failures stops the container's main process the
//! way the kubelet does (SIGTERM); the Deployment's `restartPolicy: Always`
//! (podman's restart policy) brings it back. The manifest is played as
//! printed except one line: `hostIP: 127.0.0.1` on the port, so the pod is
//! published on loopback only.
#[path = "support/image.rs"]
mod image_support;
mod support;

use image_support::{base_archive, podman};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{assert_ok, run, stdout, TempApp};

const IMAGE: &str = "localhost/warp-test/kube-app:1";
const NAME: &str = "warpkube";

/// The app: `/slow?S` sleeps S seconds; `/break` makes the liveness probe
/// fail until the container restarts (the mark names PID 1's start time).
fn app() -> TempApp {
    let app = TempApp::new();
    app.write(
        "wsgi.py",
        r#"import os, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/break":
        with open("/proc/1/stat") as f:
            started = f.read().rsplit(")", 1)[1].split()[19]
        open("/tmp/broken-" + started, "w").close()
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 2))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("hello from uid %d\n" % os.getuid()).encode()]
"#,
    );
    app.write_exec(
        ".warp/action_hooks/alive",
        r#"#!/bin/sh
exec python - <<'PY'
import os, sys
with open("/proc/1/stat") as f:
    started = f.read().rsplit(")", 1)[1].split()[19]
if os.path.exists("/tmp/broken-" + started):
    print("broken by /break")
    sys.exit(1)
PY
"#,
    );
    app
}

/// A played kube YAML, brought down (`podman kube down`) when dropped.
struct Played {
    file: PathBuf,
}

impl Played {
    fn play(file: &Path) -> Played {
        let out = run(podman().args(["kube", "play"]).arg(file));
        let played = Played {
            file: file.to_path_buf(),
        };
        assert_ok(&out);
        played
    }

    fn down(&self) -> std::process::Output {
        run(podman().args(["kube", "down"]).arg(&self.file))
    }
}

impl Drop for Played {
    fn drop(&mut self) {
        let _ = self.down();
        let _ = run(podman().args(["pod", "rm", "-f", &format!("{NAME}-pod-0")]));
    }
}

fn container() -> String {
    format!("{NAME}-pod-0-{NAME}")
}

fn inspect(format: &str) -> String {
    let out = run(podman().args(["inspect", &container(), "--format", format]));
    assert_ok(&out);
    stdout(&out).trim().to_string()
}

/// `podman exec` of a probe command; its success.
fn probe(command: &[&str]) -> bool {
    run(podman().args(["exec", &container()]).args(command))
        .status
        .success()
}

/// One GET on a new connection: Ok(status line + body), Err(where it broke:
/// "connect" before anything was sent, else "cut").
fn get(port: u16, path: &str) -> Result<String, &'static str> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|_| "connect")?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|_| "connect")?;
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) if answer.starts_with(b"HTTP/1.1 200") && answer.ends_with(b"\n") => {
            Ok(String::from_utf8_lossy(&answer).into_owned())
        }
        // Nothing at all back: the connection was accepted by the kernel's
        // port forward but no server took it (refused, in effect).
        Ok(_) if answer.is_empty() => Err("connect"),
        Err(e) if answer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
            Err("reset")
        }
        _ => Err("cut"),
    }
}

fn until_up(port: u16, secs: u64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(answer) = get(port, "/") {
            return Some(answer);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

#[test]
fn warp_manifests_run_under_podman_kube_play() {
    let Some(base) = base_archive("docker-archive") else {
        return;
    };
    let app = app();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar");
    let cache = work.path().join("cache");
    let out = run(image_support::warp_image(app.path(), &cache)
        .args([IMAGE, "--base"])
        .arg(format!("docker-archive:{}", base.display()))
        .arg("--output")
        .arg(format!("docker-archive:{}", archive.display())));
    assert_ok(&out);
    assert_ok(&run(podman().args(["load", "-q", "-i"]).arg(&archive)));

    let port = support::free_port();
    let out = run(support::warp(app.path()).args([
        "manifests",
        IMAGE,
        "--name",
        NAME,
        "--port",
        &port.to_string(),
    ]));
    assert_ok(&out);
    let yaml = stdout(&out);
    let line = format!("          containerPort: {port}\n");
    assert!(yaml.contains(&line), "{yaml}");
    let yaml = yaml.replacen(&line, &format!("{line}          hostIP: 127.0.0.1\n"), 1);
    let file = work.path().join("app.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let played = Played::play(&file);
    // The startup probe (tcpSocket), then the app, as the image's user.
    let answer = until_up(port, 60).unwrap_or_else(|| {
        let logs = run(podman().args(["logs", &container()]));
        panic!("the pod never answered:\n{}", support::stderr(&logs))
    });
    let image_user = {
        let out = run(podman().args(["image", "inspect", IMAGE, "--format", "{{.Config.User}}"]));
        stdout(&out).trim().to_string()
    };
    let uid = image_user.split(':').next().unwrap().to_string();
    assert!(uid != "0" && !uid.is_empty(), "image user {image_user:?}");
    assert!(
        answer.ends_with(&format!("hello from uid {uid}\n")),
        "{answer}"
    );
    let out = run(podman().args(["exec", &container(), "id", "-u"]));
    assert_eq!(stdout(&out).trim(), uid);
    // The probes as the manifest states them, and podman took the liveness one.
    assert!(
        yaml.contains("command:\n            - warp\n            - alive"),
        "{yaml}"
    );
    assert!(probe(&["warp", "ready"]), "readiness probe failed");
    assert!(probe(&["warp", "alive"]), "liveness probe failed");
    assert!(inspect("{{json .Config.Healthcheck}}").contains("alive"));
    assert_eq!(inspect("{{.HostConfig.RestartPolicy.Name}}"), "always");

    // A failing liveness probe: failureThreshold (3) failures in a row, then
    // the kubelet's stop; restartPolicy Always restarts it, serving again.
    assert!(yaml.contains("failureThreshold: 3"));
    let restarts_before: u32 = inspect("{{.RestartCount}}").parse().unwrap();
    get(port, "/break").unwrap();
    let mut failures = 0;
    for _ in 0..10 {
        if probe(&["warp", "alive"]) {
            failures = 0;
        } else {
            failures += 1;
        }
        if failures == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(failures, 3, "the broken app's liveness probe kept passing");
    let out = run(podman().args(["kill", "--signal", "TERM", &container()]));
    assert_ok(&out);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && inspect("{{.RestartCount}}").parse::<u32>().unwrap() == restarts_before
    {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        inspect("{{.RestartCount}}").parse::<u32>().unwrap(),
        restarts_before + 1,
        "not restarted"
    );
    assert!(
        until_up(port, 60).is_some(),
        "not serving after the restart"
    );
    assert!(
        probe(&["warp", "alive"]),
        "still not alive after the restart"
    );

    // Under load, the stop drains: the requests in flight finish (200), and
    // no request that reached the app is cut.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, refused, cut) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut loaders = Vec::new();
    for _ in 0..2 {
        let (stop, ok, refused, cut) = (stop.clone(), ok.clone(), refused.clone(), cut.clone());
        loaders.push(std::thread::spawn(move || {
            // Bounded: at most 2000 requests or 60 s per thread.
            let deadline = Instant::now() + Duration::from_secs(60);
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                match get(port, "/") {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err("connect") => {
                        std::thread::sleep(Duration::from_millis(50));
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        eprintln!("load request failed: {e} (connection reset with no answer, or a partial answer)");
                        cut.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let slow: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(port, "/slow?3")))
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let served_before_down = ok.load(Ordering::Relaxed);
    // The kubelet's order: the app container gets SIGTERM (and up to
    // terminationGracePeriodSeconds) while the pod's network stays up.
    // `podman kube down` stops the infra container (the network) alongside
    // it and cuts what is in flight: README, "Kubernetes on podman".
    assert!(yaml.contains("terminationGracePeriodSeconds: 30"), "{yaml}");
    // As in a cluster, new requests stop coming when the stop begins (the pod
    // leaves the Service's endpoints); the ones on their way must finish.
    // No preStop sleep here (podman runs none): harsher than a cluster.
    stop.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let out = run(podman().args(["stop", "--time", "30", &container()]));
    let took = started.elapsed();
    for loader in loaders {
        loader.join().unwrap();
    }
    assert_ok(&out);
    for (i, r) in slow.into_iter().enumerate() {
        let answer = r.join().unwrap();
        assert!(answer.is_ok(), "in-flight slow request {i} cut: {answer:?}");
    }
    let (ok, refused, cut) = (
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        cut.load(Ordering::Relaxed),
    );
    eprintln!("the stop took {took:?}: {ok} answered ({served_before_down} before it), {refused} refused, {cut} cut");
    assert!(served_before_down > 0, "no load before the stop");
    assert_eq!(
        cut, 0,
        "requests cut by the stop ({ok} ok, {refused} refused)"
    );
    assert_eq!(refused, 0, "requests refused before the stop ({ok} ok)");
    assert!(took < Duration::from_secs(30), "the stop took {took:?}");
    assert_ok(&played.down());
    let _ = run(podman().args(["rmi", "-f", IMAGE]));
}
