//! Defects the fuzz targets (fuzz/) found, each pinned by a test on the real
//! worker. The crashing inputs are in fuzz/corpus/TARGET/regression-*.
use crate::server_support as server;

use serde_json::json;
use server::worker;

/// request_path: a trusted proxy's `Forwarded: for=""` (or a node that is
/// only a port) made REMOTE_ADDR the empty string. An empty node names no
/// client: the next one towards the server counts, else the peer.
#[test]
fn an_empty_forwarded_node_is_not_remote_addr() {
    let w = worker("apps:echo", json!({"trust_proxy": ["127.0.0.0/8"]})).start();
    for (forwarded, expected) in [
        (r#"for="""#, "127.0.0.1"),
        ("for=:80", "127.0.0.1"),
        (r#"for="[]""#, "127.0.0.1"),
        (r#"for=203.0.113.9, for="""#, "203.0.113.9"),
        (r#"for=",,,[::0999]:8,"ps;h"#, "127.0.0.1"),
    ] {
        let body = w
            .request("GET", "/", &[("Forwarded", forwarded)], b"")
            .json();
        assert_eq!(
            body["environ"]["REMOTE_ADDR"], expected,
            "Forwarded: {forwarded}"
        );
    }
}

/// request_environ: a Host header with bytes above 0x7f made SERVER_NAME a
/// lossy UTF-8 decoding (U+FFFD, not latin-1 — PEP 3333 wants every native
/// string latin-1). Now each byte is one code point, as in HTTP_HOST.
#[test]
fn a_non_ascii_host_is_latin1_in_server_name() {
    let w = worker("apps:echo", json!({})).start();
    let raw = w.raw(b"GET / HTTP/1.1\r\nHost: \xc7\xe9t\xe9:8081\r\nConnection: close\r\n\r\n");
    let response = server::parse_response(&raw, false).expect("a response");
    let body = response.json();
    assert_eq!(body["environ"]["SERVER_NAME"], "\u{c7}\u{e9}t\u{e9}");
    assert_eq!(body["environ"]["SERVER_PORT"], "8081");
    assert_eq!(body["environ"]["HTTP_HOST"], "\u{c7}\u{e9}t\u{e9}:8081");
}

/// request_environ (after 455 thousand inputs): a query with bytes above
/// 0x7f reached the app as their UTF-8 decoding ("ǎ", U+01CE, not latin-1).
/// QUERY_STRING is now latin-1 byte for byte, like PATH_INFO and REQUEST_URI.
#[test]
fn a_non_ascii_query_is_latin1_in_query_string() {
    let w = worker("apps:echo", json!({})).start();
    let raw = w.raw(b"GET /p?20x\xc7\x8e=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let response = server::parse_response(&raw, false).expect("a response");
    let body = response.json();
    assert_eq!(body["environ"]["QUERY_STRING"], "20x\u{c7}\u{8e}=1");
}
