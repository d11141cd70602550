//! Where an exception the application (or an event subscriber) raised goes:
//! the worker's error log (stderr) with the request id, never the client.
//! Its own module because both the request runner (`wsgi::run`) and the event
//! API (`events`) log them, and `wsgi` calls into `events`.
use pyo3::prelude::*;

/// The traceback goes to the error log (stderr), never to the client.
pub fn log(py: Python<'_>, request_id: &str, error: PyErr) {
    if let Ok(sys) = py.import("sys") {
        if let Ok(stderr) = sys.getattr("stderr") {
            let _ = stderr.call_method1(
                "write",
                (format!(
                    "[warpserver] request {request_id}: exception in the application\n"
                ),),
            );
        }
    }
    error.display(py);
}
