//! Runs one request on a Python thread (GIL held): environ, the app call,
//! the response iterable, close(), the 500 on error, and the events.
//!
//! Fast paths, to keep GIL time and hand-offs per request low: a list/tuple
//! response, or an iterable whose iterator knows its length (Django's
//! HttpResponse iterates a list), is joined and sent as ONE message with the
//! head; generators are streamed chunk by chunk.
use crate::context::Shared;
use crate::events;
use crate::request::Job;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::responder::Responder;
use crate::wsgi::{chunk, environ};
use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::time::Instant;

/// Sized iterables up to this many bytes are sent in one piece.
const JOIN_LIMIT: usize = 1 << 20;

pub fn handle(py: Python<'_>, app: &Py<PyAny>, mut job: Job, shared: &Shared) {
    let started = Instant::now();
    let Some(reply) = job.reply.take() else {
        return;
    };
    let responder = match Bound::new(py, Responder::new(reply)) {
        Ok(r) => r,
        Err(e) => return crate::app_error::log(py, &job.request_id, e),
    };
    let environ = match environ::build(py, &job, shared) {
        Ok(env) => env,
        Err(e) => {
            crate::app_error::log(py, &job.request_id, e);
            responder.borrow_mut().fail(py);
            return;
        }
    };
    let events_on = events::enabled();
    if events_on {
        events::request_started(py, &job, &environ);
    }
    let outcome = app
        .bind(py)
        .call1((&environ, &responder))
        .and_then(|iterable| {
            let sent = respond(py, &responder, &iterable);
            let closed = close(&iterable);
            sent.and(closed)
        });
    if let Err(error) = outcome {
        if events_on {
            events::request_exception(py, &job, &error);
        }
        crate::app_error::log(py, &job.request_id, error);
        responder.borrow_mut().fail(py);
    }
    let r = responder.borrow();
    if events_on {
        events::request_finished(py, &job, r.status_code, r.bytes_out, started.elapsed());
    }
}

fn close(iterable: &Bound<'_, PyAny>) -> PyResult<()> {
    // Exact lists and tuples have no close(); asking would raise and clear an
    // AttributeError on every request of the fast path.
    if iterable.is_exact_instance_of::<PyList>() || iterable.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    if iterable.hasattr(pyo3::intern!(iterable.py(), "close"))? {
        iterable.call_method0(pyo3::intern!(iterable.py(), "close"))?;
    }
    Ok(())
}

fn as_bytes<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the response iterable yielded {}, not bytes",
            item.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

fn respond(
    py: Python<'_>,
    responder: &Bound<'_, Responder>,
    iterable: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // A list or tuple: everything is already there.
    if let Ok(list) = iterable.cast::<PyList>() {
        return send_joined(py, responder, list.iter());
    }
    if let Ok(tuple) = iterable.cast::<PyTuple>() {
        return send_joined(py, responder, tuple.iter());
    }
    if let Ok(wrapper) = iterable.cast::<FileWrapper>() {
        if let Some(file) = wrapper.borrow().real_file(py) {
            if responder.borrow().started() {
                return responder.borrow_mut().send_file(py, file);
            }
        }
    }
    let iterator = iterable.try_iter()?;
    let sized = iterator.hasattr(pyo3::intern!(py, "__length_hint__"))?;
    let mut buffer: Vec<u8> = Vec::new();
    for item in iterator {
        let item = item?;
        let bytes = as_bytes(&item)?;
        if sized && buffer.len() + bytes.as_bytes().len() <= JOIN_LIMIT {
            buffer.extend_from_slice(bytes.as_bytes());
            continue;
        }
        let mut r = responder.borrow_mut();
        if !buffer.is_empty() {
            r.send_chunk(py, Bytes::from(std::mem::take(&mut buffer)))?;
        }
        if !r.send_chunk(py, chunk::bytes_of(bytes))? {
            return Ok(()); // the client went away: stop iterating, close() follows
        }
    }
    responder
        .borrow_mut()
        .send_complete(py, Bytes::from(buffer))
}

fn send_joined<'py>(
    py: Python<'py>,
    responder: &Bound<'py, Responder>,
    items: impl ExactSizeIterator<Item = Bound<'py, PyAny>>,
) -> PyResult<()> {
    let mut items = items.peekable();
    if items.len() == 1 {
        let item = items.next().unwrap();
        return responder
            .borrow_mut()
            .send_complete(py, chunk::bytes_of(as_bytes(&item)?));
    }
    let mut body = Vec::new();
    for item in items {
        body.extend_from_slice(as_bytes(&item)?.as_bytes());
    }
    responder.borrow_mut().send_complete(py, Bytes::from(body))
}
