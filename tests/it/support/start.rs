//! Helpers for the `warp start` tests: an app root prepared the way `warp
//! build` leaves it, a running server that is always stopped (by pid), and a
//! small bounded HTTP load client (std threads + TcpStream, one connection per
//! request so requests spread over the workers).

use crate::support::{free_port, pythons, warp, TempApp};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A WSGI script for the tests: `/` says hello with the worker's pid,
/// `/sleep?SECS` sleeps first, `/grow?MIB` keeps MIB more memory, `/crash`
/// crashes the worker (SIGSEGV). With the file `fail-import` in the source
/// directory the import raises; with `sleep-import` it sleeps that many seconds.
pub const TEST_APP: &str = r#"
import os, time
_here = os.path.dirname(os.path.abspath(__file__))
if os.path.exists(os.path.join(_here, "fail-import")):
    raise RuntimeError("the test asked this import to fail")
if os.path.exists(os.path.join(_here, "sleep-import")):
    time.sleep(float(open(os.path.join(_here, "sleep-import")).read()))

_hog = []

def application(environ, start_response):
    if environ.get("PATH_INFO") == "/crash":
        # A real crash: a fault on the thread running the request (a signal
        # sent with os.kill would reach the process a moment later, racing
        # the response).
        import ctypes
        ctypes.string_at(0)
    if environ.get("PATH_INFO") == "/grow":
        _hog.append(b"x" * (int(environ.get("QUERY_STRING") or "1") << 20))
    if environ.get("PATH_INFO") == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
    body = b"hello from %d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

/// The interpreter tests make venvs with: Python 3.11 from pyenv when there,
/// else the first supported one found.
pub fn test_python() -> PathBuf {
    let all = pythons();
    all.iter()
        .find(|p| p.to_string_lossy().contains("/3.11."))
        .or_else(|| all.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Prepare the app root as `warp build` leaves it for a stdlib-only app: a
/// virtualenv at `<src>/.venv` and `.venv/.warp/build.json` naming `entry`.
/// (The builder's own tests cover detection; these tests are about serving.)
pub fn prepare_app_root(app: &TempApp, python: &Path, entry_target: &str) {
    let venv = app.path().join(".venv");
    let out = std::process::Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("running python -m venv");
    assert!(
        out.status.success(),
        "python -m venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venv_python = venv.join("bin/python");
    let probe = std::process::Command::new(&venv_python)
        .args([
            "-c",
            "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3]); print(sysconfig.get_paths()['platlib'])",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let mut lines = text.lines();
    let (version, site) = (lines.next().unwrap(), lines.next().unwrap());
    let record = serde_json::json!({
        "warp_version": "test",
        "src_root": app.path(),
        "app_root": venv,
        "layout": "none",
        "entry": {"kind": "wsgi", "target": entry_target},
        "python": {"executable": venv_python, "version": version, "site_packages": site},
        "inputs_hash": "test",
        "django": null,
    });
    std::fs::create_dir_all(venv.join(".warp")).unwrap();
    std::fs::write(
        venv.join(".warp/build.json"),
        serde_json::to_string_pretty(&record).unwrap(),
    )
    .unwrap();
}

/// The test app (TEST_APP as wsgi.py) in a fresh source directory, prepared.
pub fn hello_app() -> TempApp {
    let app = TempApp::new();
    app.write("wsgi.py", TEST_APP);
    prepare_app_root(&app, &test_python(), "wsgi.py");
    app
}

/// A running `warp start`; stopped (with its workers) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Server {
    /// `warp start --src APP --host 127.0.0.1 --port FREE ARGS…`, output to a log file.
    pub fn start(app: &TempApp, args: &[&str]) -> Server {
        Self::launch(app, &[], &[], args)
    }

    /// The same with extra environment variables.
    pub fn start_with_env(app: &TempApp, env: &[(&str, &str)], args: &[&str]) -> Server {
        Self::launch(app, &[], env, args)
    }

    /// The same, run through `wrapper` (e.g. `unshare --pid --fork`): the
    /// child is the wrapper, and `warp` one of its descendants.
    pub fn start_wrapped(app: &TempApp, wrapper: &[&str], args: &[&str]) -> Server {
        Self::launch(app, wrapper, &[], args)
    }

    fn launch(app: &TempApp, wrapper: &[&str], env: &[(&str, &str)], args: &[&str]) -> Server {
        let port = free_port();
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("warp.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = warp(app.path());
        if let Some((program, rest)) = wrapper.split_first() {
            let inner = std::mem::replace(&mut cmd, std::process::Command::new(program));
            cmd.current_dir(app.path())
                .args(rest)
                .arg(inner.get_program())
                .env_remove("WARP_APP_ROOT")
                .env_remove("VIRTUAL_ENV");
        }
        let child = start_command(&mut cmd, app, port)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("starting warp start");
        Server {
            child,
            port,
            log,
            _log_dir: log_dir,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the server printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `needle` appears in the output `count` times; panics with
    /// the output after `limit`.
    pub fn wait_for_output(&mut self, needle: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.output().matches(needle).count() >= count {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "warp start ended ({status}) before {needle:?} appeared {count} time(s); output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{needle:?} did not appear {count} time(s) within {limit:?}; output:\n{}",
            self.output()
        );
    }

    /// Wait until every worker is ready (the supervisor says so once per worker).
    pub fn wait_ready(&mut self, workers: usize) {
        self.wait_for_output(") ready in", workers, Duration::from_secs(30));
    }

    /// The worker pids (the supervisor's children).
    pub fn workers(&self) -> Vec<i32> {
        children(self.pid())
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the supervisor to exit; its exit code (None when killed or on timeout).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.port, path, Duration::from_secs(10))
    }

    /// GET until something answers (an app that runs its own server), within `limit`.
    pub fn first_answer(&self, path: &str, limit: Duration) -> (u16, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(answer) = self.get(path) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "no answer; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET that must get an answer: panics with the server's output otherwise.
    pub fn must_get(&self, path: &str) -> (u16, String) {
        self.get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}; output:\n{}", self.output()))
    }
}

/// `cmd` (warp) made `warp start --src APP --host 127.0.0.1 --port PORT`,
/// without the environment variables that would change processes or port.
pub fn start_command<'a>(
    cmd: &'a mut std::process::Command,
    app: &TempApp,
    port: u16,
) -> &'a mut std::process::Command {
    cmd.args(["start", "--src"])
        .arg(app.path())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env_remove("WEB_CONCURRENCY")
        .env_remove("WARP_HTTP_PORT")
        .env_remove("PORT")
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let descendants = descendants(self.pid());
        let _ = kill(self.pid(), libc::SIGTERM);
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            let _ = kill(self.pid(), libc::SIGKILL);
            let _ = self.child.wait();
        }
        for pid in descendants {
            let _ = kill(pid, libc::SIGKILL);
        }
    }
}

pub fn kill(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) on a pid this test started.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// The children of `pid`, from /proc.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every process below `pid`.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        for c in children(p) {
            all.push(c);
            next.push(c);
        }
    }
    all
}

