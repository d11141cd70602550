//! `warp image`'s SBOM, provenance and attachments: the SBOM of the whole
//! image (the Debian base's dpkg packages, every Python distribution of the
//! venv with its RECORD files, warp itself) in SPDX 2.3 and CycloneDX 1.6,
//! checked by the reference validators from PyPI (spdx-tools,
//! cyclonedx-python-lib) and against what the image really holds.
#[path = "support/image.rs"]
mod image_support;
mod support;

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
