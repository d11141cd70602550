//! Per-layer transfer progress for pulls and pushes: a reader that counts the
//! bytes going through it and redraws one line on stderr
//! (`    blob 2/5 sha256:0123456789ab 12.3 MiB / 40 MiB  30%`), at most five
//! times a second and once at the end. Drawn only when stderr is a terminal:
//! in logs and CI the one summary line per layer is enough, and carriage
//! returns would only clutter them.
use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Whether progress lines are drawn (stderr is a terminal).
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// Wraps a reader of `total` bytes; `label` starts the line.
pub struct ProgressReader<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    last_draw: Option<Instant>,
    draw: bool,
}

impl<R: Read> ProgressReader<R> {
    pub fn new(inner: R, label: String, total: u64) -> ProgressReader<R> {
        ProgressReader {
            inner,
            label,
            total,
            done: 0,
            last_draw: None,
            draw: enabled(),
        }
    }

    fn redraw(&mut self, force: bool) {
        if !self.draw {
            return;
        }
        let due = self
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(200));
        if !(force || due) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r\x1b[K{}",
            line(&self.label, self.done, self.total)
        );
        let _ = stderr.flush();
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.redraw(n == 0 || self.done == self.total);
        Ok(n)
    }
}

/// Clear a progress line before the layer's summary line is printed.
pub fn clear_line() {
    if enabled() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[K");
        let _ = stderr.flush();
    }
}

/// `LABEL 12.3 MiB / 40 MiB  30%`
fn line(label: &str, done: u64, total: u64) -> String {
    let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    format!(
        "{label} {} / {} {percent:>3}%",
        crate::ui::human_size(done),
        crate::ui::human_size(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_bytes_and_percent() {
        assert_eq!(
            line("    blob 1/2 sha256:ab", 5 << 20, 20 << 20),
            "    blob 1/2 sha256:ab 5 MiB / 20 MiB  25%"
        );
        assert_eq!(line("x", 0, 0), "x 0 B / 0 B 100%");
    }

    #[test]
    fn counting_does_not_change_what_is_read() {
        let data = vec![7u8; 100_000];
        let mut reader = ProgressReader::new(&data[..], "x".into(), data.len() as u64);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(reader.done, 100_000);
    }
}
