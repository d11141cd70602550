//! The Kubernetes contract on a real engine: the Deployment `warp manifests`
//! prints, run by `podman kube play` with an image `warp image` built. The
//! engine is Debian sid's podman (5.8 when written; the test requires 5.1 or
//! newer) with runc, netavark and aardvark-dns, installed by apt into the
//! tests' sid root (tests/fixtures/sid-root.sh) and run there in a private
//! mount namespace (see `Engine`), with its own storage and networks in a
//! directory of the test. The pod runs as the image's non-root user, its
//! probes pass, the app answers; a failing liveness probe gets the container
//! restarted and serving again; `podman kube down` under load drains.
//!
//! What podman does not do here, the test does in the kubelet's place, and
//! README (under "Kubernetes manifests", "On a real engine") says so: the
//! drain is judged from inside the pod's network namespace (a load client
//! entered with `nsenter` into the infra container's), so the network
//! outlives the stop as in a cluster; podman runs no readiness probe, and
//! runs the startup and liveness probes (as healthchecks) only from systemd
//! timers, which this machine has not (and its startup check of a tcpSocket
//! probe is `nc`, which the image lacks) — so the test runs each probe
//! command of the manifest in the container (`podman exec`), and on
//! `failureThreshold` liveness failures stops the container's main process
//! the way the kubelet does (SIGTERM to its pid); the Deployment's
//! `restartPolicy: Always` (podman's restart policy) brings it back. The
//! manifest is played as printed except one line: `hostIP: 127.0.0.1` on the
//! port, so the pod is published on loopback only; and podman 5 publishes a
//! `containerPort` without `hostPort` only under `kube play --publish-all`.
use crate::image_support;
use crate::sid_root;
use crate::support;

use image_support::base_archive;
use sid_root::InsideDir;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{assert_ok, run, stdout, TempApp};

const IMAGE: &str = "localhost/warp-test/kube-app:1";
const NAME: &str = "warpkube";

/// The engine's settings (see ENVIRONMENT.md): runc (crun fails on this
/// machine's cgroups), ulimits it may set, cgroupfs and file events and logs
/// (no systemd or journald here), and subnets of its own, the networks'
/// files (kube play makes `podman-default-kube-network`) kept in the test's
/// directory: Debian 12's podman (CNI) holds 10.88.0.0/16 and 10.89.x.0/24
/// on its `cni-podman*` bridges, and two bridges with one subnet break the
/// routes. `{dir}`: the test's directory inside the root.
const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
default_subnet = "10.211.255.0/24"
default_subnet_pools = [{"base" = "10.211.0.0/16", "size" = 24}]
network_config_dir = "{dir}/networks"
"#;

/// Debian sid's podman (5.x), run in the tests' sid root: a private mount
/// namespace, held by a process of the test (`unshare`, stopped by its pid
/// when dropped), whose root is the sid root (a bind mount of it, with /proc,
/// /dev, /sys and so the cgroups, and a tmpfs on /run for podman's run state
/// and the pods' network namespaces) made the namespace's root by
/// `pivot_root`, the host's root unmounted; each `podman` enters it
/// (`nsenter -m`). Not a chroot: runc needs `/` to be a mount point, and
/// `runc exec` enters a container's mount namespace at that namespace's root
/// mount, which after a chroot is the host's `/`, not the container's. It shares the host's network and PID namespaces, so a published
/// port answers on the host's 127.0.0.1 and a container's pid is the host's.
/// Its storage (graphroot) and the test's files live in `dir`, under the
/// root's /tmp, removed when dropped.
struct Engine {
    dir: InsideDir,
    holder: Child,
}

