//! The builder half, second part: OCI image layers assembled directly from a
//! base image and a build run inside its root filesystem — no daemon, no
//! Dockerfile, reproducible digests.
//!
//! base (any transport) ─▶ store ─▶ unpack ─▶ sandbox (`warp build` inside)
//!   ─▶ layers (runtime, dependencies, app) ─▶ config + manifest ─▶ outputs
//!
//! `--builder` (builder.rs) takes the same road without the app: base ─▶
//! runtime layer + S2I scripts layer ─▶ the builder's config ─▶ outputs.

pub mod app;
pub mod attach;
pub mod base;
pub mod builder;
pub mod config;
pub mod diskfull;
pub mod layer;
pub mod output;
pub mod progress;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod roots;
pub mod sandbox;
pub mod sbom;
pub mod sign;
pub mod source;
pub mod stage;
pub mod store;
pub mod unpack;

use oci_spec::image::ImageConfiguration;

/// One layer of an image, as the manifest and the config know it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// The blob's media type (an OCI layer type).
    pub media_type: String,
    /// Digest of the blob as stored (compressed or not).
    pub digest: String,
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
}

/// An image whose blobs are all in the store.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub config: ImageConfiguration,
    pub layers: Vec<Layer>,
    /// What identifies the image for cache keys: the manifest digest (the
    /// config digest for a docker archive, which has no manifest).
    pub identity: String,
}

/// Media types warp reads and writes.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }

    /// The OCI name of a layer media type (Docker's are converted).
    pub fn to_oci_layer(media_type: &str) -> String {
        match media_type {
            "application/vnd.docker.image.rootfs.diff.tar.gzip" => OCI_LAYER_GZIP.to_string(),
            "application/vnd.docker.image.rootfs.diff.tar" => OCI_LAYER_TAR.to_string(),
            other => other.to_string(),
        }
    }
}
