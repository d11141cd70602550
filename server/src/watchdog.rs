//! Liveness of a worker: heartbeats on the status pipe, and the deadlock
//! check (mod_wsgi's deadlock-timeout). A probe thread takes the GIL for a
//! moment every second; if it has not managed to for `deadlock_timeout`
//! seconds, the interpreter is stuck (a C extension holding the GIL), so the
//! worker says `recycle` and exits at once — a graceful drain is impossible
//! without the GIL.
//!
//! It also asks to be recycled (see `Shared::recycle`) on maximum-requests
//! and inactivity-timeout — the limits only the worker counts exactly.
//! restart-interval and memory-limit belong to the supervisor, which measures
//! them from outside (they must work when the worker is wedged).
//!
//! And it is the only one who can act while a request runs inline on an I/O
//! thread (`http::inline`): past `RESCUE_AFTER` it has a new I/O loop take
//! over accepting; past the request-timeout it writes the 504 on the
//! request's socket itself, ends it, and asks for the recycle, as the I/O
//! side does for a request on a pool thread. (The GIL probe cannot misfire
//! on inline calls: an I/O thread holds the GIL only inside one, like a pool
//! thread, and lets go of it whenever the app waits.)
use crate::context::Shared;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use warp_protocol::{Heartbeat, StatusEvent};

/// Milliseconds since start when the probe last held the GIL.
static GIL_SEEN_MS: AtomicU64 = AtomicU64::new(0);

/// A thread holds the GIL `at` after the worker started (a request starting
/// on a pool or I/O thread, or the probe).
pub fn saw_gil(at: Duration) {
    GIL_SEEN_MS.store(at.as_millis() as u64, Ordering::Relaxed);
}

pub fn start(shared: Arc<Shared>) {
    let probe_shared = shared.clone();
    let _ = std::thread::Builder::new()
        .name("warpserver-gil-probe".into())
        .spawn(move || loop {
            // A request that started within the second proved it already
            // (`saw_gil`): taking the GIL here then would only make a request
            // wait for it — an inline one, too, which then counts as slow.
            let now_ms = probe_shared.started.elapsed().as_millis() as u64;
            if now_ms.saturating_sub(GIL_SEEN_MS.load(Ordering::Relaxed)) >= 1000 {
                Python::attach(|_py| saw_gil(probe_shared.started.elapsed()));
            }
            std::thread::sleep(Duration::from_secs(1));
        });
    let _ = std::thread::Builder::new()
        .name("warpserver-watchdog".into())
        .spawn(move || watch(shared));
}

/// An inline call (`http::inline`) running this long gets a new I/O loop to
/// accept for it.
pub const RESCUE_AFTER: Duration = Duration::from_millis(200);

