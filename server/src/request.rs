//! The messages between the I/O side and the Python side, and nothing else:
//! a [`Job`] (one request, its body already read) goes to a Python thread, a
//! stream of [`Reply`]s comes back. Both `http/` and `wsgi/` import this
//! module; it imports neither (as granian keeps its WSGI types apart), so the
//! request's shape is decided in one place and the two sides never import
//! each other.
//!
//! What the queue carries is [`Work`]: a request, or the rest of a response
//! that began on the I/O thread (see `http::inline`) and must not keep it.
//!
//! Each job carries a [`Ticket`] that the I/O side and the Python side race on
//! with one compare-and-swap: a thread *picks* a queued job, or the I/O side
//! *expires* it when the queue-timeout passes (503 at expiry, not at pickup).
use crate::context::Shared;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What a Python thread sends back to the connection, in order:
/// `Head` once, then (unless `Head.body` was the whole body) `Chunk`s or a
/// `File`, then `End` or `Abort`.
pub enum Reply {
    Head {
        status: StatusCode,
        reason: Option<String>,
        headers: HeaderMap,
        /// The complete body, when the app's whole response was known at once.
        body: Option<Bytes>,
    },
    Chunk(Bytes),
    /// A real file from wsgi.file_wrapper, streamed by the I/O side without the GIL.
    File {
        file: std::fs::File,
        limit: Option<u64>,
    },
    End,
    /// The app failed after the head was sent: the connection must be dropped.
    Abort,
}

impl Reply {
    /// Nothing follows this reply on its channel.
    pub fn is_last(&self) -> bool {
        matches!(
            self,
            Reply::Head { body: Some(_), .. } | Reply::End | Reply::Abort
        )
    }
}

pub type ReplySender = tokio::sync::mpsc::Sender<Reply>;

/// What a Python thread of the pool takes from the queue.
// Requests are the common case and were queued unboxed before: boxing them
// would add an allocation per request to save queue slots' size.
#[allow(clippy::large_enum_variant)]
pub enum Work {
    /// A request to run from the start.
    Request(Job),
    /// The rest of a response the I/O thread began inline (its iteration, or
    /// replies that did not fit the channel): the thread runs `rest`, which
    /// finishes the request; `started` is when its app call began.
    Resume {
        started: Instant,
        rest: Box<dyn FnOnce(pyo3::Python<'_>) + Send>,
    },
}

/// Runs a job on the calling thread, inline (the I/O thread); returns the
/// rest of its response when that must go to a pool thread.
pub type RunInline = std::sync::Arc<dyn Fn(Job) -> Option<Work> + Send + Sync>;

/// One request handed to Python, with its body already read (see http::service).
pub struct Job {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: RequestBody,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub request_id: String,
    /// Taken by the request's responder (so it can drop it early).
    pub reply: Option<ReplySender>,
    pub ticket: Arc<Ticket>,
}

const QUEUED: u8 = 0;
const PICKED: u8 = 1;
const EXPIRED: u8 = 2;

/// Who owns a queued job: the first Python thread to pick it, or the
/// queue-timeout.
pub struct Ticket {
    state: AtomicU8,
    /// Microseconds since [`Shared::started`] when a thread picked it up.
    picked_at_us: AtomicU64,
    pub enqueued: Instant,
}

impl Ticket {
    pub fn new() -> Arc<Ticket> {
        Arc::new(Ticket {
            state: AtomicU8::new(QUEUED),
            picked_at_us: AtomicU64::new(0),
            enqueued: Instant::now(),
        })
    }

    /// A Python thread takes the job; false when it already expired.
    pub fn pick(&self, shared: &Shared) -> bool {
        self.picked_at_us.store(
            shared.started.elapsed().as_micros() as u64,
            Ordering::Relaxed,
        );
        self.state
            .compare_exchange(QUEUED, PICKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The queue-timeout passed; true when no thread had picked the job.
    pub fn expire(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Neither picked nor expired yet.
    pub fn is_queued(&self) -> bool {
        self.state.load(Ordering::Acquire) == QUEUED
    }

    /// When a thread picked the job, if it did.
    pub fn picked_at(&self, shared: &Shared) -> Option<Instant> {
        (self.state.load(Ordering::Acquire) == PICKED).then(|| {
            shared.started
                + std::time::Duration::from_micros(self.picked_at_us.load(Ordering::Relaxed))
        })
    }
}

/// A request body as the I/O side received it: hyper's frames, kept as they
/// came (no joining copy), so `wsgi.input` copies each byte once, straight
/// into the Python `bytes` the app reads. Frames under [`RequestBody::SMALL`]
/// are joined on arrival, so a client sending tiny chunks cannot make the
/// list long (at most one entry per `SMALL` bytes or so).
#[derive(Clone, Default)]
pub struct RequestBody {
    frames: Vec<Bytes>,
    /// Small frames being joined, not yet in `frames`.
    tail: Vec<u8>,
    len: usize,
}

impl RequestBody {
    /// Frames smaller than this are copied together.
    pub const SMALL: usize = 4096;

    pub fn push(&mut self, data: Bytes) {
        self.len += data.len();
        if data.len() < Self::SMALL {
            self.tail.extend_from_slice(&data);
            if self.tail.len() >= 16 * Self::SMALL {
                self.flush_tail();
            }
            return;
        }
        self.flush_tail();
        self.frames.push(data);
    }

    fn flush_tail(&mut self) {
        if !self.tail.is_empty() {
            self.frames
                .push(Bytes::from(std::mem::take(&mut self.tail)));
        }
    }

    /// The received pieces, in order.
    pub fn into_frames(mut self) -> Vec<Bytes> {
        self.flush_tail();
        self.frames
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl From<Bytes> for RequestBody {
    fn from(data: Bytes) -> RequestBody {
        let mut body = RequestBody::default();
        if !data.is_empty() {
            body.len = data.len();
            body.frames.push(data);
        }
        body
    }
}
