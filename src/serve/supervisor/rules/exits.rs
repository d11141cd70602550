//! What a worker's exit means, by the state it was in: a stop that
//! completed, a failed start (the error shown once per distinct text, then
//! give up on a broken first start or back off), or a death while serving
//! (replaced at once, with backoff when it keeps dying soon after ready);
//! and the restart reason the metrics count it under.
use super::{backoff, Action, Exit, Failure, Level, Rules, State, Worker};
use super::{CRASH_LOOP_WINDOW, QUICK_CRASHES_ALLOWED};
use crate::serve::metrics;
use std::time::Instant;

impl Rules {
    /// Worker `pid` exited; `output` is what it printed and was held back
    /// (all of it when it never became ready).
    pub fn exited(&mut self, pid: i32, exit: &Exit, output: &[u8], now: Instant) {
        let Some(i) = self.find(pid) else { return };
        let w = self.workers.remove(i);
        let restart_reason = self.restart_reason(&w, exit);
        self.actions.push(Action::Gone {
            pid,
            restart_reason,
        });
        match w.state {
            State::Stopping => {
                // Stopped while it was still starting: what it printed is shown.
                self.actions.push(Action::ReleaseOutput { pid });
                let took = w.stop_sent.map_or(0.0, |t| (now - t).as_secs_f64());
                self.log(
                    Level::Info,
                    format!(
                        "{} stopped ({}, {took:.1} s after SIGTERM)",
                        w.name(),
                        exit.description
                    ),
                );
            }
            State::Starting => self.failed_to_start(w, exit, output, now),
            State::Ready => self.died_serving(w, exit, now),
        }
    }

    /// Why an exited worker is a restart (the `reason` label of
    /// `warp_worker_restarts_total`); `None` when stopping for good.
    fn restart_reason(&self, w: &Worker, exit: &Exit) -> Option<String> {
        if self.shutting_down {
            return None;
        }
        if let Some(retiring) = &w.retiring {
            return Some(metrics::retire_reason(retiring));
        }
        Some(match w.state {
            State::Starting => "startup-failure".into(),
            State::Stopping => return None,
            State::Ready if exit.signaled => "signal".into(),
            State::Ready => "crash".into(),
        })
    }

    /// The error that explains a failed start: the worker's traceback (shown
    /// once per distinct text), the startup timeout, or the exit itself (the
    /// worker's own output is above it); then give up (first start) or back off.
    fn failed_to_start(&mut self, w: Worker, exit: &Exit, output: &[u8], now: Instant) {
        let name = w.name();
        let output = String::from_utf8_lossy(output).into_owned();
        let error = match w.failure {
            Some(Failure::Traceback(traceback)) => {
                let text = if output.contains(traceback.trim()) {
                    output
                } else {
                    format!("{output}{traceback}")
                };
                self.report_failure(&name, &text);
                traceback
            }
            Some(Failure::Timeout(why)) => {
                if !output.trim().is_empty() {
                    self.report_failure(&name, &output);
                }
                why
            }
            None if !output.trim().is_empty() => {
                self.report_failure(&name, &output);
                output
            }
            None => format!("a worker {} before it was ready", exit.description),
        };
        if !self.ever_ready {
            self.slots[w.slot].failed_first_start = true;
            self.first_error.get_or_insert(error);
            return;
        }
        let slot = &mut self.slots[w.slot];
        slot.failures += 1;
        let delay = backoff(slot.failures);
        slot.not_before = Some(now + delay);
        self.log(
            Level::Warning,
            format!(
                "{name} failed to start ({}); next attempt in {} s",
                exit.description,
                delay.as_secs()
            ),
        );
    }

    /// A serving worker died: replaced at once, with backoff when it keeps
    /// dying soon after becoming ready.
    fn died_serving(&mut self, w: Worker, exit: &Exit, now: Instant) {
        let (name, cause) = (w.name(), &exit.description);
        if self.shutting_down {
            self.log(Level::Info, format!("{name} {cause}"));
            return;
        }
        if let Some(reason) = &w.retiring {
            // It asked to be replaced (e.g. request-timeout) and stopped by
            // itself; its replacement is on the way.
            self.log(
                Level::Info,
                format!("{name} {cause} (being replaced: {reason})"),
            );
            return;
        }
        let ready_for = now - w.ready_at.unwrap_or(w.spawned);
        let mut text = format!(
            "{name} {cause} after serving for {:.1} s",
            ready_for.as_secs_f64()
        );
        if w.heartbeats {
            text.push_str(&format!(
                " ({} requests served, {} in progress)",
                w.requests, w.active
            ));
        }
        let slot = &mut self.slots[w.slot];
        if ready_for < CRASH_LOOP_WINDOW {
            slot.quick_crashes += 1;
        } else {
            slot.quick_crashes = 0;
        }
        if slot.quick_crashes > QUICK_CRASHES_ALLOWED {
            let delay = backoff(slot.quick_crashes - QUICK_CRASHES_ALLOWED);
            slot.not_before = Some(now + delay);
            text.push_str(&format!(
                "; it keeps dying, next start in {} s",
                delay.as_secs()
            ));
        } else {
            text.push_str("; starting a new one");
        }
        self.log(Level::Warning, text);
    }

    /// What a worker that failed to start printed (its traceback), shown
    /// once per distinct text: N workers failing alike print it once.
    fn report_failure(&mut self, name: &str, error: &str) {
        if self.errors_seen.insert(error.to_string()) {
            let mut text = format!("[warp] ERROR: {name} failed to start:\n");
            for line in error.trim_end().lines() {
                text.push_str(&format!("  {line}\n"));
            }
            self.log(Level::Error, text.trim_end().to_string());
        } else {
            self.log(
                Level::Warning,
                format!("{name} failed to start (same error as before)"),
            );
        }
    }
}
