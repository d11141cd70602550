//! Builds the PEP 3333 `environ` dict for one request.
//!
//! The constant part (wsgi.version, wsgi.errors, multithread …) is made once
//! and copied per request. Text follows PEP 3333's "native strings": bytes
//! from the wire become `str` by latin-1 (each byte one code point), PATH_INFO
//! after percent-decoding. Header names containing `_` are dropped (never
//! merged with their `-` twins); repeated headers are joined with ", ".
//! Nothing from the process environment is copied in.
use crate::config::Cidr;
use crate::context::Shared;
use crate::request::Job;
use crate::wsgi::input::Input;
use http::header::{HeaderMap, HeaderValue};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{intern, sync::PyOnceLock};
use std::net::{IpAddr, SocketAddr};

static TEMPLATE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The keys every environ has, made once per process.
pub fn init_template(
    py: Python<'_>,
    shared: &Shared,
    file_wrapper: Bound<'_, PyAny>,
) -> PyResult<()> {
    let d = PyDict::new(py);
    d.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
    d.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
    d.set_item("wsgi.multithread", shared.config.max_threads > 1)?;
    d.set_item("wsgi.multiprocess", shared.config.processes > 1)?;
    d.set_item("wsgi.run_once", false)?;
    d.set_item("wsgi.input_terminated", true)?;
    d.set_item("wsgi.file_wrapper", file_wrapper)?;
    d.set_item(
        "SERVER_SOFTWARE",
        concat!("warpserver/", env!("CARGO_PKG_VERSION")),
    )?;
    let _ = TEMPLATE.set(py, d.unbind());
    Ok(())
}

/// Bytes as a latin-1 `str` (every byte maps to the code point of its value).
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    if bytes.is_ascii() {
        // SAFETY of from_utf8: ASCII is valid UTF-8.
        PyString::new(py, std::str::from_utf8(bytes).unwrap())
    } else {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        PyString::new(py, &text)
    }
}

/// Percent-decode a URL path to bytes; malformed escapes are kept as they are.
pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Where the request really came from, after believing trusted proxies.
pub struct Origin {
    pub remote_addr: String,
    pub scheme: &'static str,
    pub host: Option<String>,
    pub port: Option<String>,
}

pub fn origin(headers: &HeaderMap, peer: SocketAddr, shared: &Shared) -> Origin {
    let mut origin = Origin {
        remote_addr: peer.ip().to_string(),
        scheme: "http",
        host: None,
        port: None,
    };
    if shared.trusted.is_empty() || !is_trusted(&shared.trusted, peer.ip()) {
        return origin;
    }
    let allowed = |name: &str| {
        let list = &shared.config.trust_proxy_headers;
        list.is_empty() || list.iter().any(|h| h.eq_ignore_ascii_case(name))
    };
    let text = |name: &str| -> Option<String> {
        let joined: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!joined.is_empty()).then(|| joined.join(","))
    };
    if allowed("forwarded") {
        if let Some(value) = text("forwarded") {
            // RFC 7239: the element added by the nearest untrusted hop.
            let elements: Vec<&str> = value.split(',').collect();
            for element in elements.iter().rev() {
                let mut client = None;
                for pair in element.split(';') {
                    let Some((k, v)) = pair.trim().split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"');
                    match k.trim().to_ascii_lowercase().as_str() {
                        // An empty node (`for=""`, `for=":80"`) names no
                        // client: ignored (fuzzing found REMOTE_ADDR = "").
                        "for" => client = Some(strip_port(v)).filter(|c| !c.is_empty()),
                        "proto" => {
                            origin.scheme = if v.eq_ignore_ascii_case("https") {
                                "https"
                            } else {
                                "http"
                            }
                        }
                        "host" => origin.host = Some(v.to_string()),
                        _ => {}
                    }
                }
                if let Some(client) = client {
                    let trusted = client
                        .parse::<IpAddr>()
                        .map(|ip| is_trusted(&shared.trusted, ip))
                        .unwrap_or(false);
                    origin.remote_addr = client;
                    if !trusted {
                        break;
                    }
                }
            }
        }
    }
    if allowed("x-forwarded-for") {
        if let Some(value) = text("x-forwarded-for") {
            for hop in value
                .split(',')
                .map(str::trim)
                .rev()
                .filter(|h| !h.is_empty())
            {
                origin.remote_addr = hop.to_string();
                match hop.parse::<IpAddr>() {
                    Ok(ip) if is_trusted(&shared.trusted, ip) => continue,
                    _ => break,
                }
            }
        }
    }
    if allowed("x-forwarded-proto") {
        if let Some(proto) = text("x-forwarded-proto") {
            let last = proto.rsplit(',').next().unwrap_or("").trim();
            origin.scheme = if last.eq_ignore_ascii_case("https") {
                "https"
            } else {
                "http"
            };
        }
    }
    if allowed("x-forwarded-host") {
        if let Some(host) = text("x-forwarded-host") {
            origin.host = Some(host.rsplit(',').next().unwrap_or("").trim().to_string());
        }
    }
    if allowed("x-forwarded-port") {
        if let Some(port) = text("x-forwarded-port") {
            let port = port.rsplit(',').next().unwrap_or("").trim().to_string();
            if port.parse::<u16>().is_ok() {
                origin.port = Some(port);
            }
        }
    }
    origin
}

