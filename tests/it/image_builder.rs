//! `warp image NAME --builder`: the S2I builder image written by warp itself
//! (no podman build), from the tests' Debian+python3 base saved by podman.
//! Loaded into real podman, it must carry the builder contract and build an
//! app the way `s2i build` / OpenShift do; two builds give the same digest.
use crate::image_support;
use crate::s2i_support as s2i;
use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;
use support::{assert_fails_with, assert_ok, run, stderr, stdout, TempApp};

/// `warp image NAME --builder --base oci-archive:BASE ARGS…` with its own cache.
fn warp_builder(name: &str, base: &Path, cache: &Path, args: &[&str]) -> Output {
    let dir = TempApp::new();
    run(image_support::warp_image(dir.path(), cache)
        .args([name, "--builder", "--base"])
        .arg(format!("oci-archive:{}", base.display()))
        .args(args))
}

fn digest_of(out: &Output) -> String {
    assert_ok(out);
    let digest = stdout(out).trim().lines().last().unwrap_or("").to_string();
    assert!(digest.starts_with("sha256:"), "no digest: {}", stderr(out));
    digest
}

#[test]
fn builder_made_without_podman_builds_and_serves_an_app() {
    let Some(base) = image_support::base_archive("oci-archive") else {
        return;
    };
    let name = format!(
        "localhost/warp-test/warp-made-builder-{}:latest",
        std::process::id()
    );
    let work = s2i::scratch_dir();
    let archive = work.path().join("builder.tar");
    let out = warp_builder(
        &name,
        &base,
        &image_support::shared_cache(),
        &["--output", &format!("docker-archive:{}", archive.display())],
    );
    digest_of(&out);
    let loaded = run(s2i::podman().args(["load", "-q", "-i"]).arg(&archive));
    assert_ok(&loaded);
    let builder = s2i::Image { name: name.clone() };

    for (label, value) in [
        ("io.openshift.s2i.scripts-url", "image:///usr/libexec/s2i"),
        ("io.s2i.scripts-url", "image:///usr/libexec/s2i"),
        ("io.openshift.expose-services", "8080:http"),
        ("io.openshift.tags", "builder,python,warp"),
    ] {
        assert_eq!(s2i::label(&builder.name, label), value, "label {label}");
    }
    assert!(s2i::label(&builder.name, "io.k8s.description").contains("warp"));
    let out = run(s2i::podman().args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{json .Config.Cmd}}",
        &builder.name,
    ]));
    assert_ok(&out);
    assert_eq!(
        stdout(&out).trim(),
        r#"1001 /opt/app-root/src {"8080/tcp":{}} ["/usr/libexec/s2i/usage"]"#
    );

    // The default command is usage, naming this image.
    let out = run(s2i::podman().args(["run", "--rm", &builder.name]));
    assert_ok(&out);
    assert!(
        stdout(&out).contains(&format!("s2i build . {name} your-app")),
        "{}",
        stdout(&out)
    );
    // An arbitrary UID in group 0 can write the app root and /etc/passwd;
    // the scripts are root's and executable; 1001 has a passwd entry.
    let out = run(s2i::podman().args([
        "run",
        "--rm",
        "-u",
        "100001:0",
        &builder.name,
        "sh",
        "-c",
        "touch /opt/app-root/x /opt/app-root/src/y && test -w /etc/passwd \
         && stat -c '%u:%g %a' /opt/app-root /usr/libexec/s2i/assemble \
         && cut -d: -f3 /etc/passwd | grep -x 1001 && echo HOME=$HOME",
    ]));
    assert_ok(&out);
    assert_eq!(
        stdout(&out).trim(),
        "1001:0 775\n0:0 755\n1001\nHOME=/opt/app-root"
    );

    // An S2I build with it, as s2i_build.rs does with the podman-built builder.
    let app = TempApp::new();
    app.write(
        "wsgi.py",
        "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'built by the warp-made builder']\n",
    );
    let assembled = s2i::assemble(&builder.name, app.path(), None, &[]);
    assert!(
        assembled.output.status.success(),
        "assemble failed:\n{}",
        assembled.log()
    );
    let image = s2i::commit(&assembled);
    let mut answer = None;
    for _attempt in 0..3 {
        let port = support::free_port();
        let container = s2i::serve(&image.name, "100001:0", port, &[]);
        let got = s2i::get(&container, port, "/", Duration::from_secs(60));
        if got.is_some() {
            answer = got.map(|a| (a, s2i::logs(&container)));
            break;
        }
        // The port was taken between the check and the bind: try another.
        eprintln!("no answer on {port}:\n{}", s2i::logs(&container));
    }
    let ((status, body), logs) = answer.expect("the app answered on one of three ports");
    assert_eq!(status, 200, "{body}\n{logs}");
    assert_eq!(body, "built by the warp-made builder");
}

