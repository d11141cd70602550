//! The worker as a whole: static files, bad input, every CPython, signals.
//! (Django's `runwarp` command is `server_runwarp.rs`'s.)
//! Each test starts a real `python -m warpserver.worker` (tests/it/support/server.rs).
use crate::server_support as server;
use crate::support;

use serde_json::json;
use server::{parse_response, worker};
use std::time::{Duration, Instant};

/// A static directory with a plain file, a hashed name, precompressed
/// siblings, and a symlink that points outside the root.
fn static_site() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("public");
    std::fs::create_dir_all(root.join("css")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello static world\n").unwrap();
    std::fs::write(root.join("css/app.3f2a9c1b7d2e.css"), "body{}").unwrap();
    std::fs::write(root.join("app.js"), "console.log('plain');").unwrap();
    std::fs::write(root.join("app.js.gz"), b"GZIPPED").unwrap();
    std::fs::write(root.join("app.js.br"), b"BROTLI").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the root").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    std::fs::write(root.join("digits.txt"), "0123456789").unwrap();
    (dir, root)
}

#[test]
fn static_files_are_served_with_type_validators_and_cache_headers() {
    let (_dir, root) = static_site();
    let w = worker("apps:hello", json!({"url_aliases": [["/static", root]]})).start();
    let r = w.get("/static/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello static world\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    let etag = r.header("etag").unwrap().to_string();
    let last_modified = r.header("last-modified").unwrap().to_string();
    // 304s
    let r = w.request("GET", "/static/hello.txt", &[("If-None-Match", &etag)], b"");
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = w.request(
        "GET",
        "/static/hello.txt",
        &[("If-Modified-Since", &last_modified)],
        b"",
    );
    assert_eq!(r.status, 304);
    // hashed names are cached for a year
    let r = w.get("/static/css/app.3f2a9c1b7d2e.css");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // the app still answers everything else
    assert_eq!(w.get("/other").text(), "Hello, world!\n");
}

#[test]
fn static_ranges_head_and_precompressed_siblings() {
    let (_dir, root) = static_site();
    let w = worker("apps:hello", json!({"url_aliases": [["/static", root]]})).start();
    let r = w.request("GET", "/static/digits.txt", &[("Range", "bytes=2-5")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "2345");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    let r = w.request("GET", "/static/digits.txt", &[("Range", "bytes=-3")], b"");
    assert_eq!(r.text(), "789");
    let r = w.request("GET", "/static/digits.txt", &[("Range", "bytes=50-")], b"");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    let r = w.request("HEAD", "/static/digits.txt", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());
    let r = w.request(
        "GET",
        "/static/app.js",
        &[("Accept-Encoding", "gzip, br")],
        b"",
    );
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.text(), "BROTLI");
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let r = w.request("GET", "/static/app.js", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.text(), "GZIPPED");
    let r = w.request(
        "GET",
        "/static/app.js",
        &[("Accept-Encoding", "br;q=0, identity")],
        b"",
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "console.log('plain');");
    let r = w.request("POST", "/static/app.js", &[], b"x");
    assert_eq!(r.status, 405);
}

#[test]
fn static_files_never_escape_the_alias_root() {
    let (_dir, root) = static_site();
    let w = worker(
        "apps:hello",
        json!({"django_static": {"url": "/static/", "root": root}}),
    )
    .start();
    assert_eq!(
        w.get("/static/hello.txt").status,
        200,
        "django_static maps like an alias"
    );
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css/..%2F..%2Fsecret.txt",
        "/static/escape.txt",
        "/static/%00hello.txt",
        "/static/css",
    ] {
        let raw = w
            .raw(format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
        let r = parse_response(&raw, false).unwrap();
        assert!(
            r.status == 404 || r.status == 400,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            !r.text().contains("outside the root"),
            "{path} escaped the root"
        );
    }
}

#[test]
fn an_unimportable_app_prints_its_traceback_and_exits_non_zero_without_ready() {
    let mut w = worker("broken:application", json!({})).spawn();
    let status = w
        .wait_exit(Duration::from_secs(20))
        .expect("the worker should exit");
    assert!(!status.success());
    let err = w.stderr();
    assert!(
        err.contains("Traceback") && err.contains("cannot be imported (on purpose)"),
        "{err}"
    );
    while let Some(line) = w.next_event(Duration::from_millis(100)) {
        assert!(!line.contains("ready"), "said ready: {line}");
    }
}

#[test]
fn a_target_that_is_not_callable_or_missing_is_refused() {
    for (target, needle) in [
        ("apps:not_callable", "is not callable"),
        ("apps:no_such_name", "has no attribute"),
        ("no_such_module:app", "No module named"),
        ("", "no target"),
    ] {
        let mut w = worker(target, json!({})).spawn();
        let status = w
            .wait_exit(Duration::from_secs(20))
            .expect("the worker should exit");
        assert!(!status.success(), "{target}");
        assert!(w.stderr().contains(needle), "{target}: {}", w.stderr());
    }
    let mut w = worker("apps:hello", json!({"threads": 0})).spawn();
    assert!(!w.wait_exit(Duration::from_secs(20)).unwrap().success());
    assert!(
        w.stderr().contains("threads must be at least 1"),
        "{}",
        w.stderr()
    );
    let mut w = worker("apps:hello", json!({"no_such_setting": 1})).spawn();
    assert!(!w.wait_exit(Duration::from_secs(20)).unwrap().success());
    assert!(w.stderr().contains("unknown field"), "{}", w.stderr());
}

#[test]
fn worker_threads_run_under_batch_scheduling_unless_told_otherwise() {
    // Default: the I/O thread and the Python threads are SCHED_BATCH.
    let w = worker("apps:scheduling", json!({})).start();
    let seen = w.get("/").json();
    let batch = seen["batch"].as_i64().unwrap();
    assert_eq!(seen["python_threads"], json!([batch, batch]), "{seen}");
    assert_eq!(seen["io_threads"], json!([batch]), "{seen}");
    drop(w);
    let w = worker("apps:scheduling", json!({"cpu_scheduling": "normal"})).start();
    let seen = w.get("/").json();
    assert_eq!(
        (&seen["python_threads"], &seen["io_threads"]),
        (&json!([0, 0]), &json!([0])),
        "{seen}"
    );
    drop(w);
    let mut w = worker("apps:hello", json!({"cpu_scheduling": "fifo"})).spawn();
    assert!(!w.wait_exit(Duration::from_secs(20)).unwrap().success());
    assert!(w.stderr().contains("unknown variant"), "{}", w.stderr());
}

#[test]
fn a_wsgi_script_file_is_a_target_too() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("site.wsgi.py");
    std::fs::write(
        &script,
        "def handler(environ, start_response):\n    start_response('200 OK', [])\n    return [b'from a script']\n",
    )
    .unwrap();
    let w = worker(
        script.to_str().unwrap(),
        json!({"callable_object": "handler"}),
    )
    .start();
    assert_eq!(w.get("/").text(), "from a script");
}

