//! Access log lines (stdout), written when a response body is finished:
//! `common` and `combined` (Apache formats, times in UTC) or `json`; every
//! line carries the request id.
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq)]
pub enum Format {
    Common,
    Combined,
    Json,
}

impl Format {
    pub fn parse(name: &str) -> Format {
        match name {
            "combined" => Format::Combined,
            "json" => Format::Json,
            _ => Format::Common,
        }
    }
}

pub struct AccessRecord {
    pub format: Format,
    pub remote: String,
    pub method: String,
    pub target: String,
    pub version: &'static str,
    pub status: u16,
    pub request_id: String,
    pub referer: String,
    pub user_agent: String,
    pub at: SystemTime,
    pub started: Instant,
}

/// `21/Nov/2026:14:53:28 +0000`: the fields of the HTTP date httpdate
/// writes (`Sat, 21 Nov 2026 14:53:28 GMT`, always that shape and width)
/// in the order Apache's common log format puts them.
fn clf_time(at: SystemTime) -> String {
    let http = httpdate::fmt_http_date(at.max(UNIX_EPOCH));
    let mut parts = http.split(' ').skip(1);
    let (Some(day), Some(month), Some(year), Some(clock)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        unreachable!("httpdate writes `Www, DD Mmm YYYY HH:MM:SS GMT`: {http}")
    };
    format!("{day}/{month}/{year}:{clock} +0000")
}

/// A `json` line, its fields in this order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    time: String,
    remote_addr: &'a str,
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    status: u16,
    bytes: u64,
    /// To the microsecond.
    duration_ms: f64,
    referer: &'a str,
    user_agent: &'a str,
    request_id: &'a str,
}

impl AccessRecord {
    pub fn line(&self, bytes: u64) -> String {
        let request = format!("{} {} {}", self.method, self.target, self.version);
        match self.format {
            Format::Common | Format::Combined => {
                let mut line = format!(
                    "{} - - [{}] \"{}\" {} {}",
                    self.remote,
                    clf_time(self.at),
                    request.escape_default(),
                    self.status,
                    if bytes == 0 {
                        "-".to_string()
                    } else {
                        bytes.to_string()
                    }
                );
                if self.format == Format::Combined {
                    line.push_str(&format!(
                        " \"{}\" \"{}\"",
                        self.referer.escape_default(),
                        self.user_agent.escape_default()
                    ));
                }
                line.push_str(&format!(" request_id={}", self.request_id));
                line
            }
            Format::Json => {
                let ms = self.started.elapsed().as_secs_f64() * 1000.0;
                let line = JsonLine {
                    time: clf_time(self.at),
                    remote_addr: &self.remote,
                    method: &self.method,
                    path: &self.target,
                    protocol: self.version,
                    status: self.status,
                    bytes,
                    duration_ms: (ms * 1000.0).round() / 1000.0,
                    referer: &self.referer,
                    user_agent: &self.user_agent,
                    request_id: &self.request_id,
                };
                serde_json::to_string(&line).expect("strings and numbers serialise")
            }
        }
    }

    pub fn write(&self, bytes: u64) {
        let line = self.line(bytes);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn json_lines_are_json_with_fields_in_order() {
        let record = AccessRecord {
            format: Format::Json,
            remote: "127.0.0.1".into(),
            method: "GET".into(),
            target: "/a\"b?q=\u{e9}".into(),
            version: "HTTP/1.1",
            status: 200,
            request_id: "abc-123".into(),
            referer: String::new(),
            user_agent: "curl/8".into(),
            at: UNIX_EPOCH,
            started: Instant::now(),
        };
        let line = record.line(5);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["path"], "/a\"b?q=\u{e9}");
        assert_eq!(value["bytes"], 5);
        assert_eq!(value["time"], "01/Jan/1970:00:00:00 +0000");
        assert!(line.starts_with("{\"time\":"), "{line}");
        assert!(line.ends_with(",\"request_id\":\"abc-123\"}"), "{line}");
    }

    #[test]
    fn clf_dates() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_272_808); // 2026-11-21 14:53:28 UTC
        assert_eq!(clf_time(at), "21/Nov/2026:14:53:28 +0000");
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(clf_time(leap), "29/Feb/2024:12:34:56 +0000");
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(clf_time(before), "01/Jan/1970:00:00:00 +0000");
    }
}
