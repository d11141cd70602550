//! `warp image` of a Django app: collected static files served from the
//! image, compiled bytecode where the arbitrary user can't write, and rebuilds
//! that reuse the collected static files with the same digest.
use crate::image_support;
use crate::support;

use image_support::*;
use std::process::Command;
use support::{assert_ok, run, stderr, stdout};

#[test]
fn django_image_serves_its_collected_static_files() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let Some(app) = support::django_project() else {
        return;
    };
    app.write("requirements.txt", "django\n");
    let name = format!("localhost/warp-test/django-{}:1", std::process::id());
    // No --output: loaded into podman.
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &format!("oci-archive:{}", base.display()),
    ]));
    assert_ok(&out);
    assert!(
        stderr(&out).contains(&format!("loaded {name} into podman")),
        "{}",
        stderr(&out)
    );
    let (container, port) = Container::serve(&name, "100001:0");
    let answer = curl_until_up(port, "/static/admin/css/base.css", 40);
    let logs = container.logs();
    let (status, body) = answer.unwrap_or_else(|| panic!("no HTTP answer:\n{logs}"));
    assert_eq!(status, 200, "{logs}");
    assert!(body.contains("DJANGO Admin styles"), "{body}");
    let (status, body) = curl_until_up(port, "/admin/login/", 10).unwrap();
    assert_eq!(status, 200, "{body}");
    drop(container);

    // The venv is what `python -m venv` + `pip install` make (pip, and on
    // this Python 3.11 base setuptools, installed and working), and every
    // installed source has bytecode the interpreter accepts in the image,
    // where the layer writer has reset every mtime: hash-based .pyc matching
    // their source.
    let out = run(Command::new("timeout").args(["120", "podman"]).args([
        "run",
        "--rm",
        "-u",
        "100001:0",
        "--network",
        "none",
        &name,
        "sh",
        "-c",
        "pip --version && python -c 'import setuptools' && python -c \"$0\"",
        BYTECODE_CHECK,
    ]));
    let _ = run(podman().args(["rmi", "-f", &name]));
    assert_ok(&out);
    let said = stdout(&out);
    assert!(said.contains("from /opt/app-root/lib/python3"), "{said}");
    let counts: Vec<usize> = said
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        counts.len() == 2 && counts[0] > 1000 && counts[1] == 0,
        "sources and invalid or missing .pyc: {said}"
    );
}

/// Run in an image: "SOURCES BAD", the number of `.py` files in the venv's
/// site-packages (warp's own package, written after the install, left out)
/// and how many of them lack a valid hash-based .pyc.
const BYTECODE_CHECK: &str = r#"
import importlib.util, os, sysconfig
top = sysconfig.get_paths()["purelib"]
sources = bad = 0
for d, dirs, files in os.walk(top):
    dirs[:] = [x for x in dirs if x not in ("__pycache__", "warpserver")]
    for f in files:
        if f.endswith(".py"):
            sources += 1
            path = os.path.join(d, f)
            try:
                head = open(importlib.util.cache_from_source(path), "rb").read(16)
            except OSError:
                bad += 1
                continue
            source = open(path, "rb").read()
            valid = (head[:4] == importlib.util.MAGIC_NUMBER
                     and int.from_bytes(head[4:8], "little") & 1
                     and head[8:16] == importlib.util.source_hash(source))
            bad += not valid
print(sources, bad)
"#;

/// A code-only rebuild of a Django image copies the static files collected
/// by the previous build instead of running collectstatic, and its app layer
/// is the one a build that collects makes (same image digest); a changed
/// static file or settings change makes the next build collect again, and the
/// app layer then has the new files.
#[test]
fn django_rebuilds_reuse_collected_static_files_with_the_same_digest() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    // STATIC_ROOT inside the source, as many projects have it.
    let Some(app) = support::django_project_with_assets(
        "STATICFILES_DIRS = [BASE_DIR / 'assets']\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\n",
    ) else {
        return;
    };
    let builds = LayoutBuilds::new(format!("oci-archive:{}", base.display()));
    let build = |dir: &str, env: &[(&str, &str)]| {
        let (out, layout) = builds.build_with(app.path(), dir, env);
        let manifest = read_layout(&layout).0;
        let app_layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let files: std::collections::BTreeMap<String, Vec<u8>> = layer_entries(&layout, &app_layer)
            .into_iter()
            .map(|e| (e.path, e.content))
            .collect();
        (digest_of(&out), stderr(&out), files)
    };
    const COLLECTED: &str = "==> Collecting Django static files (";
    const REUSED: &str = "==> Static files unchanged since they were last collected: ";
    let css = "opt/app-root/src/staticfiles/site.css";
    let admin_css = "opt/app-root/src/staticfiles/admin/css/base.css";

    let (cold, log, files) = build("cold", &[]);
    assert!(log.contains(COLLECTED) && !log.contains(REUSED), "{log}");
    // Another cold build, in an empty cache: the same image (no bytecode
    // stamped with install times in the dependencies layer).
    let other_cache = LayoutBuilds::new(format!("oci-archive:{}", base.display()));
    let (out, _) = other_cache.build(app.path(), "cold-again");
    assert_eq!(
        digest_of(&out),
        cold,
        "two cold builds gave different images"
    );
    assert_eq!(files[css], b"body { color: red }\n");
    assert!(String::from_utf8_lossy(&files[admin_css]).contains("DJANGO Admin styles"));

    app.write(
        "mysite/urls.py",
        "from django.urls import path\nurlpatterns = []\n",
    );
    let (reused, log, files) = build("code", &[]);
    assert!(log.contains(REUSED) && !log.contains(COLLECTED), "{log}");
    assert!(
        log.contains("reused in /opt/app-root/src/staticfiles"),
        "{log}"
    );
    assert_eq!(files[css], b"body { color: red }\n");
    assert!(files.contains_key(admin_css));
    assert!(
        !files.keys().any(|p| p.contains("__pycache__")),
        "source bytecode in the app layer"
    );
    let (collected, log, _) = build("always", &[("WARP_COLLECTSTATIC", "always")]);
    assert!(log.contains(COLLECTED), "{log}");
    assert_eq!(
        reused, collected,
        "reusing gave another image than collecting"
    );

    app.write("assets/site.css", "body { color: blue }\n");
    let (_, log, files) = build("css", &[]);
    assert!(log.contains(COLLECTED), "{log}");
    assert_eq!(files[css], b"body { color: blue }\n");

    support::append_to_settings(&app, "STATICFILES_DIRS = []\n");
    let (_, log, files) = build("settings", &[]);
    assert!(log.contains(COLLECTED), "{log}");
    assert!(!files.contains_key(css), "site.css is no longer collected");
    assert!(files.contains_key(admin_css));
}