fn strip_port(node: &str) -> String {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match node.split_once(':') {
        Some((ip, _)) if node.matches(':').count() == 1 => ip.to_string(),
        _ => node.to_string(),
    }
}

/// `host[:port]` (IPv6 in brackets) → (name, port).
fn split_host(host: &str, default_port: &str) -> (String, String) {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, tail)) => (format!("[{ip}]"), tail.strip_prefix(':')),
            None => (host.to_string(), None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name.to_string(), Some(port)),
            None => (host.to_string(), None),
        }
    };
    match port.filter(|p| p.parse::<u16>().is_ok()) {
        Some(port) => (name, port.to_string()),
        None => (name, default_port.to_string()),
    }
}

fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// `HTTP_` + upper-cased name with `-` → `_`; None for names PEP 3333 forbids
/// us to pass (containing `_`) and for the two that have their own keys.
fn cgi_name(name: &str) -> Option<String> {
    if name.contains('_') || name == "content-type" || name == "content-length" {
        return None;
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    for c in name.chars() {
        key.push(if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        });
    }
    Some(key)
}

fn joined(values: http::header::GetAll<'_, HeaderValue>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(v.as_bytes());
    }
    out
}

pub fn build<'py>(py: Python<'py>, job: &Job, shared: &Shared) -> PyResult<Bound<'py, PyDict>> {
    let template = TEMPLATE
        .get(py)
        .expect("environ template initialised by serve()");
    let env = template.bind(py).copy()?;
    env.set_item(
        intern!(py, "REQUEST_METHOD"),
        PyString::new(py, job.method.as_str()),
    )?;

    let raw_path = job.uri.path().as_bytes();
    let decoded = percent_decode(raw_path);
    let script_name = shared.config.script_name.trim_end_matches('/');
    let path_info: &[u8] = match decoded.strip_prefix(script_name.as_bytes()) {
        Some(rest) if !script_name.is_empty() && (rest.is_empty() || rest[0] == b'/') => rest,
        _ => &decoded,
    };
    let script = if path_info.len() == decoded.len() {
        ""
    } else {
        script_name
    };
    env.set_item(intern!(py, "SCRIPT_NAME"), script)?;
    env.set_item(intern!(py, "PATH_INFO"), latin1(py, path_info))?;
    // Latin-1, byte for byte: the request line may carry bytes above 0x7f
    // in the query, which as UTF-8 text would not be latin-1 (found by the
    // fuzz target request_environ).
    let query = job.uri.query().unwrap_or("");
    env.set_item(intern!(py, "QUERY_STRING"), latin1(py, query.as_bytes()))?;
    // The request target as sent (latin-1), like gunicorn's RAW_URI.
    let request_uri = match job.uri.path_and_query() {
        Some(pq) if job.method != http::Method::CONNECT => pq.as_str(),
        _ => job.uri.authority().map(|a| a.as_str()).unwrap_or(""),
    };
    let request_uri = latin1(py, request_uri.as_bytes());
    env.set_item(intern!(py, "REQUEST_URI"), &request_uri)?;
    env.set_item(intern!(py, "RAW_URI"), &request_uri)?;
    env.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        if job.version == http::Version::HTTP_10 {
            intern!(py, "HTTP/1.0")
        } else {
            intern!(py, "HTTP/1.1")
        },
    )?;

    let origin = origin(&job.headers, job.peer, shared);
    env.set_item(intern!(py, "REMOTE_ADDR"), origin.remote_addr.as_str())?;
    env.set_item(intern!(py, "REMOTE_PORT"), job.peer.port().to_string())?;
    env.set_item(intern!(py, "wsgi.url_scheme"), origin.scheme)?;

    let mut host_header: Option<Vec<u8>> = None;
    for name in job.headers.keys() {
        let name_str = name.as_str();
        match name_str {
            "content-type" => {
                env.set_item(
                    intern!(py, "CONTENT_TYPE"),
                    latin1(py, &joined(job.headers.get_all(name))),
                )?;
            }
            "content-length" => {
                env.set_item(
                    intern!(py, "CONTENT_LENGTH"),
                    latin1(py, &joined(job.headers.get_all(name))),
                )?;
            }
            _ => {
                if let Some(key) = cgi_name(name_str) {
                    let value = joined(job.headers.get_all(name));
                    if name_str == "host" {
                        host_header = Some(value.clone());
                    }
                    env.set_item(key, latin1(py, &value))?;
                }
            }
        }
    }
    if let Some(host) = &origin.host {
        env.set_item(intern!(py, "HTTP_HOST"), host.as_str())?;
        host_header = Some(host.as_bytes().to_vec());
    }

    // SERVER_NAME/PORT: from the Host header like gunicorn, else the settings, else the socket.
    let default_port = shared
        .config
        .server_port
        .unwrap_or(job.local.port())
        .to_string();
    let default_scheme_port = if origin.scheme == "https" {
        "443"
    } else {
        "80"
    };
    // Latin-1 like every native string (a lossy UTF-8 decoding would put
    // U+FFFD, outside latin-1, in SERVER_NAME: found by the fuzz target
    // request_environ).
    let host_text = host_header
        .as_deref()
        .map(|b| b.iter().map(|&c| c as char).collect::<String>());
    let (server_name, mut server_port) = match host_text {
        Some(host) => split_host(&host, default_scheme_port),
        None => (
            shared
                .config
                .server_name
                .clone()
                .unwrap_or_else(|| job.local.ip().to_string()),
            default_port,
        ),
    };
    if let Some(port) = origin.port {
        server_port = port;
    }
    env.set_item(intern!(py, "SERVER_NAME"), server_name)?;
    env.set_item(intern!(py, "SERVER_PORT"), server_port)?;
    env.set_item(
        intern!(py, "warpserver.request_id"),
        job.request_id.as_str(),
    )?;
    env.set_item(
        intern!(py, "wsgi.input"),
        Bound::new(py, Input::new(job.body.clone()))?,
    )?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode(b"/a%20b"), b"/a b");
        assert_eq!(percent_decode(b"/%C3%A0"), vec![b'/', 0xC3, 0xA0]);
        assert_eq!(percent_decode(b"/%zz%2"), b"/%zz%2");
        assert_eq!(percent_decode(b"/%2e%2E"), b"/..");
    }

    #[test]
    fn host_splitting() {
        assert_eq!(
            split_host("example.com:8080", "80"),
            ("example.com".into(), "8080".into())
        );
        assert_eq!(
            split_host("example.com", "443"),
            ("example.com".into(), "443".into())
        );
        assert_eq!(split_host("[::1]:9", "80"), ("[::1]".into(), "9".into()));
    }

    #[test]
    fn cgi_names() {
        assert_eq!(cgi_name("x-forwarded-for").unwrap(), "HTTP_X_FORWARDED_FOR");
        assert!(cgi_name("x_forwarded_for").is_none());
        assert!(cgi_name("content-length").is_none());
    }

    #[test]
    fn forwarded_node_ports_are_stripped() {
        assert_eq!(strip_port("1.2.3.4:80"), "1.2.3.4");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("1.2.3.4"), "1.2.3.4");
    }
}
