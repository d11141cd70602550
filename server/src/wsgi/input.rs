//! `wsgi.input`: a file-like object over the request body.
//!
//! The I/O side reads the whole body (bounded by limit-request-body) before
//! the job is queued — like nginx's request buffering — so an app thread never
//! waits on a slow client and a chunked body can get its 413 before the app is
//! called. Reading is then plain memory access, with no GIL hand-off.
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

#[pyclass(module = "warpserver._core")]
pub struct Input {
    body: Bytes,
    pos: usize,
}

impl Input {
    pub fn new(body: Bytes) -> Input {
        Input { body, pos: 0 }
    }

    fn remaining(&self) -> &[u8] {
        &self.body[self.pos..]
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.pos;
        self.pos = self.pos.saturating_add(n).min(self.body.len());
        &self.body[start..self.pos]
    }

    fn line_len(&self, limit: Option<usize>) -> usize {
        let rest = self.remaining();
        let window = match limit {
            Some(n) => &rest[..n.min(rest.len())],
            None => rest,
        };
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => window.len(),
        }
    }
}

fn size_arg(size: Option<isize>) -> Option<usize> {
    size.and_then(|n| usize::try_from(n).ok())
}

#[pymethods]
impl Input {
    /// read(size=-1): up to `size` bytes, all the rest when omitted or negative.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        let n = size_arg(size).unwrap_or(usize::MAX);
        PyBytes::new(py, self.take(n))
    }

    /// readline(size=-1): one line including its b"\n", at most `size` bytes.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        let n = self.line_len(size_arg(size));
        PyBytes::new(py, self.take(n))
    }

    /// readlines(hint=-1): the remaining lines (stopping once `hint` bytes were read).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint).filter(|h| *h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        while self.pos < self.body.len() {
            let n = self.line_len(None);
            total += n;
            lines.append(PyBytes::new(py, self.take(n)))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        if self.pos >= self.body.len() {
            return None;
        }
        let n = self.line_len(None);
        Some(PyBytes::new(py, self.take(n)))
    }

    fn close(&mut self) {}
}
