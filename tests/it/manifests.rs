//! `warp manifests`: the Deployment + Service it prints are valid Kubernetes
//! objects (checked offline against the schema by kubernetes-validate, strict:
//! no unknown field), and bad input is refused with one clear line.
use crate::support;

use std::path::Path;
use support::{assert_fails_with, assert_ok, run, stdout, warp, TempApp};

/// Kubernetes versions to validate against: an old supported one and a recent one.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.34.0"];

fn validate(file: &Path) {
    let Some(validator) = support::tool("kubernetes-validate") else {
        return;
    };
    for version in KUBERNETES_VERSIONS {
        let out = run(std::process::Command::new(&validator)
            .args(["--strict", "-k", version])
            .arg(file));
        assert_ok(&out);
        let text = stdout(&out);
        // One "passed" line per object, and no warning.
        assert_eq!(text.matches("passed").count(), 2, "{text}");
        assert!(!text.contains("WARN") && !text.contains("ERROR"), "{text}");
    }
}

#[test]
fn exec_probe_manifests_validate() {
    let dir = TempApp::new();
    let out = run(warp(dir.path()).args(["manifests", "quay.io/team/my_app:1.0"]));
    assert_ok(&out);
    let file = dir.write("app.yaml", &stdout(&out));
    validate(&file);
    let text = stdout(&out);
    for expected in [
        "kind: Deployment",
        "kind: Service",
        "name: my-app",
        "image: quay.io/team/my_app:1.0",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "- ALL",
        "type: RuntimeDefault",
        "terminationGracePeriodSeconds: 30",
        "- alive",
        "- ready",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    assert!(!text.contains("runAsUser"), "no fixed UID:\n{text}");
}

#[test]
fn http_probe_manifests_with_options_validate() {
    let dir = TempApp::new();
    let file = dir.path().join("out.yaml");
    let out = run(warp(dir.path())
        .args([
            "manifests",
            "registry.local:5000/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "--name",
            "shop",
            "--namespace",
            "prod",
            "--port",
            "9000",
            "--replicas",
            "3",
            "--cpu",
            "250m",
            "--memory",
            "512Mi",
            "--memory-limit",
            "1Gi",
            "--readiness-path",
            "/healthz",
            "--graceful-timeout",
            "30",
            "--output",
        ])
        .arg(&file));
    assert_ok(&out);
    assert!(stdout(&out).is_empty(), "--output writes nothing on stdout");
    validate(&file);
    let text = std::fs::read_to_string(&file).unwrap();
    for expected in [
        "namespace: prod",
        "replicas: 3",
        "containerPort: 9000",
        "port: 9000",
        "path: /healthz",
        "path: /",
        "memory: 1Gi",
        "cpu: 250m",
        // 5 s drain + 30 s graceful + 5 s shutdown + 5 s margin.
        "terminationGracePeriodSeconds: 45",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = TempApp::new();
    let file = dir.path().join("out.yaml");
    let out = run(warp(dir.path())
        .args(["manifests", "Not A/Reference", "--output"])
        .arg(&file));
    assert_fails_with(&out, "is not a valid image reference");
    assert!(!file.exists());

    let out = run(warp(dir.path()).args(["manifests", "app:1", "--name", "Bad_Name"]));
    assert_fails_with(&out, "is not a valid Kubernetes name");

    let out = run(warp(dir.path()).args(["manifests", "app:1", "--memory", "lots"]));
    assert_fails_with(&out, "--memory \"lots\" is not a Kubernetes quantity");

    let out = run(warp(dir.path()).args([
        "manifests",
        "app:1",
        "--probe",
        "exec",
        "--readiness-path",
        "/r",
    ]));
    assert_fails_with(&out, "need --probe http");

    let out = run(warp(dir.path())
        .args(["manifests", "app:1", "--output"])
        .arg(dir.path().join("missing/dir/out.yaml")));
    assert_fails_with(&out, "cannot write");
}
