//! `start_response` and the `write()` callable, and the sending side of the
//! reply channel to the connection.
//!
//! Headers are held until the first non-empty body chunk (or the end of the
//! response), so an app may call start_response inside its generator, and may
//! call it again with exc_info until then. The app's Content-Length is
//! enforced: extra bytes are cut, a short body aborts the connection.
//!
//! On the I/O thread (an inline request, see `http::inline`) a send never
//! blocks — the thread that would block is the one that drains the channel:
//! replies that find the channel full wait in `pending`, and the request's
//! rest goes to a pool thread, which sends them first ([`Responder::leave_inline`]).
use crate::request::{Reply, ReplySender};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use http::StatusCode;
use pyo3::exceptions::{PyAssertionError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// Headers an app must not set (RFC 7230 hop-by-hop; PEP 3333 "Other HTTP features").
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

#[pyclass(module = "warpserver._core")]
pub struct Responder {
    /// None once the last reply went out.
    tx: Option<ReplySender>,
    status: Option<(StatusCode, Option<String>)>,
    headers: HeaderMap,
    pub sent: bool,
    /// Bytes still owed under the app's Content-Length.
    remaining: Option<u64>,
    pub status_code: u16,
    pub bytes_out: u64,
    /// The connection went away; further output is dropped.
    pub gone: bool,
    /// Running on the I/O thread: never block on a full channel.
    inline: bool,
    /// Replies an inline run could not put in the channel, in order.
    pending: std::collections::VecDeque<Reply>,
}

impl Responder {
    pub fn new(tx: ReplySender, inline: bool) -> Responder {
        Responder {
            inline,
            pending: std::collections::VecDeque::new(),
            tx: Some(tx),
            status: None,
            headers: HeaderMap::new(),
            sent: false,
            remaining: None,
            status_code: 0,
            bytes_out: 0,
            gone: false,
        }
    }

    /// Replies wait that the channel could not take (inline only).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The request continues on a pool thread: sends may block from now on,
    /// and what waits in `pending` goes first.
    pub fn leave_inline(&mut self, py: Python<'_>) {
        self.inline = false;
        for reply in std::mem::take(&mut self.pending) {
            self.send(py, reply);
        }
    }

    pub fn started(&self) -> bool {
        self.status.is_some()
    }

    fn send(&mut self, py: Python<'_>, reply: Reply) -> bool {
        if self.gone {
            return false;
        }
        let Some(tx) = self.tx.as_ref() else {
            return false; // the response was already complete
        };
        let last = reply.is_last();
        if !self.pending.is_empty() {
            // Keep the order: behind what already waits.
            self.pending.push_back(reply);
            return true;
        }
        let ok = match tx.try_send(reply) {
            Ok(()) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Full(reply)) if self.inline => {
                self.pending.push_back(reply);
                return true;
            }
            Err(tokio::sync::mpsc::error::TrySendError::Full(reply)) => {
                py.detach(|| tx.blocking_send(reply).is_ok())
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        };
        if !ok {
            self.gone = true;
        }
        if last || !ok {
            // Dropping the sender right after the last reply lets the
            // channel's "closed" wake-up ride on this send's (the task is
            // still queued); dropped later, it would cost the I/O thread a
            // second wake-up (an eventfd write) per request.
            self.tx = None;
        }
        ok
    }

    fn head(&mut self, body: Option<Bytes>) -> PyResult<Reply> {
        let (status, reason) = self.status.clone().ok_or_else(|| {
            PyAssertionError::new_err("the application did not call start_response")
        })?;
        self.sent = true;
        self.status_code = status.as_u16();
        Ok(Reply::Head {
            status,
            reason,
            headers: std::mem::take(&mut self.headers),
            body,
        })
    }

    fn cut(&mut self, data: Bytes) -> Bytes {
        let keep = match &mut self.remaining {
            Some(left) => {
                let keep = (data.len() as u64).min(*left);
                *left -= keep;
                keep as usize
            }
            None => data.len(),
        };
        self.bytes_out += keep as u64;
        if keep == data.len() {
            data
        } else {
            data.slice(..keep)
        }
    }

    /// The whole response at once (the fast path for lists and sized iterables).
    pub fn send_complete(&mut self, py: Python<'_>, body: Bytes) -> PyResult<()> {
        if self.sent {
            if !body.is_empty() {
                self.send_chunk(py, body)?;
            }
            return self.finish(py);
        }
        let body = self.cut(body);
        let reply = self.head(Some(body))?;
        self.send(py, reply);
        Ok(())
    }

    /// One body chunk; the head goes first when it has not been sent.
    pub fn send_chunk(&mut self, py: Python<'_>, data: Bytes) -> PyResult<bool> {
        if data.is_empty() {
            return Ok(!self.gone);
        }
        if !self.sent {
            let reply = self.head(None)?;
            if !self.send(py, reply) {
                return Ok(false);
            }
        }
        let chunk = self.cut(data);
        if chunk.is_empty() {
            return Ok(!self.gone);
        }
        Ok(self.send(py, Reply::Chunk(chunk)))
    }

    /// A real file (wsgi.file_wrapper): streamed by the I/O side.
    pub fn send_file(&mut self, py: Python<'_>, file: std::fs::File) -> PyResult<()> {
        if !self.sent {
            let reply = self.head(None)?;
            if !self.send(py, reply) {
                return Ok(());
            }
        }
        let limit = self.remaining.take();
        self.send(py, Reply::File { file, limit });
        self.send(py, Reply::End);
        Ok(())
    }

    /// End of the body: a body shorter than its Content-Length aborts.
    pub fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.sent {
            return self.send_complete(py, Bytes::new());
        }
        let end = if self.remaining.is_some_and(|left| left > 0) {
            Reply::Abort
        } else {
            Reply::End
        };
        self.send(py, end);
        Ok(())
    }

    /// The app failed: a 500 when nothing was sent yet, else drop the connection.
    pub fn fail(&mut self, py: Python<'_>) {
        if self.sent {
            self.send(py, Reply::Abort);
            return;
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.sent = true;
        self.status_code = 500;
        let body = Bytes::from_static(b"Internal Server Error\n");
        self.bytes_out = body.len() as u64;
        self.send(
            py,
            Reply::Head {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                reason: None,
                headers,
                body: Some(body),
            },
        );
    }
}

fn parse_status(status: &str) -> PyResult<(StatusCode, Option<String>)> {
    let bytes = status.as_bytes();
    let valid = bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && bytes[0] != b'0'
        && !bytes.iter().any(|&b| b < 0x20 || b == 0x7f);
    let code = valid
        .then(|| StatusCode::from_bytes(&bytes[..3]).ok())
        .flatten()
        .filter(|c| c.as_u16() >= 100);
    let code = code.ok_or_else(|| {
        PyAssertionError::new_err(format!(
            "invalid status {status:?}: must be a 3-digit code, a space and a reason phrase"
        ))
    })?;
    let reason = &status[4..];
    let reason = (Some(reason) != code.canonical_reason()).then(|| reason.to_string());
    Ok((code, reason))
}

fn latin1_bytes(text: &str, what: &str) -> PyResult<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(c as u32).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| PyAssertionError::new_err(format!("{what} {text:?} is not latin-1")))
}

fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<(HeaderMap, Option<u64>)> {
    let list = headers
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("response headers must be a list"))?;
    let mut map = HeaderMap::with_capacity(list.len());
    let mut content_length = None;
    for item in list.iter() {
        let pair = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("each response header must be a (name, value) tuple")
        })?;
        if pair.len() != 2 {
            return Err(PyTypeError::new_err(
                "each response header must be a (name, value) tuple",
            ));
        }
        let name_obj = pair.get_item(0)?;
        let value_obj = pair.get_item(1)?;
        let name = name_obj
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("header names must be str"))?
            .to_cow()?
            .into_owned();
        let value = value_obj
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("the value of header {name:?} must be str")))?
            .to_cow()?
            .into_owned();
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyAssertionError::new_err(format!("invalid header name {name:?}")))?;
        if HOP_BY_HOP.contains(&header.as_str()) {
            return Err(PyAssertionError::new_err(format!(
                "hop-by-hop header {name:?} is not allowed in a WSGI response"
            )));
        }
        let value_bytes = latin1_bytes(&value, "header value")?;
        let value = HeaderValue::from_bytes(&value_bytes)
            .map_err(|_| PyAssertionError::new_err(format!("invalid value for header {name:?}")))?;
        if header == CONTENT_LENGTH {
            let n = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| PyAssertionError::new_err("Content-Length must be a number"))?;
            content_length = Some(n);
        }
        map.append(header, value);
    }
    Ok((map, content_length))
}

#[pymethods]
impl Responder {
    /// start_response(status, response_headers, exc_info=None) → write
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        mut slf: PyRefMut<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        if let Some(exc_info) = exc_info {
            if slf.sent {
                // PEP 3333: too late to change the response; re-raise.
                let value = exc_info.get_item(1)?;
                return Err(PyErr::from_value(value));
            }
        } else if slf.status.is_some() {
            return Err(PyAssertionError::new_err(
                "start_response called a second time without exc_info",
            ));
        }
        let status = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("status must be a str"))?
            .to_cow()?;
        let parsed = parse_status(&status)?;
        let (map, content_length) = parse_headers(headers)?;
        slf.status = Some(parsed);
        slf.headers = map;
        slf.remaining = content_length;
        let py = slf.py();
        if crate::events::enabled() {
            crate::events::response_started(py, &status, headers);
        }
        let this = slf.into_pyobject(py)?;
        this.getattr("write")
    }

    /// The legacy write() callable: sends its bytes at once.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("write() takes bytes"))?;
        if self.status.is_none() {
            return Err(PyAssertionError::new_err(
                "write() called before start_response",
            ));
        }
        self.send_chunk(py, crate::wsgi::chunk::bytes_of(data))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(parse_status("200 OK").unwrap().0, StatusCode::OK);
        assert_eq!(parse_status("200 Fine").unwrap().1.as_deref(), Some("Fine"));
        assert!(parse_status("200").is_err());
        assert!(parse_status("20 OK").is_err());
        assert!(parse_status("abc OK").is_err());
        assert!(parse_status("200 OK\r\nX: y").is_err());
    }
}
