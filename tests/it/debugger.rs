//! `warp start --enable-debugger`: an exception in the app opens a post-mortem
//! pdb on the terminal (the supervisor's stdin and stdout); when the user
//! continues, the request gets its 500 and the server goes on serving. Real
//! venv, real worker, real pdb, a pipe standing in for the terminal.
use crate::debugger_support;
use crate::server_support as server;
use crate::start_support;
use crate::support;

use debugger_support::{raising_app, TerminalServer, PTY_DRIVER};
use start_support::http_get;
use std::time::Duration;

#[test]
fn an_exception_opens_pdb_on_the_terminal_then_the_request_gets_500() {
    let app = raising_app();
    // --request-timeout 1 would answer 504 while we sit in pdb, were it not
    // turned off by the debugger; --processes 2 is overridden with a note.
    let mut server = TerminalServer::start(
        &app,
        &[
            "--enable-debugger",
            "--request-timeout",
            "1",
            "--processes",
            "2",
        ],
    );
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    let out = server.output();
    assert!(
        out.contains("--enable-debugger runs 1 process with 1 thread: --processes 2 ignored"),
        "{out}"
    );
    assert!(out.contains("Request Timeout    : off"), "{out}");

    // The worker's stdin is the terminal (here: the pipe), not /dev/null.
    let (status, fd0) = http_get(server.port, "/stdin", Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200);
    assert!(fd0.starts_with("pipe:"), "worker stdin is {fd0}");

    let port = server.port;
    let client = std::thread::spawn(move || http_get(port, "/boom", Duration::from_secs(60)));
    server.wait_for(true, "(Pdb)", 1, Duration::from_secs(30));
    // Longer than --request-timeout: still no 504.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !client.is_finished(),
        "answered while in pdb:\n{}",
        server.output()
    );
    // `answer` is a local of the raising frame: pdb is post-mortem there.
    server.type_line("p answer");
    server.wait_for(true, "(Pdb) 42\n", 1, Duration::from_secs(10));
    server.type_line("p 6*7");
    server.wait_for(true, "(Pdb) 42\n", 2, Duration::from_secs(10));
    server.type_line("c");
    let (status, _) = client.join().unwrap().expect("an answer after pdb");
    assert_eq!(status, 500, "{}", server.output());

    let stdout = server.stdout();
    assert!(stdout.contains("Traceback"), "{stdout}");
    assert!(stdout.contains("ValueError: boom-xyz"), "{stdout}");
    assert!(
        stdout.contains("raise ValueError(\"boom-xyz\")"),
        "{stdout}"
    );
    // The traceback starts in the app, not in warp's debugger wrapper.
    assert!(!stdout.contains("warpserver/worker.py"), "{stdout}");
    // The error log still gets the traceback, on stderr.
    server.wait_for(false, "ValueError: boom-xyz", 1, Duration::from_secs(5));

    // Still serving, and a second exception opens pdb again.
    let (status, body) = http_get(server.port, "/", Duration::from_secs(10)).unwrap();
    assert_eq!((status, body.as_str()), (200, "hello\n"));
    let client = std::thread::spawn(move || http_get(port, "/boom", Duration::from_secs(60)));
    // The first session showed three prompts (two `p`, one `c`).
    server.wait_for(true, "(Pdb)", 4, Duration::from_secs(30));
    assert_eq!(
        server.stdout().matches("entering post-mortem pdb").count(),
        2
    );
    server.type_line("q");
    assert_eq!(client.join().unwrap().unwrap().0, 500);

    // An exception raised while the response iterable is iterated, too.
    let client = std::thread::spawn(move || http_get(port, "/gen-boom", Duration::from_secs(60)));
    server.wait_for(true, "(Pdb)", 5, Duration::from_secs(30));
    assert!(
        server.stdout().contains("KeyError: 'gen-xyz'"),
        "{}",
        server.output()
    );
    server.type_line("c");
    assert_eq!(client.join().unwrap().unwrap().0, 500);
    assert_eq!(
        http_get(server.port, "/", Duration::from_secs(10))
            .unwrap()
            .0,
        200
    );
}

#[test]
fn without_the_debugger_an_exception_is_a_500_and_no_pdb() {
    let app = raising_app();
    let mut server = TerminalServer::start(&app, &["--processes", "1", "--threads", "2"]);
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    let (status, fd0) = http_get(server.port, "/stdin", Duration::from_secs(10)).unwrap();
    assert_eq!((status, fd0.as_str()), (200, "/dev/null"));
    let (status, _) = http_get(server.port, "/boom", Duration::from_secs(10)).unwrap();
    assert_eq!(status, 500);
    server.wait_for(false, "ValueError: boom-xyz", 1, Duration::from_secs(5));
    assert!(!server.output().contains("(Pdb)"), "{}", server.output());
    assert_eq!(
        http_get(server.port, "/", Duration::from_secs(10))
            .unwrap()
            .0,
        200
    );
}

