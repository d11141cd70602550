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
