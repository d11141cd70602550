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

/// Counters for request_metrics()/process_metrics() and heartbeats.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub busy_threads: AtomicU64,
    pub busy_time_us: AtomicU64,
    pub status_2xx: AtomicU64,
    pub status_3xx: AtomicU64,
    pub status_4xx: AtomicU64,
    pub status_5xx: AtomicU64,
    pub queue_rejected: AtomicU64,
    pub request_timeouts: AtomicU64,
}

impl Metrics {
    pub fn thread_started(&self) {
        self.busy_threads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn thread_finished(&self, busy: Duration) {
        self.busy_threads.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.busy_time_us
            .fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count_status(&self, status: u16) {
        let counter = match status {
            200..=299 => &self.status_2xx,
            300..=399 => &self.status_3xx,
            400..=499 => &self.status_4xx,
            _ => &self.status_5xx,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