fn watch(shared: Arc<Shared>) {
    let heartbeat = crate::config::seconds(shared.config.heartbeat_interval);
    let deadlock = crate::config::seconds(shared.config.deadlock_timeout);
    let request_timeout = crate::config::seconds(shared.config.request_timeout);
    // Fine enough for the inline rescue (RESCUE_AFTER); the rest is coarse.
    let tick = Duration::from_millis(100);
    let mut since_beat = Duration::ZERO;
    let config = &shared.config;
    let max_requests = (config.maximum_requests > 0).then_some(config.maximum_requests);
    let inactivity = crate::config::seconds(config.inactivity_timeout);
    let mut last_count = 0;
    let mut last_activity = std::time::Instant::now();
    let mut recycled = false;
    loop {
        std::thread::sleep(tick);
        since_beat += tick;
        watch_inline(&shared, request_timeout);
        let now_ms = shared.started.elapsed().as_millis() as u64;
        let gil_age =
            Duration::from_millis(now_ms.saturating_sub(GIL_SEEN_MS.load(Ordering::Relaxed)));
        if deadlock.is_some_and(|limit| gil_age > limit) {
            eprintln!(
                "[warpserver] deadlock-timeout: the GIL could not be acquired for {:.0}s; exiting so the worker is replaced",
                gil_age.as_secs_f64()
            );
            shared.send_status(&StatusEvent::Recycle {
                reason: Some("deadlock-timeout".into()),
            });
            // SAFETY: _exit ends the process without running anything that could need the GIL.
            unsafe { libc::_exit(3) };
        }
        if !shared.is_stopping() {
            let m = &shared.metrics;
            let count = m.requests.load(Ordering::Relaxed);
            if count != last_count || m.busy_threads.load(Ordering::Relaxed) > 0 {
                last_count = count;
                last_activity = std::time::Instant::now();
            }
            let reason = if max_requests.is_some_and(|max| count >= max) {
                Some("maximum-requests")
            } else if inactivity.is_some_and(|t| last_activity.elapsed() >= t) {
                Some("inactivity-timeout")
            } else {
                None
            };
            if let Some(reason) = reason.filter(|_| !recycled) {
                recycled = true;
                shared.recycle(reason);
            }
        }
        if let Some(every) = heartbeat {
            if since_beat >= every {
                since_beat = Duration::ZERO;
                send_heartbeat(&shared, gil_age);
            }
        }
    }
}

/// The request-timeout's answer, as the I/O side gives it (service::timed_out).
const TIMED_OUT: &[u8] = b"HTTP/1.1 504 Gateway Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 75\r\n\r\nGateway Timeout: the application did not answer within the request-timeout\n";

/// Act for an I/O thread held by an inline call (see the module doc).
fn watch_inline(shared: &Shared, request_timeout: Option<Duration>) {
    let mut slot = shared.inline_call.lock().unwrap();
    let Some(call) = slot.as_mut() else {
        return;
    };
    let age = call.started.elapsed();
    if !call.rescued && age >= RESCUE_AFTER {
        call.rescued = true;
        if let Some(rescue) = shared.rescue.get() {
            rescue(call.generation);
        }
    }
    if call.answered || request_timeout.is_none_or(|limit| age < limit) {
        return;
    }
    call.answered = true;
    // SAFETY: the descriptor is the request's open socket: its I/O thread is
    // in the call and clears this entry (under this lock) before it can
    // close it. Nothing of this response was written (only that thread
    // writes, after the call); hyper may hold an earlier one's tail, and then
    // only the end of the stream is sent.
    unsafe {
        if !call.unflushed {
            libc::send(
                call.fd,
                TIMED_OUT.as_ptr().cast(),
                TIMED_OUT.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
        libc::shutdown(call.fd, libc::SHUT_WR);
    }
    drop(slot);
    let m = &shared.metrics;
    m.request_timeouts.fetch_add(1, Ordering::Relaxed);
    m.count_status(504);
    shared.recycle("request-timeout");
}

/// One heartbeat line: the counters the supervisor shows on SIGUSR1 and
/// serves on `--metrics-port` (cumulative since the worker started).
pub fn send_heartbeat(shared: &Shared, gil_age: Duration) {
    let m = &shared.metrics;
    let busy = m.busy_threads.load(Ordering::Relaxed);
    let (latency, latency_sum_us) = m.latency.snapshot();
    let (queue_wait, queue_wait_sum_us) = m.queue_wait.snapshot();
    shared.send_status(&StatusEvent::Heartbeat(Heartbeat {
        requests: Some(m.requests.load(Ordering::Relaxed)),
        busy: Some(busy),
        active: Some(busy),
        threads: Some(m.threads.load(Ordering::Relaxed)),
        gil_age_ms: Some(gil_age.as_millis() as u64),
        status: Some(m.status_classes()),
        latency: Some(latency),
        latency_sum_us: Some(latency_sum_us),
        queue_wait: Some(queue_wait),
        queue_wait_sum_us: Some(queue_wait_sum_us),
    }));
}

/// Resident set size of this process, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * page)
        .unwrap_or(0)
}
