//! One request to the registry: the credentials or token sent, a 401
//! challenge answered once, transient failures retried with backoff (an
//! upload is restarted by its caller instead), refusals said plainly.
use super::retry::{backoff, classify, untrusted_certificate, Failure, UploadBrokeOff, ATTEMPTS};
use super::{header, RegistryClient};
use crate::error::fail;
use crate::image::progress::ProgressReader;
use anyhow::Result;

pub(super) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A file, with the label of its progress line.
    File(&'a std::path::Path, String),
}

impl RegistryClient {
    /// One request with authentication (answering a 401 challenge once) and
    /// retries of transient failures.
    pub(super) fn request(
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
}
