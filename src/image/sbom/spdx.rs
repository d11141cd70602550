//! SPDX 2.3 JSON: one package for the image (a container), warp, every OS
//! package and every Python distribution (with its RECORD files); the
//! document describes the image, the image contains the rest. Identifiers
//! are numbered in sorted order and the namespace ends in a hash of the
//! content: no random part, so the same image gives the same bytes.
use super::{content_hash, spdx_expression, to_bytes, warp_purl, Inventory, WARP_VERSION};
use serde_json::json;

pub fn render(inv: &Inventory, created: &str) -> Vec<u8> {
    let purl_ref = |purl: &str| json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]);
    let declared = |license: Option<&str>| {
        license
            .and_then(spdx_expression)
            .unwrap_or_else(|| "NOASSERTION".to_string())
    };
    let mut packages = vec![
        json!({
            "SPDXID": "SPDXRef-Image",
            "name": inv.image,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "CONTAINER",
        }),
        json!({
            "SPDXID": "SPDXRef-warp",
            "name": "warp",
            "versionInfo": WARP_VERSION,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "APPLICATION",
            "checksums": [{"algorithm": "SHA256", "checksumValue": inv.warp_sha256}],
            "externalRefs": purl_ref(&warp_purl()),
        }),
    ];
    for (i, p) in inv.os.packages.iter().enumerate() {
        packages.push(json!({
            "SPDXID": format!("SPDXRef-os-{i}"),
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseDeclared": declared(p.license.as_deref()),
            "primaryPackagePurpose": "OPERATING-SYSTEM",
            "externalRefs": purl_ref(&p.purl),
        }));
    }
    let mut files = Vec::new();
    for (i, d) in inv.python.iter().enumerate() {
        let mut package = json!({
            "SPDXID": format!("SPDXRef-py-{i}"),
            "name": d.name,
            "versionInfo": d.version,
            "downloadLocation": "NOASSERTION",
            "licenseDeclared": declared(d.license.as_deref()),
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": purl_ref(&d.purl),
        });
        if let Some(text) = d
            .license
            .as_deref()
            .filter(|t| spdx_expression(t).is_none())
        {
            package["licenseComments"] = json!(format!("The package's metadata says: {text}"));
        }
        if d.files.is_empty() {
            package["filesAnalyzed"] = json!(false);
        } else {
            let mut ids = Vec::new();
            for (j, f) in d.files.iter().enumerate() {
                let id = format!("SPDXRef-py-{i}-file-{j}");
                files.push(json!({
                    "SPDXID": id,
                    "fileName": format!(".{}", f.path),
                    "checksums": [
                        {"algorithm": "SHA1", "checksumValue": f.sha1},
                        {"algorithm": "SHA256", "checksumValue": f.sha256},
                    ],
                }));
                ids.push(id);
            }
            package["hasFiles"] = json!(ids);
        }
        packages.push(package);
    }
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image",
    })];
    for p in &packages[1..] {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": p["SPDXID"],
        }));
    }
    let mut creation = json!({
        "created": created,
        "creators": [format!("Tool: warp-{WARP_VERSION}")],
    });
    if let Some(why) = &inv.os.not_listed {
        creation["comment"] = json!(why);
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inv.image,
        "creationInfo": creation,
        "packages": packages,
        "files": files,
        "relationships": relationships,
    });
    if let Some(distro) = &inv.os.distro {
        doc["comment"] = json!(format!("Base operating system: {distro}"));
    }
    doc["documentNamespace"] = json!(format!(
        "https://spdx.warp.invalid/{}-{}",
        super::os::encode(&inv.image),
        content_hash(&doc)
    ));
    to_bytes(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::sbom::sample;
    use serde_json::Value;

    #[test]
    fn spdx_lists_everything_and_is_deterministic() {
        let inv = sample::inventory();
        let bytes = render(&inv, "2023-11-14T22:13:20Z");
        assert_eq!(bytes, render(&inv, "2023-11-14T22:13:20Z"));
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let names: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["team/app:1", "warp", "bash", "musl", "Flask"]);
        assert_eq!(doc["packages"][3]["licenseDeclared"], "MIT");
        assert_eq!(doc["packages"][4]["licenseDeclared"], "NOASSERTION");
        assert_eq!(
            doc["files"][0]["checksums"][1]["checksumValue"],
            "a".repeat(64)
        );
        assert!(doc["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("https://spdx.warp.invalid/team%2Fapp%3A1-"));
        let mut other = inv.clone();
        other.python[0].version = "3.0.1".into();
        assert_ne!(
            serde_json::from_slice::<Value>(&render(&other, "2023-11-14T22:13:20Z")).unwrap()
                ["documentNamespace"],
            doc["documentNamespace"]
        );
    }
}
