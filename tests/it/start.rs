//! `warp start`: serving, the banner, bad input, startup failures and the
//! supervisor's signals, with the real binary, real venvs and the real worker.
use crate::start_support;
use crate::support;

use start_support::{hello_app, prepare_app_root, Server, TEST_APP};
use std::time::{Duration, Instant};
use support::{assert_fails_with, run, warp, TempApp};

#[test]
fn start_serves_hello_and_prints_the_banner() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "2", "--threads", "3"]);
    server.wait_ready(2);
    let (status, body) = server.must_get("/");
    assert_eq!(status, 200);
    assert!(body.starts_with("hello from "), "{body}");
    let out = server.output();
    for needle in [
        &format!("Server URL         : http://127.0.0.1:{}/", server.port),
        "Request Capacity   : 6 (2 processes * 3 threads)",
        "Startup Timeout    : 15 (seconds)",
        "Request Timeout    : 60 (seconds)",
        "Queue Timeout      : 45 (seconds)",
        "Queue Backlog      : 100 (connections)",
        "Graceful Timeout   : 15 (seconds)",
        "Python             : 3.",
        "wsgi.py (application)",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    assert_eq!(server.workers().len(), 2, "{out}");
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(Some(0)));
}

#[test]
fn start_serves_a_module_callable_target() {
    let app = hello_app();
    app.write("pkg/__init__.py", "");
    app.write("pkg/site.py", TEST_APP);
    let mut server = Server::start(&app, &["pkg.site:application", "--processes", "1"]);
    server.wait_ready(1);
    assert_eq!(server.must_get("/").0, 200);
}

#[test]
fn threads_zero_is_refused() {
    let app = TempApp::new();
    let out = run(warp(app.path()).args(["start", "--threads", "0"]));
    assert_fails_with(&out, "--threads 0");
    assert!(support::stderr(&out).contains("hint:"));
}

#[test]
fn a_missing_target_is_refused() {
    let app = TempApp::new();
    let out = run(warp(app.path()).args(["start", "nosuch/app.py"]));
    assert_fails_with(&out, "TARGET nosuch/app.py does not exist");
    let out = run(warp(app.path()).args(["start", "pkg.:app"]));
    assert_fails_with(&out, "is not module:callable");
}

#[test]
fn a_port_in_use_is_reported_with_a_hint() {
    let app = hello_app();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(warp(app.path()).args([
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--processes",
        "1",
    ]));
    assert_fails_with(&out, &format!("port {port} on 127.0.0.1 is already in use"));
    assert!(
        support::stderr(&out).contains("--port"),
        "{}",
        support::stderr(&out)
    );
}

#[test]
fn python_older_than_3_9_is_refused() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let old = std::fs::read_dir(std::path::Path::new(&home).join(".pyenv/versions"))
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("3.8."))
        });
    let Some(old) = old else {
        support::require_all("a pyenv CPython 3.8");
        return;
    };
    let app = TempApp::new();
    app.write("wsgi.py", TEST_APP);
    prepare_app_root(&app, &old.join("bin/python3"), "wsgi.py");
    let out = run(warp(app.path()).args(["start", "--host", "127.0.0.1", "--port", "0"]));
    assert_fails_with(&out, "warp's server needs Python 3.9 or newer");
    assert!(support::stderr(&out).contains("3.8."));
}

#[test]
fn an_unimportable_app_exits_non_zero_with_its_traceback_once() {
    let app = hello_app();
    app.write("fail-import", "");
    let mut server = Server::start(&app, &["--processes", "2"]);
    let code = server.wait_exit(Duration::from_secs(30));
    let out = server.output();
    assert_eq!(code, Some(Some(1)), "{out}");
    assert!(
        out.contains("the app failed to start: RuntimeError: the test asked this import to fail"),
        "{out}"
    );
    // Two workers failed the same way: the traceback is shown once.
    assert_eq!(out.matches("Traceback").count(), 1, "{out}");
}

#[test]
fn an_app_that_sleeps_past_the_startup_timeout_is_killed() {
    let app = hello_app();
    app.write("sleep-import", "60");
    let started = Instant::now();
    let mut server = Server::start(&app, &["--processes", "1", "--startup-timeout", "1"]);
    let code = server.wait_exit(Duration::from_secs(20));
    let out = server.output();
    assert_eq!(code, Some(Some(1)), "{out}");
    assert!(
        out.contains("not ready within 1 s (--startup-timeout)"),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "{out}");
}

