//! A client for the OCI distribution API (blocking, on ureq): pull an image
//! (an index resolves to this machine's platform; every blob verified by
//! digest and cached) and push one (HEAD to skip blobs the registry has,
//! cross-repository mount, POST+PUT upload, manifest PUT). Authentication:
//! anonymous, basic, and bearer tokens from the `WWW-Authenticate`
//! challenge, with credentials from `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json` or `~/.docker/config.json`.
//!
//! TLS: registries are spoken to over HTTPS, verified unless
//! `--tls-verify=false` (podman's flag). A registry on loopback (localhost,
//! 127.0.0.0/8, [::1]) may also speak plain HTTP, as Docker allows for
//! localhost: warp tries HTTPS first and uses HTTP only when the server
//! answers the TLS handshake in plain text. A loopback registry that does
//! speak TLS gets its certificate verified like any other (a loopback port
//! may be a tunnel to a remote registry).
//!
//! Transient failures (connection refused/reset/closed, timeouts, HTTP 5xx
//! and 429) are retried [`ATTEMPTS`]` - 1` times with exponential backoff
//! (honouring a short `Retry-After`), then reported with the last cause.
use super::progress::{self, ProgressReader};
use super::reference::{DockerRef, DOCKER_HUB};
use super::store::{sha256_digest, BlobStore};
use super::{media, LoadedImage};
use crate::error::fail;
use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Verify TLS certificates (`--tls-verify`, default true).
    pub tls_verify: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { tls_verify: true }
    }
}

/// A blob for an upload: where it is in the store, and where it may be
/// mounted from on the same registry.
#[derive(Debug, Clone)]
pub struct PushBlob {
    pub digest: String,
    pub size: u64,
    pub mount_from: Option<String>,
}

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A file, with the label of its progress line.
    File(&'a std::path::Path, String),
}

