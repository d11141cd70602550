//! The supervisor's rules as a state machine, pure: no processes, no fds, no
//! signals, no clock of its own. The loop (`supervisor/mod.rs`) tells it what
//! happened — a tick at `now`, a worker spawned or not, a status event, an
//! exit, a signal, a changed source, a measured memory size — and carries out
//! the [`Action`]s it asks for (spawn, SIGTERM, SIGKILL, log lines …). So
//! every rule below is unit-tested with made-up pids and instants.
//!
//! Life of a worker: Starting (no "ready" yet; killed after the startup
//! timeout) → Ready (serving; may be marked *retiring* when it must be
//! recycled, and keeps serving until its replacement in the same slot is
//! ready) → Stopping (SIGTERM sent; SIGKILL after graceful + shutdown timeout).
//!
//! Failures: in the first start, if every slot's worker fails before any
//! worker was ever ready, `warp start` gives up (a broken deploy must not look
//! alive). Afterwards a slot whose worker fails to start is retried with
//! capped exponential backoff (1 s, 2 s, 4 s … 30 s), and a worker that dies
//! while serving is respawned at once (with backoff only when it keeps dying
//! within 10 s of becoming ready, from the fourth time in a row). Each
//! distinct traceback is shown once.
//!
//! What it must not know: how a worker is started or signalled, how its
//! output is read, what time it is.
use crate::serve::config::Settings;
use crate::serve::events::Event;
use crate::ui::human_size;
use std::collections::{HashSet, VecDeque};

mod exits;
use std::time::{Duration, Instant};

/// Longest backoff between attempts to start a failing worker.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that dies sooner than this after becoming ready counts as crash-looping.
const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(10);
/// Quick deaths in a row that are still respawned at once; later ones back off.
const QUICK_CRASHES_ALLOWED: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Starting,
    Ready,
    Stopping,
}

impl State {
    pub const ALL: [State; 3] = [State::Starting, State::Ready, State::Stopping];

    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Stopping => "stopping",
        }
    }
}

/// How important a log line is (the loop filters by --log-level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warning,
    /// A worker's failure report: shown at every level.
    Error,
}

/// What the loop must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a worker for this slot, then call [`Rules::spawned`] or [`Rules::spawn_failed`].
    Spawn {
        slot: usize,
    },
    /// SIGTERM: the worker stops accepting, finishes its requests, exits.
    Terminate {
        pid: i32,
    },
    Kill {
        pid: i32,
    },
    /// Pass on what the worker printed while starting (held back so far).
    ReleaseOutput {
        pid: i32,
    },
    /// The worker is gone: for the metrics, with the restart's reason (`None`
    /// when it was stopped for good).
    Gone {
        pid: i32,
        restart_reason: Option<String>,
    },
    Log(Level, String),
}

/// How a worker process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// "exited with code 1", "was killed by signal SIGKILL" …
    pub description: String,
    /// Killed by a signal (not an exit code).
    pub signaled: bool,
}

/// The settings the rules apply.
#[derive(Debug, Clone)]
pub struct Policy {
    pub slots: usize,
    pub threads: u32,
    /// Zero: no startup timeout.
    pub startup_timeout: Duration,
    pub graceful_timeout: Duration,
    /// SIGKILL this long after SIGTERM (graceful + shutdown timeout).
    pub kill_after: Duration,
    pub restart_interval: Option<Duration>,
}

impl Policy {
    pub fn new(s: &Settings) -> Policy {
        Policy {
            slots: s.processes as usize,
            threads: s.threads,
            startup_timeout: s.startup_timeout,
            graceful_timeout: s.graceful_timeout,
            kill_after: s.graceful_timeout + s.shutdown_timeout,
            restart_interval: s.restart_interval,
        }
    }
}

struct Worker {
    slot: usize,
    pid: i32,
    state: State,
    spawned: Instant,
    ready_at: Option<Instant>,
    stop_sent: Option<Instant>,
    /// Why it is being replaced (it serves until the replacement is ready).
    retiring: Option<String>,
    /// SIGKILL already sent.
    killed: bool,
    /// Why its start failed, when known before it exited.
    failure: Option<Failure>,
    requests: u64,
    active: u64,
    heartbeats: bool,
}

impl Worker {
    fn name(&self) -> String {
        format!("worker {} (pid {})", self.slot + 1, self.pid)
    }

    fn serving(&self) -> bool {
        self.state == State::Ready && self.retiring.is_none()
    }
}

enum Failure {
    /// From the worker's "failed" event.
    Traceback(String),
    /// Killed: not ready within the startup timeout.
    Timeout(String),
}

