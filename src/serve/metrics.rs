//! `--metrics-port`: Prometheus text exposition of all workers together,
//! served by the supervisor (it alone sees every worker and every restart).
//!
//! Workers report cumulative counters in their heartbeats (status classes,
//! latency and queue-wait histograms). The supervisor's loop only copies a
//! heartbeat into the [`Board`] (one short lock per heartbeat, ~1 s per
//! worker) and notes exits; the HTTP side (hyper on a current-thread tokio
//! runtime in its own thread) renders the text per scrape. When a worker is
//! gone, its last counts move into the retired totals, so every counter stays
//! monotonic across restarts. Requests a worker served after its last
//! heartbeat (at most ~1 s of them) are not counted.
use crate::error::fail;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Upper bounds (seconds) of the histogram buckets (+Inf implied) and the
/// status classes: the protocol's, the worker counts into the same.
use warp_protocol::{StatusClasses, BUCKETS, HISTOGRAM_BOUNDS as BOUNDS};
const CLASSES: [&str; 5] = StatusClasses::NAMES;

/// One histogram: per-bucket counts (not cumulative) and the sum in µs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
}

impl Histogram {
    /// From a heartbeat's list; `None` when the length does not match.
    pub fn from_parts(buckets: &[u64], sum_us: u64) -> Option<Histogram> {
        Some(Histogram {
            buckets: buckets.try_into().ok()?,
            sum_us,
        })
    }

    fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum_us += other.sum_us;
    }
}

/// A worker's cumulative counts since it started (from its heartbeat).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Responses by class 1xx … 5xx.
    pub status: [u64; 5],
    pub latency: Histogram,
    pub queue_wait: Histogram,
}

impl Counts {
    /// The `status` object of a heartbeat (`{"2xx":N,…}`).
    pub fn set_status(&mut self, classes: &StatusClasses) {
        self.status = classes.counts();
    }

    fn add(&mut self, other: &Counts) {
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        self.latency.add(&other.latency);
        self.queue_wait.add(&other.queue_wait);
    }
}

#[derive(Default)]
struct Live {
    counts: Counts,
    busy: u64,
}

#[derive(Default)]
struct Inner {
    live: HashMap<i32, Live>,
    retired: Counts,
    restarts: BTreeMap<String, u64>,
    /// Workers by state name.
    workers: BTreeMap<&'static str, u64>,
    /// Python threads of the ready workers.
    capacity: u64,
}

/// The shared state between the supervisor loop and the metrics thread.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Inner>>);

impl Board {
    /// A heartbeat from worker `pid`: its latest cumulative counts.
    pub fn heartbeat(&self, pid: i32, counts: Counts, busy: u64) {
        let mut inner = self.0.lock().unwrap();
        inner.live.insert(pid, Live { counts, busy });
    }

