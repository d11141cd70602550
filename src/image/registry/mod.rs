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
//!
//! One responsibility per file: `request` (one request: authentication,
//! retries), `auth` (challenges, token service, stored credentials),
//! `retry` (what a failure means, backoff, the loopback scheme probe),
//! `blobs` (download, HEAD/mount/upload), `manifests` (pull, push) and
//! `referrers` (manifests by digest, artifacts attached to an image).
mod auth;
mod blobs;
mod manifests;
mod referrers;
mod request;
mod retry;

pub use auth::{may_carry_credentials, parse_challenge};
pub use retry::ATTEMPTS;

use super::reference::{DockerRef, DOCKER_HUB};
use crate::error::fail;
use anyhow::Result;
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
            retry::probe_loopback_scheme(&agent, &host)?
        } else {
            format!("https://{host}")
        };
        Ok(RegistryClient {
            agent,
            base_url,
            registry: reference.registry.clone(),
            credentials: auth::credentials_for(&reference.registry)?,
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

    fn not_found(&self, what: &str, reference: &DockerRef) -> anyhow::Error {
        fail(
            format!("{what} not found in {reference} (HTTP 404)"),
            "check the repository name and tag (`skopeo list-tags docker://REPO` lists them)",
        )
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