#[test]
fn django_runwarp_enable_debugger_opens_pdb_for_a_view_that_raises() {
    // Django turns a view's exception into its own 500 page unless told to
    // let it through to the WSGI server (as with mod_wsgi's debugger).
    let Some(site) = server::django_project(
        "ALLOWED_HOSTS = ['*']\nDEBUG_PROPAGATE_EXCEPTIONS = True\n",
        "def boom(request):\n    raise ValueError('django-boom-xyz')\n\n\
         urlpatterns.append(path('boom/', boom))\n",
    ) else {
        return;
    };
    let port = support::free_port();
    let cmd = site.runwarp(&[
        &format!("127.0.0.1:{port}"),
        "--threads",
        "3",
        "--request-timeout",
        "1",
        "--enable-debugger",
    ]);
    let mut server = TerminalServer::spawn(cmd, port);
    // runwarp became `warp start --enable-debugger`: one process, one thread.
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    server.wait_for(
        true,
        "1 (1 process * 1 threads) [--enable-debugger]",
        1,
        Duration::from_secs(1),
    );
    let client = std::thread::spawn(move || http_get(port, "/boom/", Duration::from_secs(60)));
    server.wait_for(true, "(Pdb)", 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500)); // past --request-timeout
    assert!(
        !client.is_finished(),
        "answered while in pdb:\n{}",
        server.output()
    );
    server.type_line("p request.path");
    server.wait_for(true, "(Pdb) '/boom/'", 1, Duration::from_secs(10));
    server.type_line("c");
    assert_eq!(
        client.join().unwrap().unwrap().0,
        500,
        "{}",
        server.output()
    );
    assert!(
        server.stdout().contains("ValueError: django-boom-xyz"),
        "{}",
        server.output()
    );
}

#[test]
fn sigterm_while_in_pdb_stops_the_server_within_its_timeouts() {
    let app = raising_app();
    let mut server = TerminalServer::start(
        &app,
        &[
            "--enable-debugger",
            "--graceful-timeout",
            "1",
            "--shutdown-timeout",
            "1",
        ],
    );
    server.wait_for(false, ") ready in", 1, Duration::from_secs(30));
    let port = server.port;
    let client = std::thread::spawn(move || http_get(port, "/boom", Duration::from_secs(30)));
    server.wait_for(true, "(Pdb)", 1, Duration::from_secs(30));
    let workers = start_support::children(server.child.id() as i32);
    assert_eq!(workers.len(), 1);
    let started = std::time::Instant::now();
    start_support::kill(server.child.id() as i32, libc::SIGTERM);
    // Nobody answers pdb: the worker is stopped after graceful + shutdown timeout.
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", server.output());
    // The in-flight request had its graceful window, then was cut off.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(client.join().unwrap().is_err());
    for pid in workers {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while start_support::process_state(pid).is_some_and(|s| s != 'Z') {
            assert!(
                std::time::Instant::now() < deadline,
                "worker {pid} left running"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn on_a_real_terminal_pdb_reads_it_and_ctrl_c_stops_the_server() {
    // The worker must be in the terminal's foreground process group, or
    // reading it would stop the worker (SIGTTIN); Ctrl-C reaches both.
    let app = raising_app();
    let port = support::free_port().to_string();
    let warp = support::warp(app.path());
    let mut cmd = std::process::Command::new(start_support::test_python());
    cmd.args(["-c", PTY_DRIVER, &port])
        .arg(warp.get_program())
        .args(["start", "--src"])
        .arg(app.path())
        .args(["--host", "127.0.0.1", "--port", &port, "--enable-debugger"])
        .env_remove("WEB_CONCURRENCY")
        .current_dir(app.path());
    for (key, value) in warp.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = support::run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let seen: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    let output = seen["output"].as_str().unwrap_or_default();
    assert_eq!(seen["ready"], true, "{output}");
    assert_eq!(seen["prompt"], true, "{output}");
    assert_eq!(seen["printed"], true, "{output}");
    assert_eq!(seen["boom"], 500, "{output}");
    assert_eq!(seen["after"], 200, "{output}");
    assert_eq!(seen["exit"], 0, "{output}");
    assert!(output.contains("ValueError: boom-xyz"), "{output}");
}
