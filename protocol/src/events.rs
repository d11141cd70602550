//! [`StatusEvent`]: what a worker tells its supervisor, one JSON object per
//! line on the status pipe, tagged by `"event"`. The supervisor ignores
//! events and fields it does not know ([`StatusEvent::Other`], no
//! `deny_unknown_fields`), so a newer worker may say more.
use serde::{Deserialize, Serialize};

/// One status line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StatusEvent {
    /// The app is loaded and the worker accepts connections (worker.py).
    Ready {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker_id: Option<String>,
    },
    /// The worker wants to be replaced: "maximum-requests",
    /// "inactivity-timeout", "request-timeout", "deadlock-timeout" … It keeps
    /// serving until it is told to stop (except after a deadlock: it exits).
    Recycle {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The app could not be loaded; the worker exits next. The text is the
    /// first of `traceback`, `error`, `reason` that is there. (`"error"` is
    /// an older name of the event.)
    #[serde(alias = "error")]
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceback: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Periodic counters, cumulative since the worker started.
    Heartbeat(Heartbeat),
    /// An event this side does not know.
    #[serde(other)]
    Other,
}

/// A heartbeat's counters. Every field is optional on the wire: the
/// supervisor uses what is there (the metrics only when all of `status`,
/// `latency*` and `queue_wait*` are).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Requests served so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Python threads running a request now (`active` says the same; both are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<u64>,
    /// The worker's Python threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// Milliseconds since the GIL probe last held the GIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil_age_ms: Option<u64>,
    /// Every response sent, by status class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClasses>,
    /// Application time per request: counts per bucket of
    /// [`crate::HISTOGRAM_BOUNDS`] (+Inf last, not cumulative) and their sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_sum_us: Option<u64>,
    /// Time each request waited for a Python thread, bucketed the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_sum_us: Option<u64>,
}

/// Responses by status class (`{"1xx":N,…,"5xx":N}`); a missing class is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx", default)]
    pub informational: u64,
    #[serde(rename = "2xx", default)]
    pub success: u64,
    #[serde(rename = "3xx", default)]
    pub redirection: u64,
    #[serde(rename = "4xx", default)]
    pub client_error: u64,
    #[serde(rename = "5xx", default)]
    pub server_error: u64,
}

impl StatusClasses {
    /// The class names, in the order of [`StatusClasses::counts`].
    pub const NAMES: [&'static str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    pub fn counts(&self) -> [u64; 5] {
        [
            self.informational,
            self.success,
            self.redirection,
            self.client_error,
            self.server_error,
        ]
    }

    pub fn from_counts(c: [u64; 5]) -> StatusClasses {
        StatusClasses {
            informational: c[0],
            success: c[1],
            redirection: c[2],
            client_error: c[3],
            server_error: c[4],
        }
    }
}

impl StatusEvent {
    /// The line to write on the status pipe (with its newline).
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a StatusEvent always serialises");
        line.push('\n');
        line
    }

    /// Read one line; `None` when it is not a status object.
    pub fn parse(line: &str) -> Option<StatusEvent> {
        serde_json::from_str(line.trim()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_round_trip() {
        let beat = Heartbeat {
            requests: Some(3),
            busy: Some(1),
            active: Some(1),
            threads: Some(5),
            gil_age_ms: Some(12),
            status: Some(StatusClasses::from_counts([0, 2, 0, 0, 1])),
            latency: Some(vec![3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            latency_sum_us: Some(900),
            queue_wait: Some(vec![0; crate::BUCKETS]),
            queue_wait_sum_us: Some(10),
        };
        for event in [
            StatusEvent::Ready {
                pid: Some(42),
                worker_id: Some("1".into()),
            },
            StatusEvent::Recycle {
                reason: Some("deadlock-timeout".into()),
            },
            StatusEvent::Failed {
                traceback: Some("Traceback…\nImportError: x".into()),
                error: None,
                reason: None,
            },
            StatusEvent::Heartbeat(beat),
            StatusEvent::Heartbeat(Heartbeat::default()),
        ] {
            let line = event.to_line();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(StatusEvent::parse(&line), Some(event));
        }
    }

    #[test]
    fn the_wire_format_is_the_documented_one() {
        let line = StatusEvent::Recycle {
            reason: Some("maximum-requests".into()),
        }
        .to_line();
        assert_eq!(
            line,
            "{\"event\":\"recycle\",\"reason\":\"maximum-requests\"}\n"
        );
        let beat = StatusEvent::Heartbeat(Heartbeat {
            requests: Some(1),
            status: Some(StatusClasses::from_counts([0, 1, 0, 0, 0])),
            ..Heartbeat::default()
        });
        assert_eq!(
            beat.to_line(),
            "{\"event\":\"heartbeat\",\"requests\":1,\"status\":{\"1xx\":0,\"2xx\":1,\"3xx\":0,\"4xx\":0,\"5xx\":0}}\n"
        );
    }

    #[test]
    fn unknown_events_and_fields_are_ignored() {
        assert_eq!(
            StatusEvent::parse(r#"{"event":"later","x":1}"#),
            Some(StatusEvent::Other)
        );
        assert_eq!(
            StatusEvent::parse(r#"{"event":"ready","pid":7,"worker_id":null,"new":true}"#),
            Some(StatusEvent::Ready {
                pid: Some(7),
                worker_id: None
            })
        );
        assert!(matches!(
            StatusEvent::parse(r#"{"event":"error","error":"boom"}"#),
            Some(StatusEvent::Failed { error: Some(e), .. }) if e == "boom"
        ));
        let Some(StatusEvent::Heartbeat(beat)) =
            StatusEvent::parse(r#"{"event":"heartbeat","status":{"2xx":4,"6xx":1}}"#)
        else {
            panic!()
        };
        assert_eq!(beat.status.unwrap().counts(), [0, 4, 0, 0, 0]);
        assert_eq!(StatusEvent::parse("not json"), None);
        assert_eq!(StatusEvent::parse(r#"{"no":"event"}"#), None);
    }

    #[test]
    fn durations_fall_in_their_bucket() {
        assert_eq!(crate::bucket_of(0.003), 0);
        assert_eq!(crate::bucket_of(0.005), 0);
        assert_eq!(crate::bucket_of(0.03), 3);
        assert_eq!(crate::bucket_of(60.0), crate::BUCKETS - 1);
    }
}
