//! Putting manifests by digest or tag, and attaching artifacts to an image:
//! by the registry's referrers API when it has one (it indexes a pushed
//! manifest's `subject` itself), else by the `sha256-<hex>` fallback tag
//! the distribution spec defines — an index of the artifacts, merged with
//! what the tag already lists.
use super::request::Body;
use super::RegistryClient;
use crate::error::fail;
use crate::image::reference::DockerRef;
use crate::image::{attach, media};
use anyhow::Result;
use serde_json::{json, Value};

impl RegistryClient {
    /// PUT `bytes` (of `media_type`) as the manifest `tag_or_digest`.
    pub fn put_manifest(
        &mut self,
        reference: &DockerRef,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<()> {
        let repo = &reference.repository;
        let response = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag_or_digest}"),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            &format!("repository:{repo}:pull,push"),
        )?;
        if response.status().as_u16() != 201 {
            return Err(self.unexpected(
                &response,
                &format!("putting the manifest {tag_or_digest}"),
                reference,
            ));
        }
        Ok(())
    }

    /// Whether the registry answers the referrers API for `digest`.
    fn has_referrers_api(&mut self, reference: &DockerRef, digest: &str) -> Result<bool> {
        let repo = &reference.repository;
        let response = self.request(
            "GET",
            &format!("/v2/{repo}/referrers/{digest}"),
            &[("Accept", media::OCI_INDEX)],
            Body::Empty,
            &format!("repository:{repo}:pull"),
        )?;
        let is_index = super::header(&response, "content-type")
            .is_some_and(|t| t.starts_with(media::OCI_INDEX));
        Ok(response.status().as_u16() == 200 && is_index)
    }

    /// The manifests listed under `tag` (an index), or none when the tag is not there.
    fn index_at(&mut self, reference: &DockerRef, tag: &str) -> Result<Vec<Value>> {
        let repo = &reference.repository;
        let mut response = self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", media::OCI_INDEX)],
            Body::Empty,
            &format!("repository:{repo}:pull"),
        )?;
        match response.status().as_u16() {
            404 => Ok(Vec::new()),
            200 => {
                let index: Value = response
                    .body_mut()
                    .with_config()
                    .limit(4 << 20)
                    .read_json()?;
                Ok(index["manifests"].as_array().cloned().unwrap_or_default())
            }
            _ => Err(self.unexpected(&response, &format!("reading the tag {tag}"), reference)),
        }
    }

    /// Attach `artifacts` (their blobs already pushed) to the image manifest
    /// `subject`: each manifest put by digest, then listed where clients look.
    pub fn attach(
        &mut self,
        reference: &DockerRef,
        subject: &str,
        artifacts: &[attach::Artifact],
    ) -> Result<&'static str> {
        for a in artifacts {
            self.put_manifest(reference, &a.digest, &a.manifest, media::OCI_MANIFEST)
                .map_err(|e| refused(reference, &a.artifact_type, &e))?;
        }
        if self.has_referrers_api(reference, subject)? {
            return Ok("referrers API");
        }
        let tag = attach::fallback_tag(subject);
        let mut manifests = self.index_at(reference, &tag)?;
        for a in artifacts {
            if !manifests.iter().any(|m| m["digest"] == a.digest.as_str()) {
                manifests.push(a.descriptor());
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = crate::image::config::canonical_json(&index);
        self.put_manifest(reference, &tag, &bytes, media::OCI_INDEX)
            .map_err(|e| refused(reference, "index tag that lists them", &e))?;
        Ok("fallback tag")
    }
}

/// The registry refused `what` of the attachments: one line, and the hint
/// that the image's own tag was not written (it is pushed last).
fn refused(reference: &DockerRef, what: &str, e: &anyhow::Error) -> anyhow::Error {
    fail(
        format!(
            "the registry {} refused the attachments of the image (the {what}): {}",
            reference.registry,
            e.to_string().lines().next().unwrap_or("")
        ),
        "the registry must accept OCI 1.1 artifact manifests (with `subject`) and the `sha256-<hex>` tag that lists them; the image's tag was not pushed (its blobs and manifest are there by digest, untagged); --attach=false pushes the image without them",
    )
}
