//! The request path without a socket or Python, for the fuzz target
//! `request_path` (../fuzz): raw bytes from a client go through hyper (with
//! the vendored patches), warp's own request checks and the service's
//! hand-off, wired as `serve` wires them (the same hyper settings); each request that reaches the
//! hand-off has the environ's Rust-computed parts derived from it (the
//! client origin under trusted proxies, the percent-decoded PATH_INFO). The job is then dropped unanswered (the service's
//! "no reply" path). Why here: a child of `http` may build a `Connection`.
use crate::config::Config;
use crate::context::Shared;
use crate::http::service::{Connection, Service};
use crate::http::Phase;
use crate::request::Work;
use crate::wsgi::environ;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one fuzzed connection produced.
pub struct Outcome {
    /// Everything the server wrote back.
    pub response: Vec<u8>,
    /// Per request that reached the hand-off: (PATH_INFO bytes, REMOTE_ADDR).
    pub environs: Vec<(Vec<u8>, String)>,
}

fn shared() -> Arc<Shared> {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let settings = warp_protocol::WorkerConfig {
                // The peer below is trusted, so the proxy headers are parsed.
                trust_proxy: vec!["127.0.0.0/8".into(), "::1/128".into()],
                access_log: false,
                ..Default::default()
            };
            let config = Config::from_json(&settings.to_json()).expect("a valid worker config");
            Arc::new(Shared::new(config, None))
        })
        .clone()
}

/// Serve one connection whose client sends `data` and then closes.
pub fn one_connection(data: &[u8]) -> Outcome {
    let shared = shared();
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Work>();
    let environ_shared = shared.clone();
    let environ_side = std::thread::spawn(move || {
        let mut environs = Vec::new();
        // Ends when the service (the only sender) is dropped.
        for work in jobs_rx.iter() {
            let Work::Request(job) = work else { continue };
            let path_info = environ::percent_decode(job.uri.path().as_bytes());
            let origin = environ::origin(&job.headers, job.peer, &environ_shared);
            environs.push((path_info, origin.remote_addr));
        }
        environs
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let response = runtime.block_on(async {
        use hyper_util::rt::TokioIo;
        let config = &shared.config;
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let service = Arc::new(Service {
            shared: shared.clone(),
            jobs: jobs_tx,
            inline: None,
            generation: 0,
            current: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        });
        let conn = Arc::new(Connection {
            peer: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            phase: Phase::new(),
            fd: -1,
        });
        let builder = crate::http::connection_builder(config);
        let handler =
            hyper::service::service_fn(move |req| service.clone().call(conn.clone(), req));
        let serving = tokio::spawn(builder.serve_connection(TokioIo::new(server), handler));
        let mut response = Vec::new();
        let exchange = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let _ = client.read_to_end(&mut response).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), exchange).await;
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        response
    });
    drop(runtime);
    let environs = environ_side.join().expect("the environ side");
    Outcome { response, environs }
}
