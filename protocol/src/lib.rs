//! The supervisor ↔ worker contract, written once.
//!
//! `warp start` (the supervisor, crate `warp`) starts each worker process and
//! hands it a [`WorkerConfig`] as JSON in `WARPSERVER_CONFIG`; the worker (the
//! `warpserver` extension, crate `server/`) writes [`StatusEvent`]s back, one
//! JSON object per line, on its status pipe (fd 4). Both crates depend on this
//! one, so a setting or a field exists in one place and the compiler keeps the
//! two sides in step (before, two structs were kept equal by comments and the
//! events were JSON strings written by hand).
//!
//! What this crate must not know: how either side *uses* the values (no
//! timeouts, no sockets, no Python, no clap). It is serde types, their
//! defaults, and the rules of the wire:
//! - the worker refuses unknown config keys (a typo in the supervisor fails at
//!   once instead of being ignored);
//! - the supervisor ignores unknown events and unknown fields (a worker may say
//!   more than the supervisor understands).
//!
//! `build.rs` of the `warp` crate rebuilds the extension when this crate
//! changes (it is embedded in the warp binary).
mod config;
mod events;

pub use config::{CpuScheduling, DjangoStatic, WorkerConfig, DEFAULT_DEADLOCK_TIMEOUT};
pub use events::{Heartbeat, StatusClasses, StatusEvent};

/// Upper bounds (seconds) of the latency and queue-wait histogram buckets
/// sent in heartbeats; the last bucket (+Inf) is implied. The worker counts
/// into them, the supervisor's Prometheus endpoint prints them as `le`.
pub const HISTOGRAM_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets per histogram in a heartbeat: the bounds plus +Inf.
pub const BUCKETS: usize = HISTOGRAM_BOUNDS.len() + 1;

/// The bucket a duration of `secs` seconds falls in (twice per request: inlined).
#[inline]
pub fn bucket_of(secs: f64) -> usize {
    HISTOGRAM_BOUNDS
        .iter()
        .position(|&bound| secs <= bound)
        .unwrap_or(HISTOGRAM_BOUNDS.len())
}
