//! mod_wsgi-style event API: `warpserver.subscribe_events(callback)`; each
//! callback is called as `callback(name, **info)` on the thread running the
//! request (a pool thread, or the I/O thread for an inline one) for request_started, response_started, request_exception,
//! request_finished, and process_stopping (from worker.py). A callback that
//! raises is logged and does not affect the request.
use crate::request::Job;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);
static SUBSCRIBERS: pyo3::sync::PyOnceLock<Py<PyList>> = pyo3::sync::PyOnceLock::new();

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn subscribers(py: Python<'_>) -> &Py<PyList> {
    SUBSCRIBERS.get_or_init(py, || PyList::empty(py).unbind())
}

#[pyfunction]
pub fn subscribe_events(py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
    subscribers(py).bind(py).append(callback)?;
    ENABLED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Call every subscriber; used by worker.py for process_stopping too.
#[pyfunction]
pub fn publish_event(py: Python<'_>, name: &str, info: &Bound<'_, PyDict>) {
    for callback in subscribers(py).bind(py).iter() {
        if let Err(e) = callback.call((name,), Some(info)) {
            crate::app_error::log(py, "-", e);
        }
    }
}

/// CPU time (user, system) of the calling thread.
pub fn thread_cpu() -> (f64, f64) {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

thread_local! {
    static CPU_AT_START: std::cell::Cell<(f64, f64)> = const { std::cell::Cell::new((0.0, 0.0)) };
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// CPU time this thread used since request_started (a request moving to
/// another thread takes it along with [`carry_cpu`]).
pub fn cpu_so_far() -> (f64, f64) {
    let (user0, sys0) = CPU_AT_START.with(|c| c.get());
    let (user1, sys1) = thread_cpu();
    (user1 - user0, sys1 - sys0)
}

/// Continue a request's CPU account on this thread: `used` elsewhere before.
pub fn carry_cpu(used: (f64, f64)) {
    let (user, sys) = thread_cpu();
    CPU_AT_START.with(|c| c.set((user - used.0, sys - used.1)));
}

pub fn request_started(py: Python<'_>, job: &Job, environ: &Bound<'_, PyDict>) {
    CPU_AT_START.with(|c| c.set(thread_cpu()));
    let info = PyDict::new(py);
    let _ = info.set_item("request_id", job.request_id.as_str());
    let _ = info.set_item("request_environ", environ);
    let _ = info.set_item("request_start", now());
    let _ = info.set_item("input_length", job.body.len());
    publish_event(py, "request_started", &info);
}

pub fn response_started(py: Python<'_>, status: &str, headers: &Bound<'_, PyAny>) {
    let info = PyDict::new(py);
    let _ = info.set_item("status", status);
    let _ = info.set_item("response_headers", headers);
    publish_event(py, "response_started", &info);
}

pub fn request_exception(py: Python<'_>, job: &Job, error: &PyErr) {
    let info = PyDict::new(py);
    let _ = info.set_item("request_id", job.request_id.as_str());
    let _ = info.set_item(
        "exception_info",
        (error.get_type(py), error.value(py), error.traceback(py)),
    );
    publish_event(py, "request_exception", &info);
}

pub fn request_finished(
    py: Python<'_>,
    job: &Job,
    status: u16,
    output_length: u64,
    elapsed: Duration,
) {
    let (user0, sys0) = CPU_AT_START.with(|c| c.get());
    let (user1, sys1) = thread_cpu();
    let info = PyDict::new(py);
    let _ = info.set_item("request_id", job.request_id.as_str());
    let _ = info.set_item("status", status);
    let _ = info.set_item("application_time", elapsed.as_secs_f64());
    let _ = info.set_item("input_length", job.body.len());
    let _ = info.set_item("output_length", output_length);
    let _ = info.set_item("cpu_user_time", (user1 - user0).max(0.0));
    let _ = info.set_item("cpu_system_time", (sys1 - sys0).max(0.0));
    let _ = info.set_item("request_finished", now());
    publish_event(py, "request_finished", &info);
}
