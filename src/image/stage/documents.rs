//! Between the app layer and the outputs: the documents about the finished
//! image — its SBOM (SPDX and CycloneDX, rendered or cached by
//! `sbom::documents`) and its provenance statement — as OCI artifacts whose
//! subject is the image manifest.
use crate::image::attach::{self, Artifact};
use crate::image::config::Assembled;
use crate::image::provenance;
use crate::image::sbom::Documents;
use crate::image::store::BlobStore;
use anyhow::Result;

/// The attachments of `image`: SPDX, CycloneDX, provenance (in that order).
pub fn attachments(
    store: &BlobStore,
    image: &Assembled,
    sboms: &Documents,
    provenance: &provenance::Facts,
    created: &str,
) -> Result<Vec<Artifact>> {
    let subject = (image.manifest_digest.as_str(), image.manifest.len());
    let created_at = [("org.opencontainers.image.created", created)];
    let statement = provenance::statement(&provenance::Facts {
        manifest_digest: image.manifest_digest.clone(),
        ..provenance.clone()
    });
    let statement_digest = store.put_bytes(&statement)?;
    Ok(vec![
        attach::artifact(
            store,
            attach::SPDX,
            (&sboms.spdx.0, sboms.spdx.1),
            subject,
            &created_at,
        )?,
        attach::artifact(
            store,
            attach::CYCLONEDX,
            (&sboms.cyclonedx.0, sboms.cyclonedx.1),
            subject,
            &created_at,
        )?,
        attach::artifact(
            store,
            attach::IN_TOTO,
            (&statement_digest, statement.len() as u64),
            subject,
            &[
                ("org.opencontainers.image.created", created),
                ("in-toto.io/predicate-type", provenance::PREDICATE_TYPE),
            ],
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_attachments_name_the_image_and_the_provenance_its_digest() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let manifest = br#"{"schemaVersion":2}"#.to_vec();
        let image = Assembled {
            config: b"{}".to_vec(),
            config_digest: store.put_bytes(b"{}").unwrap(),
            manifest_digest: store.put_bytes(&manifest).unwrap(),
            manifest,
            layers: vec![],
        };
        let spdx = br#"{"spdxVersion":"SPDX-2.3"}"#;
        let cyclonedx = br#"{"bomFormat":"CycloneDX"}"#;
        let sboms = Documents {
            spdx: (store.put_bytes(spdx).unwrap(), spdx.len() as u64),
            cyclonedx: (store.put_bytes(cyclonedx).unwrap(), cyclonedx.len() as u64),
        };
        let facts = provenance::Facts {
            image_name: "localhost/app:1".into(),
            manifest_digest: String::new(),
            base: "debian-python:bookworm".into(),
            base_digest: "sha256:base".into(),
            warp_sha256: "ab".into(),
            revision: None,
            dirty: None,
            remote_url: None,
            lock_files: vec![],
            source_date_epoch: 0,
            installer: "uv 0.13".into(),
            layer_compression: "gzip".into(),
        };
        let created = "1970-01-01T00:00:00Z";
        let made = attachments(&store, &image, &sboms, &facts, created).unwrap();
        let kinds: Vec<&str> = made.iter().map(|a| a.artifact_type.as_str()).collect();
        assert_eq!(kinds, [attach::SPDX, attach::CYCLONEDX, attach::IN_TOTO]);
        for artifact in &made {
            let m: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
            assert_eq!(m["subject"]["digest"], image.manifest_digest.as_str());
            assert_eq!(
                m["annotations"]["org.opencontainers.image.created"],
                created
            );
        }
        assert!(made[0].blobs.contains(&sboms.spdx));
        // The statement names the image by the manifest digest it was given.
        let (statement, _) = made[2].blobs.last().unwrap();
        let statement: serde_json::Value =
            serde_json::from_slice(&store.read(statement).unwrap()).unwrap();
        assert_eq!(statement["predicateType"], provenance::PREDICATE_TYPE);
        let digest = image.manifest_digest.trim_start_matches("sha256:");
        assert_eq!(statement["subject"][0]["digest"]["sha256"], digest);
    }
}
