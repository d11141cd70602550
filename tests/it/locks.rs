//! `warp build` from lock files made in the test by the real tools (uv,
//! `uv export`, `pip lock`, Poetry, PDM), from real packages on the index:
//! the locked versions are what the venv imports (Flask 2.3.3 while
//! pyproject allows `flask>=2.2`, so a fresh resolve would differ), the dev
//! group is absent unless asked for, both installers give the same set, a
//! lock's markers pick the version for each Python, and bad locks (stale,
//! tampered hash, another Python, a path entry) are refused with the
//! previous venv kept.
use crate::support;

use crate::build_support;

use build_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

/// One uv cache for every lock and install of these tests.
fn uv_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("locks-uv-cache")
}

/// A lock tool from the test tools, with the shared cache; None: skip.
fn lock_tool(name: &str, dir: &Path) -> Option<Command> {
    let exe = tool(name)?;
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir)
        .env("UV_CACHE_DIR", uv_cache())
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env("PDM_CHECK_UPDATE", "false")
        .env("PDM_IGNORE_ACTIVE_VENV", "1");
    Some(cmd)
}

/// `warp build` with uv (or pip), the shared cache, extra arguments.
fn build(app: &TempApp, installer: &str, args: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let mut cmd = warp_uv(app.path())?;
    cmd.env("UV_CACHE_DIR", uv_cache())
        .args(["build", "--installer", installer])
        .args(args)
        .envs(env.iter().copied());
    Some(run(&mut cmd))
}

/// A refusal of a stale lock, naming the file and the command that relocks.
#[track_caller]
fn assert_stale(out: &Output, file: &str, relock: &str) {
    assert_fails_with(
        out,
        &format!("{file}: the lock is out of date with the project"),
    );
    assert!(stderr(out).contains(relock), "{}", stderr(out));
}

#[track_caller]
fn ok(out: Option<Output>) -> Option<String> {
    let out = out?;
    assert_ok(&out);
    Some(stderr(&out))
}

const FLASK_APP: &str = "import flask\napp = flask.Flask(__name__)\n\n@app.route('/')\ndef index():\n    return flask.__version__\n";

/// A uv app: flask>=2.2 locked at 2.3.3, a `dev` group (iniconfig), an
/// extra `extra-six` (six).
fn uv_app() -> Option<TempApp> {
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"lockedapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"flask>=2.2\"]\n\n[project.optional-dependencies]\nextra-six = [\"six\"]\n\n\
         [dependency-groups]\ndev = [\"iniconfig\"]\n",
    );
    app.write("wsgi.py", FLASK_APP);
    let out = run(lock_tool("uv", app.path())?.args(["lock", "-q", "-P", "flask==2.3.3"]));
    assert_ok(&out);
    Some(app)
}

#[test]
fn uv_lock_installs_exactly_the_locked_set_with_uv_and_with_pip() {
    let Some(app) = uv_app() else { return };
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from uv.lock ("),
        "{err}"
    );
    assert_eq!(record(app.path())["layout"], "uv.lock");
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(
        installed(app.path(), "iniconfig"),
        "none",
        "the dev group is not production"
    );
    // What the app itself imports.
    assert_ok(&venv_python(
        app.path(),
        "import sys; sys.path.insert(0, '.'); import flask; assert flask.__version__ == '2.3.3'",
    ));
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(err.contains("install skipped"), "{err}");

    // pip, from the same lock: the same versions.
    ok(build(&app, "pip", &[], &[])).unwrap();
    assert!(app.path().join(".venv/bin/pip").exists());
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(installed(app.path(), "iniconfig"), "none");

    // A group asked for by variable: a changed input, a reinstall with it.
    assert_eq!(installed(app.path(), "six"), "none");
    ok(build(&app, "uv", &[], &[("WARP_GROUPS", "dev")])).unwrap();
    assert_ne!(installed(app.path(), "iniconfig"), "none");
    // An extra from config.yaml.
    app.write(
        ".warp/config.yaml",
        "extras: [extra_six]
",
    );
    ok(build(&app, "uv", &[], &[])).unwrap();
    assert_ne!(installed(app.path(), "six"), "none");
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    app.write(".warp/config.yaml", "groups: [nosuchgroup]\n");
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_fails_with(
        &out,
        "uv.lock: the project has no dependency group \"nosuchgroup\"",
    );
}

