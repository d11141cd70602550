//! The supervisor loop: keep one serving worker per slot, replace workers
//! without dropping requests, and stop them all gracefully.
//!
//! One thread, one `poll(2)` over a signalfd and the workers' status and
//! stderr pipes; it wakes for signals, status lines and deadlines only —
//! never per request (workers accept connections from the shared socket
//! themselves). This file is the thin, effectful part: waiting, reading
//! pipes, reaping, spawning and signalling processes, printing. Every
//! decision (when to spawn, retire, stop, kill, back off, give up) is made by
//! the pure state machine in [`rules`], which this loop feeds with what
//! happened and whose [`rules::Action`]s it carries out.
mod rules;

use crate::error::fail;
use crate::serve::config::{LogLevel, Settings};
use crate::serve::events::{self, Event, LineReader};
use crate::serve::metrics::Board;
use crate::serve::reload::{Snapshot, Watch};
use crate::serve::worker::{resident_bytes, Launcher};
use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rules::{Action, Exit, Level, Policy, Rules};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use warp_protocol::WorkerConfig;

/// The most a starting worker's output is held back (its tail is kept).
const MAX_HELD_OUTPUT: usize = 256 * 1024;
/// How often resident memory is checked (with --memory-limit) and the source polled (--reload-on-changes).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A worker's pipes, as the loop reads them.
struct Pipes {
    pid: i32,
    status: File,
    reader: LineReader,
    /// The worker's stderr; what it prints before "ready" is held back.
    stderr: File,
    stderr_closed: bool,
    held_output: Vec<u8>,
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
    signals: SignalFd,
    rules: Rules,
    pipes: Vec<Pipes>,
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
        Supervisor {
            reloader: watch.map(|watch| Reloader {
                last: watch.snapshot(),
                watch,
                next_poll: now + POLL_INTERVAL,
            }),
            rules: Rules::new(Policy::new(&settings), url),
            settings,
            launcher,
            config,
            signals,
            pipes: Vec::new(),
            next_memory_check: now + POLL_INTERVAL,
            metrics: None,
        }
    }

    /// Report heartbeats, exits and worker counts to `board` (--metrics-port).
    pub fn with_metrics(mut self, board: Board) -> Supervisor {
        self.metrics = Some(board);
        self
    }

    /// Run until stopped; the result is the exit code.
    pub fn run(mut self) -> Result<i32> {
        loop {
            if self.rules.finished() {
                self.log(Level::Info, "all workers stopped; exiting");
                return Ok(0);
            }
            if let Some(last) = self.rules.gave_up() {
                return Err(fail(
                    format!("the app failed to start: {last}"),
                    "see the worker's error above; fix it and run `warp start` again",
                ));
            }
            self.tick(Instant::now());
            let timeout = self.next_wakeup(Instant::now());
            self.wait(timeout)?;
            self.reap();
            self.publish_workers();
        }
    }

    /// Deadlines, the memory limit, the source, and spawning.
    fn tick(&mut self, now: Instant) {
        self.rules.check_deadlines(now);
        self.act();
        if now >= self.next_memory_check {
            self.next_memory_check = now + POLL_INTERVAL;
            if let Some(limit) = self.settings.memory_limit {
                for pid in self.rules.serving_pids() {
                    if let Some(rss) = resident_bytes(pid) {
                        self.rules.over_memory_limit(pid, rss, limit);
                    }
                }
            }
        }
        self.poll_source(now);
        self.rules.fill_slots(now);
        self.act();
    }

    fn next_wakeup(&self, now: Instant) -> Duration {
        let mut next = now + POLL_INTERVAL;
        if self.settings.memory_limit.is_some() {
            next = next.min(self.next_memory_check);
        }
        if let Some(r) = &self.reloader {
            next = next.min(r.next_poll);
        }
        if let Some(t) = self.rules.next_deadline(now) {
            next = next.min(t);
        }
        next.saturating_duration_since(now)
            .max(Duration::from_millis(5))
    }

    /// Carry out what the rules decided (spawning may decide more).
    fn act(&mut self) {
        loop {
            let actions = self.rules.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                self.carry_out(action);
            }
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Spawn { slot } => match self.spawn(slot) {
                Ok(pid) => self.rules.spawned(slot, pid, Instant::now()),
                Err(e) => self
                    .rules
                    .spawn_failed(slot, &format!("{e:#}"), Instant::now()),
            },
            Action::Terminate { pid } => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            Action::Kill { pid } => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            Action::ReleaseOutput { pid } => {
                if let Some(p) = self.pipes.iter_mut().find(|p| p.pid == pid) {
                    write_stderr(&std::mem::take(&mut p.held_output));
                }
            }
            Action::Gone {
                pid,
                restart_reason,
            } => {
                if let Some(board) = &self.metrics {
                    board.worker_gone(pid, restart_reason.as_deref());
                }
            }
            Action::Log(level, text) => self.log(level, &text),
        }
    }

    /// Start a worker for `slot`, with its own maximum-requests (jitter added).
    fn spawn(&mut self, slot: usize) -> Result<i32> {
        let mut config = self.config.clone();
        config.maximum_requests = self
            .settings
            .maximum_requests
            .map_or(0, |n| n + jitter(self.settings.maximum_requests_jitter));
        let spawned = self.launcher.spawn(slot as u32 + 1, &config)?;
        self.pipes.push(Pipes {
            pid: spawned.pid,
            status: spawned.status,
            reader: LineReader::default(),
            stderr: spawned.stderr,
            stderr_closed: false,
            held_output: Vec::new(),
        });
        Ok(spawned.pid)
    }

    /// Workers by state and the ready workers' threads, for the metrics.
    fn publish_workers(&self) {
        let Some(board) = &self.metrics else { return };
        let (by_state, capacity) = self.rules.census();
        board.set_workers(&by_state, capacity);
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
        for p in &self.pipes {
            for (is_stderr, fd, closed) in [
                (false, p.status.as_raw_fd(), p.reader.closed),
                (true, p.stderr.as_raw_fd(), p.stderr_closed),
            ] {
                if !closed {
                    fds.push(libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    owners.push((p.pid, is_stderr));
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
            if is_stderr {
                self.read_stderr(pid);
            } else {
                self.read_status(pid);
            }
        }
        Ok(())
    }

    /// Pass on what a worker printed; hold it back while the worker starts.
    fn read_stderr(&mut self, pid: i32) {
        let starting = self.rules.is_starting(pid);
        let Some(p) = self.pipes.iter_mut().find(|p| p.pid == pid) else {
            return;
        };
        let mut buf = [0u8; 16384];
        loop {
            match std::io::Read::read(&mut p.stderr, &mut buf) {
                Ok(0) => {
                    p.stderr_closed = true;
                    return;
                }
                Ok(n) if starting => {
                    p.held_output.extend_from_slice(&buf[..n]);
                    // Keep the tail (where a traceback ends) of a flood.
                    if p.held_output.len() > MAX_HELD_OUTPUT {
                        let cut = p.held_output.len() - MAX_HELD_OUTPUT;
                        p.held_output.drain(..cut);
                    }
                }
                Ok(n) => write_stderr(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    p.stderr_closed = true;
                    return;
                }
            }
        }
    }

    fn read_status(&mut self, pid: i32) {
        let Some(p) = self.pipes.iter_mut().find(|p| p.pid == pid) else {
            return;
        };
        let lines = p.reader.read_lines(&mut p.status);
        for line in lines {
            let Some(event) = events::parse(&line) else {
                self.log(
                    Level::Debug,
                    &format!(
                        "worker (pid {pid}) sent an unknown status line: {}",
                        line.trim()
                    ),
                );
                continue;
            };
            if let (
                Some(board),
                Event::Heartbeat {
                    counts: Some(counts),
                    active,
                    ..
                },
            ) = (&self.metrics, &event)
            {
                board.heartbeat(pid, (**counts).clone(), active.unwrap_or(0));
            }
            self.rules.on_event(pid, &event, Instant::now());
            self.act();
        }
    }

    fn handle_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match signal {
                Signal::SIGTERM | Signal::SIGINT => {
                    self.rules.shutdown(signal.as_str(), Instant::now())
                }
                Signal::SIGHUP => self.rules.restart_all("SIGHUP"),
                Signal::SIGUSR1 => {
                    let text = self.rules.describe(Instant::now(), resident_bytes);
                    self.log(Level::Info, &text);
                }
                _ => {} // SIGCHLD: reaped after every wake-up.
            }
            self.act();
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
            self.rules.restart_all(&why);
            self.act();
        }
    }

    /// Collect every exited child: our workers, and (as PID 1) orphans.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    let Some(pid) = status.pid().map(Pid::as_raw) else {
                        continue;
                    };
                    if self.pipes.iter().any(|p| p.pid == pid) {
                        self.on_exit(pid, status);
                    } else {
                        self.log(Level::Debug, &format!("reaped process {pid} ({status:?})"));
                    }
                }
            }
        }
    }

    /// The last status lines (a "failed" traceback) and output are read
    /// before the rules judge the exit.
    fn on_exit(&mut self, pid: i32, status: WaitStatus) {
        self.read_status(pid);
        self.read_stderr(pid);
        let exit = Exit {
            description: describe_exit(status),
            signaled: matches!(status, WaitStatus::Signaled(..)),
        };
        let output = self
            .pipes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.held_output.clone())
            .unwrap_or_default();
        self.rules.exited(pid, &exit, &output, Instant::now());
        self.act();
        self.pipes.retain(|p| p.pid != pid);
    }

    fn log(&self, level: Level, text: &str) {
        let shown = match level {
            Level::Debug => self.settings.log_level == LogLevel::Debug,
            Level::Info => matches!(self.settings.log_level, LogLevel::Debug | LogLevel::Info),
            Level::Warning => !matches!(
                self.settings.log_level,
                LogLevel::Error | LogLevel::Critical
            ),
            Level::Error => true,
        };
        if !shown {
            return;
        }
        match level {
            Level::Warning => log_line(&format!("[warp] WARNING: {text}")),
            Level::Error => log_line(text),
            _ => log_line(&format!("[warp] {text}")),
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
