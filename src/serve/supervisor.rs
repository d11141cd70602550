//! The supervisor loop: keep one serving worker per slot, replace workers
//! without dropping requests, and stop them all gracefully.
//!
//! One thread, one `poll(2)` over a signalfd and the workers' status pipes;
//! it wakes for signals, status lines and its own deadlines only — never per
//! request (workers accept connections from the shared socket themselves).
//!
//! Life of a worker: Starting (no "ready" yet; killed after the startup
//! timeout) → Ready (serving; may be marked *retiring* when it must be
//! recycled, and keeps serving until its replacement in the same slot is
//! ready) → Stopping (SIGTERM sent; SIGKILL after graceful + shutdown timeout).
//!
//! Failures: in the first start, if every slot's worker fails before any
//! worker was ever ready, `warp start` exits 1 (a broken deploy must not look
//! alive). Afterwards a slot whose worker fails to start is retried with
//! capped exponential backoff (1 s, 2 s, 4 s … 30 s), and a worker that dies
//! while serving is respawned at once (with backoff only when it keeps dying
//! within 10 s of becoming ready, from the fourth time in a row). Each
//! distinct traceback is printed once.
use crate::error::fail;
use crate::serve::config::{human_size, LogLevel, Settings};
use crate::serve::events::{self, Event, LineReader};
use crate::serve::metrics::{self, Board};
use crate::serve::reload::{Snapshot, Watch};
use crate::serve::worker::{resident_bytes, Launcher};
use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use warp_protocol::WorkerConfig;

/// Longest backoff between attempts to start a failing worker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that dies sooner than this after becoming ready counts as crash-looping.
const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(10);
/// The most a starting worker's output is held back (its tail is kept).
const MAX_HELD_OUTPUT: usize = 256 * 1024;
/// Quick deaths in a row that are still respawned at once; later ones back off.
const QUICK_CRASHES_ALLOWED: u32 = 3;
/// How often resident memory is checked (with --memory-limit) and the source polled (--reload-on-changes).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    Stopping,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Stopping => "stopping",
        }
    }
}