#[test]
fn later_start_failures_back_off_then_recover() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1"]);
    server.wait_ready(1);
    app.write("fail-import", "");
    let first = server.workers()[0];
    assert!(start_support::kill(first, libc::SIGKILL));
    server.wait_for_output("next attempt in 2 s", 1, Duration::from_secs(20));
    let out = server.output();
    assert!(out.contains("was killed by signal SIGKILL"), "{out}");
    assert!(out.contains("next attempt in 1 s"), "{out}");
    assert_eq!(out.matches("Traceback").count(), 1, "{out}");
    assert!(out.contains("(same error as before)"), "{out}");
    std::fs::remove_file(app.path().join("fail-import")).unwrap();
    server.wait_ready(2);
    assert_eq!(server.must_get("/").0, 200);
}

#[test]
fn sigusr1_dumps_the_worker_states() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "2"]);
    server.wait_ready(2);
    server.signal("USR1");
    server.wait_for_output("SIGUSR1: 2 worker(s)", 1, Duration::from_secs(5));
    server.wait_for_output(": ready for ", 2, Duration::from_secs(5));
}

#[test]
fn reload_on_changes_serves_the_new_code() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--processes", "1", "--reload-on-changes"]);
    server.wait_ready(1);
    std::thread::sleep(Duration::from_millis(1100)); // a distinct mtime
    app.write("wsgi.py", &TEST_APP.replace("hello from", "reloaded by"));
    server.wait_for_output("wsgi.py changed", 1, Duration::from_secs(10));
    server.wait_ready(2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.must_get("/");
        if body.starts_with("reloaded by") {
            break;
        }
        assert!(Instant::now() < deadline, "still the old code: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Also watched: files under a --url-alias directory, and Python modules in
/// a --python-path directory outside the source (imported by the app).
#[test]
fn reload_on_changes_watches_static_files_and_python_path_modules() {
    let app = hello_app();
    app.write("assets/site.css", "body { color: black }\n");
    let lib = tempfile::tempdir().unwrap();
    std::fs::write(lib.path().join("greeting.py"), "WORD = 'first'\n").unwrap();
    app.write(
        "wsgi.py",
        "import greeting\n\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [greeting.WORD.encode()]\n",
    );
    let lib_dir = lib.path().display().to_string();
    let mut server = Server::start(
        &app,
        &[
            "--processes",
            "1",
            "--reload-on-changes",
            "--url-alias",
            "/static",
            "assets",
            "--python-path",
            &lib_dir,
        ],
    );
    server.wait_ready(1);
    assert_eq!(server.must_get("/").1, "first");
    std::thread::sleep(Duration::from_millis(1100)); // a distinct mtime
    app.write("assets/site.css", "body { color: red }\n");
    server.wait_for_output("site.css changed", 1, Duration::from_secs(10));
    server.wait_ready(2);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(lib.path().join("greeting.py"), "WORD = 'second'\n").unwrap();
    server.wait_for_output("greeting.py changed", 1, Duration::from_secs(10));
    server.wait_ready(3);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.must_get("/");
        if body == "second" {
            break;
        }
        assert!(Instant::now() < deadline, "still the old module: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_debugger_forces_one_process_and_one_thread() {
    let app = hello_app();
    let mut server = Server::start(&app, &["--enable-debugger", "--processes", "3"]);
    server.wait_for_output("Debugger           : on", 1, Duration::from_secs(30));
    let out = server.output();
    assert!(
        out.contains("Request Capacity   : 1 (1 process * 1 threads)"),
        "{out}"
    );
    assert!(server.workers().len() <= 1, "{out}");
}

#[test]
fn start_builds_the_app_first_when_it_was_never_built() {
    let app = TempApp::new();
    app.write("wsgi.py", TEST_APP);
    let mut server = start_unbuilt(&app, &["--processes", "1"]);
    server.wait_for_output(
        "is not built yet, building it first",
        1,
        Duration::from_secs(10),
    );
    server.wait_for_output(") ready in", 1, Duration::from_secs(120));
    assert_eq!(server.must_get("/").0, 200);
    assert!(app.path().join(".venv/.warp/build.json").is_file());
}

#[test]
fn a_source_with_nothing_to_run_gets_the_splash_page() {
    let app = TempApp::new();
    app.write("requirements.txt", "");
    let mut server = start_unbuilt(&app, &["--processes", "1", "--callable-object", "app"]);
    server.wait_for_output(") ready in", 1, Duration::from_secs(120));
    let (status, body) = server.must_get("/");
    assert_eq!(status, 200);
    assert!(body.contains("warp is running"), "{body}");
    assert!(server.output().contains("warp's splash page"));
}

/// `warp start` on a source never built (it builds first), with uv from the
/// test tools on PATH when it is there, which makes the venv fast.
fn start_unbuilt(app: &TempApp, args: &[&str]) -> Server {
    match support::tool("uv") {
        Some(uv) => {
            let path = format!(
                "{}:{}",
                uv.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            );
            Server::start_with_env(app, &[("PATH", &path)], args)
        }
        None => Server::start(app, args),
    }
}

#[test]
fn an_app_sh_entry_replaces_warp_with_the_script() {
    let app = TempApp::new();
    app.write("requirements.txt", "");
    app.write_exec(
        "app.sh",
        "#!/bin/sh\nexec python3 -m http.server --bind 127.0.0.1 \"$PORT\"\n",
    );
    let server = start_unbuilt(&app, &[]);
    let (status, _) = server.first_answer("/", Duration::from_secs(120));
    assert_eq!(status, 200);
    // exec: the process warp started is now the app's server itself.
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", server.pid())).unwrap();
    assert!(cmdline.contains("http.server"), "{cmdline:?}");
}

#[test]
fn url_alias_reaches_the_workers() {
    let app = hello_app();
    app.write("assets/site.css", "body { color: black }\n");
    let mut server = Server::start(
        &app,
        &["--processes", "1", "--url-alias", "/static", "assets"],
    );
    server.wait_ready(1);
    assert!(server.output().contains("URL Alias          : /static -> "));
    let (status, body) = server.must_get("/static/site.css");
    assert_eq!(status, 200);
    assert_eq!(body, "body { color: black }\n");
}

#[test]
fn as_pid_1_it_reaps_orphans_and_stops_on_sigterm() {
    let Some(unshare) = support::which("unshare") else {
        support::require_all("unshare (util-linux)");
        return;
    };
    let app = hello_app();
    // Each worker leaves an orphan behind at import: it is re-parented to
    // PID 1 (warp, in the new PID namespace) and exits 0.3 s later.
    let orphaning = format!(
        "import os, time\nif os.fork() == 0:\n    if os.fork() == 0:\n        time.sleep(0.3)\n        os._exit(0)\n    os._exit(0)\nos.wait()\n{TEST_APP}"
    );
    app.write("wsgi.py", &orphaning);
    let unshare = unshare.to_string_lossy().into_owned();
    let mut server = Server::start_wrapped(
        &app,
        &[&unshare, "--pid", "--fork", "--mount-proc"],
        &["--processes", "2"],
    );
    server.wait_ready(2);
    assert_eq!(server.must_get("/").0, 200);
    let warp_pid = start_support::children(server.pid())[0];
    std::thread::sleep(Duration::from_millis(800));
    let children = start_support::children(warp_pid);
    assert_eq!(
        children.len(),
        2,
        "only the two workers remain: {children:?}"
    );
    for pid in children {
        assert_ne!(start_support::process_state(pid), Some('Z'), "zombie {pid}");
    }
    assert!(start_support::kill(warp_pid, libc::SIGTERM));
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(Some(0)));
    assert!(server.output().contains("all workers stopped"));
}

#[test]
fn server_options_from_the_source_apply_and_the_command_line_wins() {
    let app = hello_app();
    app.write(
        ".warp/config.yaml",
        "server:\n  threads: 3\n  processes: 4\n  maximum-requests-jitter: 7\n",
    );
    let mut server = Server::start(&app, &["--processes", "1"]);
    server.wait_ready(1);
    let out = server.output();
    assert!(
        out.contains("Request Capacity   : 3 (1 process * 3 threads)"),
        "{out}"
    );
    assert_eq!(server.workers().len(), 1);

    let bad = hello_app();
    bad.write(".warp/config.yaml", "server:\n  thread: 3\n");
    let out = run(warp(bad.path()).args(["start", "--port", "0"]));
    assert_fails_with(&out, "the server options of the source are not valid");
    assert!(
        support::stderr(&out).contains("--thread"),
        "{}",
        support::stderr(&out)
    );
}

#[test]
fn app_config_names_a_file_of_server_options() {
    // s2i-python-container's APP_CONFIG, set in .s2i/environment: plain arguments.
    let app = hello_app();
    app.write(".s2i/environment", "APP_CONFIG=etc/warp.args\n");
    app.write("etc/warp.args", "--processes 1\n--threads 3\n");
    let mut server = Server::start(&app, &[]);
    server.wait_ready(1);
    let out = server.output();
    assert!(
        out.contains("Request Capacity   : 3 (1 process * 3 threads)"),
        "{out}"
    );
    drop(server);

    // A YAML file, and the command line still wins.
    let app = hello_app();
    app.write(".s2i/environment", "APP_CONFIG=warp.yaml\n");
    app.write("warp.yaml", "processes: 1\nthreads: 4\n");
    let mut server = Server::start(&app, &["--threads", "2"]);
    server.wait_ready(1);
    let out = server.output();
    assert!(
        out.contains("Request Capacity   : 2 (1 process * 2 threads)"),
        "{out}"
    );
    drop(server);

    // A gunicorn config file and a missing file are refused with a hint.
    let bad = hello_app();
    bad.write(".s2i/environment", "APP_CONFIG=gunicorn.conf.py\n");
    bad.write("gunicorn.conf.py", "workers = 2\n");
    let out = run(warp(bad.path()).args(["start", "--port", "0"]));
    assert_fails_with(&out, "is a Python (gunicorn) configuration file");
    let missing = hello_app();
    missing.write(".s2i/environment", "APP_CONFIG=nowhere.args\n");
    let out = run(warp(missing.path()).args(["start", "--port", "0"]));
    assert_fails_with(&out, "APP_CONFIG=nowhere.args: cannot read");
}

#[test]
fn web_concurrency_sets_the_processes() {
    let app = hello_app();
    let mut server = Server::start_with_env(&app, &[("WEB_CONCURRENCY", "3")], &["--threads", "2"]);
    server.wait_ready(3);
    let out = server.output();
    assert!(
        out.contains("Request Capacity   : 6 (3 processes * 2 threads) [WEB_CONCURRENCY]"),
        "{out}"
    );
    assert_eq!(server.workers().len(), 3);
}

#[test]
fn an_app_in_app_home_runs_from_there() {
    let app = TempApp::new();
    app.write(".s2i/environment", "APP_HOME=site\n");
    app.write("site/shop/__init__.py", "");
    app.write("site/shop/web.py", TEST_APP);
    prepare_app_root(&app, &start_support::test_python(), "shop.web:application");
    let mut server = Server::start(&app, &["--processes", "1"]);
    server.wait_ready(1);
    assert_eq!(server.must_get("/").0, 200);
}

#[test]
fn an_app_py_entry_runs_with_the_venv_python() {
    let app = TempApp::new();
    app.write("requirements.txt", "");
    app.write(
        "app.py",
        "import http.server, os, sys\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_GET(self):\n\
         \x20       body = sys.prefix.encode()\n\
         \x20       self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n\
         \x20       self.wfile.write(body)\n\
         http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n",
    );
    let server = start_unbuilt(&app, &[]);
    let (status, body) = server.first_answer("/", Duration::from_secs(120));
    assert_eq!(status, 200);
    // The app runs in the app's virtualenv.
    assert!(body.ends_with(".venv"), "{body}");
}

/// A built app copied elsewhere: `warp start` there must install its server
/// into the copy's venv, not into the venv the build record names (which
/// would leave the copy running whatever server it had).
#[test]
fn a_copied_app_gets_the_server_in_its_own_venv() {
    let original = hello_app();
    let copy = TempApp::new();
    let status = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", original.path().display())])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let site_packages = |root: &std::path::Path| {
        std::fs::read_dir(root.join(".venv/lib"))
            .unwrap()
            .map(|e| e.unwrap().path().join("site-packages"))
            .find(|p| p.is_dir())
            .unwrap()
    };
    let original_package = site_packages(original.path()).join("warpserver");
    let _ = std::fs::remove_dir_all(&original_package);
    let mut server = Server::start(&copy, &["--processes", "1"]);
    server.wait_ready(1);
    assert_eq!(server.must_get("/").0, 200);
    assert!(
        site_packages(copy.path())
            .join("warpserver/_core.abi3.so")
            .is_file(),
        "the copy's venv should hold warp's server"
    );
    assert!(
        !original_package.exists(),
        "warp start in the copy wrote into the original's venv"
    );
}

#[test]
fn worker_python_runs_leave_no_private_package_behind() {
    // `--worker-python` puts warp's server into a private temporary directory.
    // It is removed at exit, and copies left by a killed run (PID gone) are
    // removed by the next run — only this user's directories with the marker.
    let app = hello_app();
    let tmp = tempfile::tempdir().unwrap();
    let dead = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let stale = tmp.path().join(format!("warpserver-{dead}-abc"));
    std::fs::create_dir_all(stale.join("warpserver")).unwrap();
    std::fs::write(stale.join("warpserver/installed-by-warp"), "/old/warp\n").unwrap();
    let foreign = tmp.path().join(format!("warpserver-{dead}-notours"));
    std::fs::create_dir_all(&foreign).unwrap();
    let live = tmp
        .path()
        .join(format!("warpserver-{}-live", std::process::id()));
    std::fs::create_dir_all(live.join("warpserver")).unwrap();
    std::fs::write(live.join("warpserver/installed-by-warp"), "/old/warp\n").unwrap();

    let python = app.path().join(".venv/bin/python");
    let tmpdir = tmp.path().to_str().unwrap();
    let mut server = Server::start_with_env(
        &app,
        &[("TMPDIR", tmpdir)],
        &[
            "wsgi.py",
            "--processes",
            "1",
            "--worker-python",
            python.to_str().unwrap(),
        ],
    );
    server.wait_ready(1);
    assert_eq!(server.must_get("/").0, 200);
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let during = names();
    assert!(
        !stale.exists(),
        "the killed run's copy is still there: {during:?}"
    );
    assert!(foreign.exists() && live.exists(), "{during:?}");
    let own = format!("warpserver-{}-", server.pid());
    assert!(during.iter().any(|n| n.starts_with(&own)), "{during:?}");
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(Some(0)));
    let after = names();
    assert!(!after.iter().any(|n| n.starts_with(&own)), "{after:?}");
}

