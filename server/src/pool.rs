//! The Python threads that run the app, and the bounded queue of [`Job`]s
//! they take from: each thread takes the GIL once and only lets go of it
//! while waiting for work. The messages themselves live in `crate::request`.
//!
//! The pool starts `threads` threads and may grow to `max_threads`. When a
//! job waits with every thread busy, a grower thread looks at how much CPU
//! the Python threads asked for over a few milliseconds — time on a CPU (each
//! thread's CPU clock) plus time waiting for one (the kernel's per-thread
//! `schedstat`; its CPU time is only brought up to date at the scheduler's
//! tick, too coarse for a window of milliseconds). Python
//! code runs one thread at a time (the GIL), so threads running Python ask
//! for a whole CPU between them; threads waiting for the GIL ask for none.
//! Well under a CPU means the busy threads are waiting outside the GIL (on a
//! database, a socket, a sleep): a thread more for each waiting job will run
//! it, as many at once as keep that demand, grown in proportion, under the
//! budget ([`more_threads`]). A
//! whole CPU means they are running Python, and one more would only queue
//! for the GIL and stretch the tail (README, "Default threads per process").
//! So a view that waits gets a thread per request in flight, as granian gives
//! it, and a CPU-bound view keeps the few threads that serve it best. (Asking
//! for the GIL and timing the answer does not tell them apart: a CPU-bound
//! request lets go of the GIL at its end, well within a millisecond.) A
//! thread above the base that finds no work for [`GROWN_IDLE`] ends.
//!
//! [`run_inline`] runs one job the same way on the calling thread: the I/O
//! thread, when `http::inline` decides that pays.
use crate::context::Shared;
use crate::request::{Job, Work};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A thread above the base ends after this long without a job (granian's
/// idle timeout for its blocking threads).
const GROWN_IDLE: Duration = Duration::from_secs(30);
/// The window over which the grower measures the Python threads' demand for
/// a CPU (a job queued behind a fast request is taken within it).
const WINDOW: Duration = Duration::from_millis(10);
/// Below this share of one CPU over the window the GIL was mostly free.
/// Seen on the 2-CPU development VM: a CPU-bound Django view's threads ask
/// for 1.0–9.6 CPUs (the holder runs or waits for the CPU; woken waiters
/// wait for it too), the 20 ms view's 0–2.4 while they grow to 32.
const GIL_FREE_SHARE: f64 = 0.75;
/// After a window that found the GIL busy, the grower looks again this much
/// later (its reading of /proc costs a few microseconds per thread).
const GIL_BUSY_BACKOFF: Duration = Duration::from_millis(50);
/// The longest a worker's start waits for its base threads to be set up.
const BASE_THREADS_WAIT: Duration = Duration::from_secs(10);
/// Between nudges the grower looks on its own this often.
const GROWER_TICK: Duration = Duration::from_millis(100);

/// The Python threads of one worker.
pub struct Pool {
    app: Py<PyAny>,
    shared: Arc<Shared>,
    jobs: Receiver<Work>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicUsize,
    closed: AtomicBool,
    /// The running Python threads: the kernel's id (for the schedstat) and
    /// the CPU clock of each.
    tids: Mutex<Vec<(libc::pid_t, libc::clockid_t)>>,
    /// Threads that have applied their scheduling policy.
    set_up: AtomicUsize,
}

impl Pool {
    /// Start the base threads (and the grower when the pool may grow); they
    /// run until the queue's senders are dropped.
    pub fn start(app: Py<PyAny>, shared: Arc<Shared>, jobs: Receiver<Work>) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            app,
            shared,
            jobs,
            handles: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            tids: Mutex::new(Vec::new()),
            set_up: AtomicUsize::new(0),
        });
        for _ in 0..pool.shared.config.threads {
            pool.spawn();
        }
        pool.wait_for_base_threads();
        if pool.shared.config.max_threads > pool.shared.config.threads {
            let grower = pool.clone();
            let handle = std::thread::Builder::new()
                .name("warpserver-grow".into())
                .spawn(move || grow(grower))
                .expect("could not start the pool's grower thread");
            let _ = pool.shared.grower.set(handle.thread().clone());
            pool.handles.lock().unwrap().push(handle);
        }
        pool
    }

    /// Return once every base thread runs under its scheduling policy and is
    /// counted in the demand readings (each does so before it asks for the
    /// GIL, so the caller may hold it): a worker is ready with its threads
    /// set up, not with some still inheriting the starting thread's policy
    /// (seen under a loaded test run: the first request found one of the two
    /// threads not yet SCHED_BATCH). Bounded, in case a thread never runs.
    fn wait_for_base_threads(&self) {
        let deadline = Instant::now() + BASE_THREADS_WAIT;
        while self.set_up.load(Ordering::Acquire) < self.shared.config.threads
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// One more Python thread.
    fn spawn(self: &Arc<Self>) {
        let index = self.started.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.threads.fetch_add(1, Ordering::Relaxed);
        let pool = self.clone();
        let handle = std::thread::Builder::new()
            .name(format!("warpserver-py-{index}"))
            .spawn(move || python_thread(pool))
            .expect("could not start a Python thread");
        let mut handles = self.handles.lock().unwrap();
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    /// The serving is over: the grower stops (the threads stop when the
    /// queue's senders are gone).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Some(grower) = self.shared.grower.get() {
            grower.unpark();
        }
    }

    /// Every thread of the pool (the grower's included) has ended.
    pub fn finished(&self) -> bool {
        self.handles.lock().unwrap().iter().all(|h| h.is_finished())
    }

    /// A job waits, every thread is busy, and the pool may grow.
    fn wanted(&self) -> bool {
        self.shared.may_grow(self.jobs.len())
    }

    /// Wait for a job with the GIL let go; `None` when the queue is closed,
    /// or when this thread, idle for GROWN_IDLE, was one above the base and
    /// has been retired.
    fn next_job(&self) -> Option<Work> {
        if self.shared.config.max_threads == self.shared.config.threads {
            return self.jobs.recv().ok();
        }
        loop {
            match self.jobs.recv_timeout(GROWN_IDLE) {
                Ok(job) => return Some(job),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) if self.retire_one() => return None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Nanoseconds each Python thread has spent on a CPU or waiting for one.
    fn demand(&self) -> Vec<(libc::pid_t, u64)> {
        let tids = self.tids.lock().unwrap().clone();
        tids.into_iter()
            .filter_map(|(tid, clock)| {
                let mut now = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: the clock of a thread still in `tids` (it removes
                // itself before it ends), written into a timespec we own.
                if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
                    return None;
                }
                let on_cpu = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
                let text =
                    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
                let waited = text.split_whitespace().nth(1)?.parse::<u64>().ok()?;
                Some((tid, on_cpu + waited))
            })
            .collect()
    }

    /// Count one thread out if the pool is above its base.
    fn retire_one(&self) -> bool {
        let base = self.shared.config.threads as u64;
        self.shared
            .metrics
            .threads
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n > base).then(|| n - 1)
            })
            .is_ok()
    }
}

