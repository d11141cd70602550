//! PEP 3333, point by point, against a real worker (python3 -m
//! warpserver.worker on a socket this test binds) and real HTTP on loopback.
use crate::server_support as server;

use serde_json::json;
use server::{parse_response, worker};
use std::io::Write;
use std::time::Duration;

fn environ_of(body: &serde_json::Value) -> &serde_json::Map<String, serde_json::Value> {
    body["environ"].as_object().unwrap()
}

#[test]
fn environ_has_the_cgi_keys_with_exact_values() {
    let w = worker("apps:echo", json!({})).start();
    let r = w.request(
        "POST",
        "/a%20b/%C3%A9?x=1&y=%20",
        &[("Content-Type", "text/plain")],
        b"hi",
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    let env = environ_of(&body);
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["SCRIPT_NAME"], "");
    // percent-decoded, then bytes → str by latin-1 (é is two UTF-8 bytes → two code points)
    assert_eq!(env["PATH_INFO"], "/a b/\u{c3}\u{a9}");
    assert_eq!(env["QUERY_STRING"], "x=1&y=%20");
    assert_eq!(env["CONTENT_TYPE"], "text/plain");
    assert_eq!(env["CONTENT_LENGTH"], "2");
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(env["SERVER_NAME"], "127.0.0.1");
    assert_eq!(env["SERVER_PORT"], "80"); // Host: 127.0.0.1 without a port
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    let port: u16 = env["REMOTE_PORT"].as_str().unwrap().parse().unwrap();
    assert!(port > 0);
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(body["version"], json!([1, 0]));
    assert_eq!(body["body"], "hi");
}

#[test]
fn content_type_and_length_only_when_sent() {
    let w = worker("apps:echo", json!({})).start();
    let body = w.get("/").json();
    let env = environ_of(&body);
    assert!(!env.contains_key("CONTENT_TYPE"), "{env:?}");
    assert!(!env.contains_key("CONTENT_LENGTH"), "{env:?}");
}

#[test]
fn server_protocol_is_exactly_http_1_0_for_1_0_requests() {
    let w = worker("apps:echo", json!({})).start();
    let raw = w.raw(b"GET / HTTP/1.0\r\nHost: example.com:8000\r\n\r\n");
    let r = parse_response(&raw, false).unwrap();
    let body = r.json();
    let env = environ_of(&body);
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.0");
    assert_eq!(env["SERVER_NAME"], "example.com");
    assert_eq!(env["SERVER_PORT"], "8000");
}

#[test]
fn repeated_headers_are_joined_and_underscore_names_dropped() {
    let w = worker("apps:echo", json!({})).start();
    let r = w.request(
        "GET",
        "/",
        &[
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("X_Auth_User", "spoof"),
            ("X-Auth-User", "real"),
        ],
        b"",
    );
    let body = r.json();
    let env = environ_of(&body);
    assert_eq!(env["HTTP_X_MULTI"], "one, two");
    // the underscore twin is dropped, never merged
    assert_eq!(env["HTTP_X_AUTH_USER"], "real");
}

#[test]
fn non_ascii_header_bytes_arrive_as_latin1() {
    let w = worker("apps:echo", json!({})).start();
    let raw = w.raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n");
    let body = parse_response(&raw, false).unwrap().json();
    assert_eq!(environ_of(&body)["HTTP_X_NAME"], "caf\u{e9}");
}

#[test]
fn wsgi_keys_follow_the_config_and_nothing_leaks_from_os_environ() {
    let w = worker("apps:echo", json!({"threads": 1, "processes": 3}))
        .env("WARP_TEST_SECRET", "do-not-leak")
        .start();
    let body = w.get("/").json();
    assert_eq!(body["flags"]["wsgi.multithread"], false);
    assert_eq!(body["flags"]["wsgi.multiprocess"], true);
    assert_eq!(body["flags"]["wsgi.run_once"], false);
    assert_eq!(body["flags"]["wsgi.input_terminated"], true);
    assert_eq!(body["errors_is_stderr"], true);
    let env = environ_of(&body);
    for leaked in ["WARP_TEST_SECRET", "PATH", "HOME", "WARPSERVER_CONFIG"] {
        assert!(!env.contains_key(leaked), "{leaked} leaked into environ");
    }
    let w2 = worker("apps:echo", json!({"threads": 4})).start();
    let body = w2.get("/").json();
    assert_eq!(body["flags"]["wsgi.multithread"], true);
    assert_eq!(body["flags"]["wsgi.multiprocess"], false);
}

