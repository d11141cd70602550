//! The hand-off between the I/O side (tokio + hyper, no GIL) and the T Python
//! threads that run the app: a bounded queue of [`Job`]s, and the thread loop
//! that takes the GIL once and only lets go of it while waiting for work.
//!
//! Each job carries a [`Ticket`] that the I/O side and the Python side race on
//! with one compare-and-swap: a thread *picks* a queued job, or the I/O side
//! *expires* it when the queue-timeout passes (503 at expiry, not at pickup).
use crate::context::Shared;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use pyo3::prelude::*;
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

/// One request handed to Python, with its body already read (see http::service).
pub struct Job {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
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

    /// When a thread picked the job, if it did.
    pub fn picked_at(&self, shared: &Shared) -> Option<Instant> {
        (self.state.load(Ordering::Acquire) == PICKED).then(|| {
            shared.started
                + std::time::Duration::from_micros(self.picked_at_us.load(Ordering::Relaxed))
        })
    }
}

/// Start the Python threads; they run until the queue's senders are dropped.
pub fn start_threads(
    app: Py<PyAny>,
    shared: Arc<Shared>,
    jobs: crossbeam_channel::Receiver<Job>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..shared.config.threads)
        .map(|index| {
            let app = Python::attach(|py| app.clone_ref(py));
            let shared = shared.clone();
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("warpserver-py-{index}"))
                .spawn(move || python_thread(app, shared, jobs))
                .expect("could not start a Python thread")
        })
        .collect()
}

fn python_thread(app: Py<PyAny>, shared: Arc<Shared>, jobs: crossbeam_channel::Receiver<Job>) {
    crate::scheduling::apply(shared.config.cpu_scheduling);
    Python::attach(|py| loop {
        // Under load a job is usually waiting already: take it without
        // letting go of the GIL (a release/re-acquire per request costs more
        // than the hello-world app itself). Only an empty queue parks the thread.
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            Err(crossbeam_channel::TryRecvError::Empty) => match py.detach(|| jobs.recv()) {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if !job.ticket.pick(&shared) {
            continue; // already answered 503 by the queue-timeout
        }
        let started = Instant::now();
        shared.metrics.thread_started(started - shared.started);
        shared
            .metrics
            .queue_wait
            .observe(started - job.ticket.enqueued);
        crate::wsgi::run::handle(py, &app, job, &shared);
        crate::wsgi::chunk::release_returned(py);
        let took = started.elapsed();
        shared.metrics.latency.observe(took);
        shared.metrics.thread_finished(took);
    })
}
