//! Where a lock's packages come from, with real tools: a lock's own index
//! (a second index on 127.0.0.1 serving real wheels, locked against by real
//! uv and by real Poetry) with credentials that reach the index and nothing
//! else, a PyPI mirror of the environment replacing pypi.org; and a uv workspace whose project
//! depends on one member (installed) and not another (absent), with member
//! paths that leave the project refused.
use crate::support;

use crate::build_support;

use build_support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use support::*;

/// `warp build` with uv's cache in `cache`.
fn build(app: &Path, cache: &Path, installer: &str, env: &[(&str, &str)]) -> Option<Output> {
    let mut cmd = warp_uv(app)?;
    cmd.env("UV_CACHE_DIR", cache)
        .env("PIP_NO_CACHE_DIR", "1")
        .args(["build", "--installer", installer])
        .envs(env.iter().copied());
    Some(run(&mut cmd))
}

fn installed(app: &Path, package: &str) -> String {
    let out = venv_python(
        app,
        &format!(
            "import importlib.metadata as m\ntry: print(m.version('{package}'))\nexcept m.PackageNotFoundError: print('none')"
        ),
    );
    assert_ok(&out);
    stdout(&out).trim().to_string()
}

/// The files under `dir` holding `needle`.
fn files_holding(dir: &Path, needle: &str) -> String {
    stdout(&run(Command::new("grep").args(["-rIl", needle]).arg(dir)))
}

/// tests/fixtures/simple_index.py serving `wheels`; stopped (by pid) on drop.
struct Index {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Index {
    fn start(python: &Path, wheels: &Path) -> Index {
        let port_file = wheels.join("port");
        let log = wheels.join("requests.log");
        let child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/simple_index.py"))
            .arg(wheels)
            .arg(&port_file)
            .arg(&log)
            .spawn()
            .unwrap();
        let mut index = Index {
            child,
            port: 0,
            log,
        };
        for _ in 0..100 {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                index.port = port.trim().parse().unwrap();
                return index;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the index did not start");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.port)
    }

    /// The requests so far, and forget them.
    fn take_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        std::fs::write(&self.log, "").unwrap();
        text
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn registry_packages_come_from_the_locks_index_with_its_credentials() {
    let (Some(python), Some(uv)) = (tool("python"), tool("uv")) else {
        return;
    };
    let work = TempApp::new();
    let wheels = work.path().join("wheels");
    // Real wheels from PyPI: itsdangerous 2.1.2 (older than PyPI's newest)
    // for the private index, iniconfig 2.0.0 for the PyPI mirror.
    assert_ok(&run(Command::new(&python)
        .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
        .arg(&wheels)
        .args(["itsdangerous==2.1.2", "iniconfig==2.0.0"])));
    let mut index = Index::start(&python, &wheels);
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        &format!(
            "[project]\nname = \"privapp\"\nversion = \"0\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"itsdangerous\", \"iniconfig==2.0.0\"]\n\n\
             [[tool.uv.index]]\nname = \"private-one\"\nurl = \"{}\"\nexplicit = true\n\n\
             [tool.uv.sources]\nitsdangerous = {{ index = \"private-one\" }}\n",
            index.url()
        ),
    );
    app.write("wsgi.py", WSGI_APP);
    let cache = work.path().join("uv-cache");
    let password = "pw-8d1f3c";
    assert_ok(&run(Command::new(&uv)
        .args(["lock", "-q"])
        .env("UV_INDEX_PRIVATE_ONE_USERNAME", "builder")
        .env("UV_INDEX_PRIVATE_ONE_PASSWORD", password)
        .env("UV_CACHE_DIR", &cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .current_dir(app.path())));
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    assert!(
        lock.contains(&format!("source = {{ registry = \"{}\" }}", index.url())),
        "{lock}"
    );
    index.take_log();

    let mirror = format!("http://127.0.0.1:{}/mirror/simple", index.port);
    let env = [
        ("PIP_INDEX_URL", mirror.as_str()),
        ("UV_INDEX_PRIVATE_ONE_USERNAME", "builder"),
        ("UV_INDEX_PRIVATE_ONE_PASSWORD", password),
        ("UV_HTTP_RETRIES", "0"),
        ("PIP_RETRIES", "0"),
    ];
    // base64("builder:pw-8d1f3c")
    let auth = "auth=Basic YnVpbGRlcjpwdy04ZDFmM2M=";
    for installer in ["uv", "pip"] {
        // A fresh cache: every file is fetched, so the log shows from where.
        let _ = std::fs::remove_dir_all(&cache);
        let out = build(app.path(), &cache, installer, &env).unwrap();
        assert_ok(&out);
        assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
        assert_eq!(installed(app.path(), "iniconfig"), "2.0.0");
        let log = index.take_log();
        let line = |path: &str| log.lines().find(|l| l.starts_with(path)).unwrap_or("");
        // The locked index, with the credentials of its name, sent unasked.
        assert_eq!(
            line("/simple/itsdangerous/"),
            format!("/simple/itsdangerous/ {auth}"),
            "{installer}: {log}"
        );
        assert!(
            line("/itsdangerous-2.1.2-py3-none-any.whl").ends_with(auth),
            "{installer}: {log}"
        );
        // PyPI-locked iniconfig from the environment's mirror of PyPI.
        assert!(
            !line("/mirror/simple/iniconfig/").is_empty(),
            "{installer}: {log}"
        );
        assert!(!log.contains("/mirror/simple/itsdangerous"), "{log}");
        // The password is in no log line and no file of the app or its venv.
        assert!(!stderr(&out).contains(password) && !stdout(&out).contains(password));
        assert_eq!(files_holding(app.path(), password), "", "{installer}");
    }

    // The same lock exported as pylock.toml (its `index` per package, no
    // index names): the credentials from netrc, read by uv itself.
    assert_ok(&run(Command::new(&uv)
        .args([
            "export",
            "-q",
            "--frozen",
            "--format",
            "pylock.toml",
            "-o",
            "pylock.toml",
        ])
        .env("UV_CACHE_DIR", &cache)
        .current_dir(app.path())));
    let netrc = work.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1\nlogin builder\npassword {password}\n"),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    let out = build(
        app.path(),
        &cache,
        "uv",
        &[
            ("PIP_INDEX_URL", mirror.as_str()),
            ("NETRC", netrc.to_str().unwrap()),
            ("WARP_LOCK", "pylock.toml"),
        ],
    )
    .unwrap();
    assert_ok(&out);
    assert_eq!(record(app.path())["layout"], "pylock.toml");
    let log = index.take_log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("/simple/itsdangerous/") && l.ends_with(auth)),
        "{log}"
    );
    assert!(log.contains("/mirror/simple/iniconfig/"), "{log}");
    assert_eq!(files_holding(app.path(), password), "");
    std::fs::remove_file(app.path().join("pylock.toml")).unwrap();

