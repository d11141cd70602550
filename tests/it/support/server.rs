//! Run ONE real warp worker (`python -m warpserver.worker`) without the
//! supervisor, the way `warp start` does: the test binds a socket on
//! 127.0.0.1, the worker gets it on fd 3 and a status pipe on fd 4, and the
//! settings in WARPSERVER_CONFIG. The warpserver package is the one this
//! build embeds: `target/warpserver/release/lib_core.so` (rebuilt by build.rs
//! whenever the `warp` binary under test is) + `server/python/warpserver/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory with the apps the server tests serve (tests/fixtures/server).
pub fn apps_dir() -> PathBuf {
    repo_root().join("tests/fixtures/server")
}

/// Put the warpserver package (extension + Python files) into `dir`.
pub fn install_package(dir: &Path) {
    let pkg = dir.join("warpserver");
    std::fs::create_dir_all(&pkg).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let so = target.join("warpserver/release/lib_core.so");
    assert!(
        so.is_file(),
        "{} is missing: build warp first",
        so.display()
    );
    std::fs::copy(&so, pkg.join("_core.abi3.so")).unwrap();
    copy_tree(&repo_root().join("server/python/warpserver"), &pkg);
}

/// A real Django project (`django-admin startproject site_`) for runwarp.
pub struct DjangoProject {
    _dir: tempfile::TempDir,
    /// The directory with manage.py.
    pub root: PathBuf,
    /// The interpreter that has Django (django-admin's venv).
    pub python: PathBuf,
    /// A directory with the warpserver package, for PYTHONPATH.
    pub package: tempfile::TempDir,
}

