//! The T Python threads that run the app, and the bounded queue of
//! [`Job`]s they take from: each thread takes the GIL once and only lets go
//! of it while waiting for work. The messages themselves live in
//! `crate::request`.
//!
//! [`run_inline`] runs one job the same way on the calling thread: the I/O
//! thread, when `http::inline` decides that pays.
use crate::context::Shared;
use crate::request::{Job, Work};
use pyo3::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Start the Python threads; they run until the queue's senders are dropped.
pub fn start_threads(
    app: Py<PyAny>,
    shared: Arc<Shared>,
    jobs: crossbeam_channel::Receiver<Work>,
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

fn python_thread(app: Py<PyAny>, shared: Arc<Shared>, jobs: crossbeam_channel::Receiver<Work>) {
    crate::scheduling::apply(shared.config.cpu_scheduling);
    // The previous job's busy time, counted (busy_threads down) only once
    // the next job is taken or the GIL let go: an I/O thread that sees no
    // busy thread may run a request inline, and must not then wait for
    // this thread's GIL (see `http::inline`).
    let mut finished: Option<Duration> = None;
    let done = |finished: &mut Option<Duration>| {
        if let Some(took) = finished.take() {
            if shared.metrics.thread_finished(took) {
                shared.pool_idle.notify_waiters();
            }
        }
    };
    Python::attach(|py| loop {
        // Under load a job is usually waiting already: take it without
        // letting go of the GIL (a release/re-acquire per request costs more
        // than the hello-world app itself). Only an empty queue parks the thread.
        let job = match jobs.try_recv() {
            Ok(job) => {
                done(&mut finished);
                job
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            Err(crossbeam_channel::TryRecvError::Empty) => match py.detach(|| {
                done(&mut finished);
                jobs.recv()
            }) {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        let job = match job {
            Work::Request(job) => job,
            Work::Resume { started, rest } => {
                let picked = Instant::now();
                shared.metrics.thread_started(picked - shared.started);
                crate::watchdog::saw_gil(picked - shared.started);
                rest(py);
                crate::wsgi::chunk::release_returned(py);
                shared.metrics.latency.observe(started.elapsed());
                finished = Some(picked.elapsed());
                continue;
            }
        };
        wait_for_a_slot(py, &shared, &job);
        if !job.ticket.pick(&shared) {
            continue; // already answered 503 by the queue-timeout
        }
        let started = Instant::now();
        shared.metrics.thread_started(started - shared.started);
        crate::watchdog::saw_gil(started - shared.started);
        shared
            .metrics
            .queue_wait
            .observe(started - job.ticket.enqueued);
        let paused = crate::wsgi::run::handle(py, &app, job, &shared, false);
        debug_assert!(paused.is_none(), "a pool thread has no budget");
        crate::wsgi::chunk::release_returned(py);
        let took = started.elapsed();
        shared.metrics.latency.observe(took);
        finished = Some(took);
    });
    done(&mut finished);
}

/// At most `threads` requests run at once, an inline call that outgrew the
/// I/O thread (`http::inline`) included: while it holds the last slot, a
/// taken job waits here — still counted as queued (`held_jobs`), still under
/// the queue-timeout. Rare: only while an I/O loop is stuck in a long call.
fn wait_for_a_slot(py: Python<'_>, shared: &Shared, job: &Job) {
    let m = &shared.metrics;
    let full = || m.busy_threads.load(Ordering::Relaxed) as usize >= shared.config.threads;
    if !full() {
        return;
    }
    m.held_jobs.fetch_add(1, Ordering::Relaxed);
    py.detach(|| {
        while full() && job.ticket.is_queued() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    m.held_jobs.fetch_sub(1, Ordering::Relaxed);
}

/// Run `job` on the calling thread (the I/O thread, which keeps a Python
/// thread state for its life, so this is a GIL acquisition, not a new
/// thread state). Counted like a pool thread's request; the rest of a
/// response that outgrew the inline budget comes back as [`Work::Resume`].
pub fn run_inline(app: &Py<PyAny>, job: Job, shared: &Shared) -> Option<Work> {
    Python::attach(|py| {
        let started = Instant::now();
        job.ticket.pick(shared);
        let m = &shared.metrics;
        m.thread_started(started - shared.started);
        crate::watchdog::saw_gil(started - shared.started);
        m.queue_wait.observe(Duration::ZERO);
        let paused = crate::wsgi::run::handle(py, app, job, shared, true);
        crate::wsgi::chunk::release_returned(py);
        let took = started.elapsed();
        match paused {
            None => {
                m.latency.observe(took);
                m.thread_finished(took);
                None
            }
            Some(paused) => {
                m.thread_paused(took);
                Some(Work::Resume {
                    started: paused.started(),
                    rest: Box::new(move |py| paused.resume(py)),
                })
            }
        }
    })
}