impl Engine {
    fn start() -> Option<Engine> {
        let root = sid_root::sid_root("usr/bin/podman")?;
        let dir = InsideDir::new(&root);
        std::fs::write(
            dir.host.path().join("containers.conf"),
            CONTAINERS_CONF.replace("{dir}", &dir.rel),
        )
        .unwrap();
        std::fs::write(
            dir.host.path().join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}/storage\"\nrunroot = \"/run/containers/storage\"\n",
                dir.rel
            ),
        )
        .unwrap();
        let r = root.display();
        let mut holder = Command::new("unshare")
            // --kill-child: should the test die, the holder's sleep dies too.
            .args(["--mount", "--fork", "--kill-child=SIGKILL", "sh", "-c"])
            .arg(format!(
                "mount --bind {r} {r} && mount -t proc proc {r}/proc && mount --rbind /dev {r}/dev \
                 && mount --rbind /sys {r}/sys && mount -t tmpfs tmpfs {r}/run \
                 && cd {r} && pivot_root . mnt && umount -l /mnt && echo up && exec sleep 900"
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (the sid root's mount namespace)");
        let mut up = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut up,
        );
        if up.trim() != "up" {
            let _ = holder.kill();
            let _ = holder.wait();
            panic!("the sid root's mount namespace was not set up");
        }
        Some(Engine { dir, holder })
    }

    fn podman(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.holder.id().to_string(), "-m"])
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "LANG=C.UTF-8",
                "PODMAN_IGNORE_CGROUPSV1_WARNING=1",
            ])
            .arg(format!("CONTAINERS_CONF={}/containers.conf", self.dir.rel))
            .arg(format!(
                "CONTAINERS_STORAGE_CONF={}/storage.conf",
                self.dir.rel
            ))
            .arg("podman");
        cmd
    }

    /// A file in `dir`: its path on the host and inside the root.
    fn file(&self, name: &str) -> (PathBuf, String) {
        (
            self.dir.host.path().join(name),
            format!("{}/{name}", self.dir.rel),
        )
    }

    fn inspect(&self, format: &str) -> String {
        let out = run(self
            .podman()
            .args(["inspect", &container(), "--format", format]));
        assert_ok(&out);
        stdout(&out).trim().to_string()
    }

    /// `podman exec` of a probe command; its success.
    fn probe(&self, command: &[&str]) -> bool {
        run(self.podman().args(["exec", &container()]).args(command))
            .status
            .success()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whatever is left (a failed test): removed, so that nothing runs in
        // the namespace once its holder is stopped.
        let _ = run(self.podman().args(["pod", "rm", "-a", "-f", "-t", "0"]));
        let _ = run(self.podman().args(["rm", "-a", "-f", "-t", "0"]));
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

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
struct Played<'a> {
    engine: &'a Engine,
    /// The YAML's path inside the sid root.
    file: String,
}

impl Played<'_> {
    fn play(engine: &Engine, file: String) -> Played<'_> {
        let out = run(engine
            .podman()
            .args(["kube", "play", "--publish-all", &file]));
        let played = Played { engine, file };
        assert_ok(&out);
        played
    }

    fn down(&self) -> std::process::Output {
        run(self.engine.podman().args(["kube", "down", &self.file]))
    }
}

impl Drop for Played<'_> {
    fn drop(&mut self) {
        let _ = self.down();
        let _ = run(self.engine.podman().args(["pod", "rm", "-f", &pod()]));
    }
}

/// Podman 5 names a Deployment's pod `NAME-pod` (4.3: `NAME-pod-0`).
fn pod() -> String {
    format!("{NAME}-pod")
}

