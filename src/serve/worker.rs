//! Starting one worker process: `<venv>/bin/python -m warpserver.worker`
//! with the listening socket on fd 3, the write end of its status pipe on
//! fd 4, and its settings as JSON in `WARPSERVER_CONFIG` (a
//! [`WorkerConfig`] of the shared `protocol/` crate, which the worker reads too).
use crate::serve::config::Settings;
use anyhow::{Context, Result};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use warp_protocol::WorkerConfig;

/// The fd a worker finds the listening socket on.
pub const LISTEN_FD: RawFd = 3;
/// The fd a worker writes its status lines to.
pub const STATUS_FD: RawFd = 4;
/// The supervisor's own stderr, for a worker to take over (`dup2(5, 2)`) once
/// it is ready, so its later output does not pass through the supervisor.
pub const LOG_FD: RawFd = 5;

/// `WARPSERVER_CONFIG` for the workers of this run: durations in seconds,
/// sizes in bytes. The recovery settings (`maximum_requests`,
/// `inactivity_timeout`, `deadlock_timeout`, `heartbeat_interval`) and
/// `debugger` stay at the protocol's default unless the user turned them on,
/// and the protocol then leaves them out of the JSON. With `debugger` the
/// worker wraps the app in a post-mortem pdb and runs one thread without
/// request or queue timeout (the supervisor sends those as 0 too).
/// `maximum_requests` is set per worker, jitter added, at spawn.
pub fn worker_config(settings: &Settings, target: String, server_port: u16) -> WorkerConfig {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let wildcard = settings
        .host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    let defaults = WorkerConfig::default();
    WorkerConfig {
        target,
        callable_object: settings.callable_object.clone(),
        threads: settings.threads as usize,
        max_threads: settings.max_threads as usize,
        processes: settings.processes as usize,
        url_aliases: settings.url_aliases.clone(),
        working_directory: Some(settings.working_directory.clone()),
        python_path: settings.python_path.clone(),
        log_level: settings.log_level.name().into(),
        access_log: settings.access_log,
        access_log_format: settings.access_log_format.name().into(),
        request_timeout: secs(settings.request_timeout),
        queue_timeout: secs(settings.queue_timeout),
        graceful_timeout: secs(settings.graceful_timeout),
        shutdown_timeout: secs(settings.shutdown_timeout),
        header_timeout: secs(settings.header_timeout),
        body_min_rate: settings.body_min_rate as f64,
        keep_alive_timeout: secs(settings.keep_alive_timeout),
        limit_request_body: settings.limit_request_body,
        max_connections: settings.max_connections as usize,
        cpu_scheduling: settings.cpu_scheduling,
        trust_proxy: settings.trust_proxy.clone(),
        trust_proxy_headers: settings.trust_proxy_headers.clone(),
        accept_missing_host: settings.accept_missing_host,
        server_name: Some(if wildcard {
            "localhost".into()
        } else {
            settings.host.clone()
        }),
        server_port: Some(server_port),
        maximum_requests: settings.maximum_requests.unwrap_or(0),
        inactivity_timeout: settings.inactivity_timeout.map_or(0.0, secs),
        deadlock_timeout: secs(settings.deadlock_timeout),
        heartbeat_interval: match settings.metrics_port {
            // The metrics are that fresh; otherwise the worker's own default (for SIGUSR1).
            Some(_) => 1.0,
            None => defaults.heartbeat_interval,
        },
        debugger: settings.enable_debugger,
        ..defaults
    }
}

/// A started worker process and the read end of its status pipe.
pub struct Spawned {
    pub pid: i32,
    /// Non-blocking, close-on-exec.
    pub status: File,
    /// The read end of the worker's stderr (non-blocking): the supervisor
    /// holds back what a worker prints while it starts, so that a traceback
    /// every worker prints alike is shown once, and passes it on afterwards.
    pub stderr: File,
}

/// What every worker of this run shares.
pub struct Launcher {
    pub python: PathBuf,
    /// The app environment (set on top of the inherited one).
    pub env: Vec<(String, String)>,
    pub working_directory: PathBuf,
    pub listen_fd: RawFd,
    /// Put workers in their own process group, so a terminal's Ctrl-C reaches
    /// only the supervisor (which stops them gracefully). Off with the debugger,
    /// whose pdb needs the terminal's foreground group.
    pub own_process_group: bool,
    /// A close-on-exec copy of the supervisor's stderr (given as [`LOG_FD`]).
    pub log_fd: OwnedFd,
}

