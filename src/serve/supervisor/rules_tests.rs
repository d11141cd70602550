//! The supervisor's rules, driven with made-up pids and instants.
use super::*;

fn policy(slots: usize) -> Policy {
    Policy {
        slots,
        threads: 5,
        startup_timeout: Duration::from_secs(15),
        graceful_timeout: Duration::from_secs(15),
        kill_after: Duration::from_secs(20),
        restart_interval: None,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The rules and a clock; `pid` is the next pid handed out.
struct Run {
    rules: Rules,
    t0: Instant,
    pid: i32,
}

impl Run {
    fn new(policy: Policy) -> Run {
        Run {
            rules: Rules::new(policy, "http://127.0.0.1:8080/".into()),
            t0: Instant::now(),
            pid: 100,
        }
    }

    fn at(&self, s: u64) -> Instant {
        self.t0 + secs(s)
    }

    /// One tick at `s` seconds; the spawns it asks for succeed. Returns the
    /// actions, spawns replaced by the pids started.
    fn tick(&mut self, s: u64) -> (Vec<i32>, Vec<Action>) {
        let now = self.at(s);
        self.rules.check_deadlines(now);
        self.rules.fill_slots(now);
        let mut pids = Vec::new();
        let mut rest = Vec::new();
        for action in self.rules.take_actions() {
            match action {
                Action::Spawn { slot } => {
                    self.pid += 1;
                    self.rules.spawned(slot, self.pid, now);
                    pids.push(self.pid);
                }
                other => rest.push(other),
            }
        }
        self.rules.take_actions();
        (pids, rest)
    }

    fn event(&mut self, pid: i32, event: Event, s: u64) -> Vec<Action> {
        self.rules.on_event(pid, &event, self.at(s));
        self.rules.take_actions()
    }

    fn exit(&mut self, pid: i32, code: i32, output: &str, s: u64) -> Vec<Action> {
        let exit = Exit {
            description: format!("exited with code {code}"),
            signaled: false,
        };
        self.rules.exited(pid, &exit, output.as_bytes(), self.at(s));
        self.rules.take_actions()
    }
}

fn logs(actions: &[Action], level: Level) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l, text) if *l == level => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn backoff_doubles_and_is_capped() {
    let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(backoff(1000), MAX_BACKOFF);
}

#[test]
fn every_slot_gets_a_worker_and_ready_releases_its_output() {
    let mut run = Run::new(policy(2));
    let (pids, _) = run.tick(0);
    assert_eq!(pids, [101, 102]);
    assert!(run.rules.is_starting(101));
    // Nothing more to start while they start.
    assert_eq!(run.tick(1).0, Vec::<i32>::new());
    let actions = run.event(101, Event::Ready, 2);
    assert_eq!(actions[0], Action::ReleaseOutput { pid: 101 });
    let info = logs(&actions, Level::Info);
    assert_eq!(info[0], "worker 1 (pid 101) ready in 2.00 s");
    assert_eq!(info[1], "serving on http://127.0.0.1:8080/");
    assert!(!run.rules.is_starting(101));
    assert_eq!(run.rules.serving_pids(), [101]);
    let (by_state, capacity) = run.rules.census();
    assert_eq!(by_state, [("starting", 1), ("ready", 1), ("stopping", 0)]);
    assert_eq!(capacity, 5);
}

#[test]
fn a_first_start_where_every_slot_fails_gives_up_with_the_last_line() {
    let mut run = Run::new(policy(2));
    run.tick(0);
    let traceback = "Traceback (most recent call last):\nImportError: no module named x\n";
    let first = run.exit(101, 1, traceback, 1);
    assert_eq!(
        first[0],
        Action::Gone {
            pid: 101,
            restart_reason: Some("startup-failure".into())
        }
    );
    assert!(logs(&first, Level::Error)[0]
        .starts_with("[warp] ERROR: worker 1 (pid 101) failed to start:\n  Traceback"));
    assert_eq!(run.rules.gave_up(), None, "slot 2 has not failed yet");
    // Not retried: the first start waits for the other slot.
    assert_eq!(run.tick(2).0, Vec::<i32>::new());
    let second = run.exit(102, 1, traceback, 2);
    // The same traceback is shown once.
    assert!(logs(&second, Level::Error).is_empty());
    assert_eq!(
        logs(&second, Level::Warning),
        ["worker 2 (pid 102) failed to start (same error as before)"]
    );
    assert_eq!(
        run.rules.gave_up().as_deref(),
        Some("ImportError: no module named x")
    );
}

#[test]
fn a_failing_start_after_the_first_ready_backs_off() {
    let mut run = Run::new(policy(1));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.exit(101, 1, "", 100); // died serving, long after ready: replaced at once
    let (pids, _) = run.tick(100);
    assert_eq!(pids, [102]);
    let actions = run.exit(102, 1, "", 101);
    assert_eq!(
        logs(&actions, Level::Warning),
        ["worker 1 (pid 102) failed to start (exited with code 1); next attempt in 1 s"]
    );
    assert_eq!(run.rules.next_deadline(run.at(101)), Some(run.at(102)));
    assert!(run.tick(101).0.is_empty(), "waits for its backoff");
    let (pids, _) = run.tick(102);
    assert_eq!(pids, [103]);
    run.exit(103, 1, "", 102);
    assert_eq!(run.rules.next_deadline(run.at(102)), Some(run.at(104)));
    // Ready resets the backoff.
    let (pids, _) = run.tick(104);
    run.event(pids[0], Event::Ready, 105);
    assert_eq!(run.rules.gave_up(), None);
}

#[test]
fn a_worker_not_ready_in_time_is_killed_and_its_error_says_why() {
    let mut run = Run::new(policy(1));
    run.tick(0);
    assert_eq!(run.rules.next_deadline(run.at(0)), Some(run.at(15)));
    assert!(run.tick(14).1.is_empty());
    let (_, actions) = run.tick(15);
    assert!(actions.contains(&Action::Kill { pid: 101 }));
    assert_eq!(
        logs(&actions, Level::Warning),
        ["worker 1 (pid 101) not ready within 15 s (--startup-timeout); killed"]
    );
    // Killed once.
    assert!(run.tick(16).1.is_empty());
    run.exit(101, -9, "", 16);
    assert_eq!(
        run.rules.gave_up().as_deref(),
        Some("not ready within 15 s (--startup-timeout); killed")
    );
}

#[test]
fn a_recycled_worker_serves_until_its_replacement_is_ready() {
    let mut run = Run::new(policy(1));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    let actions = run.event(
        101,
        Event::Recycle {
            reason: "maximum-requests".into(),
        },
        5,
    );
    assert_eq!(
        logs(&actions, Level::Info),
        ["worker 1 (pid 101) will be replaced: maximum-requests"]
    );
    // The replacement starts; the old one is not stopped yet.
    let (pids, actions) = run.tick(5);
    assert_eq!(pids, [102]);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Terminate { .. })));
    let actions = run.event(102, Event::Ready, 6);
    assert!(actions.contains(&Action::Terminate { pid: 101 }));
    // SIGKILL when it is still there graceful + shutdown timeout later.
    assert!(run.tick(25).1.is_empty());
    let (_, actions) = run.tick(26);
    assert!(actions.contains(&Action::Kill { pid: 101 }));
    let exit = Exit {
        description: "was killed by signal SIGKILL".into(),
        signaled: true,
    };
    run.rules.exited(101, &exit, b"", run.at(26));
    let actions = run.rules.take_actions();
    assert_eq!(
        actions[0],
        Action::Gone {
            pid: 101,
            restart_reason: Some("maximum-requests".into())
        }
    );
    assert_eq!(
        logs(&actions, Level::Info),
        ["worker 1 (pid 101) stopped (was killed by signal SIGKILL, 20.0 s after SIGTERM)"]
    );
}

