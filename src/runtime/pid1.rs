//! `warp exec` as PID 1 (a container's init): forward SIGTERM, SIGINT,
//! SIGHUP, SIGQUIT (and SIGUSR1/2, SIGWINCH) to the child, reap every zombie
//! that is re-parented to us, and exit with the child's code — what tini does,
//! so images need no extra init. Not PID 1: the command simply replaces warp.
use crate::error::fail;
use anyhow::Result;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The signals passed on to the child.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Run `argv` with `env` on top of ours; returns its exit code (128 + signal
/// when a signal ended it). Only returns when we are PID 1; otherwise the
/// command replaces this process.
pub fn exec(argv: &[OsString], env: &[(String, String)]) -> Result<i32> {
    let (program, args) = argv.split_first().expect("clap requires a command");
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let not_run = |e: std::io::Error| {
        fail(
            format!("could not run {}: {e}", program.to_string_lossy()),
            "check the command's name; the app's venv bin is first on PATH",
        )
    };
    if std::process::id() != 1 {
        return Err(not_run(cmd.exec()));
    }

    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set.thread_block()?;
    // SAFETY: only async-signal-safe calls (sigprocmask) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(not_run)?;
    let child = Pid::from_raw(child.id() as i32);
    loop {
        let signal = set.wait()?;
        if signal != Signal::SIGCHLD {
            let _ = kill(child, signal);
            continue;
        }
        if let Some(code) = reap(child) {
            return Ok(code);
        }
    }
}

/// Reap every exited process; Some(code) once `child` is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return result,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return result,
        }
    }
}
