//! `warp build` on real apps in temporary directories, with real pip, uv and
//! CPythons: plain wsgi.py, Flask, Django, setup.py, pyproject, app.sh, a
//! wheelhouse for offline builds, a second Python version, and the rollback
//! of a failed build.
use crate::support;

use crate::build_support;
use std::process::Command;
use std::time::{Duration, Instant};

use build_support::*;
use support::*;

#[test]
fn wsgi_app_with_pip_and_a_second_build_that_skips_the_install() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp_pip(app.path()).arg("build"));
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("==> Creating virtualenv") && err.contains(", pip) ("),
        "{err}"
    );
    assert!(
        err.contains("==> Installing warp's WSGI server support ("),
        "{err}"
    );
    let rec = record(app.path());
    assert_eq!(rec["layout"], "none");
    assert_eq!(rec["entry"]["kind"], "wsgi");
    assert_eq!(
        rec["entry"]["target"],
        app.path()
            .canonicalize()
            .unwrap()
            .join("wsgi.py")
            .to_str()
            .unwrap()
    );
    assert!(rec["python"]["version"].as_str().unwrap().starts_with("3."));
    // A pip venv has pip; warp's server package is importable from the venv.
    assert!(app.path().join(".venv/bin/pip").exists());
    assert_ok(&venv_python(app.path(), "import warpserver"));

    let pyvenv_before = std::fs::metadata(app.path().join(".venv/pyvenv.cfg"))
        .unwrap()
        .modified()
        .unwrap();
    let started = Instant::now();
    let out = run(warp_pip(app.path()).arg("build"));
    let took = started.elapsed();
    assert_ok(&out);
    assert!(stderr(&out).contains("install skipped"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "second build took {took:?}");
    let pyvenv_after = std::fs::metadata(app.path().join(".venv/pyvenv.cfg"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(pyvenv_before, pyvenv_after, "the venv was remade");
    assert_eq!(record(app.path())["inputs_hash"], rec["inputs_hash"]);
}

#[test]
fn wsgi_package_with_uv_and_another_python_version() {
    let Some(py312) = pyenv_python(12) else {
        return require_all("pyenv Python 3.12");
    };
    let app = TempApp::new();
    app.write("wsgi/__init__.py", WSGI_APP);
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.args(["build", "--python", "3.12"]));
    assert_ok(&out);
    assert!(stderr(&out).contains(", uv) ("), "{}", stderr(&out));
    let rec = record(app.path());
    assert!(
        rec["python"]["version"]
            .as_str()
            .unwrap()
            .starts_with("3.12."),
        "{rec}"
    );
    assert!(rec["entry"]["target"]
        .as_str()
        .unwrap()
        .ends_with("wsgi/__init__.py"));
    let cfg = std::fs::read_to_string(app.path().join(".venv/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("3.12"), "{cfg}");
    assert!(py312.exists());
    assert_ok(&venv_python(
        app.path(),
        "import warpserver, sys; assert sys.version_info[:2] == (3, 12)",
    ));

    // Asking for another interpreter remakes the venv with it.
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.args(["build", "--python", "python3"]));
    assert_ok(&out);
    assert!(!record(app.path())["python"]["version"]
        .as_str()
        .unwrap()
        .starts_with("3.12."));
}

#[test]
fn flask_app_with_uv_and_a_failed_update_keeps_the_previous_venv() {
    let app = TempApp::new();
    app.write("requirements.txt", "flask\n");
    app.write(
        "wsgi.py",
        "from flask import Flask\napplication = Flask(__name__)\n\n@application.route('/')\ndef index():\n    return 'hi'\n",
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    // Behind a TLS-intercepting proxy uv trusts its CA only through
    // SSL_CERT_FILE: warp passes PIP_CERT on when SSL_CERT_FILE is unset.
    // No cache, so that uv really talks to the index.
    if std::env::var_os("PIP_CERT").is_some() {
        cmd.env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env("UV_NO_CACHE", "1");
    }
    let out = run(cmd.arg("build"));
    assert_ok(&out);
    assert!(stderr(&out).contains("==> Installing dependencies from requirements.txt ("));
    let rec = record(app.path());
    assert_eq!(rec["layout"], "requirements.txt");
    assert_ok(&venv_python(app.path(), "import flask"));

    // A requirement that cannot be installed: uv's own error is shown, the
    // previous venv and record stay as they were.
    app.write(
        "requirements.txt",
        "flask\nwarp-test-no-such-package-xyz==1.0\n",
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_fails_with(
        &out,
        "installing dependencies from requirements.txt failed (uv exit code",
    );
    assert!(
        stderr(&out).contains("warp-test-no-such-package-xyz"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("previous build"), "{}", stderr(&out));
    assert_ok(&venv_python(app.path(), "import flask, warpserver"));
    assert_eq!(record(app.path()), rec);
    assert!(!app
        .path()
        .join(".venv")
        .with_file_name("..venv.warp-previous")
        .exists());
    let leftovers: Vec<_> = std::fs::read_dir(app.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("warp-previous"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn failing_requirements_with_pip_show_pips_error_and_leave_nothing_behind() {
    let app = TempApp::new();
    app.write("requirements.txt", "warp-test-no-such-package-xyz==1.0\n");
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(
        &out,
        "installing dependencies from requirements.txt failed (pip exit code 1)",
    );
    assert!(
        stderr(&out).contains("No matching distribution found for warp-test-no-such-package-xyz"),
        "{}",
        stderr(&out)
    );
    assert!(
        !app.path().join(".venv").exists(),
        "a half-made venv was left behind"
    );
}

#[test]
fn django_project_gets_collectstatic_with_an_injected_static_root() {
    let Some(app) = django_project() else {
        return;
    };
    let settings = std::fs::read_to_string(app.path().join("mysite/settings.py")).unwrap();
    assert!(
        !settings.contains("STATIC_ROOT"),
        "startproject now sets STATIC_ROOT"
    );
    app.write("requirements.txt", "django\n");
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_ok(&out);
    assert!(stderr(&out).contains("==> Collecting Django static files ("));
    let rec = record(app.path());
    let root = app.path().canonicalize().unwrap();
    let static_root = root.join(".venv/tmp/django/static");
    assert_eq!(rec["django"]["settings_module"], "mysite.settings");
    assert_eq!(rec["django"]["static_url"], "/static/");
    assert_eq!(rec["django"]["static_root"], static_root.to_str().unwrap());
    assert_eq!(
        rec["entry"],
        serde_json::json!({"kind": "wsgi", "target": "mysite.wsgi:application"})
    );
    assert!(static_root.join("admin/css/base.css").is_file());

    // DISABLE_COLLECTSTATIC: the settings are still read, nothing is collected.
    std::fs::remove_dir_all(&static_root).unwrap();
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build").env("DISABLE_COLLECTSTATIC", "1"));
    assert_ok(&out);
    assert!(stderr(&out).contains("DISABLE_COLLECTSTATIC is set"));
    assert!(!static_root.exists());
    assert_eq!(record(app.path())["django"]["static_url"], "/static/");
}

/// A code-only rebuild reuses the collected static files; a changed or added
/// static file, a settings change, a variable the settings read, and files
/// removed from STATIC_ROOT each make warp collect again, with the right files.
#[test]
fn collected_static_files_are_reused_until_their_inputs_change() {
    let Some(app) = support::django_project_with_assets(
        "import os\nSTATICFILES_DIRS = [BASE_DIR / 'assets']\n\
         STATIC_URL = os.environ.get('WARP_TEST_STATIC_URL', 'static/')\n",
    ) else {
        return;
    };
    let static_root = app
        .path()
        .canonicalize()
        .unwrap()
        .join(".venv/tmp/django/static");
    let build = |env: &[(&str, &str)]| -> String {
        let mut cmd = warp_uv(app.path()).unwrap();
        cmd.arg("build").env_remove("WARP_TEST_STATIC_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        assert_ok(&out);
        stderr(&out)
    };
    const COLLECTED: &str = "==> Collecting Django static files (";
    const REUSED: &str = "==> Static files unchanged since they were last collected: ";
    let Some(_) = tools_dir() else { return };
    let css = || std::fs::read_to_string(static_root.join("site.css")).unwrap();

    let log = build(&[]);
    assert!(log.contains(COLLECTED) && !log.contains(REUSED), "{log}");
    assert_eq!(css(), "body { color: red }\n");
    assert!(static_root.join("admin/css/base.css").is_file());

    // Code only: reused, and the record still has what the settings said.
    app.write(
        "mysite/urls.py",
        "from django.urls import path\nurlpatterns = []\n",
    );
    let log = build(&[]);
    assert!(log.contains(REUSED) && !log.contains(COLLECTED), "{log}");
    assert!(
        log.contains(&format!("reused in {}", static_root.display())),
        "{log}"
    );
    assert_eq!(record(app.path())["django"]["static_url"], "/static/");
    assert_eq!(css(), "body { color: red }\n");

    // A changed static file, then an added one. (collectstatic itself skips
    // a file whose copy is not older, to the second, than its source.)
    std::thread::sleep(Duration::from_millis(1100));
    app.write("assets/site.css", "body { color: blue }\n");
    let log = build(&[]);
    assert!(log.contains(COLLECTED), "{log}");
    assert_eq!(css(), "body { color: blue }\n");
    app.write("assets/extra/new.js", "console.log(1)\n");
    let log = build(&[]);
    assert!(log.contains(COLLECTED), "{log}");
    assert!(static_root.join("extra/new.js").is_file());
    assert!(build(&[]).contains(REUSED));

    // A variable the settings read, then the settings themselves.
    let log = build(&[("WARP_TEST_STATIC_URL", "/assets/")]);
    assert!(log.contains(COLLECTED), "{log}");
    assert_eq!(record(app.path())["django"]["static_url"], "/assets/");
    assert!(build(&[("WARP_TEST_STATIC_URL", "/assets/")]).contains(REUSED));
    let log = build(&[("UNRELATED_TO_SETTINGS", "1")]);
    assert!(log.contains(COLLECTED), "back to the default URL: {log}");
    assert_eq!(record(app.path())["django"]["static_url"], "/static/");
    support::append_to_settings(&app, "STATICFILES_DIRS = []\n");
    let log = build(&[]);
    assert!(log.contains(COLLECTED), "{log}");

    // Files removed from STATIC_ROOT since: collected again, not trusted.
    assert!(build(&[]).contains(REUSED));
    std::fs::remove_file(static_root.join("admin/css/base.css")).unwrap();
    let log = build(&[]);
    assert!(log.contains(COLLECTED), "{log}");
    assert!(static_root.join("admin/css/base.css").is_file());

    // The escape hatch.
    let log = build(&[("WARP_COLLECTSTATIC", "always")]);
    assert!(log.contains(COLLECTED), "{log}");
}

#[test]
fn setup_py_app_with_pip_and_upgrade_pip_to_latest() {
    let app = TempApp::new();
    app.write(
        "setup.py",
        "from setuptools import setup\nsetup(name='warp-test-setuppy', version='1.0', py_modules=['setuppy_app'])\n",
    );
    app.write("setuppy_app.py", WSGI_APP);
    app.write(".s2i/environment", "APP_MODULE=setuppy_app:application\n");
    let out = run(warp_pip(app.path())
        .arg("build")
        .env("UPGRADE_PIP_TO_LATEST", "1"));
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("==> Upgrading pip to the latest version ("),
        "{err}"
    );
    assert!(
        err.contains("==> Installing dependencies from setup.py ("),
        "{err}"
    );
    let rec = record(app.path());
    assert_eq!(rec["layout"], "setup.py");
    assert_eq!(rec["entry"]["target"], "setuppy_app:application");
    // Installed into site-packages, importable without the source on sys.path.
    assert_ok(&venv_python(
        app.path(),
        "import setuppy_app, importlib.metadata as m; m.version('warp-test-setuppy')",
    ));
}

#[test]
fn pyproject_app_with_uv_and_an_app_sh_entry() {
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n\n[project]\nname = 'warp-test-pyproject'\nversion = '1.0'\ndependencies = []\n\n[tool.setuptools]\npy-modules = ['pyproject_app']\n",
    );
    app.write("pyproject_app.py", "VALUE = 42\n");
    app.write_exec("app.sh", "#!/bin/sh\nexec python -m http.server\n");
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_ok(&out);
    let rec = record(app.path());
    assert_eq!(rec["layout"], "pyproject.toml");
    assert_eq!(rec["entry"]["kind"], "script");
    assert!(rec["entry"]["path"].as_str().unwrap().ends_with("/app.sh"));
    assert_ok(&venv_python(
        app.path(),
        "import pyproject_app; assert pyproject_app.VALUE == 42",
    ));

    // A source change is an input change for a project layout: reinstalled.
    app.write("pyproject_app.py", "VALUE = 43\n");
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_ok(&out);
    assert!(!stderr(&out).contains("install skipped"));
    assert_ok(&venv_python(
        app.path(),
        "import pyproject_app; assert pyproject_app.VALUE == 43",
    ));
}

#[test]
fn wheelhouse_serves_an_offline_build_from_listed_requirements() {
    let app = TempApp::new();
    app.write("reqs/base.txt", "six\n");
    app.write("app.py", "import six\nprint(six.PY3)\n");
    // `warp wheels` fills .warp/wheelhouse with pip (the interpreter's own).
    let out = run(warp_pip(app.path())
        .args(["wheels", "--python", "python3"])
        .env("WARP_PIP_REQUIREMENTS", "reqs/base.txt"));
    assert_ok(&out);
    let wheels: Vec<String> = std::fs::read_dir(app.path().join(".warp/wheelhouse"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        wheels
            .iter()
            .any(|w| w.starts_with("six-") && w.ends_with(".whl")),
        "{wheels:?}"
    );

    // No index at all (and an index URL that cannot answer): the wheelhouse alone.
    let out = run(warp_pip(app.path())
        .arg("build")
        .env("WARP_PIP_REQUIREMENTS", "reqs/base.txt")
        .env("WARP_PIP_NO_INDEX", "1")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env_remove("PIP_FIND_LINKS"));
    assert_ok(&out);
    let rec = record(app.path());
    assert_eq!(rec["entry"]["kind"], "python-file");
    assert_ok(&venv_python(app.path(), "import six"));
}

/// A Pipfile.lock pinning six 1.17.0 by hash (wheel and sdist).
const PIPFILE_LOCK: &str = r#"{
    "_meta": {
        "hash": {"sha256": "0000000000000000000000000000000000000000000000000000000000000000"},
        "pipfile-spec": 6,
        "requires": {},
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true}]
    },
    "default": {
        "six": {
            "hashes": [
                "sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
                "sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81"
            ],
            "version": "==1.17.0"
        }
    },
    "develop": {}
}
"#;

#[test]
fn pipfile_lock_is_installed_with_micropipenv_or_pipenv() {
    let app = TempApp::new();
    app.write("Pipfile", "[packages]\nsix = \"*\"\n");
    app.write("Pipfile.lock", PIPFILE_LOCK);
    app.write("wsgi.py", WSGI_APP);
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build").env("ENABLE_MICROPIPENV", "1"));
    assert_ok(&out);
    assert!(stderr(&out).contains("==> Installing dependencies from Pipfile ("));
    assert_eq!(record(app.path())["layout"], "Pipfile");
    assert_ok(&venv_python(
        app.path(),
        "import six; assert six.__version__ == '1.17.0', six.__version__",
    ));
    assert!(app.path().join(".venv/bin/micropipenv").exists());

    // ENABLE_PIPENV: the same lock through pipenv (a changed input: a fresh venv).
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build").env("ENABLE_PIPENV", "1"));
    assert_ok(&out);
    assert!(app.path().join(".venv/bin/pipenv").exists());
    assert!(!app.path().join(".venv/bin/micropipenv").exists());
    assert_ok(&venv_python(
        app.path(),
        "import six; assert six.__version__ == '1.17.0'",
    ));
}

#[test]
fn concurrent_builds_of_one_app_root_take_turns() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let (Some(mut first), Some(mut second)) = (warp_uv(app.path()), warp_uv(app.path())) else {
        return;
    };
    let first = first
        .arg("build")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let second = second
        .arg("build")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_ok(&a);
    assert_ok(&b);
    let both = stderr(&a) + &stderr(&b);
    assert_eq!(both.matches("==> Creating virtualenv").count(), 1, "{both}");
    assert_eq!(both.matches("install skipped").count(), 1, "{both}");
    assert_ok(&venv_python(app.path(), "import warpserver"));
}

#[test]
fn poetry_project_is_installed_with_pip() {
    // A poetry project (poetry-core build backend) is installed by `pip install .`.
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[tool.poetry]\nname = \"poetry-app\"\nversion = \"0.1.0\"\ndescription = \"\"\nauthors = [\"warp <warp@example.invalid>\"]\n\n[tool.poetry.dependencies]\npython = \">=3.9\"\n\n[build-system]\nrequires = [\"poetry-core>=1.0.0\"]\nbuild-backend = \"poetry.core.masonry.api\"\n",
    );
    app.write("poetry_app.py", "VALUE = 'poetry'\n");
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp_pip(app.path()).arg("build"));
    assert_ok(&out);
    assert_eq!(record(app.path())["layout"], "pyproject.toml");
    assert_ok(&venv_python(
        app.path(),
        "import poetry_app; assert poetry_app.VALUE == 'poetry'",
    ));
}

/// A PEP 503 "simple" index on 127.0.0.1 (python's http.server listing a
/// directory) holding one wheel that exists nowhere else; stopped on drop.
struct LocalIndex {
    child: std::process::Child,
    _root: tempfile::TempDir,
    url: String,
}

impl LocalIndex {
    fn start(project: &str, module: &str) -> LocalIndex {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("simple").join(project);
        std::fs::create_dir_all(&dir).unwrap();
        // A pure-Python wheel written by hand: zipfile and a correct RECORD.
        let script = r#"
import base64, hashlib, sys, zipfile
out, project, module = sys.argv[1:]
dist = module + "-1.0"
files = {
    module + ".py": "VALUE = 'from the extra index'\n",
    dist + ".dist-info/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % project,
    dist + ".dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: warp-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile("%s/%s-py3-none-any.whl" % (out, dist), "w") as whl:
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
        whl.writestr(name, data)
    record.append(dist + ".dist-info/RECORD,,")
    whl.writestr(dist + ".dist-info/RECORD", "\n".join(record) + "\n")
"#;
        assert_ok(&run(Command::new("python3")
            .args(["-c", script])
            .arg(&dir)
            .args([project, module])));
        let port = support::free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/simple/");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the index did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        LocalIndex {
            child,
            _root: root,
            url,
        }
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pip_extra_index_url_reaches_pip_and_uv() {
    // The package exists only on the extra index: the install succeeds only
    // when PIP_EXTRA_INDEX_URL reaches the installer (pip reads it itself; warp
    // hands it to uv as --extra-index-url).
    let index = LocalIndex::start("warp-extra-index-probe", "warp_extra_index_probe");
    for installer in ["pip", "uv"] {
        let app = TempApp::new();
        app.write("requirements.txt", "warp-extra-index-probe==1.0\n");
        app.write("wsgi.py", WSGI_APP);
        let mut cmd = if installer == "uv" {
            match warp_uv(app.path()) {
                Some(cmd) => cmd,
                None => return,
            }
        } else {
            warp_pip(app.path())
        };
        let out = run(cmd
            .arg("build")
            .env("PIP_EXTRA_INDEX_URL", &index.url)
            .env_remove("PIP_FIND_LINKS"));
        assert_ok(&out);
        assert_ok(&venv_python(
            app.path(),
            "import warp_extra_index_probe as m; assert m.VALUE == 'from the extra index'",
        ));
    }
}

/// The project's metadata and the settings files are install inputs too, for
/// `warp build` as for the image's dependencies layer: a requirements file
/// that installs the project itself (`.`) reinstalls when setup.py changes,
/// and so does an edit of `.warp/environment` (it can set any pip or uv
/// variable); an unchanged source still skips the install.
#[test]
fn project_metadata_and_settings_files_are_install_inputs() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app.write("requirements.txt", ".\n");
    let setup = |version: u32| {
        format!(
            "from setuptools import setup\n\
             setup(name='reqs-app', version='{version}', py_modules=['reqs_app'])\n"
        )
    };
    app.write("setup.py", &setup(1));
    app.write("reqs_app.py", "VALUE = 1\n");
    let build = |app: &TempApp| {
        let mut cmd = warp_uv(app.path())?;
        let out = run(cmd.arg("build"));
        assert_ok(&out);
        Some(stderr(&out))
    };
    let Some(_) = build(&app) else {
        return;
    };
    let again = build(&app).unwrap();
    assert!(again.contains("install skipped"), "{again}");

    app.write("setup.py", &setup(2));
    let changed = build(&app).unwrap();
    assert!(!changed.contains("install skipped"), "{changed}");
    assert_ok(&venv_python(
        app.path(),
        "import importlib.metadata as m; assert m.version('reqs-app') == '2'",
    ));

    app.write(".warp/environment", "UV_PRERELEASE=allow\n");
    let settings = build(&app).unwrap();
    assert!(!settings.contains("install skipped"), "{settings}");
    let again = build(&app).unwrap();
    assert!(again.contains("install skipped"), "{again}");
}
