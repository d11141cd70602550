//! Apps built with the S2I builder, as `s2i build` / OpenShift do it, then
//! run as an arbitrary UID and as 1001 and asked for their page: every app
//! layout of `warp build`, `.s2i/environment`, `.s2i/bin` overrides,
//! incremental builds (save-artifacts → next assemble) and broken apps.
mod support;

#[path = "support/s2i.rs"]
mod s2i;

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
        let port = free_port();
        let container = s2i::serve(&image.name, user, port);
        let got = s2i::get(&container, port, path, Duration::from_secs(60));
        let Some((status, body)) = got else {
            panic!(
                "no answer on port {port} as user {user}:\n{}",
                s2i::logs(&container)
            );
        };
        assert_eq!(status, 200, "as {user}: {body}\n{}", s2i::logs(&container));
        assert!(
            body.contains(expected),
            "as {user}: {expected:?} not in {body:?}"
        );
    }
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
}

#[test]
fn app_py_runs_its_own_server() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "app.py",
        "import os\nfrom wsgiref.simple_server import make_server\n\
         def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello from app.py']\n\
         make_server('', int(os.environ.get('PORT', '8080')), application).serve_forever()\n",
    );
    let (_, image) = build(builder, &app);
    assert_serves(&image, "/", "hello from app.py");
}

#[test]
fn app_sh_is_executed() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write_exec(
        "app.sh",
        "#!/bin/sh\nexec python -m http.server \"${PORT:-8080}\" --directory site\n",
    );
    app.write("site/index.html", "hello from app.sh\n");
    let (_, image) = build(builder, &app);
    assert_serves(&image, "/", "hello from app.sh");
}

#[test]
fn app_module_from_s2i_environment() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        ".s2i/environment",
        "# sclorg style\nAPP_MODULE=service.main:app\n",
    );
    app.write("service/__init__.py", "");
    app.write(
        "service/main.py",
        &wsgi_file("hello from APP_MODULE").replace("def application", "def app"),
    );
    let (_, image) = build(builder, &app);
    assert_serves(&image, "/", "hello from APP_MODULE");
}

#[test]
fn app_home_subdirectory() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(".s2i/environment", "APP_HOME=web\n");
    app.write("web/wsgi.py", &wsgi_file("hello from APP_HOME"));
    app.write("README.md", "the app is in web/\n");
    let (_, image) = build(builder, &app);
    assert_serves(&image, "/", "hello from APP_HOME");
}

#[test]
fn setup_py_project() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "setup.py",
        "from setuptools import setup\nsetup(name='greeting', version='1.0', py_modules=['greeting'])\n",
    );
    app.write("greeting.py", "TEXT = 'hello from setup.py'\n");
    app.write(
        "wsgi.py",
        &format!("import greeting\nMESSAGE = greeting.TEXT\n{HELLO_WSGI}"),
    );
    let (_, image) = build(builder, &app);
    // Installed into the venv, not just importable from the source directory.
    let listed = in_image(
        &image,
        "cd / && python -c 'import greeting; print(greeting.TEXT)'",
    );
    assert_eq!(listed.trim(), "hello from setup.py");
    assert_serves(&image, "/", "hello from setup.py");
}

#[test]
fn pyproject_project() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n\n\
         [project]\nname = 'salutation'\nversion = '1.0'\n\n[tool.setuptools]\npy-modules = ['salutation']\n",
    );
    app.write("salutation.py", "TEXT = 'hello from pyproject'\n");
    app.write(
        "wsgi.py",
        &format!("import salutation\nMESSAGE = salutation.TEXT\n{HELLO_WSGI}"),
    );
    let (_, image) = build(builder, &app);
    let listed = in_image(
        &image,
        "cd / && python -c 'import salutation; print(salutation.TEXT)'",
    );
    assert_eq!(listed.trim(), "hello from pyproject");
    assert_serves(&image, "/", "hello from pyproject");
}

#[test]
fn django_with_static_files() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let Some(django_admin) = support::tool("django-admin") else {
        return;
    };
    let app = TempApp::new();
    support::assert_ok(&support::run(
        std::process::Command::new(django_admin)
            .args(["startproject", "mysite", "."])
            .current_dir(app.path()),
    ));
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
    eprintln!(
        "FIGURES: assemble with flask: first {:.1} s, incremental {:.1} s",
        first.seconds, second.seconds
    );
    assert!(
        second.seconds < first.seconds,
        "incremental {:.1} s, first {:.1} s",
        second.seconds,
        first.seconds
    );

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

#[test]
fn failing_requirements_fail_assemble() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write("requirements.txt", "warp-test-no-such-package-xyz==1.0\n");
    app.write("wsgi.py", &wsgi_file("never served"));
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(!assembled.output.status.success(), "{}", assembled.log());
    let log = assembled.log();
    assert!(
        log.contains("warp: error: installing dependencies from requirements.txt failed"),
        "{log}"
    );
    assert!(
        log.contains("warp-test-no-such-package-xyz"),
        "pip's reason is shown:\n{log}"
    );
}

#[test]
fn failing_build_hook_fails_assemble() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let app = TempApp::new();
    app.write("wsgi.py", &wsgi_file("never served"));
    app.write_exec(
        ".warp/action_hooks/build",
        "#!/bin/sh\necho compiling assets >&2\nexit 3\n",
    );
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(!assembled.output.status.success(), "{}", assembled.log());
    let log = assembled.log();
    assert!(
        log.contains("warp: error:") && log.contains("build"),
        "{log}"
    );
}

#[test]
fn s2i_bin_assemble_override_can_call_the_builder_script() {
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
}
