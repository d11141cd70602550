//! Authentication: answering a `WWW-Authenticate` challenge (basic, or a
//! bearer token from the token service — credentials sent over HTTPS or to
//! loopback only), and the credentials podman/docker login stored.
use super::retry::{backoff, classify, Failure, ATTEMPTS};
use super::{header, RegistryClient};
use crate::error::fail;
use crate::image::reference::{DockerRef, DOCKER_HUB};
use anyhow::Result;
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;

impl RegistryClient {
    /// Answer a `WWW-Authenticate` challenge; false when there is nothing to try.
    pub(super) fn authenticate(&mut self, challenge: &str, scope: &str) -> Result<bool> {
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
}

/// Credentials go to a token service over HTTPS, or plain HTTP on loopback.
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
pub(super) fn credentials_for(registry: &str) -> Result<Option<(String, String)>> {
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
}
