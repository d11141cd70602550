//! warpserver's Python-facing module `warpserver._core`.
//!
//! This crate is the serving half that runs *inside* a worker process: the
//! app's own Python interpreter imports it, and it takes over the listening
//! socket that the `warp start` supervisor handed down. Built against the
//! stable ABI (abi3, CPython 3.9+) so one build serves every interpreter.
use pyo3::prelude::*;

/// The extension's version, so `warp` can check it loaded the copy it embedded.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
