//! `warp image`: daemonless OCI images built from a real Debian+python3 base
//! (podman-saved archives), loaded and run with podman. Bad input, crafted
//! base layers, reproducibility and the layer cache. Registries are
//! `image_registry.rs`'s, Django apps `image_django.rs`'s.
use crate::image_support;
use crate::support;

use image_support::*;
use serde_json::Value;
use std::path::Path;
use support::{assert_fails_with, assert_ok, run, stderr, stdout, TempApp};

#[test]
fn bad_input_is_refused_with_a_hint() {
    let app = plain_app("x");
    let cache = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["Bad Name"], "is not a valid image reference"),
        (
            &["app", "--base", "ftp://example.com/x"],
            "unknown image transport",
        ),
        (
            &["app", "--base", "containers-storage:x"],
            "unknown image transport",
        ),
        (
            &["app", "--base", "oci-archive:/nonexistent/base.tar"],
            "cannot read oci-archive:/nonexistent/base.tar",
        ),
        (
            &["app", "--output", "sif:out.sif"],
            "unknown image transport",
        ),
        (&["app", "--src", "/nonexistent/app"], "does not exist"),
    ];
    for (args, needle) in cases {
        let out = run(warp_image(app.path(), cache.path()).args(*args));
        assert_fails_with(&out, needle);
        assert!(
            stderr(&out).contains("warp: hint:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The base named in .warp/config.yaml is the one used.
    app.write(
        ".warp/config.yaml",
        "image:\n  base: oci-archive:/nonexistent/configured.tar\n",
    );
    let out = run(warp_image(app.path(), cache.path()).arg("app"));
    assert_fails_with(&out, "oci-archive:/nonexistent/configured.tar");
    app.write(".warp/config.yaml", "image:\n  base: [1, 2]\n");
    let out = run(warp_image(app.path(), cache.path()).arg("app"));
    assert_fails_with(&out, "`image.base` in .warp/config.yaml is not a string");
    std::fs::remove_file(app.path().join(".warp/config.yaml")).unwrap();
    let out = run(warp_image(app.path(), cache.path())
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .arg("app"));
    assert_fails_with(&out, "SOURCE_DATE_EPOCH");
}

#[test]
fn a_base_without_python_is_refused_naming_the_paths_searched() {
    let work = tempfile::tempdir().unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    raw_entry(&mut layer, tar::EntryType::Directory, "etc/", "", b"");
    raw_entry(
        &mut layer,
        tar::EntryType::Regular,
        "etc/passwd",
        "",
        b"root:x:0:0::/root:/bin/sh\n",
    );
    crafted_layout(&work.path().join("base"), &layer.into_inner().unwrap());
    let app = plain_app("x");
    let base = format!("oci:{}", work.path().join("base").display());
    let out =
        run(warp_image(app.path(), &work.path().join("cache")).args(["app", "--base", &base]));
    assert_fails_with(
        &out,
        "has no Python (looked for /usr/local/bin/python3, /usr/bin/python3",
    );
    assert!(stderr(&out).contains("--base"), "{}", stderr(&out));
}

#[test]
fn a_damaged_base_blob_is_a_digest_mismatch() {
    let work = tempfile::tempdir().unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    raw_entry(
        &mut layer,
        tar::EntryType::Regular,
        "etc/passwd",
        "",
        b"root:x:0:0::/root:/bin/sh\n",
    );
    let layer = layer.into_inner().unwrap();
    let dir = work.path().join("base");
    crafted_layout(&dir, &layer);
    // Flip one byte of the layer blob: its name no longer matches its content.
    let (manifest, _) = read_layout(&dir);
    let blob = blob_path(&dir, manifest["layers"][0]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let app = plain_app("x");
    let base = format!("oci:{}", dir.display());
    let out =
        run(warp_image(app.path(), &work.path().join("cache")).args(["app", "--base", &base]));
    assert_fails_with(&out, "digest mismatch for layer sha256:");
}

#[test]
fn crafted_base_layers_are_refused_and_nothing_is_written() {
    type Craft = fn(&mut tar::Builder<Vec<u8>>);
    let cases: [(&str, Craft); 4] = [
        ("contains `..`", |b| {
            raw_entry(b, tar::EntryType::Regular, "etc/../../escaped", "", b"x")
        }),
        ("is an absolute path", |b| {
            raw_entry(b, tar::EntryType::Regular, "/tmp/escaped", "", b"x")
        }),
        ("symlink that points outside", |b| {
            raw_entry(
                b,
                tar::EntryType::Symlink,
                "up",
                "../../../../../../../../tmp",
                b"",
            );
            raw_entry(b, tar::EntryType::Regular, "up/escaped", "", b"x");
        }),
        ("hard link to outside", |b| {
            raw_entry(b, tar::EntryType::Link, "h", "../../../../etc/shadow", b"")
        }),
    ];
    let app = plain_app("x");
    for (why, craft) in cases {
        let work = tempfile::tempdir().unwrap();
        let mut layer = tar::Builder::new(Vec::new());
        craft(&mut layer);
        crafted_layout(&work.path().join("base"), &layer.into_inner().unwrap());
        let base = format!("oci:{}", work.path().join("base").display());
        let target = work.path().join("out.tar");
        let out = run(warp_image(app.path(), &work.path().join("cache")).args([
            "app",
            "--base",
            &base,
            "--output",
            &format!("oci-archive:{}", target.display()),
        ]));
        assert_fails_with(&out, "is refused");
        assert!(stderr(&out).contains(why), "{why}: {}", stderr(&out));
        assert!(!target.exists(), "{why}: an output was written");
        assert!(
            !Path::new("/tmp/escaped").exists(),
            "{why}: a file escaped the root"
        );
    }
}

#[test]
fn a_failing_build_inside_shows_its_output_and_writes_nothing() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let app = plain_app("x");
    app.write_exec(
        ".warp/action_hooks/pre-build",
        "#!/bin/sh\necho BUILD-OUTPUT-MARKER uid=$(id -u) gid=$(id -g)\nexit 3\n",
    );
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("never.tar");
    let out = run(warp_image(app.path(), &shared_cache()).args([
        "app",
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--output",
        &format!("docker-archive:{}", target.display()),
    ]));
    assert_fails_with(&out, "the build inside the image failed");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    // The hook ran inside the sandbox as the image user.
    assert!(all.contains("BUILD-OUTPUT-MARKER uid=1001 gid=0"), "{all}");
    assert!(!target.exists());
}

/// The layers warp added (runtime, dependencies, app): every entry is under
/// /opt/app-root, or is /usr/local/bin/warp, /etc/passwd or their parents.
fn check_added_layers(layout: &Path, manifest: &Value, base_layers: usize) {
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base_layers + 3, "{manifest}");
    let ca_bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    for layer in &layers[base_layers..] {
        for e in layer_entries(layout, layer["digest"].as_str().unwrap()) {
            let allowed = e.path.starts_with("opt/app-root")
                || [
                    "opt",
                    "usr",
                    "usr/local",
                    "usr/local/bin",
                    "usr/local/bin/warp",
                    "etc",
                    "etc/passwd",
                ]
                .contains(&e.path.as_str());
            assert!(allowed, "unexpected entry {} in a warp layer", e.path);
            assert_eq!(e.gid, 0, "{}", e.path);
            if e.path.starts_with("opt/app-root") {
                assert_eq!(e.uid, 1001, "{}", e.path);
                assert_eq!(
                    (e.mode >> 3) & 0o7,
                    (e.mode >> 6) & 0o7,
                    "g=u on {}",
                    e.path
                );
            } else {
                assert_eq!(e.uid, 0, "{}", e.path);
            }
            if e.path == "etc/passwd" {
                assert_eq!(e.mode, 0o664);
                assert!(String::from_utf8_lossy(&e.content).contains(":1001:0:"));
            }
            assert!(
                ca_bundle.is_empty() || e.content.is_empty() || e.content != ca_bundle,
                "the host CA bundle leaked into {}",
                e.path
            );
            assert!(
                !e.path.contains("ca-certificates.crt") && !e.path.ends_with("pip.conf"),
                "{}",
                e.path
            );
        }
    }
}

#[test]
fn flask_image_in_every_format_loads_in_podman_and_runs_as_an_arbitrary_uid() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let app = flask_app("hello from a warp image\n");
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let oci_archive = work.path().join("app-oci.tar");
    let docker_archive = work.path().join("app-docker.tar");
    let sbom = work.path().join("app.spdx.json");
    let name = format!("localhost/warp-test/flask-{}:v1", std::process::id());
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--output",
        &format!("oci:{}", layout.display()),
        "--output",
        &format!("oci-archive:{}", oci_archive.display()),
        "--output",
        &format!("docker-archive:{}", docker_archive.display()),
        "--sbom",
        sbom.to_str().unwrap(),
    ]));
    assert_ok(&out);
    let digest = digest_of(&out);

    let (manifest, config) = read_layout(&layout);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    let c = &config["config"];
    assert_eq!(c["User"], "1001:0");
    assert_eq!(c["WorkingDir"], "/opt/app-root/src");
    assert_eq!(c["Cmd"], serde_json::json!(["warp", "start"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    let labels = &c["Labels"];
    assert_eq!(labels["io.openshift.expose-services"], "8080:http");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "v1");
    assert!(
        labels["io.k8s.description"].as_str().is_some()
            && labels["io.openshift.tags"].as_str().is_some()
    );
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for needed in [
        "APP_ROOT=/opt/app-root",
        "WARP_APP_ROOT=/opt/app-root",
        "LANG=C.UTF-8",
    ] {
        assert!(env.contains(&needed), "{needed} missing from {env:?}");
    }
    assert!(
        env.iter().any(|e| e.starts_with("PATH=/opt/app-root/bin:")),
        "{env:?}"
    );
    check_added_layers(&layout, &manifest, 1);

    let sbom: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.eq_ignore_ascii_case("flask")),
        "{names:?}"
    );

    // Both archives load; the venv works for an arbitrary UID in group 0.
    for archive in [&docker_archive, &oci_archive] {
        let out = run(podman().arg("load").arg("-i").arg(archive));
        assert_ok(&out);
        assert!(
            stdout(&out).contains(&name) || stderr(&out).contains(&name),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let out = run(podman().args([
            "run", "--rm", "-u", "100001:0", &name, "sh", "-c",
            "id -u; python -c 'import flask, warpserver; print(\"imports ok\")'; touch /opt/app-root/src/written && echo writable",
        ]));
        assert_ok(&out);
        let text = stdout(&out);
        assert!(
            text.contains("100001") && text.contains("imports ok") && text.contains("writable"),
            "{text}"
        );
    }

    // `warp start` in the image answers over HTTP, as 100001:0 and as 1001.
    for user in ["100001:0", "1001"] {
        let (container, port) = Container::serve(&name, user);
        let answer = curl_until_up(port, "/", 40);
        let logs = container.logs();
        let (status, body) = answer.unwrap_or_else(|| panic!("no HTTP answer as {user}:\n{logs}"));
        assert_eq!(status, 200, "{body}\n{logs}");
        assert_eq!(body, "hello from a warp image\n");
    }
    let _ = run(podman().args(["rmi", "-f", &name]));
}

