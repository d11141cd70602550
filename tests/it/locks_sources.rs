//! Where a lock's packages come from, with real tools: a lock's own index
//! (a second index on 127.0.0.1 serving real wheels, answering 401 without
//! credentials, locked against by real uv, Poetry, pipenv and PDM) with
//! credentials that reach the index and nothing else — not the PyPI mirror
//! of the environment that replaces pypi.org, not the output, the venv or
//! the build record; `warp wheels` from such a lock, then an offline build;
//! and a uv workspace whose project depends on one member (installed) and
//! not another (absent), with member paths that leave the project refused.
use crate::support;

use crate::build_support;
use crate::simple_index;

use build_support::*;
use simple_index::*;
use std::path::Path;
use std::process::{Command, Output};
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

/// The wheels the private index and its mirror serve.
const PRIVATE_WHEELS: &[&str] = &["itsdangerous==2.1.2", "iniconfig==2.0.0"];

/// The private index (and its mirror) serving [`PRIVATE_WHEELS`], real
/// wheels from PyPI kept in the returned directory. None: skip.
fn private_index() -> Option<(TempApp, Index)> {
    let python = tool("python")?;
    let work = TempApp::new();
    let index = Index::serving(&python, &work.path().join("wheels"), PRIVATE_WHEELS);
    Some((work, index))
}

/// A uv project locked by real uv, and the private index it was locked against.
struct UvPrivate {
    /// The index's wheels and uv's cache.
    work: TempApp,
    index: Index,
    cache: std::path::PathBuf,
    app: TempApp,
}