/// A fresh project with `warpserver.django` installed, `settings_tail`
/// appended to its settings.py and `urls_tail` to its urls.py; None (test
/// skipped) without django-admin.
pub fn django_project(settings_tail: &str, urls_tail: &str) -> Option<DjangoProject> {
    let django_admin = crate::support::tool("django-admin")?;
    let python = django_admin.parent().unwrap().join("python");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&django_admin)
        .args(["startproject", "site_"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().join("site_");
    let append = |file: &str, tail: &str, edit: &dyn Fn(String) -> String| {
        let path = root.join("site_").join(file);
        let text = edit(std::fs::read_to_string(&path).unwrap()) + "\n" + tail;
        std::fs::write(&path, text).unwrap();
    };
    append("settings.py", settings_tail, &|text| {
        text.replace(
            "INSTALLED_APPS = [",
            "INSTALLED_APPS = [\n    'warpserver.django',",
        )
    });
    append("urls.py", urls_tail, &|text| text);
    let package = tempfile::tempdir().unwrap();
    install_package(package.path());
    Some(DjangoProject {
        _dir: dir,
        root,
        python,
        package,
    })
}

impl DjangoProject {
    /// `python manage.py runwarp ARGS…` in the project, with the warp under
    /// test as WARP_BIN and none of the variables that would change warp's
    /// port, processes or app root.
    pub fn runwarp(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg("manage.py")
            .arg("runwarp")
            .args(args)
            .current_dir(&self.root)
            .env("PYTHONPATH", self.package.path())
            .env("WARP_BIN", crate::support::warp_bin());
        for var in [
            "WEB_CONCURRENCY",
            "PORT",
            "WARP_HTTP_PORT",
            "WARP_APP_ROOT",
            "VIRTUAL_ENV",
            "DJANGO_SETTINGS_MODULE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let dest = to.join(&name);
        if entry.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A running worker; killed (by its pid) when dropped.
pub struct Worker {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    events: mpsc::Receiver<String>,
}

pub struct WorkerBuilder {
    python: PathBuf,
    /// A file given as fd 5 (WARPSERVER_LOG_FD), like the supervisor's stderr.
    log_file: Option<PathBuf>,
    config: serde_json::Value,
    env: Vec<(String, String)>,
}

impl WorkerBuilder {
    pub fn python(mut self, python: &Path) -> Self {
        self.python = python.to_path_buf();
        self
    }

    pub fn log_fd_file(mut self, path: &Path) -> Self {
        self.log_file = Some(path.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Start the worker; does not wait for "ready".
    pub fn spawn(self) -> Worker {
        let dir = tempfile::Builder::new()
            .prefix("warp-worker-")
            .tempdir()
            .unwrap();
        install_package(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (status_read, status_write) = nix::unistd::pipe().unwrap();
        let listen_fd = listener.as_raw_fd();
        let status_fd = status_write.as_raw_fd();
        let stdout = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "warpserver.worker"])
            .current_dir(apps_dir())
            .env("PYTHONPATH", dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("WARPSERVER_CONFIG", self.config.to_string())
            .env("WARPSERVER_WORKER_ID", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let log = self
            .log_file
            .as_ref()
            .map(|p| std::fs::File::create(p).unwrap());
        let log_fd = log.as_ref().map(|f| f.as_raw_fd());
        if log_fd.is_some() {
            cmd.env("WARPSERVER_LOG_FD", "5");
        }
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut fds = vec![(listen_fd, 3), (status_fd, 4)];
                if let Some(fd) = log_fd {
                    fds.push((fd, 5));
                }
                for (from, to) in fds {
                    if from == to {
                        let flags = libc::fcntl(to, libc::F_GETFD);
                        libc::fcntl(to, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    } else if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("could not start python -m warpserver.worker");
        drop(status_write);
        drop(listener);
        drop(log);
        let (tx, events) = mpsc::channel();
        let reader = std::fs::File::from(status_read);
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            addr,
            dir,
            events,
        }
    }

    /// Start the worker and wait until it says ready (panics with its stderr otherwise).
    pub fn start(self) -> Worker {
        let mut worker = self.spawn();
        worker.wait_ready();
        worker
    }
}

/// A worker serving `target` (e.g. `apps:echo`) from tests/fixtures/server,
/// with extra settings merged into the config.
pub fn worker(target: &str, extra: serde_json::Value) -> WorkerBuilder {
    let mut config = serde_json::json!({"target": target, "threads": 2});
    if let (Some(base), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    WorkerBuilder {
        python: PathBuf::from("python3"),
        log_file: None,
        config,
        env: Vec::new(),
    }
}

impl Worker {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// The next status-pipe line within `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<String> {
        self.events.recv_timeout(timeout).ok()
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(line) = self.next_event(Duration::from_millis(100)) {
                if line.contains("\"ready\"") {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("worker exited ({status}) before ready:\n{}", self.stderr());
            }
        }
        panic!("worker not ready within 20 s:\n{}", self.stderr());
    }

    /// Wait for the worker to exit (up to `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Send raw bytes on a new connection and read until the server closes it.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        read_to_close(&mut stream)
    }

    /// A one-shot request with `Connection: close`; returns the parsed response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let raw = self.raw(&bytes);
        parse_response(&raw, method == "HEAD").unwrap_or_else(|| {
            panic!(
                "unparsable response {:?}\nstderr:\n{}",
                String::from_utf8_lossy(&raw),
                self.stderr()
            )
        })
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], b"")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` on a new connection (`Connection: close`, 20 s read timeout):
/// the response when it parses, the raw bytes, and how long it took.
pub fn timed_get(addr: SocketAddr, path: &str) -> (Option<HttpResponse>, Vec<u8>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let raw = read_to_close(&mut s);
    (parse_response(&raw, false), raw, started.elapsed())
}

/// Read until EOF, a reset, or the read timeout.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes after this response (pipelined responses).
    pub rest: Vec<u8>,
    pub complete: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Parse one HTTP/1.x response (test-side reader; Content-Length, chunked or
/// close-delimited). `no_body`: the response to a HEAD.
pub fn parse_response(raw: &[u8], no_body: bool) -> Option<HttpResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next()?;
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let rest = &raw[head_end + 4..];
    let (body, rest, complete) = if no_body || status == 304 || status == 204 || status / 100 == 1 {
        (Vec::new(), rest.to_vec(), true)
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        let mut complete = false;
        while let Some(line_end) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[at..at + line_end]).into_owned();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).ok()?;
            at += line_end + 2;
            if size == 0 {
                at += 2; // final CRLF (no trailers from this server)
                complete = true;
                break;
            }
            if at + size > rest.len() {
                break;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        (body, rest[at.min(rest.len())..].to_vec(), complete)
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let n = len.min(rest.len());
        (rest[..n].to_vec(), rest[n..].to_vec(), n == len)
    } else {
        (rest.to_vec(), Vec::new(), true)
    };
    Some(HttpResponse {
        status,
        reason,
        headers,
        body,
        rest,
        complete,
    })
}

/// Every response in a byte stream of pipelined responses.
pub fn parse_all(raw: &[u8]) -> Vec<HttpResponse> {
    let mut out = Vec::new();
    let mut rest = raw.to_vec();
    while !rest.is_empty() {
        match parse_response(&rest, false) {
            Some(r) => {
                rest = r.rest.clone();
                out.push(r);
            }
            None => break,
        }
    }
    out
}
