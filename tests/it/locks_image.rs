//! `warp image` of a uv-locked app: the dependencies layer is keyed on the
//! build plan's hash (the lock, groups, extras, installer, interpreter), so
//! two builds from the same lock give the same digest, a code-only change
//! reuses the dependencies layer, and a lock change rebuilds it (with the
//! newly locked version inside) while the base and runtime layers stay.
use crate::image_support;
use crate::support;

use image_support::*;
use serde_json::Value;
use std::process::Command;
use support::*;

fn layers(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn same_lock_same_digest_and_a_lock_change_rebuilds_only_the_dependencies() {
    let Some(base) = base_archive("docker-archive") else {
        return;
    };
    let Some(uv) = tool("uv") else { return };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[project]\nname = \"lockedimage\"\nversion = \"0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"itsdangerous>=2.0\"]\n\n[dependency-groups]\ndev = [\"iniconfig\"]\n",
    );
    app.write("wsgi.py", "import itsdangerous\n\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'one']\n");
    let lock = |pin: &str| {
        let out = run(Command::new(&uv)
            .args(["lock", "-q", "-P", pin])
            .env("UV_PYTHON_DOWNLOADS", "never")
            .current_dir(app.path()));
        assert_ok(&out);
    };
    lock("itsdangerous==2.1.2");
    let builds = LayoutBuilds::new(format!("docker-archive:{}", base.display()));
    let build = |dir: &str| {
        let (out, layout) = builds.build(app.path(), dir);
        let manifest = read_layout(&layout).0;
        let deps = layers(&manifest).iter().rev().nth(1).unwrap().clone();
        let versions: Vec<String> = layer_entries(&layout, &deps)
            .into_iter()
            .filter(|e| e.path.contains(".dist-info/"))
            .map(|e| e.path.split('/').rev().nth(1).unwrap().to_string())
            .collect();
        (digest_of(&out), layers(&manifest), stderr(&out), versions)
    };
    let (first, layers_one, _, versions) = build("one");
    assert!(
        versions.iter().any(|v| v == "itsdangerous-2.1.2.dist-info"),
        "{versions:?}"
    );
    assert!(
        !versions.iter().any(|v| v.starts_with("iniconfig")),
        "{versions:?}"
    );
    let (second, _, log, _) = build("two");
    assert_eq!(first, second, "the same lock gave another image");
    assert!(
        log.contains("Dependencies layer (cached: install skipped)"),
        "{log}"
    );

    // Code only: the dependencies layer is reused.
    app.write("wsgi.py", "import itsdangerous\n\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'two']\n");
    let (_, layers_three, log, _) = build("three");
    assert!(
        log.contains("Dependencies layer (cached: install skipped)"),
        "{log}"
    );
    let deps = layers_one.len() - 2;
    assert_eq!(layers_one[..=deps], layers_three[..=deps]);

    // Another locked version: a new dependencies layer holding it; the base
    // and runtime layers below it unchanged.
    lock("itsdangerous==2.1.1");
    let (fourth, layers_four, log, versions) = build("four");
    assert_ne!(fourth, first);
    assert!(!log.contains("install skipped"), "{log}");
    assert!(
        versions.iter().any(|v| v == "itsdangerous-2.1.1.dist-info"),
        "{versions:?}"
    );
    assert_eq!(layers_one[..deps], layers_four[..deps]);
    assert_ne!(layers_one[deps], layers_four[deps]);
}