#[test]
fn one_build_serves_every_cpython_from_3_9() {
    let pythons = support::pythons();
    if pythons.len() < 2 {
        support::require_all("the pyenv CPythons 3.9–3.13");
        return;
    }
    for python in pythons {
        // A real virtualenv of that interpreter (no pip needed), like an app's.
        let venv = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(&python)
            .args(["-m", "venv", "--without-pip"])
            .arg(venv.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let w = worker("apps:echo", json!({}))
            .python(&venv.path().join("bin/python"))
            .start();
        let r = w.get("/x");
        assert_eq!(r.status, 200, "{}: {}", python.display(), w.stderr());
        assert_eq!(r.json()["environ"]["PATH_INFO"], "/x");
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let mut w = worker("apps:slow", json!({"graceful_timeout": 10})).start();
    let addr = w.addr;
    // Connected and sent here, not in the thread: on a loaded machine the
    // thread may not run before the SIGTERM below, and then finds the
    // listener closed.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut s, b"GET /?s=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let client = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    // An idle keep-alive connection must not hold the shutdown up.
    let idle = w.connect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    w.signal(nix::sys::signal::Signal::SIGTERM);
    let answer = client.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight request lost: {answer:?}"
    );
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("worker should exit");
    assert!(status.success(), "{status}: {}", w.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(idle);
    // new connections are refused (the test's listener copy is gone too)
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_python_older_than_3_9_is_refused_clearly() {
    let home = std::env::var("HOME").unwrap_or_default();
    let old: Vec<_> = ["3.8", "3.7", "3.6", "2.7"]
        .iter()
        .filter_map(|minor| {
            std::fs::read_dir(format!("{home}/.pyenv/versions"))
                .ok()?
                .flatten()
                .find(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{minor}."))
                })
                .map(|e| e.path().join("bin/python"))
        })
        .collect();
    if old.is_empty() {
        support::require_all("a pyenv CPython older than 3.9");
        return;
    }
    for python in old {
        let mut w = worker("apps:hello", json!({})).python(&python).spawn();
        let status = w.wait_exit(Duration::from_secs(20)).expect("should exit");
        assert_eq!(status.code(), Some(2), "{}", python.display());
        assert!(
            w.stderr().contains("needs CPython 3.9 or newer"),
            "{}: {}",
            python.display(),
            w.stderr()
        );
    }
}

#[test]
fn once_ready_the_error_log_goes_to_the_supervisors_fd_5() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("supervisor-stderr");
    let w = worker("apps:boom", json!({})).log_fd_file(&log).start();
    assert_eq!(w.get("/").status, 500);
    std::thread::sleep(Duration::from_millis(200));
    let taken_over = std::fs::read_to_string(&log).unwrap();
    assert!(taken_over.contains("secret detail"), "{taken_over}");
    assert!(!w.stderr().contains("secret detail"), "{}", w.stderr());
}

#[test]
fn sigusr1_dumps_the_state_and_sighup_does_not_kill() {
    let mut w = worker("apps:hello", json!({})).start();
    assert_eq!(w.get("/").status, 200);
    w.signal(nix::sys::signal::Signal::SIGHUP);
    // The response can reach us a moment before the thread counts itself
    // idle again: ask until the dump shows the settled state (or time is up).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !w
        .stderr()
        .contains("requests 1 (0 inline, 1 handed off), busy threads 0/2")
        && Instant::now() < deadline
    {
        w.signal(nix::sys::signal::Signal::SIGUSR1);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        w.stderr()
            .contains("requests 1 (0 inline, 1 handed off), busy threads 0/2"),
        "{}",
        w.stderr()
    );
    assert!(w.child.try_wait().unwrap().is_none(), "the worker died");
    assert_eq!(w.get("/").status, 200);
}
