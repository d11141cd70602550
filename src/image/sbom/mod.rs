//! The image's software bill of materials: every OS package of the base
//! (`os`), every Python distribution of the venv with its files' hashes
//! (`python`), and warp itself — as SPDX 2.3 JSON (`spdx`) and CycloneDX 1.6
//! JSON (`cyclonedx`). Same inputs, same bytes: the only time in it is
//! SOURCE_DATE_EPOCH, the lists are sorted and the document's identifiers
//! are derived from its content. Written beside the image with `--sbom
//! FILE` (CycloneDX when FILE ends in `.cdx.json`).
pub mod cyclonedx;
pub mod os;
pub mod python;
pub mod spdx;

use crate::image::store::BlobStore;
use anyhow::{Context, Result};
use std::path::Path;

/// What the image holds.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The image's name (NAME of `warp image NAME`).
    pub image: String,
    pub os: os::OsInventory,
    pub python: Vec<python::PyDist>,
    /// The sha256 (hex) of the warp binary in /usr/local/bin.
    pub warp_sha256: String,
}

pub const WARP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `pkg:generic/warp@VERSION`
pub fn warp_purl() -> String {
    format!("pkg:generic/warp@{WARP_VERSION}")
}

/// The venv's distributions, remembered in the cache under the dependencies
/// key (the venv is the same for the same key): a code-only rebuild reads
/// no file of the venv.
pub fn python_cached(
    store: &BlobStore,
    deps_key: &str,
    app_root: &Path,
) -> Result<Vec<python::PyDist>> {
    let index = store.index_path("sbom-python-v1", deps_key);
    if let Ok(bytes) = std::fs::read(&index) {
        if let Ok(dists) = serde_json::from_slice(&bytes) {
            return Ok(dists);
        }
    }
    let dists = python::read(app_root);
    store.write_index("sbom-python-v1", deps_key, &serde_json::to_vec(&dists)?)?;
    Ok(dists)
}

/// An SPDX licence expression as the SPDX list knows it, if `text` is one.
pub fn spdx_expression(text: &str) -> Option<String> {
    ::spdx::Expression::parse(text)
        .ok()
        .map(|_| text.to_string())
}

/// JSON bytes, pretty and ending in a newline. Keys come out sorted
/// (serde_json's map is ordered unless `preserve_order` is on, and even then
/// the documents are built in a fixed order): stable bytes in one pass.
fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes
}

/// The hex sha256 of a document's compact JSON (what its identifiers derive from).
fn content_hash(value: &serde_json::Value) -> String {
    let digest = crate::image::store::sha256_digest(&serde_json::to_vec(value).expect("JSON"));
    digest["sha256:".len()..].to_string()
}

/// The image's two SBOM documents, in the blob store: (digest, size) of each.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Documents {
    pub spdx: (String, u64),
    pub cyclonedx: (String, u64),
}

impl Documents {
    /// The one `--sbom FILE` asks for: CycloneDX when FILE ends in
    /// `.cdx.json`, else SPDX.
    pub fn for_path(&self, path: &Path) -> &str {
        if path.to_string_lossy().ends_with(".cdx.json") {
            &self.cyclonedx.0
        } else {
            &self.spdx.0
        }
    }
}

/// The SPDX and CycloneDX documents of an image, rendered and stored — or,
/// when a build with the same `inputs` made them, taken from the cache.
/// The documents are a function of what the inventory is made from (the
/// dependencies key for the venv, the base's identity for its OS packages,
/// warp's hash, the image's name) and `created`: the caller passes those as
/// `inputs`, and a code-only rebuild then renders nothing and reads no file
/// of the venv or the base (the documents hold every venv file's hash: a few
/// MB of JSON for a Django app).
pub fn documents(
    store: &BlobStore,
    inputs: &[&str],
    created: &str,
    inventory: impl FnOnce() -> Result<Inventory>,
) -> Result<Documents> {
    let key =
        crate::image::store::sha256_digest([&[created], inputs].concat().join("\0").as_bytes());
    let key = &key["sha256:".len()..];
    let index = store.index_path("sbom-documents-v1", key);
    if let Ok(bytes) = std::fs::read(&index) {
        if let Ok(docs) = serde_json::from_slice::<Documents>(&bytes) {
            if store.has(&docs.spdx.0) && store.has(&docs.cyclonedx.0) {
                return Ok(docs);
            }
        }
    }
    let inventory = inventory()?;
    let stored = |bytes: Vec<u8>| -> Result<(String, u64)> {
        Ok((store.put_bytes(&bytes)?, bytes.len() as u64))
    };
    let docs = Documents {
        spdx: stored(spdx::render(&inventory, created))?,
        cyclonedx: stored(cyclonedx::render(&inventory, created))?,
    };
    store.write_index("sbom-documents-v1", key, &serde_json::to_vec(&docs)?)?;
    Ok(docs)
}

/// Write `bytes` to `path` atomically (beside it, then renamed).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("writing the SBOM in {}", parent.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| {
        super::diskfull::in_output(e.into(), parent, &format!("the SBOM {}", path.display()))
    })?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    /// A small inventory: two OS packages, one Python distribution with a file.
    pub fn inventory() -> Inventory {
        Inventory {
            image: "team/app:1".into(),
            os: os::OsInventory {
                distro: Some("debian 12".into()),
                packages: vec![
                    os::OsPackage {
                        name: "bash".into(),
                        version: "5.2.15-2+b2".into(),
                        arch: Some("amd64".into()),
                        license: None,
                        purl: "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64".into(),
                    },
                    os::OsPackage {
                        name: "musl".into(),
                        version: "1.2".into(),
                        arch: None,
                        license: Some("MIT".into()),
                        purl: "pkg:apk/alpine/musl@1.2".into(),
                    },
                ],
                not_listed: None,
            },
            python: vec![python::PyDist {
                name: "Flask".into(),
                version: "3.0.0".into(),
                license: Some("BSD License, see LICENSE".into()),
                purl: "pkg:pypi/flask@3.0.0".into(),
                files: vec![python::PyFile {
                    path: "/opt/app-root/lib/python3.11/site-packages/flask/app.py".into(),
                    sha256: "a".repeat(64),
                    sha1: "b".repeat(40),
                }],
            }],
            warp_sha256: "c".repeat(64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_rendered_once_per_inputs() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let created = "2023-11-14T22:13:20Z";
        let first = documents(&store, &["deps", "base"], created, || {
            Ok(sample::inventory())
        })
        .unwrap();
        assert_eq!(
            store.read(&first.spdx.0).unwrap(),
            spdx::render(&sample::inventory(), created)
        );
        assert_eq!(
            first.for_path(Path::new("x.cdx.json")),
            first.cyclonedx.0.as_str()
        );
        let again = documents(&store, &["deps", "base"], created, || {
            panic!("the same inputs: from the cache")
        })
        .unwrap();
        assert_eq!(again, first);
        let mut rendered = false;
        let other = documents(&store, &["deps", "another base"], created, || {
            rendered = true;
            let mut inventory = sample::inventory();
            inventory.os.packages.pop();
            Ok(inventory)
        })
        .unwrap();
        assert!(rendered && other != first);
    }
}