    /// Worker `pid` is gone: keep its counts; count a restart when it is one.
    pub fn worker_gone(&self, pid: i32, restart_reason: Option<&str>) {
        let mut inner = self.0.lock().unwrap();
        if let Some(live) = inner.live.remove(&pid) {
            inner.retired.add(&live.counts);
        }
        if let Some(reason) = restart_reason {
            *inner.restarts.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// How many workers are in each state, and the ready workers' threads.
    pub fn set_workers(&self, by_state: &[(&'static str, u64)], capacity: u64) {
        let mut inner = self.0.lock().unwrap();
        inner.workers = by_state.iter().copied().collect();
        inner.capacity = capacity;
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let inner = self.0.lock().unwrap();
        let mut total = inner.retired.clone();
        let mut busy = 0;
        for live in inner.live.values() {
            total.add(&live.counts);
            busy += live.busy;
        }
        let mut out = String::new();
        family(
            &mut out,
            "warp_requests_total",
            "counter",
            "Requests answered, by status class (all workers, restarts included).",
        );
        for (class, n) in CLASSES.iter().zip(total.status) {
            let _ = writeln!(out, "warp_requests_total{{status=\"{class}\"}} {n}");
        }
        histogram(
            &mut out,
            "warp_request_duration_seconds",
            "Application time of a request (the WSGI call until the response is done).",
            &total.latency,
        );
        histogram(
            &mut out,
            "warp_queue_wait_seconds",
            "Time a request waited for a free Python thread.",
            &total.queue_wait,
        );
        family(
            &mut out,
            "warp_busy_threads",
            "gauge",
            "Python threads running a request now.",
        );
        let _ = writeln!(out, "warp_busy_threads {busy}");
        family(
            &mut out,
            "warp_capacity_threads",
            "gauge",
            "Python threads of the ready workers.",
        );
        let _ = writeln!(out, "warp_capacity_threads {}", inner.capacity);
        family(
            &mut out,
            "warp_capacity_utilization",
            "gauge",
            "Busy threads / capacity threads (0 to 1).",
        );
        let utilization = if inner.capacity == 0 {
            0.0
        } else {
            (busy as f64 / inner.capacity as f64).min(1.0)
        };
        let _ = writeln!(out, "warp_capacity_utilization {utilization}");
        family(
            &mut out,
            "warp_workers",
            "gauge",
            "Worker processes by state.",
        );
        for state in ["starting", "ready", "stopping"] {
            let n = inner.workers.get(state).copied().unwrap_or(0);
            let _ = writeln!(out, "warp_workers{{state=\"{state}\"}} {n}");
        }
        family(
            &mut out,
            "warp_worker_restarts_total",
            "counter",
            "Workers replaced, by reason.",
        );
        for (reason, n) in &inner.restarts {
            let _ = writeln!(out, "warp_worker_restarts_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (i, count) in h.buckets.iter().enumerate() {
        cumulative += count;
        let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {cumulative}");
}

/// The `reason` label of a replaced worker, from why it was retired:
/// `maximum-requests: 50 requests served` → `maximum-requests`; a rolling
/// restart (SIGHUP) → `sighup`; a changed file (--reload-on-changes) → `reload`.
pub fn retire_reason(retiring: &str) -> String {
    let head = retiring.split(':').next().unwrap_or("").trim();
    if head == "SIGHUP" {
        "sighup".into()
    } else if !head.is_empty() && head.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        head.into()
    } else {
        "reload".into()
    }
}

/// Bind `host:port` now (a taken port fails `warp start` at once) and serve
/// the board from a thread of its own. Call after the supervisor blocked its
/// signals, so that this thread inherits the mask.
pub fn serve(host: &str, port: u16, board: Board) -> Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind((host, port)).map_err(|e| {
        fail(
            format!("cannot listen on {host}:{port} for --metrics-port: {e}"),
            "choose a free port for --metrics-port (it must differ from --port)",
        )
    })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("warp-metrics".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("a tokio runtime for the metrics endpoint");
            runtime.block_on(accept_loop(listener, board));
        })?;
    Ok(addr)
}

async fn accept_loop(listener: std::net::TcpListener, board: Board) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let board = board.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let board = board.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&request, &board)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond<B>(
    request: &hyper::Request<B>,
    board: &Board,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let (status, kind, body) = if request.uri().path() != "/metrics" {
        (
            404,
            "text/plain",
            "not found: the metrics are at /metrics\n".to_string(),
        )
    } else if request.method() != hyper::Method::GET && request.method() != hyper::Method::HEAD {
        (405, "text/plain", "use GET\n".to_string())
    } else {
        (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            board.render(),
        )
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", kind)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(two: u64, four: u64) -> Counts {
        let mut latency = Histogram::default();
        latency.buckets[0] = two + four;
        Counts {
            status: [0, two, 0, four, 0],
            latency,
            queue_wait: Histogram::default(),
        }
    }

    #[test]
    fn totals_survive_a_worker_and_histograms_are_cumulative() {
        let board = Board::default();
        board.heartbeat(10, counts(3, 1), 1);
        board.heartbeat(11, counts(2, 0), 0);
        board.worker_gone(10, Some("signal"));
        board.heartbeat(12, counts(1, 0), 0);
        board.set_workers(&[("ready", 2)], 8);
        let text = board.render();
        assert!(
            text.contains("warp_requests_total{status=\"2xx\"} 6\n"),
            "{text}"
        );
        assert!(
            text.contains("warp_requests_total{status=\"4xx\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("warp_request_duration_seconds_bucket{le=\"+Inf\"} 7\n"));
        assert!(text.contains("warp_request_duration_seconds_bucket{le=\"10\"} 7\n"));
        assert!(text.contains("warp_request_duration_seconds_count 7\n"));
        assert!(text.contains("warp_worker_restarts_total{reason=\"signal\"} 1\n"));
        assert!(text.contains("warp_capacity_threads 8\n"));
        assert!(text.contains("warp_workers{state=\"ready\"} 2\n"));
        assert!(
            text.contains("warp_busy_threads 0\n"),
            "the gone worker's busy is gone"
        );
    }

    #[test]
    fn retire_reasons_are_labels() {
        assert_eq!(
            retire_reason("maximum-requests: 5 requests served"),
            "maximum-requests"
        );
        assert_eq!(retire_reason("request-timeout"), "request-timeout");
        assert_eq!(retire_reason("SIGHUP"), "sighup");
        assert_eq!(retire_reason("/app/wsgi.py changed"), "reload");
    }

    #[test]
    fn a_histogram_of_the_wrong_length_is_refused() {
        assert!(Histogram::from_parts(&[1, 2], 0).is_none());
        assert!(Histogram::from_parts(&[0; BUCKETS], 5).is_some());
    }
}
