//! Running the tools a build drives (python, pip, uv, hooks): their standard
//! output and error merged into one pipe, echoed live when asked, and the last
//! lines kept so a failure can show what went wrong.
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};

/// How many lines of a failed command's output an error shows.
pub const TAIL_LINES: usize = 20;

/// What a finished command left behind.
pub struct Finished {
    pub status: ExitStatus,
    /// The last [`TAIL_LINES`] lines of its merged output.
    pub tail: Vec<String>,
}

impl Finished {
    /// The exit code, or 128 + the signal number that killed it.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }
}

/// Whether every tool's output is shown as it runs (`WARP_VERBOSE=1`).
pub fn verbose() -> bool {
    std::env::var_os("WARP_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Run `cmd` with stdin closed and stdout+stderr merged; `echo` copies each
/// line to our stderr as it arrives.
pub fn run_merged(mut cmd: Command, echo: bool) -> Result<Finished> {
    let (reader, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let reader = std::fs::File::from(reader);
    let writer2 = writer.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2));
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not run {program}"))?;
    // The Command holds the write ends: drop it so EOF arrives when the child exits.
    drop(cmd);
    let mut tail = VecDeque::with_capacity(TAIL_LINES + 1);
    let mut lines = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if lines.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        if echo {
            eprintln!("    {line}");
        }
        tail.push_back(line);
        if tail.len() > TAIL_LINES {
            tail.pop_front();
        }
    }
    let status = child.wait()?;
    Ok(Finished {
        status,
        tail: tail.into(),
    })
}

/// Print the last lines of a failed command's output (indented) to stderr.
pub fn print_tail(finished: &Finished) {
    if verbose() {
        return; // already shown live
    }
    for line in &finished.tail {
        eprintln!("    {line}");
    }
}

/// Run `cmd` quietly (live with WARP_VERBOSE=1); on failure print its last
/// lines of output and return the error that `failed(exit code)` makes.
pub fn run_quiet(cmd: Command, failed: impl FnOnce(i32) -> anyhow::Error) -> Result<()> {
    let finished = run_merged(cmd, verbose())?;
    if finished.status.success() {
        return Ok(());
    }
    print_tail(&finished);
    Err(failed(finished.code()))
}
