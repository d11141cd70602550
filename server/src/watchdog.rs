//! Liveness of a worker: heartbeats on the status pipe, and the deadlock
//! check (mod_wsgi's deadlock-timeout). A probe thread takes the GIL for a
//! moment every second; if it has not managed to for `deadlock_timeout`
//! seconds, the interpreter is stuck (a C extension holding the GIL), so the
//! worker says `recycle` and exits at once — a graceful drain is impossible
//! without the GIL.
use crate::context::Shared;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds since start when the probe last held the GIL.
static GIL_SEEN_MS: AtomicU64 = AtomicU64::new(0);

pub fn start(shared: Arc<Shared>) {
    let probe_shared = shared.clone();
    let _ = std::thread::Builder::new()
        .name("warpserver-gil-probe".into())
        .spawn(move || loop {
            Python::attach(|_py| {
                GIL_SEEN_MS.store(
                    probe_shared.started.elapsed().as_millis() as u64,
                    Ordering::Relaxed,
                )
            });
            std::thread::sleep(Duration::from_secs(1));
        });
    let _ = std::thread::Builder::new()
        .name("warpserver-watchdog".into())
        .spawn(move || watch(shared));
}

fn watch(shared: Arc<Shared>) {
    let heartbeat = crate::config::seconds(shared.config.heartbeat_interval);
    let deadlock = crate::config::seconds(shared.config.deadlock_timeout);
    let tick = Duration::from_millis(250);
    let mut since_beat = Duration::ZERO;
    loop {
        std::thread::sleep(tick);
        since_beat += tick;
        let now_ms = shared.started.elapsed().as_millis() as u64;
        let gil_age =
            Duration::from_millis(now_ms.saturating_sub(GIL_SEEN_MS.load(Ordering::Relaxed)));
        if deadlock.is_some_and(|limit| gil_age > limit) {
            eprintln!(
                "[warpserver] deadlock-timeout: the GIL could not be acquired for {:.0}s; exiting so the worker is replaced",
                gil_age.as_secs_f64()
            );
            shared.send_status(r#"{"event":"recycle","reason":"deadlock-timeout"}"#);
            // SAFETY: _exit ends the process without running anything that could need the GIL.
            unsafe { libc::_exit(3) };
        }
        if let Some(every) = heartbeat {
            if since_beat >= every {
                since_beat = Duration::ZERO;
                let m = &shared.metrics;
                shared.send_status(&format!(
                    r#"{{"event":"heartbeat","requests":{},"busy":{},"gil_age_ms":{}}}"#,
                    m.requests.load(Ordering::Relaxed),
                    m.busy_threads.load(Ordering::Relaxed),
                    gil_age.as_millis()
                ));
            }
        }
    }
}
