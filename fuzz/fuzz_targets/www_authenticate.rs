//! `WWW-Authenticate` challenges from a registry (untrusted: any server a
//! reference names). Parsing never panics, and a token realm warp would send
//! credentials to is https, or plain http whose host — as an HTTP client
//! parses the URL — is loopback (no `user@host`, port or fragment trick).
#![no_main]
use libfuzzer_sys::fuzz_target;
use warp::image::registry::{may_carry_credentials, parse_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let params = parse_challenge(text);
    for (key, _) in &params {
        assert_eq!(key, &key.to_ascii_lowercase());
    }
    for realm in params
        .iter()
        .filter(|(k, _)| k == "realm")
        .map(|(_, v)| v.as_str())
        .chain([text])
    {
        if may_carry_credentials(realm) && !realm.starts_with("https://") {
            let Ok(uri) = realm.parse::<http::Uri>() else {
                continue; // no client would connect to it at all
            };
            let host = uri.host().unwrap_or("");
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            assert!(
                loopback,
                "credentials would go to {host:?} over http: {realm:?}"
            );
        }
    }
});