#[test]
fn script_name_is_the_mount_point() {
    let w = worker("apps:echo", json!({"script_name": "/app"})).start();
    let body = w.get("/app/page").json();
    let env = environ_of(&body);
    assert_eq!(env["SCRIPT_NAME"], "/app");
    assert_eq!(env["PATH_INFO"], "/page");
    let body = w.get("/application").json();
    assert_eq!(
        environ_of(&body)["SCRIPT_NAME"],
        "",
        "a prefix match inside a segment is no mount"
    );
}

#[test]
fn wsgi_input_read_readline_readlines_iteration() {
    let w = worker("apps:input_methods", json!({})).start();
    let body = b"line one\nline two\nline three\nlast";
    let r = w.request(
        "POST",
        "/?read-3,readline,readline-3,readline,readlines",
        &[],
        body,
    );
    assert_eq!(
        r.json(),
        json!(["lin", "e one\n", "lin", "e two\n", "line three\n|last"])
    );
    let r = w.request("POST", "/?iter", &[], body);
    assert_eq!(r.json(), json!(["line one\n|line two\n|line three\n|last"]));
    let r = w.request("POST", "/?read,read", &[], body);
    assert_eq!(r.json(), json!([String::from_utf8_lossy(body), ""]));
}

/// The body stays in the frames it arrived in (no joined copy); reads of any
/// size, across frame boundaries, must still give the exact bytes — for a
/// Content-Length body sent in uneven writes and for a chunked one.
#[test]
fn an_upload_read_in_pieces_gives_the_exact_bytes() {
    use sha2::Digest;
    let w = worker("apps:upload_in_pieces", json!({})).start();
    let body: Vec<u8> = (0..(1 << 20) + 123)
        .map(|i: u32| {
            if i % 251 == 0 {
                b'\n'
            } else {
                (i * 7 % 256) as u8
            }
        })
        .collect();
    let sha = format!("{:x}", sha2::Sha256::digest(&body));
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
    for query in ["1", "4095", "65536", "1000000", "lines"] {
        for chunked in [false, true] {
            let mut s = w.connect();
            let head = if chunked {
                format!("POST /?{query} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            } else {
                format!("POST /?{query} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            };
            s.write_all(head.as_bytes()).unwrap();
            // Uneven writes (small and large), so the server gets many frames.
            let mut at = 0;
            for (i, size) in [1, 3000, 17, 70000, 5000].iter().cycle().enumerate() {
                if at >= body.len() {
                    break;
                }
                let piece = &body[at..(at + size).min(body.len())];
                if chunked {
                    s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                        .unwrap();
                    s.write_all(piece).unwrap();
                    s.write_all(b"\r\n").unwrap();
                } else {
                    s.write_all(piece).unwrap();
                }
                at += piece.len();
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            if chunked {
                s.write_all(b"0\r\n\r\n").unwrap();
            }
            let r = parse_response(&server::read_to_close(&mut s), false).unwrap();
            assert_eq!(r.status, 200, "{query} chunked={chunked}: {}", r.text());
            let got = r.json();
            assert_eq!(got["length"], body.len(), "{query} chunked={chunked}");
            assert_eq!(got["sha256"], sha.as_str(), "{query} chunked={chunked}");
            let pieces = match query {
                "lines" => lines,
                n => body.len().div_ceil(n.parse::<usize>().unwrap()),
            };
            assert_eq!(got["pieces"], pieces, "{query} chunked={chunked}");
        }
    }
}

#[test]
fn wsgi_input_streams_a_chunked_body() {
    let w = worker("apps:echo", json!({})).start();
    let mut s = w.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"6\r\n world\r\n0\r\n\r\n").unwrap();
    let r = parse_response(&server::read_to_close(&mut s), false).unwrap();
    let body = r.json();
    assert_eq!(body["body"], "hello world");
    assert!(!environ_of(&body).contains_key("CONTENT_LENGTH"));
}

#[test]
fn a_body_the_client_ends_early_reaches_the_app_only_when_its_framing_is_intact() {
    // Content-Length, and the client shuts its sending side 5 bytes in: the
    // app gets those bytes (gunicorn's behaviour, corpus valid/099), the
    // declared length stays what was sent, and a warning is logged.
    let w = worker("apps:echo", json!({})).start();
    let mut s = w.connect();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\nhello")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let r = parse_response(&server::read_to_close(&mut s), false).unwrap();
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["body"], "hello");
    assert_eq!(environ_of(&body)["CONTENT_LENGTH"], "20");
    // A chunked body cut off inside a chunk has no intact framing: refused,
    // the app never sees it.
    let mut s = w.connect();
    s.write_all(b"POST /cut HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let raw = server::read_to_close(&mut s);
    assert!(
        !String::from_utf8_lossy(&raw).contains("\"environ\""),
        "the app saw a broken chunked body: {:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(
        w.stderr()
            .contains("ended the request body after 5 of 20 bytes"),
        "no warning: {}",
        w.stderr()
    );
}
#[test]
fn expect_100_continue_gets_an_interim_response() {
    let w = worker("apps:echo", json!({})).start();
    let mut s = w.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"data").unwrap();
    let r = parse_response(&server::read_to_close(&mut s), false).unwrap();
    assert_eq!(r.json()["body"], "data");
}

#[test]
fn wsgiref_validator_passes() {
    let w = worker("apps:validated", json!({})).start();
    let r = w.request("POST", "/v", &[("Content-Type", "text/plain")], b"payload");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), w.stderr());
    assert_eq!(r.text(), "validated:payload");
    let r = w.get("/v?q=1");
    assert_eq!(r.status, 200, "{}", w.stderr());
    assert!(!w.stderr().contains("AssertionError"), "{}", w.stderr());
    assert!(!w.stderr().contains("WSGIWarning"), "{}", w.stderr());
}