#[test]
fn quick_deaths_are_respawned_at_once_three_times_then_back_off() {
    let mut run = Run::new(policy(1));
    let mut pid = run.tick(0).0[0];
    let mut t = 0;
    for round in 1..=5 {
        run.event(pid, Event::Ready, t + 1);
        let actions = run.exit(pid, 1, "", t + 2);
        let warning = &logs(&actions, Level::Warning)[0];
        if round <= 3 {
            assert!(warning.ends_with("; starting a new one"), "{warning}");
        } else {
            let delay = backoff(round - 3).as_secs();
            assert!(
                warning.ends_with(&format!("; it keeps dying, next start in {delay} s")),
                "{warning}"
            );
            assert!(run.tick(t + 2).0.is_empty());
            t += delay;
        }
        t += 2;
        pid = run.tick(t).0[0];
    }
}

#[test]
fn a_death_while_serving_is_a_crash_or_a_signal_for_the_metrics() {
    let mut run = Run::new(policy(1));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.event(
        101,
        Event::Heartbeat {
            requests: Some(7),
            active: Some(1),
            counts: None,
        },
        2,
    );
    let exit = Exit {
        description: "was killed by signal SIGSEGV".into(),
        signaled: true,
    };
    run.rules.exited(101, &exit, b"", run.at(20));
    let actions = run.rules.take_actions();
    assert_eq!(
        actions[0],
        Action::Gone {
            pid: 101,
            restart_reason: Some("signal".into())
        }
    );
    assert_eq!(
        logs(&actions, Level::Warning),
        ["worker 1 (pid 101) was killed by signal SIGSEGV after serving for 19.0 s (7 requests served, 1 in progress); starting a new one"]
    );
}