#[derive(Default)]
struct Slot {
    /// Consecutive failed starts (reset when a worker becomes ready).
    failures: u32,
    /// Consecutive deaths soon after becoming ready.
    quick_crashes: u32,
    not_before: Option<Instant>,
    /// The first worker of this slot failed before any worker was ever ready.
    failed_first_start: bool,
}

pub struct Rules {
    policy: Policy,
    url: String,
    slots: Vec<Slot>,
    workers: Vec<Worker>,
    ever_ready: bool,
    first_error: Option<String>,
    errors_seen: HashSet<String>,
    shutting_down: bool,
    rolling: VecDeque<usize>,
    rolling_reason: String,
    actions: Vec<Action>,
}

impl Rules {
    pub fn new(policy: Policy, url: String) -> Rules {
        Rules {
            slots: (0..policy.slots).map(|_| Slot::default()).collect(),
            policy,
            url,
            workers: Vec::new(),
            ever_ready: false,
            first_error: None,
            errors_seen: HashSet::new(),
            shutting_down: false,
            rolling: VecDeque::new(),
            rolling_reason: String::new(),
            actions: Vec::new(),
        }
    }

    /// The actions decided since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Every worker stopped after a shutdown: the supervisor exits 0.
    pub fn finished(&self) -> bool {
        self.shutting_down && self.workers.is_empty()
    }

    /// In the first start every slot failed before any worker was ready: the
    /// last line of the first error (`warp start` fails with it).
    pub fn gave_up(&self) -> Option<String> {
        if self.ever_ready || !self.slots.iter().all(|s| s.failed_first_start) {
            return None;
        }
        let error = self.first_error.clone().unwrap_or_default();
        Some(
            error
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no error message")
                .trim()
                .to_string(),
        )
    }