#[test]
fn headers_are_sent_lazily_so_start_response_may_be_called_in_the_generator() {
    let w = worker("apps:late_start", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-late"), Some("yes"));
    assert_eq!(r.text(), "first,second");
}

#[test]
fn the_write_callable_sends_before_the_iterable() {
    let w = worker("apps:write_callable", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "written,returned");
}

#[test]
fn exc_info_replaces_the_status_before_output_and_reraises_after() {
    let w = worker("apps:exc_info_before", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "replaced");
    let w = worker("apps:exc_info_after", json!({})).start();
    let raw = w.raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        !r.complete,
        "the chunked body must be cut off, not terminated"
    );
    assert!(!r.text().contains("never"));
    assert!(
        w.stderr().contains("ValueError: too late"),
        "{}",
        w.stderr()
    );
}

#[test]
fn start_response_twice_without_exc_info_is_an_error() {
    let w = worker("apps:twice_without_exc_info", json!({})).start();
    assert_eq!(w.get("/").status, 500);
    assert!(
        w.stderr().contains("second time without exc_info"),
        "{}",
        w.stderr()
    );
}

#[test]
fn hop_by_hop_headers_and_bad_statuses_are_rejected() {
    let w = worker("apps:hop_by_hop", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.status, 500);
    assert!(w.stderr().contains("hop-by-hop"), "{}", w.stderr());
    let w = worker("apps:bad_status", json!({})).start();
    assert_eq!(w.get("/").status, 500);
    assert!(w.stderr().contains("invalid status"), "{}", w.stderr());
    let w = worker("apps:not_bytes", json!({})).start();
    assert_eq!(w.get("/").status, 500);
    assert!(w.stderr().contains("not bytes"), "{}", w.stderr());
}

#[test]
fn exception_before_headers_is_a_500_with_the_traceback_only_in_the_log() {
    let w = worker("apps:boom", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.status, 500);
    assert!(
        !r.text().contains("secret detail"),
        "traceback leaked to the client: {}",
        r.text()
    );
    let log = w.stderr();
    assert!(
        log.contains("Traceback") && log.contains("secret detail"),
        "{log}"
    );
}

#[test]
fn exception_after_headers_aborts_the_connection() {
    let w = worker("apps:boom_after", json!({})).start();
    let raw = w.raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "partial");
    assert!(!r.complete, "a failed body must not look complete");
}

#[test]
fn content_length_is_respected() {
    let w = worker("apps:short_body", json!({})).start();
    let started = std::time::Instant::now();
    let raw = w.raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"); // keep-alive: only a close ends this
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "short body must close, not hang"
    );
    let r = parse_response(&raw, false).unwrap();
    assert!(!r.complete);
    let w = worker("apps:long_body", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.text(), "abc");
    assert!(r.rest.is_empty());
}

#[test]
fn no_content_length_means_chunked_on_1_1_and_close_delimited_on_1_0() {
    let w = worker("apps:stream", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "chunk0;chunk1;chunk2;chunk3;chunk4;");
    let raw = w.raw(b"GET / HTTP/1.0\r\n\r\n");
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.text(), "chunk0;chunk1;chunk2;chunk3;chunk4;");
}

