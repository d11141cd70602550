//! What a failed connection or request means (an untrusted certificate, a
//! plain-HTTP server, a transient failure worth another try), the backoff
//! between tries, and the HTTPS-or-HTTP probe of a loopback registry.
use crate::error::fail;
use anyhow::Result;
use std::time::Duration;

/// A blob upload whose connection broke (the cause); `upload` starts it again.
#[derive(Debug)]
pub(super) struct UploadBrokeOff(pub String);

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
pub(super) fn backoff(attempt: u32, retry_after: Option<&str>) -> Duration {
    let exponential = Duration::from_millis(500 << (attempt - 1).min(4));
    match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(seconds) if seconds <= 10 => Duration::from_secs(seconds),
        _ => exponential,
    }
}

/// What a failed connection or request means for what to do next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The server's TLS certificate was not accepted.
    Certificate,
    /// The server answered the TLS handshake with something else (plain HTTP).
    NotTls,
    /// Worth another try: refused, reset or closed connections, timeouts.
    Transient,
    Other,
}

pub(super) fn classify(error: &ureq::Error) -> Failure {
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
pub(super) fn broke_off(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|io| classify_io(io) == Failure::Transient)
}

pub(super) fn untrusted_certificate(registry: &str, error: &ureq::Error) -> anyhow::Error {
    fail(
        format!("the TLS certificate of the registry {registry} is not trusted: {error}"),
        "for a registry with a self-signed certificate use --tls-verify=false, or add its CA to the system's trust store",
    )
}

/// `https://host` when the loopback registry at `host` speaks TLS, else
/// `http://host` (the server answered the handshake in plain text).
/// Connection failures are retried as any request's are.
pub(super) fn probe_loopback_scheme(agent: &ureq::Agent, host: &str) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
