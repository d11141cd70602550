//! The worker as a whole: static files, bad input, every CPython, signals.
//! Each test starts a real `python -m warpserver.worker` (tests/support/server.rs).
#[path = "support/debugger.rs"]
mod debugger_support;
#[path = "support/server.rs"]
mod server;
#[path = "support/start.rs"]
mod start_support;
mod support;

use debugger_support::TerminalServer;
use serde_json::json;
use server::{parse_response, worker};
use start_support::http_get;
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

/// `python manage.py runwarp 127.0.0.1:FREE ARGS…` for a real Django project,
/// running until dropped (stopped by pid, with its workers); and its port.
fn runwarp(site: &server::DjangoProject, args: &[&str]) -> (TerminalServer, u16) {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec![addr.as_str()];
    all.extend_from_slice(args);
    (TerminalServer::spawn(site.runwarp(&all), port), port)
}

/// The value of the banner row `name` ("Request Capacity   : …").
fn banner_row(server: &TerminalServer, name: &str) -> String {
    let stdout = server.stdout();
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.trim_start().strip_prefix(": "))
        })
        .unwrap_or_else(|| panic!("no {name:?} row in the banner:\n{}", server.output()))
        .to_string()
}

/// A Django project whose /pid/ answers the worker's pid (/slow-pid/ after a
/// second) and /settings/ the settings module in use, with STATIC_ROOT
/// `collected/` holding site.css.
fn django_site() -> Option<server::DjangoProject> {
    let site = server::django_project(
        "STATIC_ROOT = BASE_DIR / 'collected'\nALLOWED_HOSTS = ['*']\n",
        "import os\nfrom django.conf import settings\nfrom django.http import HttpResponse\n\n\
         def pid(request):\n    return HttpResponse(str(os.getpid()))\n\n\
         def slow_pid(request):\n    import time; time.sleep(1)\n    return HttpResponse(str(os.getpid()))\n\n\
         def which_settings(request):\n    return HttpResponse(settings.SETTINGS_MODULE)\n\n\
         urlpatterns += [path('pid/', pid), path('slow-pid/', slow_pid), path('settings/', which_settings)]\n",
    )?;
    std::fs::create_dir_all(site.root.join("collected")).unwrap();
    std::fs::write(site.root.join("collected/site.css"), "body{}").unwrap();
    Some(site)
}

#[test]
fn django_runwarp_serves_a_real_project_and_its_static_files() {
    let Some(site) = django_site() else {
        return;
    };
    let (mut server, port) = runwarp(&site, &["--threads", "2"]);
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    // runwarp became `warp start`: its banner, with what Django's settings say.
    assert_eq!(banner_row(&server, "Application"), "site_.wsgi:application");
    // --threads is warp's; the processes are warp start's tuned default.
    assert!(
        banner_row(&server, "Request Capacity").contains(" * 2 threads) [tuned for "),
        "{}",
        server.output()
    );
    let collected = std::fs::canonicalize(site.root.join("collected")).unwrap();
    assert_eq!(
        banner_row(&server, "URL Alias"),
        format!("/static -> {}", collected.display())
    );
    // The workers run the Python that ran manage.py.
    let python = banner_row(&server, "Python");
    let path = python.split_once(" (").unwrap().1.trim_end_matches(')');
    assert_eq!(
        std::fs::canonicalize(path).unwrap(),
        std::fs::canonicalize(&site.python).unwrap()
    );
    let (status, body) = http_get(port, "/static/site.css", Duration::from_secs(5)).unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "body{}"),
        "{}",
        server.output()
    );
    // Django itself answers the rest (its 404 page for an unknown URL, DEBUG on).
    let (status, page) = http_get(port, "/nowhere", Duration::from_secs(10)).unwrap();
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("Django"), "{page}");
}