struct Worker {
    slot: usize,
    pid: i32,
    status: File,
    reader: LineReader,
    /// The worker's stderr; what it prints before "ready" is held back.
    stderr: File,
    stderr_closed: bool,
    held_output: Vec<u8>,
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

enum Failure {
    /// From the worker's "failed" event.
    Traceback(String),
    /// Killed by the supervisor: not ready within the startup timeout.
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

struct Reloader {
    watch: Watch,
    last: Snapshot,
    next_poll: Instant,
}

pub struct Supervisor {
    settings: Settings,
    launcher: Launcher,
    config: WorkerConfig,
    url: String,
    signals: SignalFd,
    slots: Vec<Slot>,
    workers: Vec<Worker>,
    ever_ready: bool,
    first_error: Option<String>,
    errors_seen: HashSet<String>,
    shutting_down: bool,
    rolling: VecDeque<usize>,
    rolling_reason: String,
    reloader: Option<Reloader>,
    next_memory_check: Instant,
    /// `--metrics-port`: what the metrics thread serves.
    metrics: Option<Board>,
}

/// The signals the supervisor handles; they are blocked and read from a signalfd.
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Block the handled signals in this thread (threads started later inherit
/// the mask; workers get a clean mask from `Command`). Call before anything
/// else starts threads or children.
pub fn block_signals() -> Result<SignalFd> {
    let set = handled_signals();
    set.thread_block().context("blocking signals")?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("creating a signalfd")
}

impl Supervisor {
    pub fn new(
        settings: Settings,
        launcher: Launcher,
        config: WorkerConfig,
        url: String,
        signals: SignalFd,
        watch: Option<Watch>,
    ) -> Supervisor {
        let now = Instant::now();
        let slots = (0..settings.processes).map(|_| Slot::default()).collect();
        Supervisor {
            reloader: watch.map(|watch| Reloader {
                last: watch.snapshot(),
                watch,
                next_poll: now + POLL_INTERVAL,
            }),
            settings,
            launcher,
            config,
            url,
            signals,
            slots,
            workers: Vec::new(),
            ever_ready: false,
            first_error: None,
            errors_seen: HashSet::new(),
            shutting_down: false,
            rolling: VecDeque::new(),
            rolling_reason: String::new(),
            next_memory_check: now + POLL_INTERVAL,
            metrics: None,
        }
    }

    /// Report heartbeats, exits and worker counts to `board` (--metrics-port).
    pub fn with_metrics(mut self, board: Board) -> Supervisor {
        self.metrics = Some(board);
        self
    }

    /// Workers by state and the ready workers' threads, for the metrics.
    fn publish_workers(&self) {
        let Some(board) = &self.metrics else { return };
        let count = |state: State| self.workers.iter().filter(|w| w.state == state).count() as u64;
        let ready = count(State::Ready);
        board.set_workers(
            &[
                ("starting", count(State::Starting)),
                ("ready", ready),
                ("stopping", count(State::Stopping)),
            ],
            ready * self.settings.threads as u64,
        );
    }

    /// Run until stopped; the result is the exit code.
    pub fn run(mut self) -> Result<i32> {
        loop {
            if self.shutting_down && self.workers.is_empty() {
                self.info("all workers stopped; exiting");
                return Ok(0);
            }
            if !self.ever_ready && self.slots.iter().all(|s| s.failed_first_start) {
                let error = self.first_error.clone().unwrap_or_default();
                let last = error
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no error message")
                    .trim()
                    .to_string();
                return Err(fail(
                    format!("the app failed to start: {last}"),
                    "see the worker's error above; fix it and run `warp start` again",
                ));
            }
            let now = Instant::now();
            self.tick(now)?;
            let timeout = self.next_wakeup(Instant::now());
            self.wait(timeout)?;
            self.reap();
            self.publish_workers();
        }
    }

    /// Deadlines and spawning.
    fn tick(&mut self, now: Instant) -> Result<()> {
        for i in 0..self.workers.len() {
            self.check_worker(i, now);
        }
        if now >= self.next_memory_check {
            self.next_memory_check = now + POLL_INTERVAL;
            if let Some(limit) = self.settings.memory_limit {
                for i in 0..self.workers.len() {
                    let w = &self.workers[i];
                    if w.state == State::Ready && w.retiring.is_none() {
                        if let Some(rss) = resident_bytes(w.pid) {
                            if rss > limit {
                                self.retire(
                                    i,
                                    format!(
                                        "memory-limit: resident memory {} over {}",
                                        human_size(rss),
                                        human_size(limit)
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        self.poll_source(now);
        self.advance_rolling();
        if self.shutting_down {
            return Ok(());
        }
        for slot in 0..self.slots.len() {
            let starting_or_serving = self.workers.iter().any(|w| {
                w.slot == slot
                    && (w.state == State::Starting
                        || (w.state == State::Ready && w.retiring.is_none()))
            });
            let s = &self.slots[slot];
            let waiting = s.not_before.is_some_and(|t| now < t);
            let held = s.failed_first_start && !self.ever_ready;
            if !starting_or_serving && !waiting && !held {
                // A backoff that has passed must not keep waking the loop.
                self.slots[slot].not_before = None;
                if let Err(e) = self.spawn(slot) {
                    self.spawn_failed(slot, &format!("{e:#}"), now);
                }
            }
        }
        Ok(())
    }

    fn check_worker(&mut self, i: usize, now: Instant) {
        let s = &self.settings;
        let w = &self.workers[i];
        match w.state {
            State::Starting
                if !w.killed
                    && !s.startup_timeout.is_zero()
                    && now - w.spawned >= s.startup_timeout =>
            {
                let why = format!(
                    "not ready within {} s (--startup-timeout); killed",
                    s.startup_timeout.as_secs_f64()
                );
                self.warn(&format!("worker {} (pid {}) {why}", w.slot + 1, w.pid));
                let w = &mut self.workers[i];
                w.failure.get_or_insert(Failure::Timeout(why));
                w.killed = true;
                let _ = kill(Pid::from_raw(w.pid), Signal::SIGKILL);
            }
            State::Stopping
                if !w.killed
                    && w.stop_sent
                        .is_some_and(|t| now - t >= s.graceful_timeout + s.shutdown_timeout) =>
            {
                self.warn(&format!(
                    "worker {} (pid {}) still running {} s after SIGTERM; killed",
                    w.slot + 1,
                    w.pid,
                    (s.graceful_timeout + s.shutdown_timeout).as_secs_f64()
                ));
                let w = &mut self.workers[i];
                w.killed = true;
                let _ = kill(Pid::from_raw(w.pid), Signal::SIGKILL);
            }
            State::Ready if w.retiring.is_none() && !self.shutting_down => {
                let ready_at = w.ready_at.unwrap_or(w.spawned);
                if let Some(interval) = s.restart_interval.filter(|&d| now - ready_at >= d) {
                    let reason =
                        format!("restart-interval: serving for {} s", interval.as_secs_f64());
                    self.retire(i, reason);
                }
            }
            _ => {}
        }
    }

    fn next_wakeup(&self, now: Instant) -> Duration {
        let s = &self.settings;
        let mut next = now + POLL_INTERVAL;
        let mut consider = |t: Instant| next = next.min(t);
        if s.memory_limit.is_some() {
            consider(self.next_memory_check);
        }
        if let Some(r) = &self.reloader {
            consider(r.next_poll);
        }
        for slot in &self.slots {
            if let Some(t) = slot.not_before.filter(|&t| t > now) {
                consider(t);
            }
        }
        for w in &self.workers {
            match w.state {
                State::Starting if !w.killed && !s.startup_timeout.is_zero() => {
                    consider(w.spawned + s.startup_timeout)
                }
                State::Stopping if !w.killed => {
                    if let Some(t) = w.stop_sent {
                        consider(t + s.graceful_timeout + s.shutdown_timeout)
                    }
                }
                State::Ready if w.retiring.is_none() => {
                    if let Some(d) = s.restart_interval {
                        consider(w.ready_at.unwrap_or(w.spawned) + d);
                    }
                }
                _ => {}
            }
        }
        next.saturating_duration_since(now)
            .max(Duration::from_millis(5))
    }

    /// Sleep in poll(2) until a signal, a status line or the timeout.
    fn wait(&mut self, timeout: Duration) -> Result<()> {
        let mut fds = vec![libc::pollfd {
            fd: self.signals.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // (worker pid, true for its stderr / false for its status pipe)
        let mut owners = Vec::new();
        for w in &self.workers {
            for (is_stderr, fd, closed) in [
                (false, w.status.as_raw_fd(), w.reader.closed),
                (true, w.stderr.as_raw_fd(), w.stderr_closed),
            ] {
                if !closed {
                    fds.push(libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    owners.push((w.pid, is_stderr));
                }
            }
        }
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err).context("poll");
        }
        if fds[0].revents != 0 {
            self.handle_signals();
        }
        let ready: Vec<(i32, bool)> = fds[1..]
            .iter()
            .zip(owners)
            .filter(|(fd, _)| fd.revents != 0)
            .map(|(_, owner)| owner)
            .collect();
        for (pid, is_stderr) in ready {
            if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
                if is_stderr {
                    self.read_stderr(i);
                } else {
                    self.read_status(i);
                }
            }
        }
        Ok(())
    }

    /// Pass on what a worker printed; hold it back while the worker starts.
    fn read_stderr(&mut self, i: usize) {
        let w = &mut self.workers[i];
        let mut buf = [0u8; 16384];
        loop {
            match std::io::Read::read(&mut w.stderr, &mut buf) {
                Ok(0) => {
                    w.stderr_closed = true;
                    return;
                }
                Ok(n) if w.state == State::Starting => {
                    w.held_output.extend_from_slice(&buf[..n]);
                    // Keep the tail (where a traceback ends) of a flood.
                    if w.held_output.len() > MAX_HELD_OUTPUT {
                        let cut = w.held_output.len() - MAX_HELD_OUTPUT;
                        w.held_output.drain(..cut);
                    }
                }
                Ok(n) => write_stderr(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    w.stderr_closed = true;
                    return;
                }
            }
        }
    }

    fn handle_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match signal {
                Signal::SIGTERM | Signal::SIGINT => self.begin_shutdown(signal),
                Signal::SIGHUP => self.start_rolling_restart("SIGHUP"),
                Signal::SIGUSR1 => self.dump_states(),
                _ => {} // SIGCHLD: reaped after every wake-up.
            }
        }
    }

    fn begin_shutdown(&mut self, signal: Signal) {
        if self.shutting_down {
            self.warn(&format!(
                "{signal} again: killing {} worker(s) now",
                self.workers.len()
            ));
            for w in &mut self.workers {
                w.killed = true;
                let _ = kill(Pid::from_raw(w.pid), Signal::SIGKILL);
            }
            return;
        }
        self.shutting_down = true;
        self.rolling.clear();
        self.info(&format!(
            "{signal}: stopping {} worker(s) gracefully (up to {} s for requests in progress)",
            self.workers.len(),
            self.settings.graceful_timeout.as_secs_f64()
        ));
        for i in 0..self.workers.len() {
            if self.workers[i].state != State::Stopping {
                self.stop(i);
            }
        }
    }

    fn start_rolling_restart(&mut self, why: &str) {
        if self.shutting_down {
            return;
        }
        self.info(&format!(
            "{why}: restarting the {} worker(s) one by one",
            self.slots.len()
        ));
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
                .position(|w| w.slot == slot && w.state == State::Ready && w.retiring.is_none());
            if let Some(i) = serving {
                let reason = self.rolling_reason.clone();
                self.retire(i, reason);
                return;
            }
        }
    }

    fn poll_source(&mut self, now: Instant) {
        let Some(reloader) = &mut self.reloader else {
            return;
        };
        if now < reloader.next_poll {
            return;
        }
        reloader.next_poll = now + POLL_INTERVAL;
        let snapshot = reloader.watch.snapshot();
        if let Some(changed) = reloader.last.changed_file(&snapshot) {
            reloader.last = snapshot;
            let why = format!("{} changed", changed.display());
            self.start_rolling_restart(&why);
        }
    }

    fn dump_states(&self) {
        let now = Instant::now();
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
            if let Some(rss) = resident_bytes(w.pid) {
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
        self.info(&text);
    }

    fn spawn(&mut self, slot: usize) -> Result<()> {
        let mut config = self.config.clone();
        config.maximum_requests = self
            .settings
            .maximum_requests
            .map_or(0, |n| n + jitter(self.settings.maximum_requests_jitter));
        let spawned = self.launcher.spawn(slot as u32 + 1, &config)?;
        let now = Instant::now();
        self.debug(&format!(
            "worker {} (pid {}) starting",
            slot + 1,
            spawned.pid
        ));
        self.workers.push(Worker {
            slot,
            pid: spawned.pid,
            status: spawned.status,
            reader: LineReader::default(),
            stderr: spawned.stderr,
            stderr_closed: false,
            held_output: Vec::new(),
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
        Ok(())
    }

    /// The worker process could not even be started (fork/exec failed).
    fn spawn_failed(&mut self, slot: usize, error: &str, now: Instant) {
        if !self.ever_ready {
            self.slots[slot].failed_first_start = true;
            self.first_error.get_or_insert_with(|| error.to_string());
            return;
        }
        let s = &mut self.slots[slot];
        s.failures += 1;
        let delay = backoff(s.failures);
        s.not_before = Some(now + delay);
        self.warn(&format!(
            "could not start worker {}: {error}; next attempt in {} s",
            slot + 1,
            delay.as_secs()
        ));
    }

    /// Mark a serving worker for replacement; it is stopped when its
    /// replacement is ready.
    fn retire(&mut self, i: usize, reason: String) {
        let w = &mut self.workers[i];
        if w.retiring.is_some() || w.state == State::Stopping {
            return;
        }
        let (slot, pid) = (w.slot, w.pid);
        w.retiring = Some(reason.clone());
        self.info(&format!(
            "worker {} (pid {pid}) will be replaced: {reason}",
            slot + 1
        ));
    }

    /// SIGTERM: the worker stops accepting, finishes its requests, exits.
    fn stop(&mut self, i: usize) {
        let w = &mut self.workers[i];
        w.state = State::Stopping;
        w.stop_sent = Some(Instant::now());
        let _ = kill(Pid::from_raw(w.pid), Signal::SIGTERM);
    }

    fn read_status(&mut self, i: usize) {
        let lines = {
            let w = &mut self.workers[i];
            w.reader.read_lines(&mut w.status)
        };
        for line in lines {
            match events::parse(&line) {
                Some(event) => self.on_event(i, event),
                None => self.debug(&format!(
                    "worker {} sent an unknown status line: {}",
                    self.workers[i].slot + 1,
                    line.trim()
                )),
            }
        }
    }

    fn on_event(&mut self, i: usize, event: Event) {
        let now = Instant::now();
        match event {
            Event::Ready => {
                let w = &mut self.workers[i];
                if w.state != State::Starting {
                    return;
                }
                w.state = State::Ready;
                w.ready_at = Some(now);
                write_stderr(&std::mem::take(&mut w.held_output));
                let (slot, pid, took) = (w.slot, w.pid, now - w.spawned);
                self.slots[slot].failures = 0;
                self.slots[slot].not_before = None;
                self.info(&format!(
                    "worker {} (pid {pid}) ready in {:.2} s",
                    slot + 1,
                    took.as_secs_f64()
                ));
                if !self.ever_ready {
                    self.ever_ready = true;
                    self.info(&format!("serving on {}", self.url));
                }
                if self.shutting_down {
                    self.stop(i);
                    return;
                }
                // The replacement accepts now: stop the worker(s) it replaces.
                let old: Vec<usize> = (0..self.workers.len())
                    .filter(|&j| {
                        let o = &self.workers[j];
                        j != i && o.slot == slot && o.state == State::Ready && o.retiring.is_some()
                    })
                    .collect();
                for j in old {
                    self.stop(j);
                }
            }
            Event::Recycle { reason } => {
                if self.workers[i].state == State::Ready && !self.shutting_down {
                    self.retire(i, reason);
                }
            }
            Event::Failed { error } => {
                self.workers[i].failure = Some(Failure::Traceback(error));
            }
            Event::Heartbeat {
                requests,
                active,
                counts,
            } => {
                let w = &mut self.workers[i];
                if let (Some(board), Some(counts)) = (&self.metrics, counts) {
                    board.heartbeat(w.pid, *counts, active.unwrap_or(0));
                }
                w.heartbeats = true;
                if let Some(n) = requests {
                    w.requests = n;
                }
                if let Some(a) = active {
                    w.active = a;
                }
            }
            Event::Other => {}
        }
    }

    /// Collect every exited child: our workers, and (as PID 1) orphans.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    let Some(pid) = status.pid() else { continue };
                    match self.workers.iter().position(|w| w.pid == pid.as_raw()) {
                        Some(i) => self.on_exit(i, status),
                        None => self.debug(&format!("reaped process {pid} ({status:?})")),
                    }
                }
            }
        }
    }

    fn on_exit(&mut self, i: usize, status: WaitStatus) {
        // The last status lines (a "failed" traceback) and output are read
        // before the verdict.
        self.read_status(i);
        self.read_stderr(i);
        let w = self.workers.remove(i);
        if let Some(board) = &self.metrics {
            board.worker_gone(w.pid, self.restart_reason(&w, status).as_deref());
        }
        let now = Instant::now();
        let cause = describe_exit(status);
        let name = format!("worker {} (pid {})", w.slot + 1, w.pid);
        match w.state {
            State::Stopping => {
                // Stopped while it was still starting: what it printed is shown.
                write_stderr(&w.held_output);
                let took = w.stop_sent.map_or(0.0, |t| (now - t).as_secs_f64());
                self.info(&format!(
                    "{name} stopped ({cause}, {took:.1} s after SIGTERM)"
                ));
            }
            State::Starting => {
                // The error that explains the failure: the worker's traceback
                // (printed once per distinct text), the startup timeout, or
                // the exit itself (the worker's own output is above it).
                let output = String::from_utf8_lossy(&w.held_output).into_owned();
                let error = match w.failure {
                    Some(Failure::Traceback(traceback)) => {
                        let text = if output.contains(traceback.trim()) {
                            output
                        } else {
                            format!("{output}{traceback}")
                        };
                        self.report_failure(&name, &text);
                        traceback
                    }
                    Some(Failure::Timeout(why)) => {
                        if !output.trim().is_empty() {
                            self.report_failure(&name, &output);
                        }
                        why
                    }
                    None if !output.trim().is_empty() => {
                        self.report_failure(&name, &output);
                        output
                    }
                    None => format!("a worker {cause} before it was ready"),
                };
                if !self.ever_ready {
                    self.slots[w.slot].failed_first_start = true;
                    self.first_error.get_or_insert(error);
                    return;
                }
                let slot = &mut self.slots[w.slot];
                slot.failures += 1;
                let delay = backoff(slot.failures);
                slot.not_before = Some(now + delay);
                self.warn(&format!(
                    "{name} failed to start ({cause}); next attempt in {} s",
                    delay.as_secs()
                ));
            }
            State::Ready => {
                if self.shutting_down {
                    self.info(&format!("{name} {cause}"));
                    return;
                }
                if let Some(reason) = &w.retiring {
                    // It asked to be replaced (e.g. request-timeout) and
                    // stopped by itself; its replacement is on the way.
                    self.info(&format!("{name} {cause} (being replaced: {reason})"));
                    return;
                }
                let ready_for = now - w.ready_at.unwrap_or(w.spawned);
                let mut text = format!(
                    "{name} {cause} after serving for {:.1} s",
                    ready_for.as_secs_f64()
                );
                if w.heartbeats {
                    text.push_str(&format!(
                        " ({} requests served, {} in progress)",
                        w.requests, w.active
                    ));
                }
                let slot = &mut self.slots[w.slot];
                if ready_for < CRASH_LOOP_WINDOW {
                    slot.quick_crashes += 1;
                } else {
                    slot.quick_crashes = 0;
                }
                if slot.quick_crashes > QUICK_CRASHES_ALLOWED {
                    let delay = backoff(slot.quick_crashes - QUICK_CRASHES_ALLOWED);
                    slot.not_before = Some(now + delay);
                    text.push_str(&format!(
                        "; it keeps dying, next start in {} s",
                        delay.as_secs()
                    ));
                } else {
                    text.push_str("; starting a new one");
                }
                self.warn(&text);
            }
        }
    }

    /// Why an exited worker is a restart (the `reason` label of
    /// `warp_worker_restarts_total`); `None` when stopping for good.
    fn restart_reason(&self, w: &Worker, status: WaitStatus) -> Option<String> {
        if self.shutting_down {
            return None;
        }
        if let Some(retiring) = &w.retiring {
            return Some(metrics::retire_reason(retiring));
        }
        Some(match (w.state, status) {
            (State::Starting, _) => "startup-failure".into(),
            (State::Stopping, _) => return None,
            (State::Ready, WaitStatus::Signaled(..)) => "signal".into(),
            (State::Ready, _) => "crash".into(),
        })
    }

    /// What a worker that failed to start printed (its traceback), shown
    /// once per distinct text: N workers failing alike print it once.
    fn report_failure(&mut self, name: &str, error: &str) {
        if self.errors_seen.insert(error.to_string()) {
            let mut text = format!("[warp] ERROR: {name} failed to start:\n");
            for line in error.trim_end().lines() {
                text.push_str(&format!("  {line}\n"));
            }
            log_line(text.trim_end());
        } else {
            self.warn(&format!("{name} failed to start (same error as before)"));
        }
    }

    fn debug(&self, text: &str) {
        if self.settings.log_level == LogLevel::Debug {
            log_line(&format!("[warp] {text}"));
        }
    }

    fn info(&self, text: &str) {
        if matches!(self.settings.log_level, LogLevel::Debug | LogLevel::Info) {
            log_line(&format!("[warp] {text}"));
        }
    }

    fn warn(&self, text: &str) {
        if !matches!(
            self.settings.log_level,
            LogLevel::Error | LogLevel::Critical
        ) {
            log_line(&format!("[warp] WARNING: {text}"));
        }
    }
}

/// Bytes a worker printed, passed on to our stderr as they are.
fn write_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// One line (or block) to stderr; a closed stderr must not stop the supervisor.
fn log_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// 1 s, 2 s, 4 s … capped at 30 s, for the n-th consecutive failure (n ≥ 1).
pub fn backoff(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// "exited with code 1", "was killed by signal SIGKILL", "was killed by signal SIGSEGV (core dumped)".
pub fn describe_exit(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with code {code}"),
        WaitStatus::Signaled(_, signal, core) => format!(
            "was killed by signal {signal}{}",
            if core { " (core dumped)" } else { "" }
        ),
        other => format!("ended ({other:?})"),
    }
}

/// A random number in 0..=max (spreads maximum-requests across workers).
fn jitter(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    if max == 0 {
        return 0;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() % (max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }

    #[test]
    fn exits_are_described() {
        let pid = Pid::from_raw(1);
        assert_eq!(
            describe_exit(WaitStatus::Exited(pid, 3)),
            "exited with code 3"
        );
        assert_eq!(
            describe_exit(WaitStatus::Signaled(pid, Signal::SIGSEGV, true)),
            "was killed by signal SIGSEGV (core dumped)"
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        assert_eq!(jitter(0), 0);
        assert!((0..100).all(|_| jitter(5) <= 5));
    }
}
