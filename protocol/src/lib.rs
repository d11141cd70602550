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
//!
//! ## The process contract around these types
//! - The supervisor binds the listening socket once and starts each worker
//!   as `<venv>/bin/python -m warpserver.worker` with the socket on **fd 3**
//!   (inherited, non-blocking, shared by all workers: a worker that dies loses
//!   no queued connection), the **status pipe on fd 4**, and
//!   `WARPSERVER_WORKER_ID`.
//! - `ready` is sent once the app is imported; until then the startup timeout
//!   runs. A worker whose import fails prints its traceback on stderr and
//!   exits 1 (bad config or fd 3 not a socket: exit 2). Its **stderr is a
//!   pipe to the supervisor**, which holds back what a starting worker prints
//!   until `ready` and, when the start fails, prints each distinct text once.
//!   After `ready` the worker `dup2`s **fd 5** (`WARPSERVER_LOG_FD`, the
//!   supervisor's own stderr) onto fd 2, so later error output bypasses the
//!   supervisor. Access logs go to stdout, inherited directly. stdin is
//!   `/dev/null`, except with `debugger`: then it is the terminal, for pdb.
//! - `recycle` asks to be replaced: the worker keeps serving until the
//!   supervisor, its replacement ready, sends SIGTERM (`deadlock-timeout` is
//!   followed by exit 3 at once). **One owner per recycle rule**: the worker
//!   owns what only it counts exactly (maximum-requests, inactivity-timeout);
//!   the supervisor owns what it measures from outside, so that it works on a
//!   wedged worker (restart-interval, memory-limit). The supervisor adds the
//!   maximum-requests jitter itself: `maximum_requests` in a worker's config
//!   is already that worker's own limit.
//! - `heartbeat` (every `heartbeat_interval`, cumulative since the worker
//!   started, plus one last after a drain) feeds SIGUSR1's report, crash
//!   reports and `--metrics-port`; it never decides a recycle.
//! - Signals to a worker: SIGTERM = stop accepting, finish in-flight requests
//!   within `graceful_timeout`, exit 0; SIGKILL after `graceful_timeout` +
//!   `shutdown_timeout`. Workers start with a clean signal mask, in their own
//!   process group (except with the debugger), with PR_SET_PDEATHSIG=SIGTERM,
//!   so a killed supervisor leaves no worker holding the port.
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