    // The lock's index cannot be reached: one line naming it, a hint, and
    // the previous build (the pylock one) kept. (iniconfig from PyPI itself now.)
    index.stop();
    let _ = std::fs::remove_dir_all(&cache);
    let out = build(app.path(), &cache, "uv", &env[1..]).unwrap();
    assert_fails_with(
        &out,
        &format!(
            "installing the packages uv.lock locks from {} failed",
            index.url()
        ),
    );
    assert!(
        stderr(&out).contains("UV_INDEX_<NAME>_USERNAME"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(password));
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
    assert_eq!(
        record(app.path())["layout"],
        "pylock.toml",
        "the previous build kept"
    );
    assert_eq!(files_holding(app.path(), password), "");
}

/// A Poetry 2 project whose itsdangerous comes from an explicit private
/// source: poetry.lock records it as a `legacy` `[package.source]`, and the
/// build takes it from there with Poetry's credentials variables.
#[test]
fn poetry_sources_come_from_their_index_with_poetrys_credentials() {
    let (Some(python), Some(poetry)) = (tool("python"), tool("poetry")) else {
        return;
    };
    let work = TempApp::new();
    let wheels = work.path().join("wheels");
    assert_ok(&run(Command::new(&python)
        .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
        .arg(&wheels)
        .arg("itsdangerous==2.1.2")));
    let index = Index::start(&python, &wheels);
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        &format!(
            "[project]\nname = \"poetrysrc\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"itsdangerous\"]\n\n[tool.poetry]\npackage-mode = false\n\n\
             [tool.poetry.dependencies]\nitsdangerous = {{ source = \"corp\" }}\n\n\
             [[tool.poetry.source]]\nname = \"corp\"\nurl = \"{}\"\npriority = \"explicit\"\n",
            index.url()
        ),
    );
    app.write("wsgi.py", WSGI_APP);
    let password = "pw-poetry-51";
    let credentials = [
        ("POETRY_HTTP_BASIC_CORP_USERNAME", "builder"),
        ("POETRY_HTTP_BASIC_CORP_PASSWORD", password),
    ];
    assert_ok(&run(Command::new(&poetry)
        .args(["lock", "-q"])
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .envs(credentials)
        .current_dir(app.path())));
    let lock = std::fs::read_to_string(app.path().join("poetry.lock")).unwrap();
    assert!(lock.contains("reference = \"corp\""), "{lock}");
    index.take_log();
    let cache = work.path().join("uv-cache");
    let out = build(app.path(), &cache, "uv", &credentials).unwrap();
    assert_ok(&out);
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
    let log = index.take_log();
    // base64("builder:pw-poetry-51")
    assert!(
        log.lines()
            .any(|l| l == "/simple/itsdangerous/ auth=Basic YnVpbGRlcjpwdy1wb2V0cnktNTE="),
        "{log}"
    );
    assert!(!stderr(&out).contains(password));
    assert_eq!(files_holding(app.path(), password), "");
}

