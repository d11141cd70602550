//! warpserver's Python-facing module `warpserver._core`.
//!
//! This crate is the serving half that runs *inside* a worker process: the
//! app's own Python interpreter imports it, and it takes over the listening
//! socket that the `warp start` supervisor handed down. Built against the
//! stable ABI (abi3, CPython 3.9+) so one build serves every interpreter.
//!
//! Layout: `request` holds the messages between the two sides (a job in, replies
//! out) and imports neither; `http/` is the I/O side (tokio + hyper; it takes
//! the GIL only to run a request inline, through the runner built here),
//! `wsgi/` the Python side (environ, start_response, input,
//! response iteration), `pool` the Python threads that take jobs from the
//! bounded queue and run them through `wsgi`. `events` and `app_error` sit
//! below `wsgi`; `config`, `context`, `watchdog`, `scheduling` and `malloc`
//! below all.
pub mod app_error;
pub mod config;
pub mod context;
pub mod events;
pub mod http;
pub mod malloc;
pub mod pool;
pub mod request;
pub mod scheduling;
pub mod watchdog;
pub mod wsgi;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::os::fd::FromRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

static SHARED: OnceLock<Arc<context::Shared>> = OnceLock::new();

/// The extension's version, so `warp` can check it loaded the copy it embedded.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Check a WARPSERVER_CONFIG text; returns it as the normalised dict the
/// server will use (worker.py reads target, paths … from it).
#[pyfunction]
fn parse_config(py: Python<'_>, config_json: &str) -> PyResult<Py<PyAny>> {
    config::Config::from_json(config_json).map_err(PyValueError::new_err)?;
    let json = py.import("json")?;
    Ok(json.call_method1("loads", (config_json,))?.unbind())
}

/// Serve `app` on the listening socket `listen_fd` until SIGTERM/SIGINT or a
/// recycle; returns the reason the worker stopped.
#[pyfunction]
#[pyo3(signature = (app, config_json, listen_fd=3, status_fd=None))]
fn serve(
    py: Python<'_>,
    app: Py<PyAny>,
    config_json: &str,
    listen_fd: i32,
    status_fd: Option<i32>,
) -> PyResult<String> {
    let config = config::Config::from_json(config_json).map_err(PyValueError::new_err)?;
    malloc::tune();
    let shared = Arc::new(context::Shared::new(config, status_fd));
    if SHARED.set(shared.clone()).is_err() {
        return Err(PyValueError::new_err(
            "serve() can be called once per process",
        ));
    }
    let file_wrapper = py.get_type::<wsgi::file_wrapper::FileWrapper>().into_any();
    wsgi::environ::init_template(py, &shared, file_wrapper)?;
    // SAFETY: the supervisor (or the test harness) hands us this descriptor;
    // worker.py checked that it is a socket.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(listen_fd) };
    let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(shared.config.queue_backlog.max(1));
    // Inline requests (`http::inline`) only with WARPSERVER_INLINE=1: measured
    // on 2 CPUs, they win at one connection and lose from four on (the
    // hand-off lets each side work through a batch), and a slow view run
    // inline holds its loop's other connections; README, "Inline requests".
    let inline_on = std::env::var_os("WARPSERVER_INLINE").is_some_and(|v| v == "1");
    let run_inline: Option<request::RunInline> = inline_on.then(|| {
        let (app, shared) = (app.clone_ref(py), shared.clone());
        Arc::new(move |job| pool::run_inline(&app, job, &shared)) as request::RunInline
    });
    let pool = pool::Pool::start(app, shared.clone(), jobs_rx);
    watchdog::start(shared.clone());
    let served = py.detach(|| {
        let served = http::run(listener, shared.clone(), jobs_tx, run_inline);
        pool.close();
        // Let busy threads (and an I/O loop still in an inline call) finish
        // their request, up to the shutdown-timeout.
        let io_threads = served.as_ref().map(Vec::as_slice).unwrap_or_default();
        let deadline = Instant::now()
            + config::seconds(shared.config.shutdown_timeout).unwrap_or(Duration::ZERO);
        while (!pool.finished() || io_threads.iter().any(|t| !t.is_finished()))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The last counts, so that the supervisor's metrics keep the
        // requests served since the previous heartbeat.
        if shared.config.heartbeat_interval > 0.0 {
            watchdog::send_heartbeat(&shared, Duration::ZERO);
        }
        served
    });
    served.map_err(|e| PyOSError::new_err(format!("serving failed: {e}")))?;
    let reason = shared.stop_reason.lock().unwrap().clone();
    Ok(reason)
}

