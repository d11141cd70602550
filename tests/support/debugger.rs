//! Helpers for the `--enable-debugger` tests: an app with a view that raises,
//! and a `warp start` whose stdin is a pipe the test types pdb commands into
//! and whose stdout and stderr are kept apart (pdb must talk on stdout).
#![allow(dead_code)]

use crate::start_support::{descendants, kill, prepare_app_root, start_command, test_python};
use crate::support::{free_port, warp, TempApp};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// `/boom` raises ValueError("boom-xyz"); `/gen-boom` returns a generator
/// that raises KeyError("gen-xyz") when iterated; `/stdin` names the worker's
/// fd 0; anything else says hello.
pub const RAISING_APP: &str = r#"
import os

def application(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == "/boom":
        answer = 6 * 7
        raise ValueError("boom-xyz")
    if path == "/gen-boom":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _failing_body()
    if path == "/stdin":
        body = os.readlink("/proc/self/fd/0").encode()
    else:
        body = b"hello\n"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

def _failing_body():
    raise KeyError("gen-xyz")
    yield b"never"
"#;

/// RAISING_APP as wsgi.py in a fresh, prepared source directory.
pub fn raising_app() -> TempApp {
    let app = TempApp::new();
    app.write("wsgi.py", RAISING_APP);
    prepare_app_root(&app, &test_python(), "wsgi.py");
    app
}

/// A running `warp start` with a piped stdin; stopped by pid when dropped.
pub struct TerminalServer {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl TerminalServer {
    /// `warp start --src APP --host 127.0.0.1 --port FREE ARGS…`.
    pub fn start(app: &TempApp, args: &[&str]) -> TerminalServer {
        let port = free_port();
        let mut cmd = warp(app.path());
        start_command(&mut cmd, app, port).args(args);
        Self::spawn(cmd, port)
    }

    /// Any server command (listening on 127.0.0.1:`port`) with a piped stdin.
    pub fn spawn(mut cmd: Command, port: u16) -> TerminalServer {
        let dir = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting the server");
        let stdin = child.stdin.take();
        TerminalServer {
            child,
            stdin,
            port,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both streams, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Wait until `needle` appears `count` times in stdout (`on_stdout`) or
    /// stderr; panics with both after `limit` or when warp exits.
    pub fn wait_for(&mut self, on_stdout: bool, needle: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let text = if on_stdout {
                self.stdout()
            } else {
                self.stderr()
            };
            if text.matches(needle).count() >= count {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "warp start ended ({status}) before {needle:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear {count} time(s) within {limit:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Type a line on the terminal (the supervisor's stdin).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for TerminalServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = self.child.id() as i32;
        let below = descendants(pid);
        kill(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.child.try_wait().ok().flatten().is_none() {
            kill(pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
        for p in below {
            kill(p, libc::SIGKILL);
        }
    }
}
