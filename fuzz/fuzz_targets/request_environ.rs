//! Raw bytes of one client connection → hyper (patched) → the service →
//! the WSGI environ dict, built by the server's own `environ::build` in an
//! embedded CPython (server/src/http/fuzz_entry.rs). For every request that
//! reaches the app, PEP 3333's rules hold: keys and CGI values are `str`
//! representable in latin-1; REQUEST_METHOD, SCRIPT_NAME, PATH_INFO,
//! QUERY_STRING, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL are there;
//! SCRIPT_NAME + PATH_INFO is the decoded request path, split at the mount
//! point ("/app"); every HTTP_ key comes from a header without `_` (a header
//! `x_a` is never passed as, nor merged into, HTTP_X_A); CONTENT_LENGTH and
//! CONTENT_TYPE are there exactly when their headers are, and the body the
//! app reads is never longer than CONTENT_LENGTH.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

/// What `environ::build` must produce from a decoded path (the mount point
/// of fuzz_entry's settings).
const MOUNT: &str = "/app";

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let outcome = _core::http::fuzz_entry::one_connection_to_python(data);
    if !outcome.response.is_empty() {
        assert!(
            outcome.response.starts_with(b"HTTP/1.1 ")
                || outcome.response.starts_with(b"HTTP/1.0 "),
            "not an HTTP response"
        );
    }
    for e in &outcome.environs {
        let mut env = BTreeMap::new();
        for (k, v) in &e.items {
            let k = k.as_ref().expect("every environ key is a str");
            // Header names may hold dots (HTTP_A.B): only the server's
            // own namespaces are the non-CGI keys.
            if !(k.starts_with("wsgi.") || k.starts_with("warpserver.")) {
                // The CGI keys: native strings, each char one byte.
                let v = v
                    .as_ref()
                    .unwrap_or_else(|t| panic!("{k} is a {t}, not a str"));
                assert!(
                    v.chars().all(|c| u32::from(c) < 256),
                    "{k}={v:?} is not latin-1"
                );
                env.insert(k.clone(), v.clone());
            }
        }
        for key in [
            "REQUEST_METHOD",
            "SCRIPT_NAME",
            "PATH_INFO",
            "QUERY_STRING",
            "SERVER_NAME",
            "SERVER_PORT",
            "SERVER_PROTOCOL",
            "REMOTE_ADDR",
        ] {
            assert!(env.contains_key(key), "no {key} in {env:?}");
        }
        assert!(!env["REQUEST_METHOD"].is_empty());
        assert!(["HTTP/1.0", "HTTP/1.1"].contains(&env["SERVER_PROTOCOL"].as_str()));
        assert!(!env["REMOTE_ADDR"].is_empty());
        // SCRIPT_NAME + PATH_INFO: the decoded path, split at the mount point.
        let (script, path_info) = (&env["SCRIPT_NAME"], &env["PATH_INFO"]);
        let mut joined = latin1(script);
        joined.extend(latin1(path_info));
        assert_eq!(
            joined,
            _core::wsgi::environ::percent_decode(&e.raw_path),
            "SCRIPT_NAME {script:?} + PATH_INFO {path_info:?}"
        );
        assert!(
            script.is_empty() || script == MOUNT,
            "SCRIPT_NAME {script:?}"
        );
        if !script.is_empty() {
            assert!(path_info.is_empty() || path_info.starts_with('/'));
        }
        // Headers: each HTTP_ key from exactly the header it names; none
        // with `_` in its name passed, none left out.
        let mut expected: BTreeMap<String, &str> = BTreeMap::new();
        for name in &e.header_names {
            if name.contains('_') || name == "content-type" || name == "content-length" {
                continue;
            }
            let key = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
            assert!(expected.insert(key, name).is_none(), "two headers, one key");
        }
        for key in env.keys().filter(|k| k.starts_with("HTTP_")) {
            // HTTP_HOST may come from a trusted proxy's X-Forwarded-Host.
            assert!(
                expected.contains_key(key) || key == "HTTP_HOST",
                "{key} from no header of {:?}",
                e.header_names
            );
        }
        for key in expected.keys() {
            assert!(env.contains_key(key), "header {key} left out");
        }
        let has = |h: &str| e.header_names.iter().any(|n| n == h);
        assert_eq!(env.contains_key("CONTENT_TYPE"), has("content-type"));
        assert_eq!(env.contains_key("CONTENT_LENGTH"), has("content-length"));
        if let Some(length) = env.get("CONTENT_LENGTH") {
            // Never more body than declared; less only when the client ended
            // its stream early (the server's choice, as gunicorn's: the app
            // gets the bytes that came, CONTENT_LENGTH as declared — and this
            // harness always ends the stream after its bytes).
            let declared = length.parse::<usize>();
            assert!(
                declared.as_ref().is_ok_and(|&n| e.body_len <= n),
                "CONTENT_LENGTH {length:?}, body of {}",
                e.body_len
            );
        }
    }
});
