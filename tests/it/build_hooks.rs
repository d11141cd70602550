//! Hooks (every example in hooks-examples/), warpdrive's `.warpdrive/`
//! layout, and the s2i-python-container variables.
use crate::support;

use crate::build_support;

use build_support::*;
use support::*;

fn hooks_log(app: &TempApp) -> String {
    std::fs::read_to_string(app.path().join(".venv/tmp/hooks.log")).unwrap_or_default()
}

#[test]
fn every_example_hook_runs_in_its_phase() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    install_hooks(
        &app,
        ".warp/action_hooks",
        &[
            "pre-build",
            "build-env",
            "build",
            "deploy-env",
            "setup",
            "migrate",
            "verify",
            "alive",
            "ready",
        ],
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd.arg("build"));
    assert_ok(&out);
    let err = stderr(&out);
    for step in [
        "==> Running the pre-build hook (",
        "==> Sourcing the build-env hook (",
        "==> Running the build hook (",
    ] {
        assert!(err.contains(step), "{step} missing: {err}");
    }
    // The hooks' output is shown; build-env's variable reached the build hook.
    assert!(
        err.contains("build: EXAMPLE_BUILD_SETTING=from build-env"),
        "{err}"
    );
    assert_eq!(
        hooks_log(&app),
        "pre-build\nbuild-env\nbuild from build-env\n"
    );

    // The probe and task hooks, by command. `ready` fails until `deploy` ran.
    for name in ["setup", "migrate", "verify", "alive"] {
        assert_ok(&run(warp(app.path()).arg(name)));
    }
    let out = run(warp(app.path()).arg("ready"));
    assert_fails_with(&out, "the ready hook (");
    assert!(stderr(&out).contains("failed with exit code 1"));
    std::fs::write(
        app.path().join(".venv/tmp/hooks.log"),
        hooks_log(&app) + "deploy\n",
    )
    .unwrap();
    assert_ok(&run(warp(app.path()).arg("ready")));
    assert!(
        hooks_log(&app).contains("setup\nmigrate\nverify\n"),
        "{}",
        hooks_log(&app)
    );

    // deploy-env reaches the app environment (warp env, warp exec, hooks).
    let out = run(warp(app.path()).arg("env"));
    assert_ok(&out);
    assert!(
        stdout(&out).contains("export EXAMPLE_DEPLOY_SETTING='from deploy-env'"),
        "{}",
        stdout(&out)
    );
    let out = run(warp(app.path()).args([
        "exec",
        "sh",
        "-c",
        "echo $EXAMPLE_DEPLOY_SETTING:$WARP_PHASE",
    ]));
    assert_eq!(stdout(&out).trim(), "from deploy-env:");
}

#[test]
fn hook_commands_exit_0_without_a_hook_and_hooks_see_warp_variables() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    for name in ["setup", "migrate", "verify", "alive", "ready"] {
        let out = run(warp(app.path()).arg(name));
        assert_ok(&out);
    }
    app.write_exec(
        ".warp/action_hooks/verify",
        "#!/bin/sh\necho \"$WARP_PHASE|$WARP_APP_ROOT|$WARP_SRC_ROOT|$(command -v python)|$PWD\"\n",
    );
    let out = run(warp(app.path()).arg("verify"));
    assert_ok(&out);
    let root = app.path().canonicalize().unwrap();
    let want = format!(
        "verify|{venv}|{src}|{venv}/bin/python|{src}",
        venv = root.join(".venv").display(),
        src = root.display()
    );
    // The venv need not exist for `command -v` to find nothing else first:
    // make it exist so the check is real.
    if !root.join(".venv/bin/python").exists() {
        let Some(mut cmd) = warp_uv(app.path()) else {
            return;
        };
        assert_ok(&run(cmd.arg("build")));
    }
    let out = run(warp(app.path()).arg("verify"));
    assert!(
        stderr(&out).contains(&want),
        "{want} not in {}",
        stderr(&out)
    );
}

