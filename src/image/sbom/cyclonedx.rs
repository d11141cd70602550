//! CycloneDX 1.6 JSON: the image as the BOM's subject, warp, the OS
//! packages and the Python distributions as components (each distribution
//! with its RECORD files as nested file components). The serial number is
//! derived from the content: the same image gives the same bytes.
use super::{content_hash, spdx_expression, to_bytes, warp_purl, Inventory, WARP_VERSION};
use serde_json::{json, Value};

pub fn render(inv: &Inventory, created: &str) -> Vec<u8> {
    // A package as a library component, OS or Python alike.
    let library = |purl: &str, name: &str, version: &str, license: Option<&str>| -> Value {
        let mut c = json!({
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        });
        if let Some(text) = license {
            c["licenses"] = match spdx_expression(text) {
                Some(expression) => json!([{"expression": expression}]),
                None => json!([{"license": {"name": text}}]),
            };
        }
        c
    };
    let mut components = vec![json!({
        "type": "application",
        "bom-ref": warp_purl(),
        "name": "warp",
        "version": WARP_VERSION,
        "purl": warp_purl(),
        "hashes": [{"alg": "SHA-256", "content": inv.warp_sha256}],
    })];
    for p in &inv.os.packages {
        components.push(library(&p.purl, &p.name, &p.version, p.license.as_deref()));
    }
    for d in &inv.python {
        let mut c = library(&d.purl, &d.name, &d.version, d.license.as_deref());
        if !d.files.is_empty() {
            c["components"] = json!(d
                .files
                .iter()
                .map(|f| json!({
                    "type": "file",
                    "name": f.path,
                    "hashes": [{"alg": "SHA-1", "content": f.sha1}, {"alg": "SHA-256", "content": f.sha256}],
                }))
                .collect::<Vec<_>>());
        }
        components.push(c);
    }
    let mut metadata = json!({
        "timestamp": created,
        "tools": {"components": [{"type": "application", "name": "warp", "version": WARP_VERSION}]},
        "component": {"type": "container", "bom-ref": "image", "name": inv.image},
    });
    let mut properties = Vec::new();
    if let Some(distro) = &inv.os.distro {
        properties.push(json!({"name": "warp:base-os", "value": distro}));
    }
    if let Some(why) = &inv.os.not_listed {
        properties.push(json!({"name": "warp:os-packages", "value": why}));
    }
    if !properties.is_empty() {
        metadata["properties"] = json!(properties);
    }
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": metadata,
        "components": components,
    });
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_of(&content_hash(&doc))));
    to_bytes(&doc)
}

/// A version-5-shaped UUID from the first 32 hex digits of a hash.
fn uuid_of(hex: &str) -> String {
    let mut h: Vec<char> = hex.chars().take(32).collect();
    h[12] = '5';
    h[16] = ['8', '9', 'a', 'b'][h[16].to_digit(16).unwrap_or(0) as usize % 4];
    let h: String = h.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::sbom::sample;

    #[test]
    fn cyclonedx_lists_everything_and_is_deterministic() {
        let inv = sample::inventory();
        let bytes = render(&inv, "2023-11-14T22:13:20Z");
        assert_eq!(bytes, render(&inv, "2023-11-14T22:13:20Z"));
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["specVersion"], "1.6");
        let purls: Vec<&str> = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["purl"].as_str().unwrap())
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:generic/warp@0.1.0",
                "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64",
                "pkg:apk/alpine/musl@1.2",
                "pkg:pypi/flask@3.0.0"
            ]
        );
        assert_eq!(doc["components"][2]["licenses"][0]["expression"], "MIT");
        assert_eq!(
            doc["components"][3]["licenses"][0]["license"]["name"],
            "BSD License, see LICENSE"
        );
        let serial = doc["serialNumber"].as_str().unwrap();
        assert_eq!(serial.len(), "urn:uuid:".len() + 36);
        assert_eq!(&serial[23..24], "5");
    }
}