/// Ask a running server to stop accepting and drain (like SIGTERM).
#[pyfunction]
fn shutdown(reason: &str) {
    if let Some(shared) = SHARED.get() {
        shared.begin_stop(reason);
    }
}

static LAST_SAMPLE: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

/// Counters since start plus capacity utilisation since the previous call
/// (busy thread time ÷ (elapsed × threads)), like mod_wsgi.request_metrics().
#[pyfunction]
fn request_metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let Some(shared) = SHARED.get() else {
        return Ok(d);
    };
    let m = &shared.metrics;
    let busy_us = m.busy_time_us.load(Ordering::Relaxed);
    let now = Instant::now();
    let mut last = LAST_SAMPLE.lock().unwrap();
    let (since, busy_before) = last.unwrap_or((shared.started, 0));
    *last = Some((now, busy_us));
    let elapsed = now.duration_since(since).as_secs_f64().max(1e-6);
    let threads = m.threads.load(Ordering::Relaxed);
    d.set_item("requests", m.requests.load(Ordering::Relaxed))?;
    d.set_item("busy_threads", m.busy_threads.load(Ordering::Relaxed))?;
    d.set_item("threads", threads)?;
    d.set_item("max_threads", shared.config.max_threads)?;
    d.set_item("malloc_tuned", malloc::tuned())?;
    d.set_item("sample_period", elapsed)?;
    d.set_item(
        "capacity_utilization",
        ((busy_us - busy_before) as f64 / 1e6 / (elapsed * threads as f64)).min(1.0),
    )?;
    d.set_item("status_2xx", m.status_2xx.load(Ordering::Relaxed))?;
    d.set_item("status_3xx", m.status_3xx.load(Ordering::Relaxed))?;
    d.set_item("status_4xx", m.status_4xx.load(Ordering::Relaxed))?;
    d.set_item("status_5xx", m.status_5xx.load(Ordering::Relaxed))?;
    d.set_item("queue_rejected", m.queue_rejected.load(Ordering::Relaxed))?;
    d.set_item(
        "request_timeouts",
        m.request_timeouts.load(Ordering::Relaxed),
    )?;
    d.set_item("inline_requests", m.inline_requests.load(Ordering::Relaxed))?;
    d.set_item(
        "handed_off_requests",
        m.handed_off_requests.load(Ordering::Relaxed),
    )?;
    Ok(d)
}

/// Process-wide figures: pid, uptime, RSS, CPU times, request count.
#[pyfunction]
fn process_metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let rss = watchdog::rss_bytes();
    d.set_item("pid", std::process::id())?;
    d.set_item("cpu_user_time", secs(usage.ru_utime))?;
    d.set_item("cpu_system_time", secs(usage.ru_stime))?;
    d.set_item("memory_rss", rss)?;
    d.set_item("memory_max_rss", usage.ru_maxrss as u64 * 1024)?;
    if let Some(shared) = SHARED.get() {
        d.set_item("uptime", shared.started.elapsed().as_secs_f64())?;
        d.set_item(
            "request_count",
            shared.metrics.requests.load(Ordering::Relaxed),
        )?;
        d.set_item("threads", shared.metrics.threads.load(Ordering::Relaxed))?;
    }
    Ok(d)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(parse_config, m)?)?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(request_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(process_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(events::subscribe_events, m)?)?;
    m.add_function(wrap_pyfunction!(events::publish_event, m)?)?;
    m.add_class::<wsgi::file_wrapper::FileWrapper>()?;
    m.add_class::<wsgi::input::Input>()?;
    m.add_class::<wsgi::responder::Responder>()?;
    Ok(())
}
