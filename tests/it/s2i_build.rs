//! Apps built with the S2I builder, as `s2i build` / OpenShift do it, then
//! run as an arbitrary UID and as 1001 and asked for their page: every app
//! layout of `warp build`, `.s2i/environment`, `.s2i/bin` overrides,
//! incremental builds (save-artifacts → next assemble) and broken apps.
use crate::support;

use crate::s2i_support as s2i;

use std::time::Duration;
use support::{free_port, TempApp};

const HELLO_WSGI: &str = "\
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [MESSAGE.encode()]
";

fn wsgi_file(message: &str) -> String {
    format!("MESSAGE = {message:?}\n{HELLO_WSGI}")
}

/// Assemble `app` in the builder, expect success, commit it with `run`.
fn build(builder: &str, app: &TempApp) -> (s2i::Assembled, s2i::Image) {
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(
        assembled.output.status.success(),
        "assemble failed:\n{}",
        assembled.log()
    );
    let image = s2i::commit(&assembled);
    (assembled, image)
}

/// Run the image as an arbitrary UID in group 0 and as 1001; GET `path`
/// must answer 200 with `expected` in the body.
fn assert_serves(image: &s2i::Image, path: &str, expected: &str) {
    for user in ["100001:0", "1001"] {
        let (container, status, body) = serve_and_get(image, user, path, &[]);
        assert_eq!(status, 200, "as {user}: {body}\n{}", s2i::logs(&container));
        assert!(
            body.contains(expected),
            "as {user}: {expected:?} not in {body:?}\n{}",
            s2i::logs(&container)
        );
    }
}

/// Start the image on a free port (host network) and GET `path` from it.
/// Another program on this machine may take the port between the check and
/// the container's bind: then the container exits and a new port is tried.
fn serve_and_get(
    image: &s2i::Image,
    user: &str,
    path: &str,
    env: &[(&str, &str)],
) -> (s2i::Container, u16, String) {
    for _attempt in 0..3 {
        let port = free_port();
        let container = s2i::serve(&image.name, user, port, env);
        let got = s2i::get(&container, port, path, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(500));
        if !s2i::running(&container) {
            eprintln!(
                "the container stopped (port {port} taken?):\n{}",
                s2i::logs(&container)
            );
            continue;
        }
        let Some((status, body)) = got else {
            panic!(
                "no answer on port {port} as user {user}:\n{}",
                s2i::logs(&container)
            );
        };
        return (container, status, body);
    }
    panic!("the app container did not stay up on three ports");
}

/// A command's output in a container of `image` (as 1001).
fn in_image(image: &s2i::Image, script: &str) -> String {
    let out = support::run(s2i::podman().args(["run", "--rm", &image.name, "sh", "-c", script]));
    support::assert_ok(&out);
    support::stdout(&out)
}

#[test]
fn wsgi_py_with_dot_files() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write("wsgi.py", &wsgi_file("hello from wsgi.py"));
    app.write(".hidden/settings.ini", "[a]\n");
    // A readiness hook, for the exec probe `warp manifests` writes.
    app.write_exec(
        ".warp/action_hooks/ready",
        "#!/bin/sh\ntest -e /tmp/warm || { echo not warm yet >&2; exit 1; }\n",
    );
    let (_, image) = build(builder, &app);
    // Dot-files copied; the incoming source is not left behind in the image.
    assert_eq!(
        in_image(
            &image,
            "cat /opt/app-root/src/.hidden/settings.ini; ls -A /tmp/src | wc -l"
        ),
        "[a]\n0\n"
    );
    assert_serves(&image, "/", "hello from wsgi.py");
    probes_and_sigterm(&image);
}

/// What Kubernetes does with the container `warp manifests` describes: exec
/// probes `warp alive` / `warp ready` in the image's working directory, then
/// SIGTERM on stop — the server (PID 1) must exit promptly and cleanly.
fn probes_and_sigterm(image: &s2i::Image) {
    let (container, _, _) = serve_and_get(image, "100001:0", "/", &[]);
    let exec =
        |args: &[&str]| support::run(s2i::podman().args(["exec", &container.name]).args(args));
    support::assert_ok(&exec(&["warp", "alive"]));
    let not_ready = exec(&["warp", "ready"]);
    assert!(!not_ready.status.success(), "the ready hook says no");
    support::assert_ok(&exec(&["touch", "/tmp/warm"]));
    support::assert_ok(&exec(&["warp", "ready"]));

    let started = std::time::Instant::now();
    support::assert_ok(&support::run(s2i::podman().args([
        "stop",
        "-t",
        "30",
        &container.name,
    ])));
    let stopped_in = started.elapsed();
    let code = support::run(s2i::podman().args([
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ]));
    assert!(
        stopped_in < Duration::from_secs(10),
        "SIGTERM took {stopped_in:?}:\n{}",
        s2i::logs(&container)
    );
    assert_eq!(
        support::stdout(&code).trim(),
        "0",
        "{}",
        s2i::logs(&container)
    );
}