/// Large chunks go out without a copy (hyper writes from the app's own
/// bytes objects): the bytes must be exact, a Content-Length cut must land
/// inside a chunk, and the objects must be released under continuous load.
#[test]
fn large_streamed_chunks_are_exact_cut_and_released() {
    let w = worker("apps:large_chunks", json!({})).start();
    let r = w.get("/?n=5&size=70000");
    let want: Vec<u8> = (0..5u8).flat_map(|i| vec![b'a' + i; 70000]).collect();
    assert_eq!(r.body.len(), want.len());
    assert!(
        r.body == want,
        "streamed bytes differ from what the app yielded"
    );
    let r = w.get("/?n=3&size=50000&cl=120000");
    let want: Vec<u8> = (0..3u8)
        .flat_map(|i| vec![b'a' + i; 50000])
        .take(120000)
        .collect();
    assert!(r.body == want, "the Content-Length cut is wrong");
    assert!(r.rest.is_empty());
    // 400 responses of 1 MiB in 64 KiB chunks on one keep-alive connection:
    // if finished chunks were not released the worker would grow by ~400 MiB.
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", w.pid())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap()
    };
    let mut stream = w.connect();
    let mut buffer = Vec::new();
    let request = b"GET /?n=16&size=65536 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut pass = |count: usize| {
        for _ in 0..count {
            stream.write_all(request).unwrap();
            let r = read_one_response(&mut stream, &mut buffer);
            assert_eq!(r.body.len(), 16 * 65536);
        }
    };
    pass(20);
    let before = rss();
    pass(400);
    let grown_mib = rss().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "the worker grew by {grown_mib} MiB over 400 MiB of streamed chunks"
    );
}

/// One complete response from a keep-alive connection (`buffer` keeps what
/// was read past it, for the next call).
fn read_one_response(
    stream: &mut std::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> server::HttpResponse {
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        if let Some(r) = parse_response(buffer, false).filter(|r| r.complete) {
            *buffer = r.rest.clone();
            return r;
        }
        let n = std::io::Read::read(stream, &mut chunk).unwrap();
        assert!(n > 0, "the connection closed mid-response");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn head_sends_no_body() {
    let w = worker("apps:hello", json!({})).start();
    let raw = w.raw(b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "HEAD must have no body: {text:?}"
    );
    assert!(
        text.to_ascii_lowercase().contains("content-length: 14"),
        "{text}"
    );
}

#[test]
fn keep_alive_and_pipelining() {
    let w = worker("apps:echo", json!({})).start();
    let raw = w.raw(
        b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\nGET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let responses = server::parse_all(&raw);
    let paths: Vec<String> = responses
        .iter()
        .map(|r| {
            r.json()["environ"]["PATH_INFO"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

#[test]
fn close_is_called_on_success_error_and_disconnect() {
    let w = worker("apps:close_tracked", json!({})).start();
    let dir = tempfile::tempdir().unwrap();
    let wait_for = |marker: &std::path::Path| {
        // close() runs right after the last chunk is handed over, so it may
        // finish just after the client has the whole response.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !marker.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_to_string(marker).unwrap_or_default()
    };
    for mode in ["ok", "fail"] {
        let marker = dir.path().join(mode);
        let _ = w.get(&format!("/?mode={mode}&marker={}", marker.display()));
        assert_eq!(wait_for(&marker), "closed", "mode {mode}");
    }
    // The client goes away in the middle of a long response.
    let marker = dir.path().join("gone");
    {
        let mut s = w.connect();
        write!(
            s,
            "GET /?mode=many&marker={} HTTP/1.1\r\nHost: h\r\n\r\n",
            marker.display()
        )
        .unwrap();
        let mut buf = [0u8; 1024];
        let _ = std::io::Read::read(&mut s, &mut buf);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        marker.exists(),
        "close() not called after the client disconnected"
    );
}

#[test]
fn file_wrapper_streams_a_real_file() {
    let w = worker("apps:file_wrapper", json!({})).start();
    let r = w.get("/");
    let expected = std::fs::read(server::apps_dir().join("static/big.txt")).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), expected.len());
    assert!(r.body == expected);
    let kind = worker("apps:file_wrapper_kind", json!({}))
        .start()
        .get("/")
        .text();
    assert!(kind.contains("warpserver._core.FileWrapper"), "{kind}");
}

#[test]
fn a_reason_phrase_of_the_apps_choice_is_kept() {
    let w = worker("apps:exc_info_before", json!({})).start();
    let r = w.get("/");
    assert_eq!(r.reason, "Service Unavailable");
}
