//! Blobs: download into the store (verified by digest, restarted when the
//! connection breaks off) and push (HEAD to skip, cross-repository mount,
//! POST+PUT upload restarted in a new session when it breaks off).
use super::request::Body;
use super::retry::{backoff, broke_off, UploadBrokeOff, ATTEMPTS};
use super::{header, short, PushBlob, RegistryClient};
use crate::error::fail;
use crate::image::progress::{self, ProgressReader};
use crate::image::reference::DockerRef;
use crate::image::store::BlobStore;
use crate::ui::human_size;
use anyhow::Result;

impl RegistryClient {
    pub(super) fn fetch_blob(
        &mut self,
        reference: &DockerRef,
        digest: &str,
        store: &BlobStore,
        what: &str,
        progress: Option<(String, u64)>,
    ) -> Result<()> {
        if store.has(digest) {
            return Ok(());
        }
        let path = format!("/v2/{}/blobs/{digest}", reference.repository);
        let scope = format!("repository:{}:pull", reference.repository);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.request("GET", &path, &[], Body::Empty, &scope)?;
            let status = response.status().as_u16();
            if status == 404 {
                return Err(self.not_found(what, reference));
            }
            if status != 200 {
                return Err(fail(
                    format!("the registry answered HTTP {status} for {what} of {reference}"),
                    "try again later",
                ));
            }
            let reader = response.into_body().into_reader();
            let stored = match &progress {
                Some((label, size)) => store.put_reader(
                    ProgressReader::new(reader, label.clone(), *size),
                    Some(digest),
                    what,
                ),
                None => store.put_reader(reader, Some(digest), what),
            };
            match stored {
                Ok(_) => return Ok(()),
                // The connection broke during the body: download it again.
                Err(e) if attempt < ATTEMPTS && broke_off(&e) => {
                    progress::clear_line();
                    let wait = backoff(attempt, None);
                    eprintln!(
                        "    {what}: the download broke off ({}); retrying in {:.1} s",
                        e.root_cause(),
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                }
                Err(e) if broke_off(&e) => {
                    return Err(fail(
                        format!(
                            "cannot download {what} of {reference} ({ATTEMPTS} attempts): {}",
                            e.root_cause()
                        ),
                        "check the network and the registry, then run the command again (blobs already downloaded are kept)",
                    ))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Put every blob in `reference`'s repository: skipped when the
    /// registry has it, mounted from `mount_from` when it can be, else
    /// uploaded.
    pub fn push_blobs(
        &mut self,
        reference: &DockerRef,
        blobs: &[PushBlob],
        store: &BlobStore,
    ) -> Result<()> {
        let repo = reference.repository.clone();
        let push_scope = format!("repository:{repo}:pull,push");
        for (i, blob) in blobs.iter().enumerate() {
            let started = std::time::Instant::now();
            let head = self.request(
                "HEAD",
                &format!("/v2/{repo}/blobs/{}", blob.digest),
                &[],
                Body::Empty,
                &push_scope,
            )?;
            let outcome = if head.status().as_u16() == 200 {
                "exists".to_string()
            } else {
                let mut mounted = false;
                let mut location = None;
                if let Some(from) = blob.mount_from.as_ref().filter(|f| **f != repo) {
                    let scope = format!("{push_scope} repository:{from}:pull");
                    let path = format!(
                        "/v2/{repo}/blobs/uploads/?mount={}&from={from}",
                        blob.digest
                    );
                    let response = self.request(
                        "POST",
                        &path,
                        &[("Content-Length", "0")],
                        Body::Empty,
                        &scope,
                    )?;
                    match response.status().as_u16() {
                        201 => mounted = true,
                        202 => location = header(&response, "location"),
                        _ => {}
                    }
                }
                if mounted {
                    "mounted".to_string()
                } else {
                    let label =
                        format!("    blob {}/{} {}", i + 1, blobs.len(), short(&blob.digest));
                    self.upload(reference, blob, location, store, label)?;
                    format!("pushed in {:.1} s", started.elapsed().as_secs_f64())
                }
            };
            eprintln!(
                "    blob {}/{} {} {} {outcome}",
                i + 1,
                blobs.len(),
                short(&blob.digest),
                human_size(blob.size)
            );
        }
        Ok(())
    }

    /// Upload one blob (POST for a session unless `location` is one, then a
    /// monolithic PUT). A PUT that breaks off or gets a 5xx/429 is not sent
    /// to the same session again (the registry may hold part of it): a new
    /// session is started, up to [`ATTEMPTS`] times.
    fn upload(
        &mut self,
        reference: &DockerRef,
        blob: &PushBlob,
        mut location: Option<String>,
        store: &BlobStore,
        label: String,
    ) -> Result<()> {
        let repo = &reference.repository;
        let push_scope = format!("repository:{repo}:pull,push");
        let path = store.path(&blob.digest)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let location = match location.take() {
                Some(l) => l,
                None => {
                    let response = self.request(
                        "POST",
                        &format!("/v2/{repo}/blobs/uploads/"),
                        &[("Content-Length", "0")],
                        Body::Empty,
                        &push_scope,
                    )?;
                    if response.status().as_u16() != 202 {
                        return Err(self.unexpected(&response, "starting an upload", reference));
                    }
                    header(&response, "location").ok_or_else(|| {
                        fail(
                            "the registry gave no upload location",
                            "the registry does not follow the distribution API",
                        )
                    })?
                }
            };
            let separator = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{separator}digest={}", blob.digest);
            let result = self.request(
                "PUT",
                &url,
                &[("Content-Type", "application/octet-stream")],
                Body::File(&path, label.clone()),
                &push_scope,
            );
            progress::clear_line();
            let cause = match result {
                Ok(response) if response.status().as_u16() == 201 => return Ok(()),
                Ok(response) if response.status().is_server_error() || response.status() == 429 => {
                    format!("HTTP {}", response.status().as_u16())
                }
                Ok(response) => {
                    return Err(self.unexpected(
                        &response,
                        &format!("uploading {}", blob.digest),
                        reference,
                    ))
                }
                Err(e) => match e.downcast::<UploadBrokeOff>() {
                    Ok(broke) => broke.0,
                    Err(e) => return Err(e),
                },
            };
            if attempt >= ATTEMPTS {
                return Err(fail(
                    format!(
                        "cannot upload {} to {reference} ({ATTEMPTS} attempts): {cause}",
                        blob.digest
                    ),
                    "check the registry and the network, then push again (blobs already there are skipped)",
                ));
            }
            let wait = backoff(attempt, None);
            eprintln!(
                "    upload of {} broke off ({cause}); starting it again in {:.1} s",
                short(&blob.digest),
                wait.as_secs_f64()
            );
            std::thread::sleep(wait);
        }
    }
}
