//! Between the app layer and the outputs: the documents about the finished
//! image — its SBOM (SPDX and CycloneDX) and its provenance statement — as
//! OCI artifacts whose subject is the image manifest.
use crate::image::attach::{self, Artifact};
use crate::image::config::Assembled;
use crate::image::provenance;
use crate::image::sbom::{self, Inventory};
use crate::image::store::BlobStore;
use anyhow::Result;

/// The attachments of `image`: SPDX, CycloneDX, provenance (in that order).
pub fn attachments(
    store: &BlobStore,
    image: &Assembled,
    inventory: &Inventory,
    provenance: &provenance::Facts,
    created: &str,
) -> Result<Vec<Artifact>> {
    let subject = (image.manifest_digest.as_str(), image.manifest.len());
    let created_at = [("org.opencontainers.image.created", created)];
    let statement = provenance::statement(&provenance::Facts {
        manifest_digest: image.manifest_digest.clone(),
        ..provenance.clone()
    });
    Ok(vec![
        attach::artifact(
            store,
            attach::SPDX,
            &sbom::spdx::render(inventory, created),
            subject,
            &created_at,
        )?,
        attach::artifact(
            store,
            attach::CYCLONEDX,
            &sbom::cyclonedx::render(inventory, created),
            subject,
            &created_at,
        )?,
        attach::artifact(
            store,
            attach::IN_TOTO,
            &statement,
            subject,
            &[
                ("org.opencontainers.image.created", created),
                ("in-toto.io/predicate-type", provenance::PREDICATE_TYPE),
            ],
        )?,
    ])
}
