//! The T Python threads that run the app, and the bounded queue of
//! [`Job`]s they take from: each thread takes the GIL once and only lets go
//! of it while waiting for work. The messages themselves live in
//! `crate::request`.
use crate::context::Shared;
use crate::request::Job;
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Instant;

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