    /// Worker counts by state name, and the ready workers' threads.
    pub fn census(&self) -> ([(&'static str, u64); 3], u64) {
        let count = |state: State| self.workers.iter().filter(|w| w.state == state).count() as u64;
        let by_state = State::ALL.map(|s| (s.name(), count(s)));
        (by_state, count(State::Ready) * self.policy.threads as u64)
    }

    /// Whether a worker's output is still held back (it has not said ready).
    pub fn is_starting(&self, pid: i32) -> bool {
        self.find(pid)
            .is_some_and(|i| self.workers[i].state == State::Starting)
    }

    /// The workers whose memory counts for --memory-limit: the serving ones.
    pub fn serving_pids(&self) -> Vec<i32> {
        self.workers
            .iter()
            .filter(|w| w.serving())
            .map(|w| w.pid)
            .collect()
    }

    fn find(&self, pid: i32) -> Option<usize> {
        self.workers.iter().position(|w| w.pid == pid)
    }

    fn log(&mut self, level: Level, text: String) {
        self.actions.push(Action::Log(level, text));
    }

    /// The deadlines due at `now`: startup timeout, SIGKILL after SIGTERM, restart-interval.
    pub fn check_deadlines(&mut self, now: Instant) {
        for i in 0..self.workers.len() {
            self.check_worker(i, now);
        }
    }

    fn check_worker(&mut self, i: usize, now: Instant) {
        let p = &self.policy;
        let w = &self.workers[i];
        match w.state {
            State::Starting
                if !w.killed
                    && !p.startup_timeout.is_zero()
                    && now - w.spawned >= p.startup_timeout =>
            {
                let why = format!(
                    "not ready within {} s (--startup-timeout); killed",
                    p.startup_timeout.as_secs_f64()
                );
                let text = format!("{} {why}", w.name());
                let w = &mut self.workers[i];
                w.failure.get_or_insert(Failure::Timeout(why));
                w.killed = true;
                let pid = w.pid;
                self.log(Level::Warning, text);
                self.actions.push(Action::Kill { pid });
            }
            State::Stopping
                if !w.killed && w.stop_sent.is_some_and(|t| now - t >= p.kill_after) =>
            {
                let text = format!(
                    "{} still running {} s after SIGTERM; killed",
                    w.name(),
                    p.kill_after.as_secs_f64()
                );
                let w = &mut self.workers[i];
                w.killed = true;
                let pid = w.pid;
                self.log(Level::Warning, text);
                self.actions.push(Action::Kill { pid });
            }
            State::Ready if w.retiring.is_none() && !self.shutting_down => {
                let ready_at = w.ready_at.unwrap_or(w.spawned);
                if let Some(interval) = p.restart_interval.filter(|&d| now - ready_at >= d) {
                    let reason =
                        format!("restart-interval: serving for {} s", interval.as_secs_f64());
                    let pid = w.pid;
                    self.retire(pid, reason);
                }
            }
            _ => {}
        }
    }

    /// A serving worker's resident memory is over --memory-limit.
    pub fn over_memory_limit(&mut self, pid: i32, rss: u64, limit: u64) {
        if rss > limit {
            let reason = format!(
                "memory-limit: resident memory {} over {}",
                human_size(rss),
                human_size(limit)
            );
            self.retire(pid, reason);
        }
    }

    /// Advance a rolling restart, and start a worker in every slot that has
    /// none starting or serving (unless it waits for its backoff).
    pub fn fill_slots(&mut self, now: Instant) {
        self.advance_rolling();
        if self.shutting_down {
            return;
        }
        for slot in 0..self.slots.len() {
            let starting_or_serving = self
                .workers
                .iter()
                .any(|w| w.slot == slot && (w.state == State::Starting || w.serving()));
            let s = &self.slots[slot];
            let waiting = s.not_before.is_some_and(|t| now < t);
            let held = s.failed_first_start && !self.ever_ready;
            if !starting_or_serving && !waiting && !held {
                // A backoff that has passed must not keep waking the loop.
                self.slots[slot].not_before = None;
                self.actions.push(Action::Spawn { slot });
            }
        }
    }

    /// The next instant a rule is due (the loop wakes then at the latest).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let p = &self.policy;
        let slots = self
            .slots
            .iter()
            .filter_map(|s| s.not_before.filter(|&t| t > now));
        let workers = self.workers.iter().filter_map(|w| match w.state {
            State::Starting if !w.killed && !p.startup_timeout.is_zero() => {
                Some(w.spawned + p.startup_timeout)
            }
            State::Stopping if !w.killed => w.stop_sent.map(|t| t + p.kill_after),
            State::Ready if w.retiring.is_none() => p
                .restart_interval
                .map(|d| w.ready_at.unwrap_or(w.spawned) + d),
            _ => None,
        });
        slots.chain(workers).min()
    }

    /// The loop started worker `pid` for `slot`.
    pub fn spawned(&mut self, slot: usize, pid: i32, now: Instant) {
        self.log(
            Level::Debug,
            format!("worker {} (pid {pid}) starting", slot + 1),
        );
        self.workers.push(Worker {
            slot,
            pid,
            state: State::Starting,
            spawned: now,
            ready_at: None,
            stop_sent: None,
            retiring: None,
            killed: false,
            failure: None,
            requests: 0,
            active: 0,
            heartbeats: false,
        });
    }

    /// The worker process could not even be started (fork/exec failed).
    pub fn spawn_failed(&mut self, slot: usize, error: &str, now: Instant) {
        if !self.ever_ready {
            self.slots[slot].failed_first_start = true;
            self.first_error.get_or_insert_with(|| error.to_string());
            return;
        }
        let s = &mut self.slots[slot];
        s.failures += 1;
        let delay = backoff(s.failures);
        s.not_before = Some(now + delay);
        self.log(
            Level::Warning,
            format!(
                "could not start worker {}: {error}; next attempt in {} s",
                slot + 1,
                delay.as_secs()
            ),
        );
    }

    /// Mark a serving worker for replacement; it is stopped when its
    /// replacement is ready.
    pub fn retire(&mut self, pid: i32, reason: String) {
        let Some(i) = self.find(pid) else { return };
        let w = &mut self.workers[i];
        if w.retiring.is_some() || w.state == State::Stopping {
            return;
        }
        w.retiring = Some(reason.clone());
        let text = format!("{} will be replaced: {reason}", w.name());
        self.log(Level::Info, text);
    }

    fn stop(&mut self, i: usize, now: Instant) {
        let w = &mut self.workers[i];
        w.state = State::Stopping;
        w.stop_sent = Some(now);
        self.actions.push(Action::Terminate { pid: w.pid });
    }

    /// A status line of worker `pid`.
    pub fn on_event(&mut self, pid: i32, event: &Event, now: Instant) {
        let Some(i) = self.find(pid) else { return };
        match event {
            Event::Ready => self.on_ready(i, now),
            Event::Recycle { reason } => {
                if self.workers[i].state == State::Ready && !self.shutting_down {
                    self.retire(pid, reason.clone());
                }
            }
            Event::Failed { error } => {
                self.workers[i].failure = Some(Failure::Traceback(error.clone()));
            }
            Event::Heartbeat {
                requests, active, ..
            } => {
                let w = &mut self.workers[i];
                w.heartbeats = true;
                if let Some(n) = requests {
                    w.requests = *n;
                }
                if let Some(a) = active {
                    w.active = *a;
                }
            }
            Event::Other => {}
        }
    }

    fn on_ready(&mut self, i: usize, now: Instant) {
        let w = &mut self.workers[i];
        if w.state != State::Starting {
            return;
        }
        w.state = State::Ready;
        w.ready_at = Some(now);
        let (slot, pid, took) = (w.slot, w.pid, now - w.spawned);
        self.actions.push(Action::ReleaseOutput { pid });
        self.slots[slot].failures = 0;
        self.slots[slot].not_before = None;
        self.log(
            Level::Info,
            format!(
                "worker {} (pid {pid}) ready in {:.2} s",
                slot + 1,
                took.as_secs_f64()
            ),
        );
        if !self.ever_ready {
            self.ever_ready = true;
            self.log(Level::Info, format!("serving on {}", self.url));
        }
        if self.shutting_down {
            self.stop(i, now);
            return;
        }
        // The replacement accepts now: stop the worker(s) it replaces.
        for j in 0..self.workers.len() {
            let o = &self.workers[j];
            if j != i && o.slot == slot && o.state == State::Ready && o.retiring.is_some() {
                self.stop(j, now);
            }
        }
    }

    /// SIGTERM/SIGINT (`signal` names it): stop every worker gracefully; a
    /// second one kills them.
    pub fn shutdown(&mut self, signal: &str, now: Instant) {
        if self.shutting_down {
            self.log(
                Level::Warning,
                format!(
                    "{signal} again: killing {} worker(s) now",
                    self.workers.len()
                ),
            );
            for w in &mut self.workers {
                w.killed = true;
                self.actions.push(Action::Kill { pid: w.pid });
            }
            return;
        }
        self.shutting_down = true;
        self.rolling.clear();
        self.log(
            Level::Info,
            format!(
                "{signal}: stopping {} worker(s) gracefully (up to {} s for requests in progress)",
                self.workers.len(),
                self.policy.graceful_timeout.as_secs_f64()
            ),
        );
        for i in 0..self.workers.len() {
            if self.workers[i].state != State::Stopping {
                self.stop(i, now);
            }
        }
    }

    /// SIGHUP or a changed source: replace the workers one slot at a time.
    pub fn restart_all(&mut self, why: &str) {
        if self.shutting_down {
            return;
        }
        self.log(
            Level::Info,
            format!(
                "{why}: restarting the {} worker(s) one by one",
                self.slots.len()
            ),
        );
        self.rolling = (0..self.slots.len()).collect();
        self.rolling_reason = why.to_string();
        for slot in &mut self.slots {
            slot.failures = 0;
            slot.not_before = None;
        }
    }

    /// Retire the next slot of a rolling restart once no replacement is pending.
    fn advance_rolling(&mut self) {
        if self.shutting_down {
            return;
        }
        let pending = self
            .workers
            .iter()
            .any(|w| w.state == State::Ready && w.retiring.is_some());
        if pending {
            return;
        }
        while let Some(slot) = self.rolling.pop_front() {
            let serving = self
                .workers
                .iter()
                .find(|w| w.slot == slot && w.serving())
                .map(|w| w.pid);
            if let Some(pid) = serving {
                self.retire(pid, self.rolling_reason.clone());
                return;
            }
        }
    }

    /// SIGUSR1: every worker's state, and the slots waiting for a backoff.
    pub fn describe(&self, now: Instant, resident: impl Fn(i32) -> Option<u64>) -> String {
        let mut text = format!(
            "SIGUSR1: {} worker(s) for {} slot(s), serving {}",
            self.workers.len(),
            self.slots.len(),
            self.url
        );
        for w in &self.workers {
            let since = match w.state {
                State::Starting => w.spawned,
                State::Ready => w.ready_at.unwrap_or(w.spawned),
                State::Stopping => w.stop_sent.unwrap_or(w.spawned),
            };
            text.push_str(&format!(
                "\n  worker {} pid {}: {} for {:.1} s",
                w.slot + 1,
                w.pid,
                w.state.name(),
                (now - since).as_secs_f64()
            ));
            if w.heartbeats {
                text.push_str(&format!(
                    ", {} requests served, {} in progress",
                    w.requests, w.active
                ));
            }
            if let Some(rss) = resident(w.pid) {
                text.push_str(&format!(", RSS {}", human_size(rss)));
            }
            if let Some(reason) = &w.retiring {
                text.push_str(&format!(", being replaced ({reason})"));
            }
        }
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(t) = s.not_before.filter(|&t| t > now) {
                text.push_str(&format!(
                    "\n  slot {}: next start in {:.1} s after {} failure(s)",
                    i + 1,
                    (t - now).as_secs_f64(),
                    s.failures.max(s.quick_crashes)
                ));
            }
        }
        text
    }
}

/// 1 s, 2 s, 4 s … capped at 30 s, for the n-th consecutive failure (n ≥ 1).
pub fn backoff(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
