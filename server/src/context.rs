//! State shared by the I/O side and the Python threads of one worker: the
//! settings, the metrics counters, the status pipe to the supervisor and the
//! shutdown switch.
use crate::config::{Cidr, Config};
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use warp_protocol::{StatusClasses, StatusEvent, BUCKETS};

pub struct Shared {
    pub config: Config,
    pub started: Instant,
    pub trusted: Vec<Cidr>,
    pub static_mounts: Vec<(String, PathBuf)>,
    pub metrics: Metrics,
    status_pipe: Mutex<Option<std::fs::File>>,
    /// Set once: the worker stops accepting and drains (SIGTERM or recycle).
    pub stopping: AtomicBool,
    pub stop: Notify,
    pub stop_reason: Mutex<String>,
    recycle_sent: AtomicBool,
    /// The request running on an I/O thread, if any (at most one at a time),
    /// for the watchdog: only it can act while that thread is in the app.
    pub inline_call: Mutex<Option<InlineCall>>,
    /// Told when the last busy pool thread finishes (`http::inline` waits
    /// for it rather than queue behind a short request).
    pub pool_idle: Notify,
    /// Starts a fresh I/O loop to take over accepting from the loop whose
    /// generation it is given (set by `http::run`).
    pub rescue: OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
    /// The pool's grower thread, when the pool may grow (`pool`), and
    /// whether it has been woken and not yet looked.
    pub grower: OnceLock<std::thread::Thread>,
    pub grow_pending: AtomicBool,
}

/// An app call running inline on an I/O thread.
pub struct InlineCall {
    pub started: Instant,
    /// The request's connection (open for as long as this entry exists: the
    /// I/O thread that owns it is in the call and clears the entry first).
    pub fd: RawFd,
    /// The I/O loop it runs on (`http::run`'s generation).
    pub generation: u64,
    /// hyper may hold bytes of an earlier response not yet written: a 504
    /// written behind its back would be garbage, so only close then.
    pub unflushed: bool,
    /// A new I/O loop was started because this call ran long.
    pub rescued: bool,
    /// The watchdog answered 504 (request-timeout): the call's own reply is late.
    pub answered: bool,
}

impl Shared {
    pub fn new(config: Config, status_fd: Option<RawFd>) -> Shared {
        // SAFETY: worker.py checked that the fd is an open pipe or socket
        // that nothing else in this process owns.
        let status_pipe = status_fd.map(|fd| unsafe { std::fs::File::from_raw_fd(fd) });
        Shared {
            trusted: config.trusted_proxies(),
            static_mounts: config.static_mounts(),
            config,
            started: Instant::now(),
            metrics: Metrics::default(),
            status_pipe: Mutex::new(status_pipe),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            stop_reason: Mutex::new(String::new()),
            recycle_sent: AtomicBool::new(false),
            inline_call: Mutex::new(None),
            pool_idle: Notify::new(),
            rescue: OnceLock::new(),
            grower: OnceLock::new(),
            grow_pending: AtomicBool::new(false),
        }
    }

    /// Jobs wait (`queued` of them), every thread is running a request, and
    /// the pool may grow: the grower's reason to look (`pool`).
    pub fn may_grow(&self, queued: usize) -> bool {
        let m = &self.metrics;
        let threads = m.threads.load(Ordering::Relaxed);
        queued > 0
            && threads < self.config.max_threads as u64
            && m.busy_threads.load(Ordering::Relaxed) >= threads
    }

    /// A job went into the queue, which now holds `queued`: when the pool
    /// may grow, wake the grower (once until it has looked). Only then: a
    /// CPU-bound app's threads mostly wait for the GIL, uncounted as busy,
    /// and waking the grower on every queued job cost a context switch per
    /// request (hello world: 0.09 → 0.53 per request, 17 % fewer req/s).
    pub fn job_queued(&self, queued: usize) {
        let Some(grower) = self.grower.get() else {
            return;
        };
        if self.may_grow(queued) && !self.grow_pending.swap(true, Ordering::Relaxed) {
            grower.unpark();
        }
    }

    /// One status line to the supervisor (ignored when there is no status pipe).
    pub fn send_status(&self, event: &StatusEvent) {
        if let Some(pipe) = self.status_pipe.lock().unwrap().as_mut() {
            let _ = pipe.write_all(event.to_line().as_bytes());
        }
    }