/// A session with one registry, holding the credentials and the token.
pub struct RegistryClient {
    agent: ureq::Agent,
    /// `https://host[:port]` or, for a loopback registry without TLS, `http://…`.
    base_url: String,
    registry: String,
    credentials: Option<(String, String)>,
    authorization: Option<String>,
}

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl RegistryClient {
    pub fn new(reference: &DockerRef, options: &RegistryOptions) -> Result<RegistryClient> {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .disable_verification(!options.tls_verify)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(concat!("warp/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = if reference.registry == DOCKER_HUB {
            "registry-1.docker.io".to_string()
        } else {
            reference.registry.clone()
        };
        let base_url = if reference.is_local_registry() {
            probe_loopback_scheme(&agent, &host)?
        } else {
            format!("https://{host}")
        };
        Ok(RegistryClient {
            agent,
            base_url,
            registry: reference.registry.clone(),
            credentials: credentials_for(&reference.registry)?,
            authorization: None,
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        }
    }

    /// One request with authentication (answering a 401 challenge once) and
    /// retries of transient failures.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        scope: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let url = self.url(path);
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = ureq::http::Request::builder().method(method).uri(&url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            if let Some(auth) = &self.authorization {
                builder = builder.header("Authorization", auth.as_str());
            }
            let result = match &body {
                Body::Empty => self.agent.run(builder.body(())?),
                Body::Bytes(bytes) => self.agent.run(builder.body(bytes.to_vec())?),
                Body::File(path, label) => {
                    let file = std::fs::File::open(path)?;
                    let len = file.metadata()?.len();
                    let builder = builder.header("Content-Length", len.to_string());
                    let reader = ProgressReader::new(file, label.clone(), len);
                    self.agent
                        .run(builder.body(ureq::SendBody::from_owned_reader(reader))?)
                }
            };
            let response = match result {
                Ok(response) => response,
                Err(e) => match classify(&e) {
                    // An upload is started again in a new session by `upload`.
                    Failure::Transient if matches!(body, Body::File(..)) => {
                        return Err(UploadBrokeOff(e.to_string()).into())
                    }
                    Failure::Transient if attempt < ATTEMPTS => {
                        let wait = backoff(attempt, None);
                        eprintln!("    {method} {url}: {e}; retrying in {:.1} s", wait.as_secs_f64());
                        std::thread::sleep(wait);
                        continue;
                    }
                    Failure::Certificate => return Err(untrusted_certificate(&self.registry, &e)),
                    Failure::Transient => {
                        return Err(fail(
                            format!(
                                "cannot reach the registry {} ({ATTEMPTS} attempts): {e}",
                                self.registry
                            ),
                            "check that the registry is running and reachable, then run the command again",
                        ))
                    }
                    Failure::NotTls | Failure::Other => {
                        return Err(fail(
                            format!("cannot reach the registry {}: {e}", self.registry),
                            "check the registry address and the network",
                        ))
                    }
                },
            };
            let status = response.status().as_u16();
            if (status >= 500 || status == 429) && !matches!(body, Body::File(..)) {
                if attempt < ATTEMPTS {
                    let wait = backoff(attempt, header(&response, "retry-after").as_deref());
                    eprintln!(
                        "    {method} {url}: HTTP {status}; retrying in {:.1} s",
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                    continue;
                }
                return Err(fail(
                    format!(
                        "the registry {} answered HTTP {status} to {method} {path} ({ATTEMPTS} attempts)",
                        self.registry
                    ),
                    "the registry is failing or overloaded: check its logs, then run the command again",
                ));
            }
            if status == 401 && !answered_challenge {
                answered_challenge = true;
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if self.authenticate(&challenge, scope)? {
                    // Answering the challenge is not a failed attempt.
                    attempt -= 1;
                    continue;
                }
            }
            if status == 401 || status == 403 {
                return Err(fail(
                    format!(
                        "the registry {} refused access (HTTP {status}) to {path}",
                        self.registry
                    ),
                    match self.credentials {
                        Some(_) => "check the user name and password in $REGISTRY_AUTH_FILE or ~/.docker/config.json",
                        None => "log in first (`podman login` / `docker login` write the credentials warp reads)",
                    },
                ));
            }
            return Ok(response);
        }
    }

    /// Answer a `WWW-Authenticate` challenge; false when there is nothing to try.
    fn authenticate(&mut self, challenge: &str, scope: &str) -> Result<bool> {
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            let Some((user, pass)) = &self.credentials else {
                return Ok(false);
            };
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            self.authorization = Some(format!("Basic {token}"));
            return Ok(true);
        }
        if !lower.starts_with("bearer") {
            return Ok(false);
        }
        let params = parse_challenge(&challenge[6..]);
        let Some(realm) = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
        else {
            return Ok(false);
        };
        let wanted_scope = params
            .iter()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| scope.to_string());
        if self.credentials.is_some() && !may_carry_credentials(&realm) {
            return Err(fail(
                format!("the registry {} sends its clients to a token service over plain HTTP ({realm}); warp does not send credentials there", self.registry),
                "the registry's token service must use https (plain http is accepted on loopback only)",
            ));
        }
        let mut attempt = 0;
        let mut response = loop {
            attempt += 1;
            let mut request = self.agent.get(&realm);
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                request = request.query("service", service);
            }
            // Several scopes (a cross-repository mount) are several `scope`
            // parameters, as the token specification says.
            for one_scope in wanted_scope.split_whitespace() {
                request = request.query("scope", one_scope);
            }
            if let Some((user, pass)) = &self.credentials {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                request = request.header("Authorization", format!("Basic {token}"));
            }
            match request.call() {
                Ok(response)
                    if (response.status().is_server_error() || response.status() == 429)
                        && attempt < ATTEMPTS =>
                {
                    let wait = backoff(attempt, header(&response, "retry-after").as_deref());
                    eprintln!(
                        "    token from {realm}: HTTP {}; retrying in {:.1} s",
                        response.status().as_u16(),
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                }
                Ok(response) => break response,
                Err(e) if attempt < ATTEMPTS && classify(&e) == Failure::Transient => {
                    let wait = backoff(attempt, None);
                    eprintln!(
                        "    token from {realm}: {e}; retrying in {:.1} s",
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                }
                Err(e) => {
                    return Err(fail(
                        format!("cannot get a token from {realm}: {e}"),
                        "check the network and the registry's token service",
                    ))
                }
            }
        };
        if !response.status().is_success() {
            return Ok(false);
        }
        let body: Value = response.body_mut().read_json()?;
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .unwrap_or_default();
        if token.is_empty() {
            return Ok(false);
        }
        self.authorization = Some(format!("Bearer {token}"));
        Ok(true)
    }

    fn not_found(&self, what: &str, reference: &DockerRef) -> anyhow::Error {
        fail(
            format!("{what} not found in {reference} (HTTP 404)"),
            "check the repository name and tag (`skopeo list-tags docker://REPO` lists them)",
        )
    }

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

    fn fetch_blob(
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
            let (digest, _) = super::base::pick_platform(&parsed, &reference.to_string())?;
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
            super::base::parse_config(&store.read(&config_digest)?, &reference.to_string())?;
        let layers = super::base::manifest_layers(
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

    /// Push blobs and then the manifest as `reference`'s tag; returns the manifest digest.
    pub fn push(
        &mut self,
        reference: &DockerRef,
        blobs: &[PushBlob],
        manifest: &[u8],
        store: &BlobStore,
    ) -> Result<String> {
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
        let response = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{}", reference.tag_or_latest()),
            &[("Content-Type", media::OCI_MANIFEST)],
            Body::Bytes(manifest),
            &push_scope,
        )?;
        if response.status().as_u16() != 201 {
            return Err(self.unexpected(&response, "putting the manifest", reference));
        }
        Ok(sha256_digest(manifest))
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

    fn unexpected(
        &self,
        response: &ureq::http::Response<ureq::Body>,
        doing: &str,
        reference: &DockerRef,
    ) -> anyhow::Error {
        fail(
            format!(
                "the registry answered HTTP {} while {doing} for {reference}",
                response.status().as_u16()
            ),
            "check the registry's logs; the push can be repeated safely",
        )
    }
}

/// A blob upload whose connection broke (the cause); `upload` starts it again.
#[derive(Debug)]
struct UploadBrokeOff(String);

impl std::fmt::Display for UploadBrokeOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the upload broke off: {}", self.0)
    }
}

impl std::error::Error for UploadBrokeOff {}

/// How many times a request is tried before a transient failure is reported.
pub const ATTEMPTS: u32 = 4;

/// The wait before try `attempt + 1`: 0.5, 1, 2 s…, or the registry's
/// `Retry-After` seconds when it gives a short one.
fn backoff(attempt: u32, retry_after: Option<&str>) -> Duration {
    let exponential = Duration::from_millis(500 << (attempt - 1).min(4));
    match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(seconds) if seconds <= 10 => Duration::from_secs(seconds),
        _ => exponential,
    }
}

