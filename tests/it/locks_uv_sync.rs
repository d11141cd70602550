//! `warp build --installer uv` of a uv.lock: one `uv sync` makes the venv
//! and installs the locked set (the step line says so; no `uv venv` step),
//! uv.lock is not rewritten, the groups are warp's selection and not uv's
//! `default-groups`, a tampered hash is still refused with the previous venv
//! kept (so is a lock only uv's own check finds stale), and a `pre-build` hook (which runs with the venv made) keeps the
//! two-step install.
use crate::build_support::*;
use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

const ONE_PROCESS: &str = "with uv sync";

/// `warp build --installer uv` with the lock tests' shared uv cache.
fn build(app: &TempApp, env: &[(&str, &str)]) -> Option<Output> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("locks-uv-cache");
    let mut cmd = warp_uv(app.path())?;
    cmd.env("UV_CACHE_DIR", &cache)
        .args(["build", "--installer", "uv"])
        .envs(env.iter().copied());
    Some(run(&mut cmd))
}

/// Flask locked at 2.3.3; groups `dev` (iniconfig) and `docs` (six), both
/// uv's default groups, neither warp's production set.
fn app() -> Option<TempApp> {
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"syncedapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"flask>=2.2\"]\n\n[dependency-groups]\ndev = [\"iniconfig\"]\n\
         docs = [\"six\"]\n\n[tool.uv]\ndefault-groups = [\"dev\", \"docs\"]\n",
    );
    app.write(
        "wsgi.py",
        "import flask\napp = flask.Flask(__name__)\n\n@app.route('/')\ndef index():\n    return 'ok'\n",
    );
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("locks-uv-cache");
    let out = run(Command::new(tool("uv")?)
        .args(["lock", "-q", "-P", "flask==2.3.3"])
        .env("UV_CACHE_DIR", &cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .current_dir(app.path()));
    assert_ok(&out);
    Some(app)
}

#[test]
fn one_uv_sync_makes_the_venv_and_installs_the_lock() {
    let Some(app) = app() else { return };
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    let out = build(&app, &[]).unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("==> Installing dependencies from uv.lock (")
            && err.contains("hashes verified) into a new virtualenv")
            && err.contains(ONE_PROCESS),
        "{err}"
    );
    assert!(!err.contains("==> Creating virtualenv"), "{err}");
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(
        installed(app.path(), "iniconfig"),
        "none",
        "uv's default groups"
    );
    assert_eq!(installed(app.path(), "six"), "none", "uv's default groups");
    assert_ok(&venv_python(app.path(), "import warpserver"));
    assert_eq!(record(app.path())["layout"], "uv.lock");
    assert!(!app.path().join(".venv/.lock").exists(), "uv's lock file");
    assert!(app.path().join(".venv/tmp").is_dir());
    assert_eq!(
        std::fs::read_to_string(app.path().join("uv.lock")).unwrap(),
        lock
    );

    // A group asked for: a new venv, made the same way.
    let err = ok(build(&app, &[("WARP_GROUPS", "docs")]));
    assert!(err.contains(ONE_PROCESS), "{err}");
    assert_ne!(installed(app.path(), "six"), "none");
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    let record_before = record(app.path());

    // Every hash of Flask's files replaced: uv sync refuses the files, and
    // the previous venv is put back.
    let tampered = uv_lock_tampered(&lock, "flask");
    assert_ne!(tampered, lock);
    app.write("uv.lock", &tampered);
    let out = build(&app, &[("WARP_GROUPS", "docs")]).unwrap();
    assert_fails_with(&out, "installing the packages of uv.lock failed");
    let err = stderr(&out);
    assert!(err.contains(&format!("{ONE_PROCESS} FAILED")), "{err}");
    assert!(err.to_lowercase().contains("hash"), "{err}");
    assert!(err.contains("The previous build in"), "{err}");
    assert_eq!(record(app.path()), record_before);
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(
        std::fs::read_to_string(app.path().join("uv.lock")).unwrap(),
        tampered
    );
    app.write("uv.lock", &lock);

    // A constraint added since the lock: stale by uv's own check (`--locked`),
    // which warp's rule does not cover; the previous venv is put back.
    let pyproject = std::fs::read_to_string(app.path().join("pyproject.toml")).unwrap();
    app.write(
        "pyproject.toml",
        &format!("{pyproject}constraint-dependencies = [\"flask<2.3\"]\n"),
    );
    let out = build(&app, &[("WARP_GROUPS", "docs")]).unwrap();
    assert_fails_with(&out, "installing the packages of uv.lock failed");
    assert!(stderr(&out).contains("run `uv lock`"), "{}", stderr(&out));
    assert_eq!(record(app.path()), record_before);
    app.write("pyproject.toml", &pyproject);

    // A pre-build hook runs with the venv made: `uv venv`, then the install.
    app.write_exec(
        ".warp/action_hooks/pre-build",
        "#!/bin/sh\ntest -x \"$VIRTUAL_ENV/bin/python\"\n",
    );
    let err = ok(build(&app, &[]));
    assert!(err.contains("==> Creating virtualenv"), "{err}");
    assert!(!err.contains(ONE_PROCESS), "{err}");
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(installed(app.path(), "six"), "none");
}

#[track_caller]
fn ok(out: Option<Output>) -> String {
    let out = out.unwrap();
    assert_ok(&out);
    stderr(&out)
}