#[test]
fn uv_lock_markers_pick_the_locked_version_for_each_python() {
    // Flask's click dependency forks in the lock: click 8.1.x for Python <
    // 3.10 (newer clicks dropped 3.9), a newer one for 3.10+.
    let (Some(py39), Some(py312)) = (pyenv_python(9), pyenv_python(12)) else {
        require_all("pyenv Pythons 3.9 and 3.12");
        return;
    };
    let Some(app) = uv_app() else { return };
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    let clicks: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.lines().any(|l| l == "name = \"click\""))
        .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"'))
        .collect();
    assert_eq!(clicks.len(), 2, "the lock holds two clicks: {clicks:?}");
    let mut seen = Vec::new();
    for python in [&py39, &py312] {
        ok(build(
            &app,
            "uv",
            &["--python", python.to_str().unwrap()],
            &[],
        ))
        .unwrap();
        assert_eq!(installed(app.path(), "flask"), "2.3.3");
        seen.push(installed(app.path(), "click"));
    }
    assert_ne!(seen[0], seen[1], "{seen:?}");
    assert!(clicks.contains(&seen[0].as_str()) && clicks.contains(&seen[1].as_str()));
    assert!(
        seen[0].starts_with("8.1."),
        "Python 3.9 gets the 3.9 click: {seen:?}"
    );
}

#[test]
fn bad_uv_locks_are_refused_and_the_previous_venv_kept() {
    let Some(app) = uv_app() else { return };
    ok(build(&app, "uv", &[], &[])).unwrap();
    let record_before = record(app.path());
    let kept = |app: &TempApp| {
        assert_eq!(installed(app.path(), "flask"), "2.3.3");
        assert_eq!(record(app.path()), record_before);
    };

    // Stale: pyproject gained a dependency uv.lock was not made from.
    let pyproject = std::fs::read_to_string(app.path().join("pyproject.toml")).unwrap();
    app.write(
        "pyproject.toml",
        &pyproject.replace("\"flask>=2.2\"", "\"flask>=2.2\", \"six\""),
    );
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_stale(&out, "uv.lock", "uv lock");
    assert!(stderr(&out).contains("six"), "{}", stderr(&out));
    kept(&app);
    app.write("pyproject.toml", &pyproject);

    // Tampered: every hash of Flask's files replaced.
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    let tampered = uv_lock_tampered(&lock, "flask");
    assert_ne!(tampered, lock);
    app.write("uv.lock", &tampered);
    for installer in ["uv", "pip"] {
        let out = build(&app, installer, &[], &[]).unwrap();
        assert_fails_with(&out, "installing the packages of uv.lock failed");
        let err = stderr(&out).to_lowercase();
        assert!(err.contains("hash"), "{err}");
        assert!(err.contains("the previous build in"), "{err}");
        kept(&app);
    }
    app.write("uv.lock", &lock);

    // A path dependency: named, refused before anything changes.
    app.write(
        "localdep/pyproject.toml",
        "[project]\nname = \"localdep\"\nversion = \"1.0\"\n[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n",
    );
    app.write("localdep/localdep.py", "X = 1\n");
    app.write(
        "pyproject.toml",
        &format!(
            "{}\n[tool.uv.sources]\nlocaldep = {{ path = \"localdep\" }}\n",
            pyproject.replace("\"flask>=2.2\"", "\"flask>=2.2\", \"localdep\"")
        ),
    );
    let out = run(lock_tool("uv", app.path()).unwrap().args(["lock", "-q"]));
    assert_ok(&out);
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_fails_with(&out, "uv.lock: localdep is locked from a local path");
    kept(&app);
}

#[test]
fn a_lock_for_another_python_is_refused() {
    let Some(py312) = pyenv_python(12) else {
        require_all("pyenv Python 3.12");
        return;
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"newpy\"\nversion = \"0\"\nrequires-python = \">=3.12\"\ndependencies = [\"itsdangerous\"]\n",
    );
    app.write("wsgi.py", WSGI_APP);
    let Some(mut uv) = lock_tool("uv", app.path()) else {
        return;
    };
    assert_ok(&run(uv.args(["lock", "-q", "--python"]).arg(&py312)));
    let python311 = pyenv_python(11).expect("pyenv 3.11");
    let out = build(&app, "uv", &["--python", python311.to_str().unwrap()], &[]).unwrap();
    assert_fails_with(
        &out,
        "uv.lock: the lock is for Python >=3.12, and the build's interpreter is Python 3.11",
    );
    assert!(!app.path().join(".venv").exists(), "nothing was made");
    ok(build(
        &app,
        "uv",
        &["--python", py312.to_str().unwrap()],
        &[],
    ))
    .unwrap();
    assert_ne!(installed(app.path(), "itsdangerous"), "none");
}

