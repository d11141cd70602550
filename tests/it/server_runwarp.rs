//! `python manage.py runwarp`: warp's Django management command on real
//! projects — serving, static files, options only `warp start` knows,
//! Django's own options, bad options and help, finding warp.
use crate::debugger_support;
use crate::server_support as server;
use crate::start_support;
use crate::support;

use debugger_support::TerminalServer;
use start_support::http_get;
use std::time::{Duration, Instant};

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
    let (mut server, port) = runwarp(&site, &["--threads", "3"]);
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    // runwarp became `warp start`: its banner, with what Django's settings say.
    assert_eq!(banner_row(&server, "Application"), "site_.wsgi:application");
    // --threads is warp's; the processes are warp start's tuned default.
    assert!(
        banner_row(&server, "Request Capacity").contains(" * 3 threads) [tuned for "),
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
