//! Runs one request on a Python thread (GIL held): environ, the app call,
//! the response iterable, close(), the 500 on error, and the events.
//!
//! Fast paths, to keep GIL time and hand-offs per request low: a list/tuple
//! response, or an iterable whose iterator knows its length (Django's
//! HttpResponse iterates a list), is joined and sent as ONE message with the
//! head; generators are streamed chunk by chunk.
//!
//! On the I/O thread (inline, see `http::inline`) the same code runs under a
//! budget; what is left of a long response comes back as a [`Paused`] that a
//! pool thread finishes.
use crate::context::Shared;
use crate::events;
use crate::request::Job;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::responder::Responder;
use crate::wsgi::{chunk, environ};
use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyList, PyTuple};
use std::time::{Duration, Instant};

/// Sized iterables up to this many bytes are sent in one piece.
const JOIN_LIMIT: usize = 1 << 20;

/// How long an inline run may iterate a response before the rest goes to a
/// pool thread (counted from the app call).
pub const INLINE_BUDGET: Duration = Duration::from_millis(2);

/// One request between the app call and its end.
struct Call {
    job: Job,
    responder: Py<Responder>,
    started: Instant,
    events_on: bool,
}

/// Where a response iteration stopped.
enum Step {
    Done,
    /// Stopped for the budget: the iterator, what is joined so far, whether sized.
    More(Py<PyIterator>, Vec<u8>, bool),
}

/// A response begun inline whose rest a pool thread finishes
/// ([`Paused::resume`]): thread identity changes there (see ARCHITECTURE.md).
pub struct Paused {
    call: Call,
    iterable: Py<PyAny>,
    rest: Option<(Py<PyIterator>, Vec<u8>, bool)>,
    /// CPU time the request used on the I/O thread, for request_finished.
    cpu: (f64, f64),
}

/// Run `job` on this thread. `inline`: the I/O thread, which must not block on
/// the reply channel nor iterate past [`INLINE_BUDGET`]; the rest comes back
/// as a [`Paused`] for a pool thread.
pub fn handle(
    py: Python<'_>,
    app: &Py<PyAny>,
    mut job: Job,
    shared: &Shared,
    inline: bool,
) -> Option<Paused> {
    let started = Instant::now();
    let reply = job.reply.take()?;
    let responder = match Bound::new(py, Responder::new(reply, inline)) {
        Ok(r) => r,
        Err(e) => {
            crate::app_error::log(py, &job.request_id, e);
            return None;
        }
    };
    let environ = match environ::build(py, &job, shared) {
        Ok(env) => env,
        Err(e) => {
            crate::app_error::log(py, &job.request_id, e);
            responder.borrow_mut().fail(py);
            return None;
        }
    };
    let events_on = events::enabled();
    if events_on {
        events::request_started(py, &job, &environ);
    }
    let call = Call {
        job,
        responder: responder.clone().unbind(),
        started,
        events_on,
    };
    match app.bind(py).call1((&environ, &responder)) {
        Ok(iterable) => {
            let budget = inline.then(|| started + INLINE_BUDGET);
            let step = respond(py, &responder, &iterable, budget);
            call.after(py, &iterable, step)
        }
        Err(error) => {
            call.failed(py, error);
            call.finished(py);
            None
        }
    }
}

impl Call {
    /// After (part of) the iteration: pause for a pool thread, or end.
    fn after(
        self,
        py: Python<'_>,
        iterable: &Bound<'_, PyAny>,
        step: PyResult<Step>,
    ) -> Option<Paused> {
        let rest = match step {
            Ok(Step::More(iterator, buffer, sized)) => Some((iterator, buffer, sized)),
            Ok(Step::Done) if self.responder.borrow(py).has_pending() => None,
            Ok(Step::Done) => {
                if let Err(error) = close(iterable) {
                    self.failed(py, error);
                }
                self.finished(py);
                return None;
            }
            Err(error) => {
                let _ = close(iterable);
                self.failed(py, error);
                self.finished(py);
                return None;
            }
        };
        let cpu = if self.events_on {
            events::cpu_so_far()
        } else {
            (0.0, 0.0)
        };
        Some(Paused {
            call: self,
            iterable: iterable.clone().unbind(),
            rest,
            cpu,
        })
    }

    fn failed(&self, py: Python<'_>, error: PyErr) {
        if self.events_on {
            events::request_exception(py, &self.job, &error);
        }
        crate::app_error::log(py, &self.job.request_id, error);
        self.responder.borrow_mut(py).fail(py);
    }

    fn finished(&self, py: Python<'_>) {
        if self.events_on {
            let r = self.responder.borrow(py);
            events::request_finished(
                py,
                &self.job,
                r.status_code,
                r.bytes_out,
                self.started.elapsed(),
            );
        }
    }
}

impl Paused {
    /// When the app call began.
    pub fn started(&self) -> Instant {
        self.call.started
    }

    /// Finish the response on this (pool) thread: the replies that waited,
    /// then the rest of the iteration, close() and the events.
    pub fn resume(self, py: Python<'_>) {
        if self.call.events_on {
            events::carry_cpu(self.cpu);
        }
        let responder = self.call.responder.bind(py);
        responder.borrow_mut().leave_inline(py);
        let step = match self.rest {
            Some((iterator, buffer, sized)) => {
                iterate(py, responder, iterator.bind(py), buffer, sized, None)
            }
            None => Ok(Step::Done),
        };
        let rest = self.call.after(py, self.iterable.bind(py), step);
        debug_assert!(rest.is_none(), "a pool thread has no budget");
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
    budget: Option<Instant>,
) -> PyResult<Step> {
    // A list or tuple: everything is already there.
    if let Ok(list) = iterable.cast::<PyList>() {
        return send_joined(py, responder, list.iter()).map(|()| Step::Done);
    }
    if let Ok(tuple) = iterable.cast::<PyTuple>() {
        return send_joined(py, responder, tuple.iter()).map(|()| Step::Done);
    }
    if let Ok(wrapper) = iterable.cast::<FileWrapper>() {
        if let Some(file) = wrapper.borrow().real_file(py) {
            if responder.borrow().started() {
                return responder
                    .borrow_mut()
                    .send_file(py, file)
                    .map(|()| Step::Done);
            }
        }
    }
    let iterator = iterable.try_iter()?;
    let sized = iterator.hasattr(pyo3::intern!(py, "__length_hint__"))?;
    iterate(py, responder, &iterator, Vec::new(), sized, budget)
}

/// Send the iterator's items (sized ones joined up to JOIN_LIMIT); with a
/// budget, stop when it is spent or the channel is full and say where.
fn iterate(
    py: Python<'_>,
    responder: &Bound<'_, Responder>,
    iterator: &Bound<'_, PyIterator>,
    mut buffer: Vec<u8>,
    sized: bool,
    budget: Option<Instant>,
) -> PyResult<Step> {
    let mut items = iterator.clone();
    loop {
        if budget.is_some_and(|until| responder.borrow().has_pending() || Instant::now() >= until) {
            return Ok(Step::More(items.unbind(), buffer, sized));
        }
        let Some(item) = items.next() else {
            break;
        };
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
            return Ok(Step::Done); // the client went away: stop iterating, close() follows
        }
    }
    responder
        .borrow_mut()
        .send_complete(py, Bytes::from(buffer))?;
    Ok(Step::Done)
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