#[test]
fn pylock_toml_from_uv_export_and_from_pip_lock() {
    let Some(app) = uv_app() else { return };
    let Some(mut uv) = lock_tool("uv", app.path()) else {
        return;
    };
    assert_ok(&run(uv.args([
        "export",
        "-q",
        "--frozen",
        "--no-dev",
        "--format",
        "pylock.toml",
        "-o",
        "pylock.toml",
    ])));
    std::fs::remove_file(app.path().join("uv.lock")).unwrap();
    let err = ok(build(&app, "pip", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from pylock.toml ("),
        "{err}"
    );
    assert_eq!(record(app.path())["layout"], "pylock.toml");
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(installed(app.path(), "iniconfig"), "none");

    // pip lock's pylock, named by lock: in config.yaml (beside the other).
    let python = tool("python").unwrap();
    let out = run(Command::new(python)
        .args([
            "-m",
            "pip",
            "lock",
            "-q",
            "itsdangerous==2.1.2",
            "-o",
            "pylock.web.toml",
        ])
        .current_dir(app.path()));
    assert_ok(&out);
    app.write(".warp/config.yaml", "lock: pylock.web.toml\n");
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(err.contains("from pylock.web.toml ("), "{err}");
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
    assert_eq!(installed(app.path(), "flask"), "none");
}

/// A Poetry application (package-mode = false): flask locked at 2.3.3 with
/// pyproject allowing flask>=2.2 (locked pinned, then relaxed and relocked:
/// Poetry keeps the locked version), a dev group.
#[test]
fn poetry_lock_of_a_non_package_app() {
    let app = TempApp::new();
    let pyproject = |flask: &str| {
        format!(
            "[project]\nname = \"poetryapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"{flask}\"]\n\n[tool.poetry]\npackage-mode = false\n\n\
             [tool.poetry.group.dev.dependencies]\niniconfig = \"*\"\n"
        )
    };
    app.write("pyproject.toml", &pyproject("flask==2.3.3"));
    app.write("wsgi.py", FLASK_APP);
    let Some(mut poetry) = lock_tool("poetry", app.path()) else {
        return;
    };
    assert_ok(&run(poetry.args(["lock", "-q"])));
    app.write("pyproject.toml", &pyproject("flask>=2.2"));
    assert_ok(&run(lock_tool("poetry", app.path())
        .unwrap()
        .args(["lock", "-q"])));
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from poetry.lock ("),
        "{err}"
    );
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    assert_eq!(
        installed(app.path(), "poetryapp"),
        "none",
        "package-mode = false"
    );
    ok(build(&app, "pip", &[], &[("WARP_GROUPS", "dev")])).unwrap();
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_ne!(installed(app.path(), "iniconfig"), "none");

    // Stale: Poetry's content-hash no longer matches.
    app.write("pyproject.toml", &pyproject("flask>=2.2,<4"));
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_stale(&out, "poetry.lock", "poetry lock");
    assert_ne!(
        installed(app.path(), "iniconfig"),
        "none",
        "the venv was kept"
    );
}

/// A lock written by Poetry 1.x (lock-version 2.0: no groups or markers
/// per package): the set is walked from pyproject, the content-hash checked
/// by Poetry 1.x's rule. flask locked at 2.3.3 (pinned, relaxed, relocked
/// with --no-update), a dev group.
#[test]
fn poetry_1_lock_of_a_non_package_app() {
    let poetry1 = match std::env::var_os("WARP_TEST_POETRY1") {
        Some(p) if Path::new(&p).exists() => PathBuf::from(p),
        _ => {
            require_all("Poetry 1.x (WARP_TEST_POETRY1)");
            return;
        }
    };
    let app = TempApp::new();
    let pyproject = |flask: &str| {
        format!(
            "[tool.poetry]\nname = \"poetry1app\"\nversion = \"0.1.0\"\ndescription = \"\"\n\
             authors = [\"t <t@example.com>\"]\npackage-mode = false\n\n\
             [tool.poetry.dependencies]\npython = \"^3.9\"\nflask = \"{flask}\"\n\n\
             [tool.poetry.group.dev.dependencies]\niniconfig = \"*\"\n"
        )
    };
    let lock = |app: &TempApp| {
        let out = run(Command::new(&poetry1)
            .args(["lock", "-q", "--no-update"])
            .env("POETRY_VIRTUALENVS_CREATE", "false")
            .current_dir(app.path()));
        assert_ok(&out);
    };
    app.write("pyproject.toml", &pyproject("2.3.3"));
    app.write("wsgi.py", FLASK_APP);
    lock(&app);
    app.write("pyproject.toml", &pyproject(">=2.2"));
    lock(&app);
    let text = std::fs::read_to_string(app.path().join("poetry.lock")).unwrap();
    assert!(text.contains("lock-version = \"2.0\""), "{text}");
    assert!(text.contains("Poetry 1."), "{text}");
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from poetry.lock ("),
        "{err}"
    );
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_ne!(
        installed(app.path(), "werkzeug"),
        "none",
        "walked through flask"
    );
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    assert_eq!(
        installed(app.path(), "colorama"),
        "none",
        "a Windows-only edge"
    );
    ok(build(&app, "pip", &[], &[("WARP_GROUPS", "dev")])).unwrap();
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_ne!(installed(app.path(), "iniconfig"), "none");

    // Stale by Poetry 1.x's content-hash.
    app.write("pyproject.toml", &pyproject(">=2.2,<4"));
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_stale(&out, "poetry.lock", "poetry lock");
    assert_ne!(
        installed(app.path(), "iniconfig"),
        "none",
        "the venv was kept"
    );
}

/// A lock written by Poetry 1.2, the last to write lock-version 1.1 (a
/// `category` per package, the file hashes in `[metadata.files]`): exactly
/// its main set installed, with uv and pip, the hashes taken from there.
/// (Poetry 1.2 asks PyPI's JSON API, which this machine's proxy does not
/// pass: the project names PyPI's simple index as its default source.)
#[test]
fn poetry_1_2_lock_version_1_1() {
    let Some(poetry) = std::env::var_os("WARP_TEST_POETRY12").filter(|p| Path::new(p).exists())
    else {
        return require_all("Poetry 1.2 (WARP_TEST_POETRY12)");
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[tool.poetry]\nname = \"poetry12app\"\nversion = \"0.1.0\"\ndescription = \"\"\n\
         authors = [\"t <t@example.com>\"]\n\n[tool.poetry.dependencies]\npython = \"^3.9\"\n\
         itsdangerous = \"2.1.2\"\nclick = \"8.1.7\"\n\n[tool.poetry.group.dev.dependencies]\n\
         iniconfig = \"*\"\n\n[[tool.poetry.source]]\nname = \"pypi-simple\"\n\
         url = \"https://pypi.org/simple/\"\ndefault = true\n",
    );
    app.write("wsgi.py", WSGI_APP);
    assert_ok(&run(Command::new(poetry)
        .args(["lock", "-q", "--no-update"])
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .current_dir(app.path())));
    let text = std::fs::read_to_string(app.path().join("poetry.lock")).unwrap();
    assert!(text.contains("lock-version = \"1.1\""), "{text}");
    let lock: toml::Table = text.parse().unwrap();
    assert!(lock["metadata"].get("files").is_some(), "{text}");
    // The main set: every locked package but the dev group's and click's
    // Windows-only colorama, at its locked version.
    let mut wanted: Vec<String> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}=={}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .filter(|p| !p.starts_with("iniconfig==") && !p.starts_with("colorama=="))
        .collect();
    wanted.sort();
    assert_eq!(wanted, ["click==8.1.7", "itsdangerous==2.1.2"]);
    let listed = "import importlib.metadata as m\n\
        print(*sorted(f'{d.metadata[\"Name\"].lower()}=={d.version}' for d in m.distributions() \
        if d.metadata['Name'].lower() not in ('pip', 'setuptools', 'wheel')))";
    for installer in ["uv", "pip"] {
        ok(build(&app, installer, &[], &[])).unwrap();
        let out = venv_python(app.path(), listed);
        assert_ok(&out);
        assert_eq!(stdout(&out).trim(), wanted.join(" "), "{installer}");
    }
    // The hashes are [metadata.files]': itsdangerous's changed there, refused.
    let mut tampered = text.clone();
    for file in lock["metadata"]["files"]["itsdangerous"]
        .as_array()
        .unwrap()
    {
        let hash = file["hash"].as_str().unwrap();
        tampered = tampered.replace(hash, &format!("sha256:{}", "0".repeat(64)));
    }
    app.write("poetry.lock", &tampered);
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_fails_with(&out, "installing the packages of poetry.lock failed");
    assert_eq!(
        installed(app.path(), "itsdangerous"),
        "2.1.2",
        "the venv was kept"
    );
}

#[test]
fn pdm_lock_with_its_dev_group() {
    let app = TempApp::new();
    let pyproject = |flask: &str| {
        format!(
            "[project]\nname = \"pdmapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"{flask}\"]\n\n[dependency-groups]\ndev = [\"iniconfig\"]\n\n\
             [tool.pdm]\ndistribution = false\n"
        )
    };
    app.write("pyproject.toml", &pyproject("flask==2.3.3"));
    app.write("wsgi.py", FLASK_APP);
    let Some(mut pdm) = lock_tool("pdm", app.path()) else {
        return;
    };
    assert_ok(&run(pdm.args(["lock", "-q"])));
    app.write("pyproject.toml", &pyproject("flask>=2.2"));
    assert_ok(&run(lock_tool("pdm", app.path()).unwrap().args([
        "lock",
        "-q",
        "--update-reuse",
    ])));
    let lock = std::fs::read_to_string(app.path().join("pdm.lock")).unwrap();
    assert!(lock.contains("version = \"2.3.3\""), "{lock}");
    let err = ok(build(&app, "pip", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from pdm.lock ("),
        "{err}"
    );
    assert_eq!(installed(app.path(), "flask"), "2.3.3");
    assert_eq!(installed(app.path(), "iniconfig"), "none");

    app.write("pyproject.toml", &pyproject("flask>=2.2,<4"));
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_stale(&out, "pdm.lock", "pdm lock");
    assert_eq!(installed(app.path(), "flask"), "2.3.3", "the venv was kept");
}

/// PDM's `[[metadata.targets]]`: the lock holds when one target (Python
/// range, platform) holds for the build's interpreter.
#[test]
fn pdm_lock_targets() {
    let Some(py311) = pyenv_python(11) else {
        require_all("pyenv Python 3.11");
        return;
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"pdmtargets\"\nversion = \"0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"itsdangerous==2.1.2\"]\n\n[tool.pdm]\ndistribution = false\n",
    );
    app.write("wsgi.py", WSGI_APP);
    let pdm = |args: &[&str]| {
        let mut cmd = lock_tool("pdm", app.path())?;
        assert_ok(&run(cmd.arg("lock").arg("-q").args(args)));
        Some(())
    };
    let python = ["--python", py311.to_str().unwrap()];
    if pdm(&["--python", ">=3.12"]).is_none() {
        return;
    }
    let out = build(&app, "uv", &python, &[]).unwrap();
    assert_fails_with(
        &out,
        "pdm.lock: the lock is for Python >=3.12, and the build's interpreter is Python 3.11",
    );
    pdm(&["--append", "--python", "==3.11.*", "--platform", "windows"]).unwrap();
    let out = build(&app, "uv", &python, &[]).unwrap();
    assert_fails_with(&out, "pdm.lock: the lock is for >=3.12; ==3.11.* windows_amd64, and the build's interpreter is cpython 3.11");
    // (pdm lock made a .venv of its own; warp built nothing into it.)
    assert!(!app.path().join(".venv/.warp/build.json").exists());
    pdm(&["--append", "--python", "==3.11.*", "--platform", "linux"]).unwrap();
    ok(build(&app, "uv", &python, &[])).unwrap();
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
}

#[test]
fn wheels_from_a_lock_then_an_offline_build() {
    let Some(app) = uv_app() else { return };
    let out = run(warp_uv(app.path()).unwrap().arg("wheels"));
    assert_ok(&out);
    let wheels: Vec<String> = std::fs::read_dir(app.path().join(".warp/wheelhouse"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        wheels.iter().any(|w| w.starts_with("flask-2.3.3")),
        "{wheels:?}"
    );
    assert!(
        !wheels.iter().any(|w| w.starts_with("iniconfig")),
        "{wheels:?}"
    );
    for installer in ["pip", "uv"] {
        let _ = std::fs::remove_dir_all(app.path().join(".venv"));
        let err = ok(build(
            &app,
            installer,
            &[],
            &[
                ("WARP_PIP_NO_INDEX", "1"),
                ("PIP_INDEX_URL", "http://user:s3cret@127.0.0.1:9/simple"),
            ],
        ))
        .unwrap();
        assert!(err.contains("from uv.lock"), "{err}");
        assert!(
            !err.contains("with uv sync"),
            "uv sync ignores the wheelhouse"
        );
        assert_eq!(installed(app.path(), "flask"), "2.3.3");
        // The index credential is nowhere in the log, the record or the venv.
        assert!(!err.contains("s3cret"));
        let out = run(Command::new("grep")
            .args(["-rIl", "s3cret"])
            .arg(app.path().join(".venv")));
        assert_eq!(stdout(&out), "", "files holding the credential");
    }
}

#[test]
fn pipfile_lock_without_pipenv_on_the_build() {
    let app = TempApp::new();
    app.write(
        "Pipfile",
        "[packages]\nflask = \"==2.3.3\"\n\n[dev-packages]\niniconfig = \"*\"\n",
    );
    app.write("wsgi.py", FLASK_APP);
    let Some(mut pipenv) = lock_tool("pipenv", app.path()) else {
        return;
    };
    let out = run(pipenv
        .arg("lock")
        .env("PIPENV_VENV_IN_PROJECT", "1")
        .env("PIPENV_VERBOSITY", "-1")
        .env("PIPENV_NOSPIN", "1"));
    assert_ok(&out);
    std::fs::remove_dir_all(app.path().join(".venv")).unwrap();
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(app.path().join("Pipfile.lock")).unwrap())
            .unwrap();
    let err = ok(build(&app, "pip", &[], &[])).unwrap();
    assert!(
        err.contains("==> Installing dependencies from Pipfile.lock ("),
        "{err}"
    );
    assert_eq!(record(app.path())["layout"], "Pipfile.lock");
    for (name, entry) in lock["default"].as_object().unwrap() {
        let locked = entry["version"].as_str().unwrap().trim_start_matches("==");
        assert_eq!(installed(app.path(), name), locked, "{name}");
    }
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    for tool in ["pipenv", "micropipenv"] {
        assert!(!app.path().join(".venv/bin").join(tool).exists());
    }

    app.write("Pipfile", "[packages]\nflask = \">=2.2\"\n");
    let out = build(&app, "uv", &[], &[]).unwrap();
    assert_stale(&out, "Pipfile.lock", "pipenv lock");
    assert_eq!(installed(app.path(), "flask"), "2.3.3", "the venv was kept");
}

#[test]
fn a_uv_package_project_is_installed_after_its_locked_dependencies() {
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"flit_core>=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
         [project]\nname = \"lockedpkg\"\nversion = \"1.0\"\ndescription = \"test\"\n\
         requires-python = \">=3.9\"\ndependencies = [\"itsdangerous>=2.0\"]\n\n\
         [tool.uv]\ndev-dependencies = [\"iniconfig\"]\n",
    );
    app.write(
        "lockedpkg/__init__.py",
        "import itsdangerous\nVALUE = 'one'\n",
    );
    app.write("wsgi.py", "from lockedpkg import VALUE\n");
    let Some(mut uv) = lock_tool("uv", app.path()) else {
        return;
    };
    assert_ok(&run(uv.args(["lock", "-q", "-P", "itsdangerous==2.1.2"])));
    ok(build(&app, "uv", &[], &[])).unwrap();
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
    assert_eq!(installed(app.path(), "lockedpkg"), "1.0");
    assert_eq!(installed(app.path(), "iniconfig"), "none");
    // The package's code is an input: a change reinstalls it.
    app.write(
        "lockedpkg/__init__.py",
        "import itsdangerous\nVALUE = 'two'\n",
    );
    let err = ok(build(&app, "uv", &[], &[])).unwrap();
    assert!(!err.contains("install skipped"), "{err}");
    assert_ok(&venv_python(
        app.path(),
        "import lockedpkg; assert lockedpkg.VALUE == 'two', lockedpkg.VALUE",
    ));
}