fn container() -> String {
    format!("{}-{NAME}", pod())
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
    let Some(engine) = Engine::start() else {
        return;
    };
    let app = app();
    let work = tempfile::tempdir().unwrap();
    let (archive, archive_inside) = engine.file("app.tar");
    let cache = work.path().join("cache");
    let out = run(image_support::warp_image(app.path(), &cache)
        .args([IMAGE, "--base"])
        .arg(format!("docker-archive:{}", base.display()))
        .arg("--output")
        .arg(format!("docker-archive:{}", archive.display())));
    assert_ok(&out);
    assert_ok(&run(engine.podman().args([
        "load",
        "-q",
        "-i",
        &archive_inside,
    ])));

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
    let (file, file_inside) = engine.file("app.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let played = Played::play(&engine, file_inside);
    // The startup probe (tcpSocket), then the app, as the image's user.
    let answer = until_up(port, 60).unwrap_or_else(|| {
        let logs = run(engine.podman().args(["logs", &container()]));
        panic!("the pod never answered:\n{}", support::stderr(&logs))
    });
    let image_user = {
        let out =
            run(engine
                .podman()
                .args(["image", "inspect", IMAGE, "--format", "{{.Config.User}}"]));
        stdout(&out).trim().to_string()
    };
    let uid = image_user.split(':').next().unwrap().to_string();
    assert!(uid != "0" && !uid.is_empty(), "image user {image_user:?}");
    assert!(
        answer.ends_with(&format!("hello from uid {uid}\n")),
        "{answer}"
    );
    let out = run(engine.podman().args(["exec", &container(), "id", "-u"]));
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), uid);
    // The probes as the manifest states them, and podman took the liveness one.
    assert!(
        yaml.contains("command:\n            - warp\n            - alive"),
        "{yaml}"
    );
    assert!(engine.probe(&["warp", "ready"]), "readiness probe failed");
    assert!(engine.probe(&["warp", "alive"]), "liveness probe failed");
    assert!(engine
        .inspect("{{json .Config.Healthcheck}}")
        .contains("alive"));
    assert_eq!(
        engine.inspect("{{.HostConfig.RestartPolicy.Name}}"),
        "always"
    );

    // A failing liveness probe: failureThreshold (3) failures in a row, then
    // the kubelet's stop; restartPolicy Always restarts it, serving again.
    assert!(yaml.contains("failureThreshold: 3"));
    let restarts_before: u32 = engine.inspect("{{.RestartCount}}").parse().unwrap();
    get(port, "/break").unwrap();
    let mut failures = 0;
    for _ in 0..10 {
        if engine.probe(&["warp", "alive"]) {
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
    // SIGTERM to the container's main process by its pid (the host's: the
    // engine shares the PID namespace), as the kubelet's runtime sends it:
    // `podman kill` or `podman stop` would mark the container stopped by
    // its user, which podman 5 does not restart.
    let pid = engine.inspect("{{.State.Pid}}");
    assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "{pid:?}");
    assert_ok(&run(Command::new("kill").args(["-TERM", &pid])));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && engine.inspect("{{.RestartCount}}").parse::<u32>().unwrap() == restarts_before
    {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        engine.inspect("{{.RestartCount}}").parse::<u32>().unwrap(),
        restarts_before + 1,
        "not restarted"
    );
    assert!(
        until_up(port, 60).is_some(),
        "not serving after the restart"
    );
    assert!(
        engine.probe(&["warp", "alive"]),
        "still not alive after the restart"
    );

    // Under load, the stop drains: the requests in flight finish (200), and
    // none is cut. The load runs inside the pod's own network namespace
    // (the infra container's), on 127.0.0.1, so the network outlives the
    // teardown as it does in a cluster, where the pod's network lives until
    // its containers have exited: only the app's stop is judged.
    assert!(yaml.contains("terminationGracePeriodSeconds: 30"), "{yaml}");
    let drain = drain_under_load(&played, &work.path().join("load"), port);
    eprintln!("{drain}");
    // `kube down` removed the pod, infra container and all.
    let out = run(engine.podman().args(["pod", "exists", &pod()]));
    assert_eq!(out.status.code(), Some(1), "the pod outlived kube down");
}

/// The load client, run in the pod's network namespace: `slow` requests
/// of /slow?3 in flight, and two threads of GET / until the stop file
/// appears (at most 60 s, 2000 requests each); prints "ready" once the slow
/// ones are in the app and the fast ones answer, then one JSON line of every
/// request's outcome ("ok", or how it broke) when all have ended.
const LOAD_CLIENT: &str = r#"
import json, os, socket, sys, threading, time
port, stop_file, slow = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
results, lock = [], threading.Lock()

def get(path):
    started = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError as e:
        return "refused: %s" % e, started
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n" % path.encode())
        answer = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            answer += piece
    except OSError as e:
        return "cut: %s after %d bytes" % (e, len(answer)), started
    finally:
        s.close()
    if answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\n"):
        return "ok", started
    return "cut: %r" % answer[:80], started

def record(kind, path):
    outcome, started = get(path)
    with lock:
        results.append({"kind": kind, "outcome": outcome,
                        "secs": round(time.monotonic() - started, 3)})

def fast():
    deadline = time.monotonic() + 60
    for _ in range(2000):
        if os.path.exists(stop_file) or time.monotonic() > deadline:
            return
        record("fast", "/")

slow_threads = [threading.Thread(target=record, args=("slow", "/slow?3")) for _ in range(slow)]
fast_threads = [threading.Thread(target=fast) for _ in range(2)]
for t in slow_threads + fast_threads:
    t.start()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    with lock:
        if sum(r["outcome"] == "ok" for r in results) >= 5:
            break
    time.sleep(0.05)
time.sleep(0.5)  # the slow requests are in the app by now
print("ready", flush=True)
for t in slow_threads + fast_threads:
    t.join(40)
print(json.dumps(results), flush=True)
"#;