impl Launcher {
    /// A close-on-exec copy of this process's stderr, for [`Launcher::log_fd`].
    pub fn copy_stderr() -> Result<OwnedFd> {
        // SAFETY: fcntl on fd 2; the new fd is owned by the OwnedFd.
        let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 10) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("copying stderr");
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    }

    /// Start worker `id` with `config`.
    pub fn spawn(&self, id: u32, config: &WorkerConfig) -> Result<Spawned> {
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .context("creating a worker's status pipe")?;
        set_nonblocking(&read_end)?;
        let (stderr_read, stderr_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .context("creating a worker's stderr pipe")?;
        set_nonblocking(&stderr_read)?;
        let json = config.to_json();
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "warpserver.worker"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("WARPSERVER_CONFIG", json)
            .env("WARPSERVER_WORKER_ID", id.to_string())
            .env("WARPSERVER_LOG_FD", LOG_FD.to_string())
            .current_dir(&self.working_directory)
            .stdin(worker_stdin(config))
            .stderr(Stdio::from(stderr_write));
        if self.own_process_group {
            cmd.process_group(0);
        }
        let listen = self.listen_fd;
        let status = write_end.as_raw_fd();
        let log = self.log_fd.as_raw_fd();
        // SAFETY: only async-signal-safe calls (sigprocmask, prctl, fcntl, dup2)
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                unblock_all_signals()?;
                // A supervisor killed outright leaves no worker behind holding
                // the port: the kernel sends the worker SIGTERM (graceful stop).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                place_fds(&[(listen, LISTEN_FD), (status, STATUS_FD), (log, LOG_FD)])
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} -m warpserver.worker", self.python.display()))?;
        drop(write_end);
        Ok(Spawned {
            pid: child.id() as i32,
            status: File::from(read_end),
            stderr: File::from(stderr_read),
        })
    }
}

/// A worker reads nothing from the terminal (/dev/null), except with
/// `--enable-debugger`: pdb then talks on the supervisor's stdin and stdout
/// (stdout is always inherited: access logs, and pdb's prompt and output).
fn worker_stdin(config: &WorkerConfig) -> Stdio {
    if config.debugger {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// In the child: the supervisor blocks the signals it reads from a signalfd,
/// and a blocked mask survives exec; the worker must start with none blocked.
fn unblock_all_signals() -> std::io::Result<()> {
    // SAFETY: plain libc calls on a local, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the child: put each `from` fd on `to` without close-on-exec. Copies go
/// through fds ≥ 10 first so that a source already sitting on another
/// target's number is not overwritten.
fn place_fds(moves: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    let mut staged = [0; 8];
    for (i, &(from, _)) in moves.iter().enumerate() {
        let fd = unsafe { libc::fcntl(from, libc::F_DUPFD_CLOEXEC, 10) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        staged[i] = fd;
    }
    for (i, &(_, to)) in moves.iter().enumerate() {
        if unsafe { libc::dup2(staged[i], to) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Resident memory of a process in bytes, from /proc/PID/statm.
pub fn resident_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Some(pages * page)
}

/// The site-packages directory of a venv, when the build record does not say.
pub fn site_packages(app_root: &Path, python_version: &str) -> PathBuf {
    let mut parts = python_version.split('.');
    let (major, minor) = (parts.next().unwrap_or("3"), parts.next().unwrap_or("0"));
    app_root
        .join("lib")
        .join(format!("python{major}.{minor}"))
        .join("site-packages")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_sends_only_settings_that_are_on() {
        let mut settings = Settings::for_test();
        let json: serde_json::Value =
            serde_json::from_str(&worker_config(&settings, "wsgi:app".into(), 8080).to_json())
                .unwrap();
        assert_eq!(json["target"], "wsgi:app");
        assert_eq!(json["server_name"], "localhost");
        assert_eq!(json["request_timeout"], 60.0);
        for off in [
            "maximum_requests",
            "inactivity_timeout",
            "deadlock_timeout",
            "heartbeat_interval",
            "metrics_port",
            "debugger",
        ] {
            assert!(json.get(off).is_none(), "{off} sent: {json}");
        }
        // --maximum-requests 5 --enable-debugger
        settings.maximum_requests = Some(5);
        settings.enable_debugger = true;
        let json: serde_json::Value =
            serde_json::from_str(&worker_config(&settings, "wsgi:app".into(), 8080).to_json())
                .unwrap();
        assert_eq!(json["maximum_requests"], 5);
        assert_eq!(json["debugger"], true);
    }

    #[test]
    fn resident_memory_of_this_process_is_read() {
        let rss = resident_bytes(std::process::id() as i32).unwrap();
        assert!(rss > 1 << 20, "{rss}");
    }

    #[test]
    fn site_packages_follows_the_version() {
        assert_eq!(
            site_packages(Path::new("/v"), "3.11.7"),
            PathBuf::from("/v/lib/python3.11/site-packages")
        );
    }
}