/// A uv project whose itsdangerous comes from the private index (as uv's
/// index `private-one`, whose credentials uv is given) and iniconfig from
/// PyPI. Real wheels from PyPI: itsdangerous 2.1.2 (older than PyPI's
/// newest) for the private index, iniconfig 2.0.0 for the PyPI mirror.
/// None: skip (no uv).
fn uv_private_app(password: &str) -> Option<UvPrivate> {
    let uv = tool("uv")?;
    let (work, index) = private_index()?;
    let cache = work.path().join("uv-cache");
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
    assert_ok(&run(Command::new(uv)
        .args(["lock", "-q"])
        .env("UV_INDEX_PRIVATE_ONE_USERNAME", "builder")
        .env("UV_INDEX_PRIVATE_ONE_PASSWORD", password)
        .env("UV_CACHE_DIR", &cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .current_dir(app.path())));
    Some(UvPrivate {
        work,
        index,
        cache,
        app,
    })
}

/// The Authorization header the user `builder` with `password` makes, as
/// the index logs it.
fn basic_auth(password: &str) -> String {
    use base64::Engine;
    let pair = format!("builder:{password}");
    format!(
        "auth=Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Builds with uv and with pip from the index's mirror (as PIP_INDEX_URL)
/// and the private index with `credentials`, each from a fresh cache so
/// that every file is fetched and the index's log shows from where: the
/// locked versions; itsdangerous from the private index with the
/// credentials sent unasked; the mirror sent no credentials, asked for
/// iniconfig and never for itsdangerous; the password in no output and no
/// file of the app, its venv or its build record.
fn builds_from_the_private_index(
    app: &Path,
    cache: &Path,
    index: &Index,
    credentials: &[(&str, &str)],
    password: &str,
) {
    let mirror = index.mirror();
    let mut env = vec![
        ("PIP_INDEX_URL", mirror.as_str()),
        ("UV_HTTP_RETRIES", "0"),
        ("PIP_RETRIES", "0"),
    ];
    env.extend_from_slice(credentials);
    let auth = basic_auth(password);
    for installer in ["uv", "pip"] {
        let _ = std::fs::remove_dir_all(cache);
        let out = build(app, cache, installer, &env).unwrap();
        assert_ok(&out);
        assert_eq!(installed(app, "itsdangerous"), "2.1.2", "{installer}");
        assert_eq!(installed(app, "iniconfig"), "2.0.0", "{installer}");
        let log = index.take_log();
        let line = |path: &str| log.lines().find(|l| l.starts_with(path)).unwrap_or("");
        assert_eq!(
            line("/simple/itsdangerous/"),
            format!("/simple/itsdangerous/ {auth}"),
            "{installer}: {log}"
        );
        assert!(
            line("/itsdangerous-2.1.2-py3-none-any.whl").ends_with(&auth),
            "{installer}: {log}"
        );
        assert!(
            log.lines()
                .filter(|l| l.starts_with("/mirror/"))
                .all(|l| l.ends_with(" auth=-")),
            "{installer}: {log}"
        );
        assert!(
            !line("/mirror/simple/iniconfig/").is_empty(),
            "{installer}: {log}"
        );
        assert!(!log.contains("/mirror/simple/itsdangerous"), "{log}");
        assert!(!stderr(&out).contains(password) && !stdout(&out).contains(password));
        assert_eq!(files_holding(app, password), "", "{installer}");
    }
}

#[test]
fn registry_packages_come_from_the_locks_index_with_its_credentials() {
    let password = "pw-8d1f3c";
    let Some(UvPrivate {
        work,
        mut index,
        cache,
        app,
    }) = uv_private_app(password)
    else {
        return;
    };
    let lock = std::fs::read_to_string(app.path().join("uv.lock")).unwrap();
    assert!(
        lock.contains(&format!("source = {{ registry = \"{}\" }}", index.url())),
        "{lock}"
    );
    index.take_log();

    let credentials = [
        ("UV_INDEX_PRIVATE_ONE_USERNAME", "builder"),
        ("UV_INDEX_PRIVATE_ONE_PASSWORD", password),
    ];
    builds_from_the_private_index(app.path(), &cache, &index, &credentials, password);
    let mirror = index.mirror();
    let auth = basic_auth(password);

    // The same lock exported as pylock.toml (its `index` per package, no
    // index names): the credentials from netrc, read by uv itself.
    assert_ok(&run(Command::new(tool("uv").unwrap())
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
            .any(|l| l.starts_with("/simple/itsdangerous/") && l.ends_with(&auth)),
        "{log}"
    );
    assert!(log.contains("/mirror/simple/iniconfig/"), "{log}");
    assert_eq!(files_holding(app.path(), password), "");
    std::fs::remove_file(app.path().join("pylock.toml")).unwrap();

    // The lock's index cannot be reached: one line naming it, a hint, and
    // the previous build (the pylock one) kept. (iniconfig from PyPI itself now.)
    index.stop();
    let _ = std::fs::remove_dir_all(&cache);
    let mut env = credentials.to_vec();
    env.push(("UV_HTTP_RETRIES", "0"));
    let out = build(app.path(), &cache, "uv", &env).unwrap();
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

/// The environment of a lock tool run in `dir`: no venv of its own kept,
/// no update check, and the private index's credentials.
fn lock_tool(name: &str, dir: &Path, password: &str) -> Option<Command> {
    let mut cmd = Command::new(tool(name)?);
    cmd.current_dir(dir)
        .env("PRIV_USER", "builder")
        .env("PRIV_PW", password)
        .env("PIPENV_VENV_IN_PROJECT", "1")
        .env("PIPENV_VERBOSITY", "-1")
        .env("PIPENV_NOSPIN", "1")
        .env("PDM_CHECK_UPDATE", "false")
        .env("PDM_IGNORE_ACTIVE_VENV", "1");
    Some(cmd)
}

/// A Pipfile with PyPI and a private source whose URL takes its credentials
/// from `${PRIV_USER}`/`${PRIV_PW}` (pipenv's way): pipenv locks
/// itsdangerous from the private source (Pipfile.lock's `index`), and the
/// build expands the variables from its environment.
#[test]
fn pipfile_lock_sources_come_from_their_index_with_the_environments_credentials() {
    let Some((work, index)) = private_index() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "Pipfile",
        &format!(
            "[[source]]\nname = \"pypi\"\nurl = \"https://pypi.org/simple\"\nverify_ssl = true\n\n\
             [[source]]\nname = \"private\"\nurl = \"http://${{PRIV_USER}}:${{PRIV_PW}}@127.0.0.1:{}/simple\"\n\
             verify_ssl = false\n\n[packages]\nitsdangerous = {{ version = \"*\", index = \"private\" }}\n\
             iniconfig = \"==2.0.0\"\n",
            index.port
        ),
    );
    app.write("wsgi.py", WSGI_APP);
    let password = "pw-pipenv-7";
    let Some(mut pipenv) = lock_tool("pipenv", app.path(), password) else {
        return;
    };
    assert_ok(&run(pipenv.arg("lock")));
    std::fs::remove_dir_all(app.path().join(".venv")).unwrap();
    let lock = std::fs::read_to_string(app.path().join("Pipfile.lock")).unwrap();
    assert!(lock.contains("\"index\": \"private\""), "{lock}");
    assert!(lock.contains("${PRIV_PW}@127.0.0.1"), "{lock}");
    index.take_log();
    let cache = work.path().join("uv-cache");
    let credentials = [("PRIV_USER", "builder"), ("PRIV_PW", password)];
    builds_from_the_private_index(app.path(), &cache, &index, &credentials, password);
    assert_eq!(record(app.path())["layout"], "Pipfile.lock");

    // Without the variable: one line naming it (not its value), nothing changed.
    let out = build(app.path(), &cache, "uv", &[("PRIV_USER", "builder")]).unwrap();
    assert_fails_with(&out, "the lock's index http://***@127.0.0.1:");
    assert!(stderr(&out).contains("needs ${PRIV_PW}, which is not set"));
    assert_eq!(installed(app.path(), "itsdangerous"), "2.1.2");
}

/// A PDM project with a private `[[tool.pdm.source]]` (credentials from
/// `${PRIV_USER}`/`${PRIV_PW}` in its URL, PDM's way) that alone serves
/// itsdangerous (`include_packages`): pdm.lock records no index per package,
/// so the build chooses them as PDM does — itsdangerous from the private
/// index alone, iniconfig from PyPI's mirror and the private index.
#[test]
fn pdm_lock_sources_come_from_their_index_with_the_environments_credentials() {
    let Some((work, index)) = private_index() else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        &format!(
            "[project]\nname = \"pdmpriv\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"itsdangerous\", \"iniconfig==2.0.0\"]\n\n[tool.pdm]\ndistribution = false\n\n\
             [[tool.pdm.source]]\nname = \"private\"\nurl = \"http://${{PRIV_USER}}:${{PRIV_PW}}@127.0.0.1:{}/simple\"\n\
             verify_ssl = false\ninclude_packages = [\"itsdangerous\"]\n",
            index.port
        ),
    );
    app.write("wsgi.py", WSGI_APP);
    let password = "pw-pdm-3";
    let Some(mut pdm) = lock_tool("pdm", app.path(), password) else {
        return;
    };
    assert_ok(&run(pdm.args(["lock", "-q"])));
    for made in [".venv", ".pdm-python"] {
        let path = app.path().join(made);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    let lock = std::fs::read_to_string(app.path().join("pdm.lock")).unwrap();
    // Only the private index serves itsdangerous 2.1.2 (PyPI has newer).
    assert!(
        lock.contains("name = \"itsdangerous\"\nversion = \"2.1.2\""),
        "{lock}"
    );
    index.take_log();
    let cache = work.path().join("uv-cache");
    let credentials = [("PRIV_USER", "builder"), ("PRIV_PW", password)];
    builds_from_the_private_index(app.path(), &cache, &index, &credentials, password);
    assert_eq!(record(app.path())["layout"], "pdm.lock");
}

/// `warp wheels` from a uv.lock whose itsdangerous comes from the private
/// index (credentials from the environment): the wheelhouse gets the locked
/// set, and with the index gone a build with WARP_PIP_NO_INDEX installs it
/// from there, with uv and with pip.
#[test]
fn wheels_from_a_private_index_lock_then_an_offline_build() {
    let password = "pw-wheels-9";
    let Some(UvPrivate {
        work: _work,
        mut index,
        cache,
        app,
    }) = uv_private_app(password)
    else {
        return;
    };
    index.take_log();
    let mirror = index.mirror();
    let out = run(warp_uv(app.path())
        .unwrap()
        .arg("wheels")
        .env("PIP_INDEX_URL", &mirror)
        .env("PIP_NO_CACHE_DIR", "1")
        .env("UV_INDEX_PRIVATE_ONE_USERNAME", "builder")
        .env("UV_INDEX_PRIVATE_ONE_PASSWORD", password));
    assert_ok(&out);
    let mut wheels: Vec<String> = std::fs::read_dir(app.path().join(".warp/wheelhouse"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    wheels.sort();
    assert_eq!(
        wheels,
        [
            "iniconfig-2.0.0-py3-none-any.whl",
            "itsdangerous-2.1.2-py3-none-any.whl"
        ]
    );
    let log = index.take_log();
    let auth = basic_auth(password);
    assert!(
        log.lines()
            .any(|l| l == format!("/simple/itsdangerous/ {auth}")),
        "{log}"
    );
    assert!(log.contains("/mirror/simple/iniconfig/ auth=-"), "{log}");
    assert!(!log.contains("/mirror/simple/itsdangerous"), "{log}");
    assert!(!stderr(&out).contains(password) && !stdout(&out).contains(password));
    assert_eq!(files_holding(app.path(), password), "");

    index.stop();
    for installer in ["uv", "pip"] {
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(app.path().join(".venv"));
        let out = build(
            app.path(),
            &cache,
            installer,
            &[("WARP_PIP_NO_INDEX", "1"), ("PIP_INDEX_URL", &mirror)],
        )
        .unwrap();
        assert_ok(&out);
        assert!(stderr(&out).contains("from uv.lock"), "{}", stderr(&out));
        assert_eq!(
            installed(app.path(), "itsdangerous"),
            "2.1.2",
            "{installer}"
        );
        assert_eq!(installed(app.path(), "iniconfig"), "2.0.0", "{installer}");
    }
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
