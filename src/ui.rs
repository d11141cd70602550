//! Progress output shared by the commands: `==> Step (1.2 s)` lines.
use std::time::Instant;

/// Run `f` as a named step, printing one line with its duration when it ends.
pub fn step<T>(name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let started = Instant::now();
    let result = f();
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => eprintln!("==> {name} ({secs:.1} s)"),
        Err(_) => eprintln!("==> {name} FAILED ({secs:.1} s)"),
    }
    result
}
