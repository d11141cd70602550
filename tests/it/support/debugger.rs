//! Helpers for the `--enable-debugger` tests: an app with a view that raises,
//! and a `warp start` whose stdin is a pipe the test types pdb commands into
//! and whose stdout and stderr are kept apart (pdb must talk on stdout).

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

/// Runs `argv[2:]` (warp start …) on a new pseudo-terminal, as a user at a
/// shell would: GET http://127.0.0.1:argv[1]/boom, answer pdb's prompt with
/// `p answer` then `c`, then type Ctrl-C. Prints one JSON object: what it saw.
/// Each wait is bounded, and the server is SIGKILLed if it outlives the script.
pub const PTY_DRIVER: &str = r#"
import json, os, pty, select, sys, threading, time, urllib.request
port, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = {"output": ""}
buf = b""
def read_until(needle, limit):
    global buf
    end = time.time() + limit
    while needle not in buf and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    return needle in buf
def get(path):
    try:
        return urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return repr(e)
try:
    seen["ready"] = read_until(b") ready in", 30)
    answer = {}
    client = threading.Thread(target=lambda: answer.update(status=get("/boom")))
    client.start()
    seen["prompt"] = read_until(b"(Pdb) ", 30)
    os.write(fd, b"p answer\r")
    seen["printed"] = read_until(b"\n42\r\n", 10)
    os.write(fd, b"c\r")
    client.join(30)
    seen["boom"] = answer.get("status")
    seen["after"] = get("/")
    os.write(fd, b"\x03")
    end, status = time.time() + 30, None
    while time.time() < end and status is None:
        done, code = os.waitpid(pid, os.WNOHANG)
        status = os.waitstatus_to_exitcode(code) if done else None
        read_until(b"\0", 0.1)
    seen["exit"] = status
finally:
    seen["output"] = buf.decode(errors="replace")
    try:
        os.kill(pid, 9)
    except OSError:
        pass
print(json.dumps(seen))
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
