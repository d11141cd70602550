//! Output for people shared by the commands: `==> Step (1.2 s)` lines and
//! sizes in binary units.
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

/// Bytes for people: `10 MiB`, `1.5 GiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(super::human_size(10 << 20), "10 MiB");
        assert_eq!(super::human_size(1536), "1.5 KiB");
        assert_eq!(super::human_size(512), "512 B");
    }
}