/// The state letter of a process (R, S, Z …), from /proc/PID/stat.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// One GET on its own connection: (status, body).
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Results of a load run.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: u64,
    pub errors: Vec<String>,
}

/// A load generator running in the background until stopped or its limits.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, u64, Vec<String>)>>,
    pub ok: Arc<AtomicU64>,
}

impl Load {
    /// `clients` threads each sending GET `path` back to back, each for at
    /// most `limit` and `max_requests` requests.
    pub fn start(
        port: u16,
        path: &str,
        clients: usize,
        limit: Duration,
        max_requests: u64,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, path) = (stop.clone(), ok.clone(), path.to_string());
                std::thread::spawn(move || {
                    let deadline = Instant::now() + limit;
                    let (mut good, mut bad, mut errors) = (0, 0, Vec::new());
                    for _ in 0..max_requests {
                        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                            break;
                        }
                        match http_get(port, &path, Duration::from_secs(20)) {
                            Ok((200, _)) => {
                                good += 1;
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok((status, body)) => {
                                bad += 1;
                                errors.push(format!("status {status}: {}", body.trim()));
                            }
                            Err(e) => {
                                bad += 1;
                                errors.push(e);
                            }
                        }
                    }
                    (good, bad, errors)
                })
            })
            .collect();
        Load { stop, threads, ok }
    }

    /// Wait until at least `n` requests succeeded (bounded by `limit`).
    pub fn wait_ok(&self, n: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.ok.load(Ordering::Relaxed) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stop the clients now and collect the results.
    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Let every client run to its limits and collect the results.
    pub fn join(self) -> LoadReport {
        let mut report = LoadReport::default();
        for t in self.threads {
            let (ok, failed, errors) = t.join().unwrap();
            report.ok += ok;
            report.failed += failed;
            report.errors.extend(errors);
        }
        report
    }
}
