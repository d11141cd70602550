//! The same uv.lock through the other entry points of a build: the S2I
//! builder's assemble (real podman, the builder image from the
//! Containerfile; its installer is pip) and `warp start` on a source never
//! built (it builds first, with uv). In both the served app answers with the
//! version it imports: the locked itsdangerous 2.1.2, while pyproject allows
//! `itsdangerous>=2.0` and PyPI's newest is later, so a fresh resolve would
//! differ. The dev group is absent.
use crate::s2i_support as s2i;
use crate::start_support;
use crate::support;

use start_support::Server;
use std::process::Command;
use std::time::Duration;
use support::*;

const VERSION_APP: &str = "import importlib.metadata as m\nimport itsdangerous\n\n\
def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
have = 'iniconfig' if any(d.metadata['Name'] == 'iniconfig' for d in m.distributions()) else 'no-dev'\n    \
return [('itsdangerous ' + m.version('itsdangerous') + ' ' + have).encode()]\n";

/// A uv project: itsdangerous>=2.0 locked at 2.1.2, a dev group (iniconfig).
fn locked_app() -> Option<TempApp> {
    let uv = tool("uv")?;
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"lockedentry\"\nversion = \"0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"itsdangerous>=2.0\"]\n\n[dependency-groups]\ndev = [\"iniconfig\"]\n",
    );
    app.write("wsgi.py", VERSION_APP);
    assert_ok(&run(Command::new(uv)
        .args(["lock", "-q", "-P", "itsdangerous==2.1.2"])
        .env(
            "UV_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("locks-uv-cache"),
        )
        .env("UV_PYTHON_DOWNLOADS", "never")
        .current_dir(app.path())));
    Some(app)
}

#[test]
fn s2i_assemble_installs_the_locked_set() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let Some(app) = locked_app() else { return };
    let assembled = s2i::assemble(builder, app.path(), None, &[]);
    assert!(assembled.output.status.success(), "{}", assembled.log());
    assert!(
        assembled
            .log()
            .contains("Installing dependencies from uv.lock ("),
        "{}",
        assembled.log()
    );
    let image = s2i::commit(&assembled);
    let mut answer = None;
    for _attempt in 0..3 {
        let port = free_port();
        let container = s2i::serve(&image.name, "100001:0", port, &[]);
        if let Some(got) = s2i::get(&container, port, "/", Duration::from_secs(60)) {
            answer = Some((got, s2i::logs(&container)));
            break;
        }
    }
    let ((status, body), logs) = answer.expect("the assembled image never answered");
    assert_eq!(status, 200, "{body}\n{logs}");
    assert_eq!(body, "itsdangerous 2.1.2 no-dev", "{logs}");
}

#[test]
fn warp_start_builds_from_the_lock_first() {
    let Some(app) = locked_app() else { return };
    let uv = tool("uv").unwrap();
    let path = format!(
        "{}:{}",
        uv.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut server = Server::start_with_env(
        &app,
        &[
            ("PATH", &path),
            (
                "UV_CACHE_DIR",
                &std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .join("locks-uv-cache")
                    .to_string_lossy(),
            ),
        ],
        &["--processes", "1"],
    );
    server.wait_for_output(
        "Installing dependencies from uv.lock (",
        1,
        Duration::from_secs(120),
    );
    server.wait_for_output(") ready in", 1, Duration::from_secs(120));
    let (status, body) = server.must_get("/");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "itsdangerous 2.1.2 no-dev");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(app.path().join(".venv/.warp/build.json")).unwrap()
        )
        .unwrap()["layout"],
        "uv.lock"
    );
}