#[test]
fn django_runwarp_passes_options_only_warp_start_knows() {
    let Some(site) = django_site() else {
        return;
    };
    let (mut server, port) = runwarp(
        &site,
        &[
            "--processes",
            "2",
            "--threads",
            "1",
            "--maximum-requests",
            "50",
            "--access-log",
        ],
    );
    server.wait_for(false, ") ready in", 2, Duration::from_secs(30));
    assert!(
        banner_row(&server, "Request Capacity").starts_with("2 (2 processes * 1 threads)"),
        "{}",
        server.output()
    );
    assert_eq!(banner_row(&server, "Maximum Requests"), "50");
    assert_eq!(banner_row(&server, "CPU Scheduling"), "batch");
    assert_eq!(banner_row(&server, "Access Log"), "common");
    // The process runwarp started is warp's supervisor now, with two workers.
    let supervisor = server.child.id() as i32;
    assert_eq!(
        std::fs::canonicalize(format!("/proc/{supervisor}/exe")).unwrap(),
        std::fs::canonicalize(support::warp_bin()).unwrap()
    );
    let workers = start_support::children(supervisor);
    assert_eq!(workers.len(), 2, "{workers:?}\n{}", server.output());
    for pid in &workers {
        assert!(
            server.stderr().contains(&format!("(pid {pid}) ready in")),
            "{}",
            server.output()
        );
    }
    // Both serve: while one worker's only thread runs a slow view, the next
    // connection goes to the other (a saturated worker leaves new connections
    // to idle ones) — three times, so that chance cannot pass it.
    let all: std::collections::BTreeSet<i32> = workers.iter().copied().collect();
    for _ in 0..3 {
        let slow =
            std::thread::spawn(move || http_get(port, "/slow-pid/", Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(300));
        let (status, body) = http_get(port, "/pid/", Duration::from_secs(10)).unwrap();
        assert_eq!(status, 200, "{body}");
        let (slow_status, slow_body) = slow.join().unwrap().unwrap();
        assert_eq!(slow_status, 200, "{slow_body}");
        let served: std::collections::BTreeSet<i32> = [&body, &slow_body]
            .iter()
            .map(|b| b.trim().parse().unwrap())
            .collect();
        assert!(served.is_subset(&all), "{served:?} {workers:?}");
        assert_eq!(
            served.len(),
            2,
            "the busy worker took the second request too"
        );
    }
    for line in [
        "\"GET /pid/ HTTP/1.1\" 200",
        "\"GET /slow-pid/ HTTP/1.1\" 200",
    ] {
        server.wait_for(true, line, 3, Duration::from_secs(5));
    }
}

#[test]
fn django_runwarp_honours_djangos_own_options() {
    let Some(site) = django_site() else {
        return;
    };
    // Settings outside the project, found through --pythonpath (which the
    // workers need too).
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(
        extra.path().join("other_settings.py"),
        "from site_.settings import *\nSTATIC_URL = '/assets/'\n",
    )
    .unwrap();
    let extra_dir = extra.path().display().to_string();
    // warp start knows none of these: Django must take them all.
    let (mut server, port) = runwarp(
        &site,
        &[
            "--settings",
            "other_settings",
            "--pythonpath",
            &extra_dir,
            "--skip-checks",
            "-v",
            "0",
            "--no-color",
        ],
    );
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    let collected = std::fs::canonicalize(site.root.join("collected")).unwrap();
    assert_eq!(
        banner_row(&server, "URL Alias"),
        format!("/assets -> {}", collected.display())
    );
    let (status, body) = http_get(port, "/settings/", Duration::from_secs(10)).unwrap();
    assert_eq!((status, body.as_str()), (200, "other_settings"));
    let (status, body) = http_get(port, "/assets/site.css", Duration::from_secs(5)).unwrap();
    assert_eq!((status, body.as_str()), (200, "body{}"));
}

/// Run runwarp to its end (bounded); its exit status and stderr.
fn runwarp_exit(cmd: std::process::Command) -> (std::process::ExitStatus, String) {
    let (status, _, stderr) = run_to_end(cmd);
    (status, stderr)
}

/// Run a command to its end (bounded, killed by pid otherwise); its exit
/// status, stdout and stderr.
fn run_to_end(cmd: std::process::Command) -> (std::process::ExitStatus, String, String) {
    let mut server = TerminalServer::spawn(cmd, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return (status, server.stdout(), server.stderr());
        }
        assert!(
            Instant::now() < deadline,
            "runwarp still running:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn django_runwarp_a_bad_option_gets_warps_own_error() {
    let Some(site) = django_site() else {
        return;
    };
    let port = support::free_port().to_string();
    let (status, err) = runwarp_exit(site.runwarp(&[&port, "--bogus-option"]));
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(
        err.lines().next(),
        Some("error: unexpected argument '--bogus-option' found"),
        "{err}"
    );
    let (status, err) = runwarp_exit(site.runwarp(&[&port, "--processes", "0"]));
    assert_ne!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("--processes 0: at least one worker process is needed"),
        "{err}"
    );
    let (status, err) = runwarp_exit(site.runwarp(&["localhost:port"]));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("\"localhost:port\" is not a valid port number or address:port pair"),
        "{err}"
    );
}