/// An app made of `files` (path, text; a text starting with `#!` is written
/// executable).
fn app_of(files: &[(&str, &str)]) -> TempApp {
    let app = TempApp::new();
    for (path, text) in files {
        if text.starts_with("#!") {
            app.write_exec(path, text);
        } else {
            app.write(path, text);
        }
    }
    app
}

/// Build the app made of `files` (see [`app_of`]) and check that it serves `expected` at /.
fn assert_app_serves(files: &[(&str, &str)], expected: &str) {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = app_of(files);
    let (_, image) = build(builder, &app);
    assert_serves(&image, "/", expected);
}

#[test]
fn app_py_runs_its_own_server() {
    let app_py = "import os\nfrom wsgiref.simple_server import make_server\n\
         def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello from app.py']\n\
         make_server('', int(os.environ.get('PORT', '8080')), application).serve_forever()\n";
    assert_app_serves(&[("app.py", app_py)], "hello from app.py");
}

#[test]
fn app_sh_is_executed() {
    let app_sh = "#!/bin/sh\nexec python -m http.server \"${PORT:-8080}\" --directory site\n";
    assert_app_serves(
        &[
            ("app.sh", app_sh),
            ("site/index.html", "hello from app.sh\n"),
        ],
        "hello from app.sh",
    );
}

#[test]
fn app_module_from_s2i_environment() {
    let module = wsgi_file("hello from APP_MODULE").replace("def application", "def app");
    assert_app_serves(
        &[
            (
                ".s2i/environment",
                "# sclorg style\nAPP_MODULE=service.main:app\n",
            ),
            ("service/__init__.py", ""),
            ("service/main.py", &module),
        ],
        "hello from APP_MODULE",
    );
}

#[test]
fn app_home_subdirectory() {
    assert_app_serves(
        &[
            (".s2i/environment", "APP_HOME=web\n"),
            ("web/wsgi.py", &wsgi_file("hello from APP_HOME")),
            ("README.md", "the app is in web/\n"),
        ],
        "hello from APP_HOME",
    );
}

/// An app whose module `module` is installed from its own packaging file
/// (`setup.py` or `pyproject.toml`), served through wsgi.py importing it.
fn packaged_app(packaging: (&str, &str), module: &str, text: &str) {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(packaging.0, packaging.1);
    app.write(&format!("{module}.py"), &format!("TEXT = {text:?}\n"));
    app.write(
        "wsgi.py",
        &format!("import {module}\nMESSAGE = {module}.TEXT\n{HELLO_WSGI}"),
    );
    let (_, image) = build(builder, &app);
    // Installed into the venv, not just importable from the source directory.
    let imported = in_image(
        &image,
        &format!("cd / && python -c 'import {module}; print({module}.TEXT)'"),
    );
    assert_eq!(imported.trim(), text);
    assert_serves(&image, "/", text);
}

#[test]
fn setup_py_project() {
    packaged_app(
        (
            "setup.py",
            "from setuptools import setup\nsetup(name='greeting', version='1.0', py_modules=['greeting'])\n",
        ),
        "greeting",
        "hello from setup.py",
    );
}

#[test]
fn pyproject_project() {
    packaged_app(
        (
            "pyproject.toml",
            "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n\n\
             [project]\nname = 'salutation'\nversion = '1.0'\n\n[tool.setuptools]\npy-modules = ['salutation']\n",
        ),
        "salutation",
        "hello from pyproject",
    );
}

#[test]
fn django_with_static_files() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let Some(app) = support::django_project() else {
        return;
    };
    let settings = app.path().join("mysite/settings.py");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        text.replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['*']"),
    )
    .unwrap();
    // Django 4.2 LTS runs on the base image's Python 3.11.
    app.write("requirements.txt", "django>=4.2,<5.3\n");
    let (assembled, image) = build(builder, &app);
    assert!(
        assembled.log().contains("Collecting Django static files"),
        "{}",
        assembled.log()
    );
    assert_serves(&image, "/static/admin/css/base.css", "Admin styles");
    assert_serves(&image, "/", "Django");

    // run migrates the database first, as sclorg's builder does …
    let count_migrations = "python -c \"import sqlite3; \
        print(sqlite3.connect('db.sqlite3').execute('select count(*) from django_migrations').fetchone()[0])\"";
    let (container, _, _) = serve_and_get(&image, "100001:0", "/", &[]);
    let out =
        support::run(s2i::podman().args(["exec", &container.name, "sh", "-c", count_migrations]));
    support::assert_ok(&out);
    let applied: u32 = support::stdout(&out).trim().parse().unwrap();
    assert!(applied > 10, "{applied} migrations applied");
    // … unless DISABLE_MIGRATE is set.
    let (container, status, _) =
        serve_and_get(&image, "100001:0", "/", &[("DISABLE_MIGRATE", "1")]);
    assert_eq!(status, 200);
    let out =
        support::run(s2i::podman().args(["exec", &container.name, "test", "-e", "db.sqlite3"]));
    assert!(!out.status.success(), "no database without migrate");
    assert!(s2i::logs(&container).contains("DISABLE_MIGRATE is set"));
}