/// A workspace member package built with flit (`name` and its module).
fn member(app: &TempApp, name: &str, dependency: &str) {
    app.write(
        &format!("packages/{name}/pyproject.toml"),
        &format!(
            "[build-system]\nrequires = [\"flit_core>=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"1.0\"\ndescription = \"member\"\n\
             requires-python = \">=3.9\"\ndependencies = [\"{dependency}\"]\n"
        ),
    );
    app.write(
        &format!("packages/{name}/{name}/__init__.py"),
        &format!("NAME = '{name}'\n"),
    );
}

#[test]
fn a_uv_workspace_installs_the_members_the_project_depends_on() {
    let Some(uv) = tool("uv") else { return };
    let app = TempApp::new();
    let pyproject =
        "[project]\nname = \"wsapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"wslib\", \"itsdangerous==2.1.2\"]\n\n\
         [tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n\
         [tool.uv.sources]\nwslib = { workspace = true }\n";
    app.write("pyproject.toml", pyproject);
    app.write("wsgi.py", "import wslib\n\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [wslib.NAME.encode()]\n");
    member(&app, "wslib", "iniconfig==2.0.0");
    member(&app, "wsother", "six");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("locks-uv-cache");
    assert_ok(&run(Command::new(&uv)
        .args(["lock", "-q"])
        .env("UV_CACHE_DIR", &cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .current_dir(app.path())));
    for installer in ["uv", "pip"] {
        let out = build(app.path(), &cache, installer, &[]).unwrap();
        assert_ok(&out);
        assert_eq!(installed(app.path(), "wslib"), "1.0", "{installer}");
        assert_eq!(installed(app.path(), "iniconfig"), "2.0.0");
        assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
        assert_eq!(installed(app.path(), "wsother"), "none", "not a dependency");
        assert_eq!(installed(app.path(), "six"), "none");
        // Non-editable: the member's code is a copy in the venv.
        let out = venv_python(app.path(), "import wslib; print(wslib.__file__)");
        assert_ok(&out);
        assert!(stdout(&out).contains("/.venv/lib/"), "{}", stdout(&out));
    }
    let kept = |app: &TempApp| assert_eq!(installed(app.path(), "wslib"), "1.0");

    // A member's code is an input: a change reinstalls it.
    app.write("packages/wslib/wslib/__init__.py", "NAME = 'changed'\n");
    let out = build(app.path(), &cache, "uv", &[]).unwrap();
    assert_ok(&out);
    assert!(
        !stderr(&out).contains("install skipped"),
        "{}",
        stderr(&out)
    );
    assert_ok(&venv_python(
        app.path(),
        "import wslib; assert wslib.NAME == 'changed'",
    ));

    // A member whose pyproject changed since the lock: stale, named.
    let lib = std::fs::read_to_string(app.path().join("packages/wslib/pyproject.toml")).unwrap();
    app.write(
        "packages/wslib/pyproject.toml",
        &lib.replace("iniconfig==2.0.0", "iniconfig==2.0.0\", \"six"),
    );
    let out = build(app.path(), &cache, "uv", &[]).unwrap();
    assert_fails_with(&out, "uv.lock: the lock is out of date with the project (packages/wslib/pyproject.toml's dependencies have six");
    kept(&app);
    app.write("packages/wslib/pyproject.toml", &lib);

    // Member paths are input: one leaving the project is refused, whether by
    // `..` or by a symbolic link.
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    let outside = TempApp::new();
    std::os::unix::fs::symlink(outside.path(), app.path().join("packages/escape")).unwrap();
    for path in ["../../etc", "packages/escape", "/etc"] {
        app.write(
            "uv.lock",
            &lock.replace(
                "editable = \"packages/wslib\"",
                &format!("editable = \"{path}\""),
            ),
        );
        let out = build(app.path(), &cache, "uv", &[]).unwrap();
        assert_fails_with(
            &out,
            &format!("uv.lock: wslib is locked from the path \"{path}\", which is not a directory inside the project"),
        );
        kept(&app);
    }
}
