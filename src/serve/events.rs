//! The status lines a worker writes on fd 4 (one JSON object per line; the
//! types are the shared protocol's [`StatusEvent`]) as the supervisor acts on
//! them, and the line splitting of the pipe they arrive on.
use crate::serve::metrics::{Counts, Histogram};
use std::io::Read;
use warp_protocol::{Heartbeat, StatusEvent};

/// One status line. Unknown events and fields are ignored, so the worker can
/// say more than this supervisor understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The app is loaded and the worker is accepting connections.
    Ready,
    /// The worker wants to be replaced (maximum-requests, request-timeout,
    /// inactivity-timeout, deadlock …); it keeps serving until it is told to stop.
    Recycle {
        reason: String,
    },
    /// The app could not be loaded; `error` is the traceback. The worker exits next.
    Failed {
        error: String,
    },
    /// Periodic counters: requests served so far, requests in progress, and
    /// (when the worker sends them) the counts for `--metrics-port`.
    Heartbeat {
        requests: Option<u64>,
        active: Option<u64>,
        counts: Option<Box<Counts>>,
    },
    Other,
}

/// The metrics part of a heartbeat, when it is complete.
fn counts(beat: &Heartbeat) -> Option<Counts> {
    let mut counts = Counts {
        latency: Histogram::from_parts(beat.latency.as_ref()?, beat.latency_sum_us?)?,
        queue_wait: Histogram::from_parts(beat.queue_wait.as_ref()?, beat.queue_wait_sum_us?)?,
        ..Counts::default()
    };
    counts.set_status(beat.status.as_ref()?);
    Some(counts)
}

/// Parse one line; `None` when it is not a status object.
pub fn parse(line: &str) -> Option<Event> {
    Some(match StatusEvent::parse(line)? {
        StatusEvent::Ready { .. } => Event::Ready,
        StatusEvent::Recycle { reason } => Event::Recycle {
            reason: reason.unwrap_or_else(|| "requested by the worker".into()),
        },
        StatusEvent::Failed {
            traceback,
            error,
            reason,
        } => Event::Failed {
            error: traceback
                .or(error)
                .or(reason)
                .unwrap_or_else(|| "the app failed to load".into()),
        },
        StatusEvent::Heartbeat(beat) => Event::Heartbeat {
            counts: counts(&beat).map(Box::new),
            requests: beat.requests,
            active: beat.active,
        },
        StatusEvent::Other => Event::Other,
    })
}

/// Reads what is available on a non-blocking pipe and yields whole lines.
#[derive(Default)]
pub struct LineReader {
    pending: Vec<u8>,
    pub closed: bool,
}

impl LineReader {
    /// Read until the pipe would block or ends; return the complete lines.
    pub fn read_lines(&mut self, source: &mut impl Read) -> Vec<String> {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
            // A worker that floods the pipe without newlines is not followed.
            if self.pending.len() > 1 << 20 {
                self.pending.clear();
            }
        }
        let mut lines = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse() {
        assert_eq!(parse(r#"{"event":"ready"}"#), Some(Event::Ready));
        assert_eq!(
            parse(r#"{"event":"recycle","reason":"maximum-requests"}"#),
            Some(Event::Recycle {
                reason: "maximum-requests".into()
            })
        );
        assert_eq!(
            parse(r#"{"event":"failed","traceback":"Traceback…\nImportError: x"}"#),
            Some(Event::Failed {
                error: "Traceback…\nImportError: x".into()
            })
        );
        assert_eq!(
            parse(r#"{"event":"heartbeat","requests":12,"active":1,"extra":true}"#),
            Some(Event::Heartbeat {
                requests: Some(12),
                active: Some(1),
                counts: None,
            })
        );
        let beat = parse(
            r#"{"event":"heartbeat","requests":3,"active":0,"status":{"2xx":2,"5xx":1},
            "latency":[3,0,0,0,0,0,0,0,0,0,0,0],"latency_sum_us":900,
            "queue_wait":[3,0,0,0,0,0,0,0,0,0,0,0],"queue_wait_sum_us":10}"#,
        );
        let Some(Event::Heartbeat {
            counts: Some(c), ..
        }) = beat
        else {
            panic!("{beat:?}")
        };
        assert_eq!(c.status, [0, 2, 0, 0, 1]);
        assert_eq!(c.latency.buckets[0], 3);
        assert_eq!(c.latency.sum_us, 900);
        assert_eq!(parse(r#"{"event":"later"}"#), Some(Event::Other));
        assert_eq!(parse("not json"), None);
    }

    #[test]
    fn lines_are_split_across_reads() {
        let mut reader = LineReader::default();
        let mut first: &[u8] = b"{\"event\":\"rea";
        assert!(reader.read_lines(&mut first).is_empty());
        let mut second: &[u8] = b"dy\"}\n{\"event\":\"x\"}\n";
        let lines = reader.read_lines(&mut second);
        assert_eq!(lines.len(), 2);
        assert_eq!(parse(&lines[0]), Some(Event::Ready));
        assert!(reader.closed);
    }
}
