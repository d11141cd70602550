//! Attachments: documents about an image (its SBOMs, its provenance) as OCI
//! 1.1 artifacts — a manifest with an `artifactType`, the empty config, the
//! document as its one layer, and `subject` = the image manifest — so that
//! registries and tools find them as the image's referrers. They go into
//! OCI layout outputs (listed in index.json beside the image) and are pushed
//! with the image (see `registry::referrers`).
use super::config::canonical_json;
use super::media;
use super::store::{sha256_digest, BlobStore};
use anyhow::Result;
use serde_json::{json, Value};

pub const SPDX: &str = "application/spdx+json";
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The OCI 1.1 empty descriptor's content, `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
pub const EMPTY_MEDIA: &str = "application/vnd.oci.empty.v1+json";

/// One artifact manifest, its blobs already in the store.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub artifact_type: String,
    pub manifest: Vec<u8>,
    pub digest: String,
    /// The blobs it refers to: (digest, size) of the empty config and the document.
    pub blobs: Vec<(String, u64)>,
}

impl Artifact {
    /// Its descriptor, as an index (or the referrers fallback tag) lists it.
    pub fn descriptor(&self) -> Value {
        let parsed: Value = serde_json::from_slice(&self.manifest).unwrap_or_default();
        let mut d = json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": self.digest,
            "size": self.manifest.len(),
            "artifactType": self.artifact_type,
        });
        if let Some(a) = parsed.get("annotations") {
            d["annotations"] = a.clone();
        }
        d
    }
}

/// Store the artifact manifest that attaches `document` (digest, size; in
/// the store already) to the image manifest `subject` (digest, size).
pub fn artifact(
    store: &BlobStore,
    artifact_type: &str,
    document: (&str, u64),
    subject: (&str, usize),
    annotations: &[(&str, &str)],
) -> Result<Artifact> {
    let empty = store.put_bytes(EMPTY_JSON)?;
    let (doc, doc_size) = (document.0.to_string(), document.1);
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA, "digest": empty, "size": EMPTY_JSON.len()},
        "layers": [{"mediaType": artifact_type, "digest": doc, "size": doc_size}],
        "subject": {"mediaType": media::OCI_MANIFEST, "digest": subject.0, "size": subject.1},
    });
    if !annotations.is_empty() {
        manifest["annotations"] = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let bytes = canonical_json(&manifest);
    let digest = store.put_bytes(&bytes)?;
    debug_assert_eq!(digest, sha256_digest(&bytes));
    Ok(Artifact {
        artifact_type: artifact_type.to_string(),
        manifest: bytes,
        digest,
        blobs: vec![(empty, EMPTY_JSON.len() as u64), (doc, doc_size)],
    })
}

/// The tag the distribution spec's referrers fallback uses for `digest`:
/// `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_points_at_its_subject() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let subject = format!("sha256:{}", "a".repeat(64));
        let document = b"{\"spdxVersion\":\"SPDX-2.3\"}";
        let doc = store.put_bytes(document).unwrap();
        let a = artifact(
            &store,
            SPDX,
            (&doc, document.len() as u64),
            (&subject, 512),
            &[("org.opencontainers.image.created", "2023-11-14T22:13:20Z")],
        )
        .unwrap();
        let m: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["artifactType"], SPDX);
        assert_eq!(m["subject"]["digest"], subject.as_str());
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            store.read(&a.blobs[1].0).unwrap(),
            b"{\"spdxVersion\":\"SPDX-2.3\"}"
        );
        assert_eq!(
            a.descriptor()["annotations"]["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        oci_spec::image::ImageManifest::from_reader(a.manifest.as_slice()).unwrap();
        assert_eq!(fallback_tag(&subject), format!("sha256-{}", "a".repeat(64)));
    }
}
