//! `warp image`'s SBOM, provenance and attachments: the SBOM of the whole
//! image (the Debian base's dpkg packages, every Python distribution of the
//! venv with its RECORD files, warp itself) in SPDX 2.3 and CycloneDX 1.6,
//! checked by the reference validators from PyPI (spdx-tools,
//! cyclonedx-python-lib) and against what the image really holds.
use crate::image_support;
use crate::registry_support;
use crate::support;

use image_support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::{assert_ok, run};

/// Validate `file` as `kind` (spdx | cyclonedx) with the tools venv's validators.
fn validate(kind: &str, file: &Path) -> Option<String> {
    let python = support::tool("python")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate_sbom.py");
    let out = run(std::process::Command::new(python)
        .arg(script)
        .arg(kind)
        .arg(file));
    assert!(
        out.status.success(),
        "{kind} validator refused {}:\n{}{}",
        file.display(),
        support::stdout(&out),
        support::stderr(&out)
    );
    Some(support::stdout(&out))
}

/// The packages dpkg lists as installed in the base's root filesystem.
fn base_dpkg_packages() -> Option<BTreeSet<String>> {
    let tar = std::env::var_os("WARP_TEST_BASE_ROOTFS_TAR")?;
    let out = run(std::process::Command::new("tar")
        .arg("-xOf")
        .arg(tar)
        .arg("./var/lib/dpkg/status"));
    assert_ok(&out);
    let status = support::stdout(&out);
    Some(
        status
            .split("\n\n")
            .filter(|p| p.contains("Status: install ok installed"))
            .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("Package: ")))
            .map(str::to_string)
            .collect(),
    )
}

/// (name, version) of every `*.dist-info/METADATA` in the image's layers.
fn image_distributions(layout: &Path) -> BTreeSet<(String, String)> {
    let (manifest, _) = read_layout(layout);
    let mut found = BTreeSet::new();
    for layer in manifest["layers"].as_array().unwrap().iter().rev().take(3) {
        for e in layer_entries(layout, layer["digest"].as_str().unwrap()) {
            if e.path.contains("/site-packages/") && e.path.ends_with(".dist-info/METADATA") {
                let text = String::from_utf8_lossy(&e.content).into_owned();
                let field = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                        .unwrap()
                };
                found.insert((field("Name:"), field("Version:")));
            }
        }
    }
    found
}

