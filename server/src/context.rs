//! State shared by the I/O side and the Python threads of one worker: the
//! settings, the metrics counters, the status pipe to the supervisor and the
//! shutdown switch.
use crate::config::{Cidr, Config};
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
        }
    }

    /// One JSON line to the supervisor (ignored when there is no status pipe).
    pub fn send_status(&self, json_line: &str) {
        if let Some(pipe) = self.status_pipe.lock().unwrap().as_mut() {
            let _ = pipe.write_all(format!("{json_line}\n").as_bytes());
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
            self.send_status(&format!(r#"{{"event":"recycle","reason":"{reason}"}}"#));
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

/// Upper bounds (seconds) of the latency and queue-wait histogram buckets
/// sent in heartbeats; the last bucket (+Inf) is implied. The supervisor's
/// Prometheus endpoint uses the same list (`src/serve/metrics.rs`).
pub const HISTOGRAM_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram of durations: per-bucket counts (not cumulative
/// across buckets; the last is +Inf) and the sum in microseconds.
#[derive(Default)]
pub struct Histogram {
    pub buckets: [AtomicU64; HISTOGRAM_BOUNDS.len() + 1],
    pub sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let index = HISTOGRAM_BOUNDS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(HISTOGRAM_BOUNDS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// `"NAME":[counts…],"NAME_sum_us":N` for a heartbeat line.
    pub fn json_fields(&self, name: &str) -> String {
        let counts: Vec<String> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed).to_string())
            .collect();
        format!(
            r#""{name}":[{}],"{name}_sum_us":{}"#,
            counts.join(","),
            self.sum_us.load(Ordering::Relaxed)
        )
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
}

impl Metrics {
    /// A Python thread picked a request, `at` after the worker started.
    pub fn thread_started(&self, at: Duration) {
        self.busy_threads.fetch_add(1, Ordering::Relaxed);
        self.last_pick_us
            .store(at.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn thread_finished(&self, busy: Duration) {
        self.busy_threads.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.busy_time_us
            .fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
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

    /// `"status":{"1xx":N,…}` for a heartbeat line: every response sent,
    /// counted once in `Service::call` (503s of the queue included).
    pub fn status_json(&self) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            r#""status":{{"1xx":{},"2xx":{},"3xx":{},"4xx":{},"5xx":{}}}"#,
            load(&self.status_1xx),
            load(&self.status_2xx),
            load(&self.status_3xx),
            load(&self.status_4xx),
            load(&self.status_5xx)
        )
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
            h.json_fields("latency"),
            r#""latency":[2,0,0,1,0,0,0,0,0,0,0,1],"latency_sum_us":60038000"#
        );
    }
}