#[test]
fn builder_builds_are_reproducible() {
    let Some(base) = image_support::base_archive("oci-archive") else {
        return;
    };
    // Two cold caches: the second build reuses nothing of the first.
    let work = s2i::scratch_dir();
    let build = |n: &str| {
        let oci = work.path().join(format!("out-{n}"));
        let out = warp_builder(
            "quay.io/example/warp-builder:1",
            &base,
            &work.path().join(format!("cache-{n}")),
            &["--output", &format!("oci:{}", oci.display())],
        );
        (digest_of(&out), oci)
    };
    let (first, first_dir) = build("a");
    let (second, _) = build("b");
    assert_eq!(first, second);
    let (manifest, config) = image_support::read_layout(&first_dir);
    assert_eq!(config["config"]["User"], "1001");
    assert_eq!(
        config["created"], "2023-11-14T22:13:20Z",
        "SOURCE_DATE_EPOCH"
    );
    // The base's layers and two more: runtime and the S2I scripts.
    let layers = manifest["layers"].as_array().unwrap();
    let scripts = layers.last().unwrap()["digest"].as_str().unwrap();
    let entries = image_support::layer_entries(&first_dir, scripts);
    let paths: Vec<(&str, u64, u32)> = entries
        .iter()
        .filter(|e| e.path.starts_with("usr/libexec/s2i/"))
        .map(|e| (e.path.as_str(), e.uid, e.mode))
        .collect();
    assert_eq!(
        paths,
        [
            ("usr/libexec/s2i/assemble", 0, 0o755),
            ("usr/libexec/s2i/run", 0, 0o755),
            ("usr/libexec/s2i/save-artifacts", 0, 0o755),
            ("usr/libexec/s2i/usage", 0, 0o755),
        ]
    );
    let usage = entries
        .iter()
        .find(|e| e.path == "usr/libexec/s2i/usage")
        .unwrap();
    assert_eq!(
        usage.content,
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("builders/s2i/usage")).unwrap()
    );
}

#[test]
fn builder_refuses_app_options_and_bases_without_python() {
    let app = TempApp::new();
    let out =
        run(support::warp(app.path()).args(["image", "b", "--builder", "--sbom", "b.spdx.json"]));
    assert_fails_with(&out, "a builder image (--builder) has no app");
    assert!(!app.path().join("b.spdx.json").exists());

    // A base with no Python: said before anything is written.
    let work = s2i::scratch_dir();
    let mut tar = tar::Builder::new(Vec::new());
    image_support::raw_entry(&mut tar, tar::EntryType::Directory, "etc/", "", b"");
    image_support::raw_entry(
        &mut tar,
        tar::EntryType::Regular,
        "etc/passwd",
        "",
        b"root:x:0:0:root:/root:/bin/sh\n",
    );
    image_support::crafted_layout(&work.path().join("base"), &tar.into_inner().unwrap());
    let dest = work.path().join("b.tar");
    let out = run(
        image_support::warp_image(app.path(), &work.path().join("cache"))
            .args(["b", "--builder", "--base"])
            .arg(format!("oci:{}", work.path().join("base").display()))
            .arg("--output")
            .arg(format!("docker-archive:{}", dest.display())),
    );
    assert_fails_with(&out, "has no Python");
    assert!(!dest.exists());
}