#[test]
fn shutdown_stops_every_worker_then_kills_on_the_second_signal() {
    let mut run = Run::new(policy(2));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.rules.shutdown("SIGTERM", run.at(2));
    let actions = run.rules.take_actions();
    assert!(actions.contains(&Action::Terminate { pid: 101 }));
    assert!(actions.contains(&Action::Terminate { pid: 102 }));
    // No new worker while stopping, and a late "ready" does not serve.
    assert!(run.tick(3).0.is_empty());
    run.rules.shutdown("SIGINT", run.at(4));
    let actions = run.rules.take_actions();
    assert!(actions.contains(&Action::Kill { pid: 101 }));
    assert!(actions.contains(&Action::Kill { pid: 102 }));
    assert!(!run.rules.finished());
    for pid in [101, 102] {
        let actions = run.exit(pid, 0, "", 5);
        assert!(actions.contains(&Action::Gone {
            pid,
            restart_reason: None
        }));
    }
    assert!(run.rules.finished());
}

#[test]
fn a_rolling_restart_replaces_one_slot_at_a_time() {
    let mut run = Run::new(policy(2));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.event(102, Event::Ready, 1);
    run.rules.restart_all("SIGHUP");
    run.rules.take_actions();
    let (pids, actions) = run.tick(2);
    assert_eq!(pids, [103], "only the first slot");
    assert_eq!(
        logs(&actions, Level::Info),
        ["worker 1 (pid 101) will be replaced: SIGHUP"]
    );
    // The second slot waits while the first replacement is pending.
    assert!(run.tick(3).0.is_empty());
    assert!(run
        .event(103, Event::Ready, 4)
        .contains(&Action::Terminate { pid: 101 }));
    let (pids, _) = run.tick(4);
    assert_eq!(pids, [104]);
    assert!(run
        .event(104, Event::Ready, 5)
        .contains(&Action::Terminate { pid: 102 }));
}

#[test]
fn restart_interval_and_memory_limit_retire_a_worker() {
    let mut run = Run::new(Policy {
        restart_interval: Some(secs(60)),
        ..policy(2)
    });
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.event(102, Event::Ready, 1);
    assert_eq!(run.rules.next_deadline(run.at(2)), Some(run.at(61)));
    let (pids, actions) = run.tick(61);
    assert_eq!(pids.len(), 2);
    assert!(logs(&actions, Level::Info).contains(
        &"worker 1 (pid 101) will be replaced: restart-interval: serving for 60 s".to_string()
    ));
    let mut run = Run::new(policy(1));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.rules.over_memory_limit(101, 100 << 20, 200 << 20);
    assert!(run.rules.take_actions().is_empty());
    run.rules.over_memory_limit(101, 300 << 20, 200 << 20);
    assert_eq!(
        logs(&run.rules.take_actions(), Level::Info),
        ["worker 1 (pid 101) will be replaced: memory-limit: resident memory 300 MiB over 200 MiB"]
    );
    assert!(run.rules.serving_pids().is_empty());
}

#[test]
fn a_failed_spawn_before_the_first_ready_counts_as_a_failed_first_start() {
    let mut run = Run::new(policy(1));
    run.rules.fill_slots(run.at(0));
    assert_eq!(run.rules.take_actions(), [Action::Spawn { slot: 0 }]);
    run.rules
        .spawn_failed(0, "starting python: No such file or directory", run.at(0));
    assert_eq!(
        run.rules.gave_up().as_deref(),
        Some("starting python: No such file or directory")
    );
}

#[test]
fn sigusr1_describes_workers_and_waiting_slots() {
    let mut run = Run::new(policy(2));
    run.tick(0);
    run.event(101, Event::Ready, 1);
    run.rules.spawn_failed(1, "x", run.at(2));
    let text = run
        .rules
        .describe(run.at(2), |pid| (pid == 101).then_some(1 << 20));
    assert!(
        text.starts_with("SIGUSR1: 2 worker(s) for 2 slot(s), serving http://127.0.0.1:8080/"),
        "{text}"
    );
    assert!(
        text.contains("\n  worker 1 pid 101: ready for 1.0 s, RSS 1 MiB"),
        "{text}"
    );
    assert!(
        text.contains("\n  worker 2 pid 102: starting for 2.0 s"),
        "{text}"
    );
    assert!(
        text.contains("\n  slot 2: next start in 1.0 s after 1 failure(s)"),
        "{text}"
    );
}