/// Stop the pod under load with `podman kube down`, from inside its network
/// namespace, and check that it drained: every request in flight got its
/// whole 200, none was cut, the server logged its graceful stop.
/// Returns a line of figures.
///
/// Needs podman 5.1 or newer: before, `kube down` SIGKILLs at once, whatever
/// the stop timeout (podman issue 22397, fixed by PR 22398 in 5.1; measured
/// with Debian 12's 4.3: all four requests in flight cut), and only from 4.7
/// on does kube play turn terminationGracePeriodSeconds into the stop
/// timeout (PR 19914).
fn drain_under_load(played: &Played, dir: &Path, port: u16) -> String {
    use std::io::BufRead;
    let engine = played.engine;
    let version = stdout(&run(engine.podman().args([
        "version",
        "--format",
        "{{.Client.Version}}",
    ])));
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    assert!(
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (5, 1),
        "podman {version:?}: `kube down` drains only from 5.1 on"
    );
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("load.py");
    let stop_file = dir.join("stop");
    std::fs::write(&script, LOAD_CLIENT).unwrap();
    let pod = pod();
    let out =
        run(engine
            .podman()
            .args(["pod", "inspect", &pod, "--format", "{{.InfraContainerID}}"]));
    assert_ok(&out);
    let infra = stdout(&out).trim().to_string();
    let out = run(engine
        .podman()
        .args(["inspect", &infra, "--format", "{{.State.Pid}}"]));
    assert_ok(&out);
    let infra_pid = stdout(&out).trim().to_string();
    assert!(
        infra_pid.parse::<u32>().is_ok_and(|p| p > 0),
        "{infra_pid:?}"
    );
    // The server's log, followed until the container ends (`kube down`
    // removes it, and its log with it).
    let log_file = dir.join("server.log");
    let log_out = std::fs::File::create(&log_file).unwrap();
    let mut follow = engine
        .podman()
        .args(["logs", "-f", &container()])
        .stdout(log_out.try_clone().unwrap())
        .stderr(log_out)
        .spawn()
        .expect("podman logs -f");
    const SLOW: usize = 4;
    let mut client = Command::new("nsenter")
        .args(["-t", &infra_pid, "-n", "python3"])
        .arg(&script)
        .arg(port.to_string())
        .arg(&stop_file)
        .arg(SLOW.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nsenter python3 (the load client)");
    let mut lines = std::io::BufReader::new(client.stdout.take().unwrap()).lines();
    let ready = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    if ready != "ready" {
        let _ = client.kill();
        let _ = client.wait();
        let _ = follow.kill();
        let _ = follow.wait();
        panic!("the load client in the pod's network did not start: {ready:?}");
    }
    // As in a cluster, new requests stop coming when the stop begins (the
    // pod leaves the Service's endpoints); the ones in flight must finish.
    // No preStop sleep here (podman runs none): harsher than a cluster.
    // What podman will send and how long it waits.
    let stop_settings =
        engine.inspect("signal {{.Config.StopSignal}}, timeout {{.Config.StopTimeout}} s");
    std::fs::write(&stop_file, "").unwrap();
    let started = Instant::now();
    let down = played.down();
    let took = started.elapsed();
    // The follower ends with the container; bounded all the same.
    let deadline = Instant::now() + Duration::from_secs(10);
    while follow.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let logs = std::fs::read_to_string(&log_file).unwrap_or_default();
    let report = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    let status = client.wait().expect("the load client");
    assert_ok(&down);
    assert!(status.success(), "the load client failed: {status}");
    let results: Vec<serde_json::Value> = serde_json::from_str(&report)
        .unwrap_or_else(|e| panic!("the load client's report {report:?}: {e}"));
    let count = |kind: &str, ok: bool| {
        results
            .iter()
            .filter(|r| r["kind"] == kind && (r["outcome"] == "ok") == ok)
            .count()
    };
    let broken: Vec<_> = results.iter().filter(|r| r["outcome"] != "ok").collect();
    let figures = format!(
        "podman {}, container stop {stop_settings}: podman kube down took {took:?}: {} slow in flight answered, {} fast answered, broken: {broken:?}",
        version.trim(),
        count("slow", true),
        count("fast", true)
    );
    // The manifest's grace period became the stop timeout, SIGTERM the signal.
    assert!(
        ["signal SIGTERM, timeout 30 s", "signal 15, timeout 30 s"].contains(&&*stop_settings),
        "{figures}"
    );
    assert_eq!(count("slow", true), SLOW, "{figures}");
    assert!(broken.is_empty(), "{figures}");
    assert!(count("fast", true) >= 5, "{figures}");
    // The server's own account: SIGTERM, then a graceful stop, well within
    // the grace period.
    assert!(
        logs.contains("SIGTERM: stopping") && logs.contains("gracefully"),
        "no graceful stop in the log:\n{logs}"
    );
    assert!(logs.contains("all workers stopped; exiting"), "{logs}");
    assert!(took < Duration::from_secs(30), "{figures}");
    figures
}