/// What a failed connection or request means for what to do next.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The server's TLS certificate was not accepted.
    Certificate,
    /// The server answered the TLS handshake with something else (plain HTTP).
    NotTls,
    /// Worth another try: refused, reset or closed connections, timeouts.
    Transient,
    Other,
}

fn classify(error: &ureq::Error) -> Failure {
    match error {
        ureq::Error::Rustls(e) => classify_tls(e),
        ureq::Error::Io(io) => classify_io(io),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => Failure::Transient,
        _ => Failure::Other,
    }
}

fn classify_tls(error: &rustls::Error) -> Failure {
    match error {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType => Failure::Certificate,
        rustls::Error::InvalidMessage(_) => Failure::NotTls,
        _ => Failure::Other,
    }
}

fn classify_io(io: &std::io::Error) -> Failure {
    if let Some(e) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return classify_tls(e);
    }
    if let Some(e) = io.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return classify(e);
    }
    use std::io::ErrorKind::*;
    match io.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
        | TimedOut | Interrupted | WouldBlock => Failure::Transient,
        _ => Failure::Other,
    }
}

/// Whether reading a response body failed because the connection broke
/// (not a digest mismatch, not a full disk).
fn broke_off(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|io| classify_io(io) == Failure::Transient)
}

/// Credentials go to a token service over HTTPS, or plain HTTP on loopback.
/// Whether credentials may be sent to a token service at `realm`: https, or
/// plain http on loopback only. Public for the fuzz targets.
pub fn may_carry_credentials(realm: &str) -> bool {
    if realm.starts_with("https://") {
        return true;
    }
    let Some(rest) = realm.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    DockerRef {
        registry: host.to_string(),
        repository: String::new(),
        tag: None,
        digest: None,
    }
    .is_local_registry()
}