#[test]
fn whole_image_sbom_in_spdx_and_cyclonedx_is_valid_complete_and_reproducible() {
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let app = flask_app("sbom\n");
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let build = |dir: &str, sbom: &str| {
        let layout = work.path().join(dir);
        let file = work.path().join(sbom);
        let out = run(warp_image(app.path(), &cache).args([
            "app:1",
            "--base",
            &format!("oci-archive:{}", base.display()),
            "--output",
            &format!("oci:{}", layout.display()),
            "--sbom",
            file.to_str().unwrap(),
        ]));
        assert_ok(&out);
        (layout, file)
    };
    let (layout, spdx_file) = build("one", "app.spdx.json");
    let (_, cdx_file) = build("two", "app.cdx.json");
    let (_, spdx_again) = build("three", "again.spdx.json");
    assert_eq!(
        std::fs::read(&spdx_file).unwrap(),
        std::fs::read(&spdx_again).unwrap(),
        "same inputs, same SBOM bytes"
    );
    let Some(said) = validate("spdx", &spdx_file) else {
        return;
    };
    eprintln!("spdx-tools: {said}");
    validate("cyclonedx", &cdx_file);

    let spdx: Value = serde_json::from_slice(&std::fs::read(&spdx_file).unwrap()).unwrap();
    let cdx: Value = serde_json::from_slice(&std::fs::read(&cdx_file).unwrap()).unwrap();
    let spdx_purls: BTreeSet<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .map(str::to_string)
        .collect();
    let cdx_purls: BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(spdx_purls, cdx_purls, "both formats list the same packages");

    // Every package dpkg says is installed in the base.
    let listed_debs: BTreeSet<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .is_some_and(|l| l.starts_with("pkg:deb/debian/"))
        })
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    if let Some(dpkg) = base_dpkg_packages() {
        assert!(dpkg.len() > 50 && dpkg.contains("python3"), "{dpkg:?}");
        assert_eq!(listed_debs, dpkg);
    }
    // Every distribution in the image's venv, with its files and hashes.
    let dists = image_distributions(&layout);
    assert!(
        dists.iter().any(|(n, _)| n.eq_ignore_ascii_case("flask")),
        "{dists:?}"
    );
    let packages = spdx["packages"].as_array().unwrap();
    for (name, version) in &dists {
        let p = packages
            .iter()
            .find(|p| p["name"] == name.as_str() && p["versionInfo"] == version.as_str())
            .unwrap_or_else(|| panic!("{name} {version} not in the SPDX SBOM"));
        assert!(
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .unwrap()
                .starts_with("pkg:pypi/"),
            "{p}"
        );
        assert!(
            !p["hasFiles"].as_array().is_none_or(|f| f.is_empty()),
            "{name}: files from RECORD"
        );
    }
    let flask = packages
        .iter()
        .find(|p| p["name"] == "flask" || p["name"] == "Flask")
        .unwrap();
    assert_eq!(flask["licenseDeclared"], "BSD-3-Clause", "{flask}");
    let file = spdx["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["fileName"]
                .as_str()
                .unwrap()
                .ends_with("/site-packages/flask/app.py")
        })
        .expect("flask/app.py listed");
    assert_eq!(file["checksums"][1]["algorithm"], "SHA256");
    // warp itself, with the binary's digest.
    let warp = packages.iter().find(|p| p["name"] == "warp").unwrap();
    assert_eq!(warp["versionInfo"], env!("CARGO_PKG_VERSION"));
    use sha2::Digest;
    let bin = std::fs::read(support::warp_bin()).unwrap();
    assert_eq!(
        warp["checksums"][0]["checksumValue"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bin))
    );
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The artifacts an index lists for `subject`: artifactType → manifest digest.
fn artifacts_in(index: &Value) -> std::collections::BTreeMap<String, String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            Some((
                m["artifactType"].as_str()?.to_string(),
                m["digest"].as_str()?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn sbom_and_provenance_are_attached_in_the_layout_and_on_push() {
    let Some(registry) = registry_support::Registry::anonymous() else {
        return;
    };
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let app = flask_app("attached\n");
    // A git checkout with a change not committed: the provenance says dirty.
    let git = |args: &[&str]| {
        assert_ok(&run(std::process::Command::new("git")
            .arg("-C")
            .arg(app.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)));
    };
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://user:s3cret@git.example/team/app.git",
    ]);
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    app.write(
        "wsgi.py",
        "from flask import Flask\napplication = Flask(__name__)\n",
    );
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let name = format!("{}/team/app:1", registry.host());
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--output",
        &format!("oci:{}", layout.display()),
        "--push",
    ]));
    assert_ok(&out);
    let digest = digest_of(&out);

    // The layout lists the image and its three attachments, each with `subject`.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let in_layout = artifacts_in(&index);
    assert_eq!(
        in_layout.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "application/spdx+json",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json"
        ]
    );
    for artifact in in_layout.values() {
        assert_eq!(
            blob_json(&layout, artifact)["subject"]["digest"],
            digest.as_str()
        );
    }
    // skopeo still reads the layout's image by its tag.
    let out = run(std::process::Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("oci:{}:1", layout.display())));
    assert_ok(&out);
    assert_eq!(support::stdout(&out).trim(), digest);

    // The registry: no referrers API (distribution 2.8), so the fallback tag.
    let (status, _) = registry.get(&format!("/v2/team/app/referrers/{digest}"), OCI_INDEX);
    assert_eq!(status, 404, "this registry has no referrers API");
    let tag = digest.replacen(':', "-", 1);
    let (status, body) = registry.get(&format!("/v2/team/app/manifests/{tag}"), OCI_INDEX);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let pushed = artifacts_in(&serde_json::from_slice(&body).unwrap());
    assert_eq!(pushed, in_layout, "the same artifacts as in the layout");
    for (kind, artifact) in &pushed {
        let (status, body) =
            registry.get(&format!("/v2/team/app/manifests/{artifact}"), OCI_MANIFEST);
        assert_eq!(status, 200);
        let manifest: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(manifest["subject"]["digest"], digest.as_str());
        assert_eq!(manifest["artifactType"], kind.as_str());
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let (status, document) = registry.get(&format!("/v2/team/app/blobs/{layer}"), "*/*");
        assert_eq!(status, 200);
        assert_eq!(document, std::fs::read(blob_path(&layout, layer)).unwrap());
        if kind == "application/vnd.in-toto+json" {
            let text = String::from_utf8(document.clone()).unwrap();
            assert!(
                !text.contains("s3cret") && !text.contains(&*work.path().to_string_lossy()),
                "{text}"
            );
            assert!(
                !text.contains(&*base.to_string_lossy()),
                "no host path: {text}"
            );
            let statement: Value = serde_json::from_slice(&document).unwrap();
            assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
            assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
            assert_eq!(
                statement["subject"][0]["digest"]["sha256"],
                &digest["sha256:".len()..]
            );
            let def = &statement["predicate"]["buildDefinition"];
            let source = &def["externalParameters"]["source"];
            assert_eq!(source["dirty"], true, "{statement}");
            assert_eq!(source["uri"], "https://git.example/team/app.git");
            assert_eq!(source["revision"].as_str().unwrap().len(), 40);
            let deps = def["resolvedDependencies"].as_array().unwrap();
            let named = |n: &str| {
                deps.iter()
                    .find(|d| d["name"] == n)
                    .cloned()
                    .unwrap_or_else(|| panic!("{n} in {deps:?}"))
            };
            use sha2::Digest;
            assert_eq!(
                named("requirements.txt")["digest"]["sha256"],
                hex::encode(sha2::Sha256::digest(b"flask\n"))
            );
            assert_eq!(named("base")["uri"], "oci-archive:base-oci-archive.tar");
            assert_eq!(
                named("base")["digest"]["sha256"].as_str().unwrap().len(),
                64
            );
            assert_eq!(
                statement["predicate"]["runDetails"]["builder"]["version"]["warp"],
                env!("CARGO_PKG_VERSION")
            );
        }
    }
    // The image itself is tagged and reads back.
    assert_eq!(registry.digest_of(&name), digest);
}
