//! `warp build` on bad input: one line saying what is wrong, a hint, a
//! non-zero exit, and nothing half-made left behind.
use crate::support;

use crate::build_support;

use build_support::*;
use support::*;

/// The app root must not exist after a failed first build.
#[track_caller]
fn assert_no_venv(app: &TempApp) {
    assert!(
        !app.path().join(".venv").exists(),
        "a half-made venv was left behind"
    );
}

#[test]
fn a_directory_without_an_app_lists_what_was_looked_for() {
    let app = TempApp::new();
    app.write("README.txt", "not an app\n");
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(&out, "warp: error: no app found in");
    let err = stderr(&out);
    for looked_for in [
        "requirements.txt",
        "Pipfile",
        "pyproject.toml",
        "setup.py",
        "app.sh",
        "app.py",
        "manage.py",
        "wsgi.py",
    ] {
        assert!(err.contains(looked_for), "{looked_for} missing from: {err}");
    }
    assert!(err.contains("warp: hint:"));
    assert_no_venv(&app);
}

#[test]
fn a_source_directory_that_does_not_exist() {
    let app = TempApp::new();
    let out = run(warp_pip(app.path()).args(["build", "--src", "no-such-dir"]));
    assert_fails_with(&out, "the source directory no-such-dir does not exist");
    assert!(stderr(&out).contains("warp: hint: pass --src DIR"));
}

#[test]
fn a_python_that_does_not_exist() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    for python in ["python9.99", "/no/such/python3", "9.99"] {
        let out = run(warp_pip(app.path()).args(["build", "--python", python]));
        assert_fails_with(
            &out,
            &format!("the Python interpreter {python:?} was not found"),
        );
        assert!(stderr(&out).contains("hint: pass --python"));
        assert_no_venv(&app);
    }
    // WARP_PYTHON is checked the same way.
    let out = run(warp_pip(app.path())
        .arg("build")
        .env("WARP_PYTHON", "python9.99"));
    assert_fails_with(&out, "was not found");
}

#[test]
fn a_python_too_old_for_warp() {
    let Some(old) = std::fs::read_dir(std::env::var("HOME").unwrap() + "/.pyenv/versions")
        .ok()
        .and_then(|d| {
            d.flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with("3.8."))
        })
        .map(|e| e.path().join("bin/python3"))
    else {
        eprintln!("SKIPPED: no Python 3.8 under ~/.pyenv/versions");
        return;
    };
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp_pip(app.path()).args(["build", "--python"]).arg(&old));
    assert_fails_with(&out, "warp needs 3.9 or newer");
    assert_no_venv(&app);
}

#[test]
fn a_bad_config_yaml_names_file_line_and_column() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app.write(
        ".warp/config.yaml",
        "python: python3\ninstaller: uv\nrequirments: [a.txt]\n",
    );
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(&out, "/.warp/config.yaml:3:1: unknown field `requirments`");
    assert_no_venv(&app);

    app.write(".warp/config.yaml", "python: python3\ninstaller: conda\n");
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(
        &out,
        "/.warp/config.yaml:2:12: installer: unknown variant `conda`",
    );

    app.write(".warp/config.yaml", "environment:\n  A: [1\n");
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(&out, "/.warp/config.yaml:");
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.contains("config.yaml:2:") || l.contains("config.yaml:3:")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_hook_shows_its_name_exit_code_and_last_lines() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app.write_exec(
        ".warp/action_hooks/pre-build",
        "#!/bin/sh\nfor i in $(seq 1 30); do echo \"hook line $i\"; done\necho 'database unreachable' >&2\nexit 3\n",
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_fails_with(&out, "the pre-build hook (");
    let err = stderr(&out);
    assert!(err.contains("failed with exit code 3"), "{err}");
    let tail = err
        .split("last lines of the pre-build hook's output:")
        .nth(1)
        .expect(&err);
    assert!(
        tail.contains("hook line 30") && tail.contains("database unreachable"),
        "{tail}"
    );
    assert!(
        tail.contains("hook line 12") && !tail.contains("hook line 11\n"),
        "not the last 20 lines: {tail}"
    );
    assert_no_venv(&app);
}

#[test]
fn a_hook_that_is_not_executable_says_chmod() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app.write(".warp/action_hooks/build", "#!/bin/sh\necho hi\n");
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_fails_with(&out, "/.warp/action_hooks/build is not executable");
    assert!(stderr(&out).contains("chmod +x"), "{}", stderr(&out));
    assert_no_venv(&app);

    // `warp setup` etc. say the same about their hook.
    app.write(".warp/action_hooks/setup", "#!/bin/sh\necho hi\n");
    let out = run(warp(app.path()).arg("setup"));
    assert_fails_with(&out, "/.warp/action_hooks/setup is not executable");
}

#[test]
fn pipenv_and_micropipenv_both_enabled_is_an_error() {
    let app = TempApp::new();
    app.write("Pipfile", "[packages]\n");
    app.write("Pipfile.lock", "{}\n");
    app.write("wsgi.py", WSGI_APP);
    let out = run(warp_pip(app.path())
        .arg("build")
        .env("ENABLE_PIPENV", "1")
        .env("ENABLE_MICROPIPENV", "1"));
    assert_fails_with(&out, "ENABLE_PIPENV and ENABLE_MICROPIPENV are both set");
    assert_no_venv(&app);
}

#[test]
fn bad_s2i_variables_and_environment_files() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    let cases: [(&str, &str, &str); 5] = [
        (
            "APP_MODULE",
            "not a module!",
            "APP_MODULE=not a module! is not a module:callable",
        ),
        (
            "APP_HOME",
            "../elsewhere",
            "APP_HOME=../elsewhere is not a path inside the app's source",
        ),
        (
            "APP_FILE",
            "missing.py",
            "APP_FILE=missing.py does not exist",
        ),
        ("APP_SCRIPT", "missing.sh", "APP_SCRIPT"),
        (
            "WARP_PIP_REQUIREMENTS",
            "missing.txt",
            "the requirements file missing.txt does not exist",
        ),
    ];
    for (var, value, message) in cases {
        let Some(mut cmd) = warp_uv(app.path()) else {
            return;
        };
        let out = run(cmd.arg("build").env(var, value));
        assert_fails_with(&out, message);
        assert_no_venv(&app);
    }
    app.write(".s2i/environment", "GOOD=1\nthis line is wrong\n");
    let out = run(warp_pip(app.path()).arg("build"));
    assert_fails_with(&out, "/.s2i/environment:2: the line has no `=`");
}

#[test]
fn an_index_that_cannot_be_reached_is_used_and_named() {
    // PIP_INDEX_URL reaches uv as --index-url (pip reads it itself).
    let app = TempApp::new();
    app.write("requirements.txt", "six\n");
    app.write("wsgi.py", WSGI_APP);
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd
        .arg("build")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("UV_NO_CACHE", "1")
        .env("UV_HTTP_RETRIES", "0")
        .env_remove("PIP_FIND_LINKS"));
    assert_fails_with(
        &out,
        "installing dependencies from requirements.txt failed (uv exit code",
    );
    assert!(stderr(&out).contains("127.0.0.1:9"), "{}", stderr(&out));
    assert_no_venv(&app);
}