fn untrusted_certificate(registry: &str, error: &ureq::Error) -> anyhow::Error {
    fail(
        format!("the TLS certificate of the registry {registry} is not trusted: {error}"),
        "for a registry with a self-signed certificate use --tls-verify=false, or add its CA to the system's trust store",
    )
}

/// `https://host` when the loopback registry at `host` speaks TLS, else
/// `http://host` (the server answered the handshake in plain text).
/// Connection failures are retried as any request's are.
fn probe_loopback_scheme(agent: &ureq::Agent, host: &str) -> Result<String> {
    let https = format!("https://{host}");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match agent.get(format!("{https}/v2/")).call() {
            Ok(_) => return Ok(https),
            Err(e) => e,
        };
        match classify(&error) {
            Failure::NotTls => return Ok(format!("http://{host}")),
            Failure::Certificate => return Err(untrusted_certificate(host, &error)),
            Failure::Transient if attempt < ATTEMPTS => {
                let wait = backoff(attempt, None);
                eprintln!(
                    "    connecting to {host}: {error}; retrying in {:.1} s",
                    wait.as_secs_f64()
                );
                std::thread::sleep(wait);
            }
            Failure::Transient => {
                return Err(fail(
                    format!("cannot reach the registry {host} ({ATTEMPTS} attempts): {error}"),
                    "check that the registry is running and reachable, then run the command again",
                ))
            }
            Failure::Other => {
                return Err(fail(
                    format!("cannot reach the registry {host}: {error}"),
                    "check the registry address and the network",
                ))
            }
        }
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `sha256:0123456789ab`
pub fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    }
}

/// `realm="…",service="…",scope="…"` → pairs. Public for the fuzz targets.
pub fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].to_string(), &after[end..]),
                None => (after.to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

/// The first auth file that exists: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`.
fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(f));
        return files;
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}

/// The user name and password stored for `registry`, if any.
fn credentials_for(registry: &str) -> Result<Option<(String, String)>> {
    for file in auth_files() {
        let Ok(text) = std::fs::read(&file) else {
            continue;
        };
        let json: Value = serde_json::from_slice(&text).map_err(|e| {
            fail(
                format!("{} is not valid JSON: {e}", file.display()),
                "fix or remove the file (podman login / docker login rewrite it)",
            )
        })?;
        let auths = &json["auths"];
        let keys = if registry == DOCKER_HUB {
            vec![
                "docker.io".to_string(),
                "https://index.docker.io/v1/".to_string(),
            ]
        } else {
            vec![
                registry.to_string(),
                format!("https://{registry}"),
                format!("http://{registry}"),
            ]
        };
        for key in keys {
            if let Some(encoded) = auths[&key]["auth"].as_str() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    });
                if let Some(pair) = decoded {
                    return Ok(Some(pair));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed() {
        let params = parse_challenge(
            r#" realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            params[0],
            ("realm".into(), "https://auth.example/token".into())
        );
        assert_eq!(params[1], ("service".into(), "registry.example".into()));
        assert_eq!(params[2], ("scope".into(), "repository:a/b:pull".into()));
    }

    #[test]
    fn credentials_go_to_https_realms_or_plain_http_on_loopback_only() {
        assert!(may_carry_credentials("https://auth.example/token"));
        assert!(may_carry_credentials("http://127.0.0.1:5001/token"));
        assert!(may_carry_credentials("http://localhost/token?x=1"));
        assert!(!may_carry_credentials("http://auth.example/token"));
        assert!(!may_carry_credentials("http://127.0.0.1.example.com/token"));
        assert!(!may_carry_credentials("ftp://auth.example/token"));
    }

    #[test]
    fn backoff_doubles_and_honours_a_short_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_millis(500));
        assert_eq!(backoff(2, None), Duration::from_secs(1));
        assert_eq!(backoff(3, None), Duration::from_secs(2));
        assert_eq!(backoff(1, Some("3")), Duration::from_secs(3));
        assert_eq!(backoff(1, Some("3600")), Duration::from_millis(500));
        assert_eq!(
            backoff(2, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
    }
}