/// The grower: woken by `Shared::job_queued` (and every GROWER_TICK), it
/// adds a thread while jobs wait, every thread is busy and the GIL is free.
fn grow(pool: Arc<Pool>) {
    let shared = &pool.shared;
    while !pool.closed.load(Ordering::Relaxed) {
        std::thread::park_timeout(GROWER_TICK);
        while pool.wanted() && !pool.closed.load(Ordering::Relaxed) {
            let (before, from) = (pool.demand(), Instant::now());
            std::thread::sleep(WINDOW);
            if !pool.wanted() || pool.closed.load(Ordering::Relaxed) {
                break;
            }
            let share = cpu_share(&before, &pool.demand(), from.elapsed());
            if let Some(share) = share.filter(|share| *share < GIL_FREE_SHARE) {
                let config = &shared.config;
                let threads = shared.metrics.threads.load(Ordering::Relaxed) as usize;
                let room = config.max_threads.saturating_sub(threads);
                for _ in 0..more_threads(share, threads, pool.jobs.len(), room) {
                    pool.spawn();
                }
            } else {
                std::thread::sleep(GIL_BUSY_BACKOFF);
            }
        }
        shared.grow_pending.store(false, Ordering::Relaxed);
    }
}

/// How many threads to add at once when `threads` busy threads asked for
/// `share` of a CPU and `queued` jobs wait: one per waiting job (a burst of
/// requests to a view that waits is served at once, not one thread per
/// window), as long as the threads' demand, grown in proportion, stays
/// under [`GIL_FREE_SHARE`]; at least one, at most `room`.
fn more_threads(share: f64, threads: usize, queued: usize, room: usize) -> usize {
    let by_demand = if share > 0.0 {
        (threads as f64 * (GIL_FREE_SHARE / share - 1.0)).floor() as usize
    } else {
        usize::MAX
    };
    queued.min(by_demand).max(1).min(room)
}