#[test]
fn same_inputs_same_digest_and_a_code_change_rebuilds_only_the_app_layer() {
    let Some(base) = base_archive("docker-archive") else {
        return;
    };
    let app = plain_app("version one");
    app.write("requirements.txt", "");
    let builds = LayoutBuilds::new(format!("docker-archive:{}", base.display()));
    let build = |dir: &str| {
        let (out, layout) = builds.build(app.path(), dir);
        (digest_of(&out), read_layout(&layout).0, stderr(&out))
    };
    let (first, manifest_one, log_one) = build("one");
    assert!(!log_one.contains("install skipped"), "{log_one}");
    let (second, _, log_two) = build("two");
    assert_eq!(first, second, "the same inputs gave different images");
    assert!(
        log_two.contains("Dependencies layer (cached: install skipped)"),
        "{log_two}"
    );

    app.write("wsgi.py", "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'version two']\n");
    let (third, manifest_three, log_three) = build("three");
    assert_ne!(first, third);
    assert!(log_three.contains("install skipped"), "{log_three}");
    let layers = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (one, three) = (layers(&manifest_one), layers(&manifest_three));
    assert_eq!(one.len(), three.len());
    let last = one.len() - 1;
    assert_eq!(one[..last], three[..last], "only the app layer may change");
    assert_ne!(one[last], three[last]);
}