    /// Ask to be replaced. Under a supervisor (a status pipe) the worker keeps
    /// serving until the supervisor, its replacement ready, sends SIGTERM —
    /// so capacity never drops; alone, it drains and exits by itself.
    /// Said once per worker.
    pub fn recycle(&self, reason: &str) {
        if self.recycle_sent.swap(true, Ordering::SeqCst) {
            return;
        }
        eprintln!("[warpserver] {reason}: asking to be replaced");
        if self.status_pipe.lock().unwrap().is_some() {
            self.send_status(&StatusEvent::Recycle {
                reason: Some(reason.to_string()),
            });
        } else {
            self.begin_stop(reason);
        }
    }

    /// Stop accepting and drain; the first reason wins.
    pub fn begin_stop(&self, reason: &str) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            *self.stop_reason.lock().unwrap() = reason.to_string();
            self.stop.notify_waiters();
            self.stop.notify_one();
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A cumulative histogram of durations: per-bucket counts (not cumulative
/// across buckets; the last is +Inf) and the sum in microseconds. The bucket
/// bounds are the protocol's (`warp_protocol::HISTOGRAM_BOUNDS`): the
/// supervisor's Prometheus endpoint prints the same.
#[derive(Default)]
pub struct Histogram {
    pub buckets: [AtomicU64; BUCKETS],
    pub sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        self.buckets[warp_protocol::bucket_of(took.as_secs_f64())].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The counts per bucket and the sum in µs, for a heartbeat.
    pub fn snapshot(&self) -> (Vec<u64>, u64) {
        let counts = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        (counts, self.sum_us.load(Ordering::Relaxed))
    }
}

/// Counters for request_metrics()/process_metrics() and heartbeats.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    /// Application time of each request (the WSGI call to the last byte);
    /// only requests a Python thread ran — static files and refusals are
    /// not in it (they would drown the app's latency in microseconds).
    pub latency: Histogram,
    /// Time each request waited in the queue for a Python thread.
    pub queue_wait: Histogram,
    pub busy_threads: AtomicU64,
    /// The Python threads running now: `threads`, more while the pool has
    /// grown (`pool`).
    pub threads: AtomicU64,
    /// Jobs a Python thread took from the queue but may not start yet (see
    /// `pool::wait_for_a_slot`): they count as queued.
    pub held_jobs: AtomicU64,
    /// When a Python thread last picked a request (µs since the worker
    /// started): with every thread taken, how long the newest has been running.
    pub last_pick_us: AtomicU64,
    pub busy_time_us: AtomicU64,
    /// Every response sent, by status class: the app's and those made in
    /// Rust (static files, refusals, the queue's 503, the timeout's 504).
    pub status_1xx: AtomicU64,
    pub status_2xx: AtomicU64,
    pub status_3xx: AtomicU64,
    pub status_4xx: AtomicU64,
    pub status_5xx: AtomicU64,
    pub queue_rejected: AtomicU64,
    pub request_timeouts: AtomicU64,
    /// Requests whose app call ran on the I/O thread (`http::inline`)…
    pub inline_requests: AtomicU64,
    /// …and those handed to the pool through the queue.
    pub handed_off_requests: AtomicU64,
}

impl Metrics {
    /// A Python thread picked a request, `at` after the worker started.
    pub fn thread_started(&self, at: Duration) {
        self.busy_threads.fetch_add(1, Ordering::Relaxed);
        self.last_pick_us
            .store(at.as_micros() as u64, Ordering::Relaxed);
    }

    /// An inline request handed the rest of its response to a pool thread:
    /// not finished yet (that thread counts it).
    pub fn thread_paused(&self, busy: Duration) {
        self.busy_threads.fetch_sub(1, Ordering::Relaxed);
        self.busy_time_us
            .fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
    }

    /// A request ended (true when no thread is busy now).
    pub fn thread_finished(&self, busy: Duration) -> bool {
        let was = self.busy_threads.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.busy_time_us
            .fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
        was == 1
    }

    pub fn count_status(&self, status: u16) {
        let counter = match status {
            100..=199 => &self.status_1xx,
            200..=299 => &self.status_2xx,
            300..=399 => &self.status_3xx,
            400..=499 => &self.status_4xx,
            _ => &self.status_5xx,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every response sent by status class, for a heartbeat: counted once in
    /// `Service::call` (503s of the queue included).
    pub fn status_classes(&self) -> StatusClasses {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusClasses::from_counts([
            load(&self.status_1xx),
            load(&self.status_2xx),
            load(&self.status_3xx),
            load(&self.status_4xx),
            load(&self.status_5xx),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        assert_eq!(
            h.snapshot(),
            (vec![2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], 60038000)
        );
    }
}