/// The CPUs the threads asked for between two readings of their demand
/// (threads in both readings only); `None` without readings.
fn cpu_share(
    before: &[(libc::pid_t, u64)],
    after: &[(libc::pid_t, u64)],
    took: Duration,
) -> Option<f64> {
    if after.is_empty() {
        return None;
    }
    let asked: u64 = after
        .iter()
        .filter_map(|(tid, now)| {
            let then = before.iter().find(|(t, _)| t == tid)?.1;
            Some(now.saturating_sub(then))
        })
        .sum();
    Some(asked as f64 / took.as_nanos().max(1) as f64)
}

fn python_thread(pool: Arc<Pool>) {
    let (shared, app) = (&*pool.shared, &pool.app);
    crate::scheduling::apply(shared.config.cpu_scheduling);
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let mut clock: libc::clockid_t = 0;
    // SAFETY: this thread's own handle, and a clockid we own.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
        pool.tids.lock().unwrap().push((tid, clock));
    }
    pool.set_up.fetch_add(1, Ordering::Release);
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
        let job = match pool.jobs.try_recv() {
            Ok(job) => {
                done(&mut finished);
                job
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match py.detach(|| {
                done(&mut finished);
                pool.next_job()
            }) {
                Some(job) => job,
                None => break,
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
        wait_for_a_slot(py, shared, &job);
        if !job.ticket.pick(shared) {
            continue; // already answered 503 by the queue-timeout
        }
        let started = Instant::now();
        shared.metrics.thread_started(started - shared.started);
        crate::watchdog::saw_gil(started - shared.started);
        shared
            .metrics
            .queue_wait
            .observe(started - job.ticket.enqueued);
        let paused = crate::wsgi::run::handle(py, app, job, shared, false);
        debug_assert!(paused.is_none(), "a pool thread has no budget");
        crate::wsgi::chunk::release_returned(py);
        let took = started.elapsed();
        shared.metrics.latency.observe(took);
        finished = Some(took);
    });
    done(&mut finished);
    pool.tids.lock().unwrap().retain(|&(t, _)| t != tid);
}

/// At most as many requests as there are threads run at once, an inline call that outgrew the
/// I/O thread (`http::inline`) included: while it holds the last slot, a
/// taken job waits here — still counted as queued (`held_jobs`), still under
/// the queue-timeout. Rare: only while an I/O loop is stuck in a long call.
fn wait_for_a_slot(py: Python<'_>, shared: &Shared, job: &Job) {
    let m = &shared.metrics;
    let full = || m.busy_threads.load(Ordering::Relaxed) >= m.threads.load(Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_share_counts_threads_read_both_times() {
        let ms = Duration::from_millis;
        let before = [(1, 0), (2, 1_000_000)];
        let after = [(1, 4_000_000), (2, 2_000_000), (3, 9_000_000)];
        // 4 ms + 1 ms asked over 5 ms; thread 3 started in between.
        assert_eq!(cpu_share(&before, &after, ms(5)), Some(1.0));
        assert_eq!(cpu_share(&before, &[], ms(5)), None);
    }

    #[test]
    fn a_burst_of_waiting_jobs_grows_the_pool_at_once_within_the_gil_budget() {
        // Threads waiting outside the GIL: one thread per waiting job.
        assert_eq!(more_threads(0.0, 2, 30, 30), 30);
        assert_eq!(more_threads(0.05, 2, 10, 30), 10);
        // Never past max_threads.
        assert_eq!(more_threads(0.0, 30, 10, 2), 2);
        // 4 threads asking for half a CPU: 2 more would reach 0.75.
        assert_eq!(more_threads(0.5, 4, 10, 28), 2);
        // Close to the budget: still the one the window found room for.
        assert_eq!(more_threads(0.7, 2, 10, 28), 1);
        assert_eq!(more_threads(0.1, 2, 0, 28), 1);
    }

    #[test]
    fn this_threads_schedstat_is_readable() {
        // The grower's only source: without it the pool never grows.
        let tid = unsafe { libc::gettid() };
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap();
        assert_eq!(text.split_whitespace().count(), 3, "{text}");
    }
}