#[test]
fn a_project_apps_dependency_layer_follows_its_code_not_its_mtimes() {
    // A pyproject app is installed into the venv (non-editable), so its code
    // is a dependency input: counted by content, never by mtime (each image
    // build copies the source afresh), and a change to it reinstalls.
    let Some(base) = base_archive("docker-archive") else {
        return;
    };
    let app = TempApp::new();
    app.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"flit_core>=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n[project]\nname = \"hellopkg\"\nversion = \"1\"\ndescription = \"test\"\n",
    );
    let module = |text: &str| {
        format!("def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'{text}']\n")
    };
    app.write("hellopkg/__init__.py", &module("one"));
    app.write("wsgi.py", "from hellopkg import application\n");
    let builds = LayoutBuilds::new(format!("docker-archive:{}", base.display()));
    let build = |dir: &str| {
        let (out, layout) = builds.build(app.path(), dir);
        let (manifest, _) = read_layout(&layout);
        let deps = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .nth(1)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let installed: Vec<u8> = layer_entries(&layout, &deps)
            .into_iter()
            .find(|e| e.path.ends_with("site-packages/hellopkg/__init__.py"))
            .map(|e| e.content)
            .unwrap_or_default();
        (digest_of(&out), stderr(&out), installed)
    };
    let (first, _, installed) = build("one");
    assert!(String::from_utf8_lossy(&installed).contains("b'one'"));
    // Same content, new mtimes everywhere: the same image, the install skipped.
    std::thread::sleep(std::time::Duration::from_millis(20));
    app.write("hellopkg/__init__.py", &module("one"));
    app.write(
        "pyproject.toml",
        &std::fs::read_to_string(app.path().join("pyproject.toml")).unwrap(),
    );
    let (second, log_two, _) = build("two");
    assert_eq!(first, second, "touching the files changed the image");
    assert!(
        log_two.contains("Dependencies layer (cached: install skipped)"),
        "{log_two}"
    );
    // The package's code changed: the dependencies layer is rebuilt with it.
    app.write("hellopkg/__init__.py", &module("two"));
    let (third, log_three, installed) = build("three");
    assert_ne!(first, third);
    assert!(!log_three.contains("install skipped"), "{log_three}");
    assert!(
        String::from_utf8_lossy(&installed).contains("b'two'"),
        "stale package in the venv"
    );
}

