//! The request path without a socket or Python, for the fuzz target
//! `request_path` (../fuzz): raw bytes from a client go through hyper (with
//! the vendored patches), warp's own request checks and the service's
//! hand-off, wired as `serve` wires them (the same hyper settings); each request that reaches the
//! hand-off has the environ's Rust-computed parts derived from it (the
//! client origin under trusted proxies, the percent-decoded PATH_INFO). The job is then dropped unanswered (the service's
//! "no reply" path). Why here: a child of `http` may build a `Connection`.
//!
//! [`one_connection_to_python`] goes one step further (the `request_environ`
//! target): each request that reaches the hand-off gets its real environ dict
//! built by [`environ::build`] in an embedded CPython, read back as text for
//! the target's PEP 3333 checks, next to what the request carried.
use crate::config::Config;
use crate::context::Shared;
use crate::http::service::{Connection, Service};
use crate::http::Phase;
use crate::request::{Job, Work};
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
                // Mounted under a prefix, so SCRIPT_NAME/PATH_INFO are split.
                script_name: "/app".into(),
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
    let (response, environs) = serve_one(data, &shared, |job, shared| {
        let path_info = environ::percent_decode(job.uri.path().as_bytes());
        let origin = environ::origin(&job.headers, job.peer, shared);
        (path_info, origin.remote_addr)
    });
    Outcome { response, environs }
}

/// One request as the app saw it: its environ dict read back from Python,
/// and what the request carried.
pub struct PyEnviron {
    /// Every key and value of the dict: `Ok(text)` for a `str`, else
    /// `Err(type name)` (the `wsgi.*` objects are not text).
    pub items: Vec<(Result<String, String>, Result<String, String>)>,
    /// The request's header names as hyper gave them (lower case).
    pub header_names: Vec<String>,
    /// The raw request target's path (before percent-decoding).
    pub raw_path: Vec<u8>,
    /// The bytes of the body the app would read.
    pub body_len: usize,
}

/// What one fuzzed connection produced, with the environs built in Python.
pub struct PyOutcome {
    pub response: Vec<u8>,
    pub environs: Vec<PyEnviron>,
}

/// The embedded interpreter, started once, with the environ template made
/// as `serve()` makes it.
fn python_ready(shared: &Shared) {
    use pyo3::prelude::*;
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        Python::initialize();
        Python::attach(|py| {
            let file_wrapper = py
                .get_type::<crate::wsgi::file_wrapper::FileWrapper>()
                .into_any();
            environ::init_template(py, shared, file_wrapper).expect("the environ template");
        })
    });
}

/// A `str` as text, else the name of its type.
fn py_text(v: &pyo3::Bound<'_, pyo3::PyAny>) -> Result<String, String> {
    use pyo3::prelude::*;
    match v.cast::<pyo3::types::PyString>() {
        Ok(s) => s
            .to_cow()
            .map(|t| t.into_owned())
            .map_err(|e| e.to_string()),
        Err(_) => Err(v
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()),
    }
}

/// [`one_connection`], with each request's environ built by
/// [`environ::build`] in an embedded CPython.
pub fn one_connection_to_python(data: &[u8]) -> PyOutcome {
    use pyo3::prelude::*;
    let shared = shared();
    python_ready(&shared);
    let (response, environs) = serve_one(data, &shared, |job, shared| {
        Python::attach(|py| {
            let env = environ::build(py, job, shared).expect("environ::build");
            PyEnviron {
                items: env
                    .iter()
                    .map(|(k, v)| (py_text(&k), py_text(&v)))
                    .collect(),
                header_names: job.headers.keys().map(|k| k.as_str().to_owned()).collect(),
                raw_path: job.uri.path().as_bytes().to_vec(),
                body_len: job.body.len(),
            }
        })
    });
    PyOutcome { response, environs }
}

/// Serve one connection of `data`; `per_job` sees each request that reaches
/// the hand-off (on another thread, as the Python side is).
fn serve_one<T: Send + 'static>(
    data: &[u8],
    shared: &Arc<Shared>,
    per_job: fn(&Job, &Shared) -> T,
) -> (Vec<u8>, Vec<T>) {
    let shared = shared.clone();
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Work>();
    let environ_shared = shared.clone();
    let environ_side = std::thread::spawn(move || {
        // Ends when the service (the only sender) is dropped.
        jobs_rx
            .iter()
            .filter_map(|work| match work {
                Work::Request(job) => Some(per_job(&job, &environ_shared)),
                _ => None,
            })
            .collect::<Vec<T>>()
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
    (response, environs)
}