#[test]
fn incremental_build_reuses_the_virtualenv() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write("requirements.txt", "flask\n");
    app.write(
        "wsgi.py",
        "from flask import Flask\napplication = Flask(__name__)\n\n\
         @application.route('/')\ndef index():\n    return 'hello from flask'\n",
    );
    let (first, first_image) = build(builder, &app);
    assert!(
        first
            .log()
            .contains("Installing dependencies from requirements.txt"),
        "{}",
        first.log()
    );

    // s2i build --incremental: save-artifacts of the previous image feeds the next assemble.
    let scratch = s2i::scratch_dir();
    let artifacts = scratch.path().join("artifacts.tar");
    let saved = s2i::save_artifacts(&first_image.name, &artifacts);
    support::assert_ok(&saved);
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&artifacts).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n == "warp-artifacts.json"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("venv/lib/")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("venv/src")),
        "no source in the artifacts"
    );

    // A code change, same dependencies.
    app.write(
        "wsgi.py",
        &std::fs::read_to_string(app.path().join("wsgi.py"))
            .unwrap()
            .replace("hello from flask", "hello again from flask"),
    );
    let second = s2i::assemble(builder, app.path(), Some(&artifacts), &[]);
    assert!(second.output.status.success(), "{}", second.log());
    let log = second.log();
    assert!(log.contains("virtualenv restored"), "{log}");
    assert!(
        log.contains("Dependencies unchanged since the last build, install skipped"),
        "{log}"
    );
    assert!(!log.contains("Installing dependencies"), "{log}");
    // How much faster: bench/s2i-incremental.sh (figures in README).

    // Changed dependencies: the install runs again (on top of the restored
    // virtualenv). pip's cache is saved and restored too when pip made one
    // (not here: PyPI answers through a proxy pip does not cache from).
    app.write("requirements.txt", "flask\nitsdangerous\n");
    let third = s2i::assemble(builder, app.path(), Some(&artifacts), &[]);
    assert!(third.output.status.success(), "{}", third.log());
    assert!(
        third
            .log()
            .contains("Installing dependencies from requirements.txt"),
        "{}",
        third.log()
    );

    let image = s2i::commit(&second);
    assert_serves(&image, "/", "hello again from flask");
}

/// Assemble the app made of `files` (see [`app_of`]): it must
/// fail, and its output must contain each of `expected`.
fn assert_assemble_fails(files: &[(&str, &str)], expected: &[&str]) {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = app_of(files);
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(!assembled.output.status.success(), "{}", assembled.log());
    let log = assembled.log();
    for needle in expected {
        assert!(log.contains(needle), "{needle:?} not in:\n{log}");
    }
}

#[test]
fn failing_requirements_fail_assemble() {
    assert_assemble_fails(
        &[
            ("requirements.txt", "warp-test-no-such-package-xyz==1.0\n"),
            ("wsgi.py", &wsgi_file("never served")),
        ],
        &[
            "warp: error: installing dependencies from requirements.txt failed",
            // pip's own reason is shown.
            "No matching distribution found for warp-test-no-such-package-xyz",
        ],
    );
}

#[test]
fn failing_build_hook_fails_assemble() {
    assert_assemble_fails(
        &[
            ("wsgi.py", &wsgi_file("never served")),
            (".warp/action_hooks/build", "#!/bin/sh\necho compiling assets >&2\nexit 3\n"),
        ],
        &[
            "warp: error: the build hook (/opt/app-root/src/.warp/action_hooks/build) failed with exit code 3",
            "compiling assets",
        ],
    );
}

#[test]
fn s2i_bin_overrides_can_call_the_builder_scripts() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write("wsgi.py", &wsgi_file("hello after the override"));
    // The usual override: do something, then run the builder's own assemble.
    app.write_exec(
        ".s2i/bin/assemble",
        "#!/bin/sh\nset -e\necho override ran > /opt/app-root/override-marker\nexec /usr/libexec/s2i/assemble\n",
    );
    app.write_exec(
        ".s2i/bin/run",
        "#!/bin/sh\necho custom run starting >&2\nexec /usr/libexec/s2i/run\n",
    );
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(assembled.output.status.success(), "{}", assembled.log());
    let log = assembled.log();
    assert_eq!(
        log.matches("overrides the builder's assemble").count(),
        1,
        "{log}"
    );
    let image = s2i::commit(&assembled);
    assert_eq!(
        in_image(&image, "cat /opt/app-root/override-marker"),
        "override ran\n"
    );
    assert_serves(&image, "/", "hello after the override");
    let (container, _, _) = serve_and_get(&image, "1001", "/", &[]);
    let logs = s2i::logs(&container);
    assert_eq!(logs.matches("custom run starting").count(), 1, "{logs}");
}
