//! The request path of the WSGI server: any bytes a client sends on one
//! connection go through hyper (with the server's patches), its request
//! checks and the hand-off to the Python side (server/src/http/fuzz_entry.rs).
//! Nothing may panic; whatever is written back is HTTP/1.1 responses; the
//! environ's PATH_INFO is never longer than the raw path and REMOTE_ADDR is
//! never empty.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let outcome = _core::http::fuzz_entry::one_connection(data);
    if !outcome.response.is_empty() {
        assert!(
            outcome.response.starts_with(b"HTTP/1.1 ")
                || outcome.response.starts_with(b"HTTP/1.0 "),
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&outcome.response[..outcome.response.len().min(200)])
        );
    }
    for (path_info, remote_addr) in &outcome.environs {
        assert!(path_info.len() <= data.len());
        assert!(!remote_addr.is_empty());
    }
});
