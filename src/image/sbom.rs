//! `--sbom FILE`: the Python packages installed in the image's venv, as SPDX
//! 2.3 JSON, or CycloneDX 1.5 JSON when the file name ends in `.cdx.json`.
//! Read from the `*.dist-info/METADATA` files of the venv's site-packages.
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;
use std::path::Path;

/// (name, version) of every distribution in the venv at `app_root`, sorted.
pub fn packages(app_root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(pythons) = fs::read_dir(app_root.join(lib)) else {
            continue;
        };
        for python in pythons.flatten() {
            let Ok(entries) = fs::read_dir(python.path().join("site-packages")) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().ends_with(".dist-info") {
                    continue;
                }
                let Ok(meta) = fs::read_to_string(entry.path().join("METADATA")) else {
                    continue;
                };
                let field = |k: &str| {
                    meta.lines()
                        .take_while(|l| !l.is_empty())
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                };
                if let (Some(name), Some(version)) = (field("Name:"), field("Version:")) {
                    found.push((name, version));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn purl(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{version}",
        name.to_lowercase().replace('_', "-")
    )
}

/// Write the SBOM of the venv at `app_root` for image `image_name`.
pub fn write(path: &Path, app_root: &Path, image_name: &str, created: &str) -> Result<()> {
    let packages = packages(app_root);
    let cyclonedx = path.to_string_lossy().ends_with(".cdx.json");
    let doc = if cyclonedx {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "metadata": {"timestamp": created, "component": {"type": "container", "name": image_name}},
            "components": packages.iter().map(|(n, v)| json!({
                "type": "library", "name": n, "version": v, "purl": purl(n, v),
            })).collect::<Vec<_>>(),
        })
    } else {
        json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": image_name,
            "documentNamespace": format!("https://warp.invalid/spdx/{image_name}"),
            "creationInfo": {"created": created, "creators": [concat!("Tool: warp-", env!("CARGO_PKG_VERSION"))]},
            "packages": packages.iter().enumerate().map(|(i, (n, v))| json!({
                "SPDXID": format!("SPDXRef-Package-{i}"),
                "name": n,
                "versionInfo": v,
                "downloadLocation": "NOASSERTION",
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl(n, v)}],
            })).collect::<Vec<_>>(),
        })
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("writing the SBOM in {}", parent.display()))?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| {
        super::diskfull::in_output(e.into(), parent, &format!("the SBOM {}", path.display()))
    })?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