/// Status of one raw HTTP/1.1 request without a Host header.
fn status_without_host(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_whitespace().nth(1).unwrap_or("").to_string()
}

/// RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 from `warp
/// start` by default; `--accept-missing-host` (and `server:` in
/// .warp/config.yaml) serves it.
#[test]
fn a_request_without_host_is_refused_unless_accept_missing_host() {
    let app = hello_app();
    let mut strict = Server::start(&app, &["--processes", "1"]);
    strict.wait_ready(1);
    assert_eq!(status_without_host(strict.port), "400");
    assert_eq!(strict.must_get("/").0, 200);
    strict.signal("TERM");
    assert_eq!(strict.wait_exit(Duration::from_secs(10)), Some(Some(0)));

    let mut lenient = Server::start(&app, &["--processes", "1", "--accept-missing-host"]);
    lenient.wait_ready(1);
    assert_eq!(status_without_host(lenient.port), "200");
    lenient.signal("TERM");
    assert_eq!(lenient.wait_exit(Duration::from_secs(10)), Some(Some(0)));

    app.write(
        ".warp/config.yaml",
        "server:\n  accept_missing_host: true\n",
    );
    let mut configured = Server::start(&app, &["--processes", "1"]);
    configured.wait_ready(1);
    assert_eq!(status_without_host(configured.port), "200");
    configured.signal("TERM");
    assert_eq!(configured.wait_exit(Duration::from_secs(10)), Some(Some(0)));
}
