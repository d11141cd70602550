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

/// `21/Nov/2026:14:53:28 +0000`
fn clf_time(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
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
                    if bytes == 0 { "-".to_string() } else { bytes.to_string() }
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
            Format::Json => format!(
                "{{\"time\":{},\"remote_addr\":{},\"method\":{},\"path\":{},\"protocol\":{},\"status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"referer\":{},\"user_agent\":{},\"request_id\":{}}}",
                json_string(&clf_time(self.at)),
                json_string(&self.remote),
                json_string(&self.method),
                json_string(&self.target),
                json_string(self.version),
                self.status,
                bytes,
                self.started.elapsed().as_secs_f64() * 1000.0,
                json_string(&self.referer),
                json_string(&self.user_agent),
                json_string(&self.request_id),
            ),
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
    fn clf_dates() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_272_808); // 2026-11-21 14:53:28 UTC
        assert_eq!(clf_time(at), "21/Nov/2026:14:53:28 +0000");
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
    }
}