/// `warp image` as an unprivileged user (uid 65534, user namespaces only)
/// gives the image a root build gives — cold caches both, same digest.
#[test]
fn an_unprivileged_user_builds_the_same_image_as_root() {
    use std::os::unix::fs::PermissionsExt;
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let Some(setpriv) = support::which("setpriv") else {
        support::require_all("setpriv (util-linux)");
        return;
    };
    let app = plain_app("unprivileged");
    let work = tempfile::tempdir().unwrap();
    for dir in [app.path(), work.path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let base_ref = format!("oci-archive:{}", base.display());
    let as_root = run(
        warp_image(app.path(), &work.path().join("cache-root")).args([
            "app",
            "--base",
            &base_ref,
            "--output",
            &format!("oci-archive:{}", work.path().join("root.tar").display()),
        ]),
    );
    assert_ok(&as_root);
    let mut cmd = std::process::Command::new(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(support::warp_bin())
        .args(["image", "app", "--base", &base_ref, "--output"])
        .arg(format!(
            "oci-archive:{}",
            work.path().join("user.tar").display()
        ))
        .current_dir(app.path())
        .env("HOME", work.path())
        .env("WARP_CACHE_DIR", work.path().join("cache-user"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("WARP_APP_ROOT")
        .env_remove("REGISTRY_AUTH_FILE");
    let as_user = run(&mut cmd);
    assert_ok(&as_user);
    assert_eq!(digest_of(&as_root), digest_of(&as_user));
}

/// With uv on the host's PATH and none in the base, the build uses it
/// (bind-mounted read-only) and it is in no layer.
#[test]
fn the_hosts_uv_builds_the_venv_and_stays_out_of_the_image() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let Some(uv) = support::tool("uv") else {
        return;
    };
    let app = flask_app("built with uv\n");
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let path = format!(
        "{}:{}",
        uv.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(warp_image(app.path(), &shared_cache())
        .env("PATH", path)
        .args([
            "app",
            "--base",
            &format!("oci-archive:{}", base.display()),
            "--output",
            &format!("oci:{}", layout.display()),
        ]));
    assert_ok(&out);
    let log = stderr(&out);
    assert!(
        log.contains(", uv)") || log.contains("install skipped"),
        "{log}"
    );
    let (manifest, _) = read_layout(&layout);
    check_added_layers(&layout, &manifest, 1);
    let deps = manifest["layers"][2]["digest"].as_str().unwrap();
    let entries = layer_entries(&layout, deps);
    assert!(
        entries
            .iter()
            .any(|e| e.path.contains("site-packages/flask/")),
        "no flask in the venv layer"
    );
    assert!(
        !entries.iter().any(|e| e.path.ends_with("bin/uv")),
        "uv leaked into the image"
    );
}
