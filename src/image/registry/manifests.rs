//! Manifests: fetch one by tag or digest (verified when asked by digest),
//! pull an image (an index resolved to this platform, then its config and
//! layers), push an image (its blobs, then the manifest under the tag).
use super::request::Body;
use super::{short, PushBlob, RegistryClient, MANIFEST_ACCEPT};
use crate::error::fail;
use crate::image::progress;
use crate::image::reference::DockerRef;
use crate::image::store::{sha256_digest, BlobStore};
use crate::image::{media, LoadedImage};
use crate::ui::human_size;
use anyhow::{Context, Result};
use serde_json::Value;

impl RegistryClient {
    /// Fetch a manifest (or index) by tag or digest; returns bytes and media type.
    fn get_manifest(
        &mut self,
        reference: &DockerRef,
        tag_or_digest: &str,
    ) -> Result<(Vec<u8>, String)> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", reference.repository);
        let scope = format!("repository:{}:pull", reference.repository);
        let mut response = self.request(
            "GET",
            &path,
            &[("Accept", MANIFEST_ACCEPT)],
            Body::Empty,
            &scope,
        )?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(self.not_found(&format!("the manifest {tag_or_digest}"), reference));
        }
        if status != 200 {
            return Err(fail(
                format!("the registry answered HTTP {status} for the manifest of {reference}"),
                "try again later, or check the registry's logs",
            ));
        }
        let media_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(media::OCI_MANIFEST)
            .to_string();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(8 << 20)
            .read_to_vec()?;
        if tag_or_digest.starts_with("sha256:") && sha256_digest(&bytes) != tag_or_digest {
            return Err(fail(
                format!("digest mismatch for the manifest of {reference}: expected {tag_or_digest}, got {}", sha256_digest(&bytes)),
                "the registry returned different content than the digest names; do not trust this image",
            ));
        }
        Ok((bytes, media_type))
    }

    /// Pull `reference` into `store`.
    pub fn pull(&mut self, reference: &DockerRef, store: &BlobStore) -> Result<LoadedImage> {
        let (mut bytes, mut media_type) = self.get_manifest(reference, reference.reference())?;
        let mut parsed: Value =
            serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        let media_of_body = parsed["mediaType"]
            .as_str()
            .unwrap_or(&media_type)
            .to_string();
        if media::is_index(&media_type) || media::is_index(&media_of_body) {
            let (digest, _) = crate::image::base::pick_platform(&parsed, &reference.to_string())?;
            (bytes, media_type) = self.get_manifest(reference, &digest)?;
            parsed = serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        }
        let _ = media_type;
        let manifest_digest = store.put_bytes(&bytes)?;
        let config_digest = parsed["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.fetch_blob(reference, &config_digest, store, "the image config", None)?;
        let config =
            crate::image::base::parse_config(&store.read(&config_digest)?, &reference.to_string())?;
        let layers = crate::image::base::manifest_layers(
            &parsed,
            &config,
            &reference.to_string(),
            "the image in the registry is damaged",
        )?;
        for (i, layer) in layers.iter().enumerate() {
            let (digest, size) = (&layer.digest, layer.size);
            let cached = store.has(digest);
            let started = std::time::Instant::now();
            let label = format!("    layer {}/{} {}", i + 1, layers.len(), short(digest));
            self.fetch_blob(
                reference,
                digest,
                store,
                &format!("layer {digest}"),
                Some((label.clone(), size)),
            )?;
            progress::clear_line();
            eprintln!(
                "{label} {} {}",
                human_size(size),
                if cached {
                    "cached".to_string()
                } else {
                    format!("pulled in {:.1} s", started.elapsed().as_secs_f64())
                }
            );
        }
        Ok(LoadedImage {
            config,
            layers,
            identity: manifest_digest,
        })
    }

    /// Push an image: its blobs, its manifest by digest, then `before_tag`
    /// (what is attached to it), and only then the manifest under
    /// `reference`'s tag — a failure before leaves no tag pointing at a
    /// half-pushed image. Returns the manifest digest.
    pub fn push(
        &mut self,
        reference: &DockerRef,
        blobs: &[PushBlob],
        manifest: &[u8],
        store: &BlobStore,
        before_tag: &mut dyn FnMut(&mut RegistryClient, &str) -> Result<()>,
    ) -> Result<String> {
        self.push_blobs(reference, blobs, store)?;
        let digest = sha256_digest(manifest);
        self.put_manifest(reference, &digest, manifest, media::OCI_MANIFEST)?;
        before_tag(self, &digest)?;
        self.put_manifest(
            reference,
            reference.tag_or_latest(),
            manifest,
            media::OCI_MANIFEST,
        )?;
        Ok(digest)
    }
}