#[test]
fn warpdrive_layout_with_its_environment_and_hooks() {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app.write(
        ".warpdrive/environment",
        "GREETING='hello from warpdrive'\n",
    );
    app.write_exec(
        ".warpdrive/action_hooks/build",
        "#!/bin/sh\necho \"$GREETING\" > \"$WARP_APP_ROOT/tmp/greeting\"\n",
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    assert_ok(&run(cmd.arg("build")));
    let greeting = std::fs::read_to_string(app.path().join(".venv/tmp/greeting")).unwrap();
    assert_eq!(greeting, "hello from warpdrive\n");
    // .warp/ wins over .warpdrive/ for the same hook.
    app.write_exec(
        ".warp/action_hooks/build",
        "#!/bin/sh\necho warp > \"$WARP_APP_ROOT/tmp/greeting\"\n",
    );
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    assert_ok(&run(cmd.arg("build")));
    assert_eq!(
        std::fs::read_to_string(app.path().join(".venv/tmp/greeting")).unwrap(),
        "warp\n"
    );
}

#[test]
fn s2i_variables_choose_the_app() {
    let app = TempApp::new();
    app.write("site/wsgi.py", WSGI_APP);
    app.write("site/other.py", WSGI_APP);
    app.write("site/run.py", "print('run')\n");
    app.write_exec("site/start.sh", "#!/bin/sh\nexec python run.py\n");
    // Quotes around a value are removed (one pair); files are data, not shell.
    app.write(
        ".s2i/environment",
        "APP_HOME=\"site\"\nMESSAGE='a b $HOME'\n",
    );
    let root = app.path().canonicalize().unwrap();
    let build = |vars: &[(&str, &str)]| {
        let mut cmd = warp_uv(app.path())?;
        cmd.arg("build");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        assert_ok(&run(&mut cmd));
        Some(record(app.path())["entry"].clone())
    };
    let Some(entry) = build(&[]) else { return };
    assert_eq!(entry["target"], root.join("site/wsgi.py").to_str().unwrap());
    let entry = build(&[("APP_MODULE", "other:application")]).unwrap();
    assert_eq!(
        entry,
        serde_json::json!({"kind": "wsgi", "target": "other:application"})
    );
    let entry = build(&[("APP_FILE", "run.py")]).unwrap();
    assert_eq!(
        entry,
        serde_json::json!({"kind": "python-file", "path": root.join("site/run.py")})
    );
    let entry = build(&[("APP_SCRIPT", "start.sh"), ("APP_FILE", "run.py")]).unwrap();
    assert_eq!(
        entry,
        serde_json::json!({"kind": "script", "path": root.join("site/start.sh")})
    );

    let out = run(warp(app.path()).arg("env"));
    assert_ok(&out);
    let env = stdout(&out);
    assert!(env.contains("export MESSAGE='a b $HOME'\n"), "{env}");
    assert!(
        env.contains(&format!(
            "export PYTHONPATH='{}",
            root.join("site").display()
        )),
        "{env}"
    );
    // The exports survive a real shell's eval.
    let out = run(std::process::Command::new("sh")
        .arg("-c")
        .arg("eval \"$1\"; printf '%s|%s' \"$MESSAGE\" \"$VIRTUAL_ENV\"")
        .arg("sh")
        .arg(&env));
    assert_eq!(
        stdout(&out),
        format!("a b $HOME|{}", root.join(".venv").display())
    );
}

#[test]
fn disabled_setup_py_and_pyproject_processing() {
    let app = TempApp::new();
    app.write("setup.py", "raise SystemExit('setup.py must not run')\n");
    app.write("pyproject.toml", "[project]\nname = 'x'\n");
    app.write("wsgi.py", WSGI_APP);
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd
        .arg("build")
        .env("DISABLE_SETUP_PY_PROCESSING", "1")
        .env("DISABLE_PYPROJECT_TOML_PROCESSING", "true"));
    assert_ok(&out);
    assert_eq!(record(app.path())["layout"], "none");
    // Only the pyproject switch: setup.py is next, and it fails loudly.
    let Some(mut cmd) = warp_uv(app.path()) else {
        return;
    };
    let out = run(cmd
        .arg("build")
        .env("DISABLE_PYPROJECT_TOML_PROCESSING", "1"));
    assert_fails_with(&out, "installing the project (setup.py) failed");
    assert!(
        stderr(&out).contains("setup.py must not run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        record(app.path())["layout"],
        "none",
        "the previous build was not kept"
    );
}