#[test]
fn django_runwarp_help_shows_warp_starts_options() {
    let Some(site) = django_site() else {
        return;
    };
    let (status, out, err) = run_to_end(site.runwarp(&["--help"]));
    assert!(status.success(), "{err}");
    assert!(
        out.starts_with("usage: manage.py runwarp [[ADDR:]PORT] [warp start options]"),
        "{out}"
    );
    assert!(out.contains("--settings SETTINGS"), "{out}"); // Django's
    assert!(
        out.contains("Usage: warp start [OPTIONS] [TARGET]"),
        "{out}"
    );
    for option in [
        "--processes <N>",
        "--maximum-requests <N>",
        "--enable-debugger",
    ] {
        assert!(out.contains(option), "{option} missing:\n{out}");
    }
}

#[test]
fn runwarp_worker_python_must_exist_and_needs_a_target_when_not_built() {
    let Some(site) = django_site() else {
        return;
    };
    let mut cmd = support::warp(&site.root);
    cmd.args(["start", "--worker-python", "/nonexistent/python"]);
    let (status, err) = runwarp_exit(cmd);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("--worker-python /nonexistent/python: there is no such file"),
        "{err}"
    );
    // Not built, no TARGET: nothing is built into someone else's Python.
    let mut cmd = support::warp(&site.root);
    cmd.arg("start").arg("--worker-python").arg(&site.python);
    let (status, err) = runwarp_exit(cmd);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("nothing to serve"), "{err}");
    assert!(!site.root.join(".venv").exists());
}

#[test]
fn django_runwarp_finds_warp_or_says_how_to() {
    let Some(site) = django_site() else {
        return;
    };
    // No WARP_BIN and no warp on PATH (the interpreter is named by its path).
    let without_warp = |cmd: &mut std::process::Command| {
        cmd.env_remove("WARP_BIN").env("PATH", "/usr/bin:/bin");
    };
    let mut cmd = site.runwarp(&[]);
    without_warp(&mut cmd);
    let (status, err) = runwarp_exit(cmd);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("CommandError: warp was not found"), "{err}");
    assert!(
        err.contains("set WARP_BIN to the warp binary or put warp on PATH"),
        "{err}"
    );
    // The binary that installed the package names itself in it (as
    // `serve::extension::install` writes it): gone, then there.
    let record = site.package.path().join("warpserver/installed-by-warp");
    std::fs::write(&record, "/nonexistent/warp\n").unwrap();
    let mut cmd = site.runwarp(&[]);
    without_warp(&mut cmd);
    let (status, err) = runwarp_exit(cmd);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("the warp that installed warpserver (/nonexistent/warp) is gone"),
        "{err}"
    );
    std::fs::write(&record, format!("{}\n", support::warp_bin().display())).unwrap();
    let port = support::free_port();
    // A bare PORT listens on runserver's 127.0.0.1.
    let mut cmd = site.runwarp(&[&port.to_string()]);
    without_warp(&mut cmd);
    let mut server = TerminalServer::spawn(cmd, port);
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    assert_eq!(
        banner_row(&server, "Server URL"),
        format!("http://127.0.0.1:{port}/")
    );
    assert_eq!(
        http_get(port, "/pid/", Duration::from_secs(10)).unwrap().0,
        200
    );
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
