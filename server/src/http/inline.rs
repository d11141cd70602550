//! Running a request on the I/O thread itself ("inline") instead of handing
//! it to a pool thread, when that pays.
//!
//! The hand-off (queue a job, wake a Python thread, wake the I/O thread again
//! with the reply) costs about as much as a whole hello-world request, so for
//! a fast request it is half the work. For a request that waits (a database,
//! `time.sleep`) it costs under 1 % and buys what matters: the I/O thread stays
//! free to read, write and time other connections, and other Python threads
//! can run while this one waits. The rule, decided per request here:
//!
//! - inline only when no Python thread is busy and the queue is empty — so no
//!   request waits behind the inline call and the I/O thread never contends
//!   for the GIL with a pool thread (a contended GIL costs a 5 ms switch
//!   interval);
//! - and only while inline calls are fast: when more than a tenth of the
//!   recent ones (a moving share, 1/32 per call) took longer than [`SLOW`]
//!   (2 ms, GIL wait included), the requests of the next second go to the
//!   pool; slow calls that keep coming double that, up to a minute, so an app
//!   whose views wait stalls the I/O loop about once a minute for one call.
//!   A slow call counts only when it also *waited* (the thread blocked:
//!   sleep, a socket, a lock — a voluntary context switch): a fast call the
//!   kernel preempted (a busy machine, a CPU quota) also takes milliseconds
//!   of wall time, and handing it off would not help. Reading the switch
//!   count costs a system call (1.5 µs measured here), so only the calls
//!   after a slow one are measured; slow calls come in runs (the same view);
//! - never with the debugger (pdb would hold the I/O thread).
//!
//! While an inline call runs, its I/O loop does nothing else; the watchdog
//! (`crate::watchdog`) sees the call in `Shared::inline_call` and, past
//! [`crate::watchdog::RESCUE_AFTER`], has `http::run` start a new I/O loop that takes over
//! accepting (the stuck one serves its own connections once the call returns,
//! then ends); past the request-timeout it answers 504 on the socket itself.
use crate::context::{InlineCall, Shared};
use crate::request::{Job, RunInline, Work};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An inline call longer than this makes the next requests hand off.
pub const SLOW: Duration = Duration::from_millis(2);

const BACKOFF_FIRST: Duration = Duration::from_secs(1);

/// The moving share of slow calls, in 1/65536, above which requests hand off.
const SLOW_SHARE_LIMIT: u32 = 65536 / 10;
const BACKOFF_MAX: Duration = Duration::from_secs(64);

/// The inline runner and what it learnt about the app's speed.
pub struct Inline {
    run: RunInline,
    /// No inline call before this (µs since the worker started).
    handoff_until_us: AtomicU64,
    backoff_us: AtomicU64,
    last_slow_us: AtomicU64,
    /// Share of recent inline calls that were slow, in 1/65536.
    slow_share: AtomicU32,
    /// The last call was slow: measure whether the next one waits.
    measure_next: AtomicBool,
}

impl Inline {
    pub fn new(run: RunInline) -> Inline {
        Inline {
            run,
            handoff_until_us: AtomicU64::new(0),
            backoff_us: AtomicU64::new(0),
            last_slow_us: AtomicU64::new(0),
            slow_share: AtomicU32::new(0),
            measure_next: AtomicBool::new(false),
        }
    }

    /// Run the next request on this thread? `current`: this I/O loop is the
    /// one accepting (a superseded loop hands everything off).
    ///
    /// When the pool is busy with a request that began under [`SLOW`] ago,
    /// wait (at most twice that, without spinning: the pool says when it is
    /// idle) rather than queue behind it: under steady load a queue never
    /// empties by itself, so one hand-off (a slow warm-up call) would keep
    /// every later request on the pool. A pool busy longer hands off at once.
    pub async fn pays(
        &self,
        shared: &Shared,
        jobs: &crossbeam_channel::Sender<Work>,
        current: bool,
    ) -> bool {
        if !current
            || shared.config.debugger
            || now_us(shared) < self.handoff_until_us.load(Ordering::Relaxed)
        {
            return false;
        }
        let m = &shared.metrics;
        let until = Instant::now() + 2 * SLOW;
        loop {
            let idle = shared.pool_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if m.busy_threads.load(Ordering::Relaxed) == 0 && jobs.is_empty() {
                return true;
            }
            let newest = m.last_pick_us.load(Ordering::Relaxed);
            let young = now_us(shared).saturating_sub(newest) < SLOW.as_micros() as u64;
            if !young || Instant::now() >= until {
                return false;
            }
            let _ = tokio::time::timeout_at(until.into(), idle).await;
        }
    }

    /// Run `job` here, on the I/O thread; its replies are in its channel when
    /// this returns (the rest of a long response is queued for a pool
    /// thread). True when the watchdog already answered it (request-timeout).
    /// `fd` and `unflushed`: the request's socket, and whether hyper still
    /// holds bytes of an earlier response for it (the watchdog's 504 needs both).
    pub fn run(
        &self,
        shared: &Shared,
        jobs: &crossbeam_channel::Sender<Work>,
        job: Job,
        fd: RawFd,
        unflushed: bool,
        generation: u64,
    ) -> bool {
        let waits_before = self
            .measure_next
            .load(Ordering::Relaxed)
            .then(voluntary_switches);
        let started = Instant::now();
        *shared.inline_call.lock().unwrap() = Some(InlineCall {
            started,
            fd,
            generation,
            unflushed,
            rescued: false,
            answered: false,
        });
        let rest = (self.run)(job);
        let call = shared.inline_call.lock().unwrap().take();
        shared
            .metrics
            .inline_requests
            .fetch_add(1, Ordering::Relaxed);
        let slow = started.elapsed() > SLOW;
        self.measure_next.store(slow, Ordering::Relaxed);
        // Slow and seen to wait; an unmeasured slow call only gets the next measured.
        let waited = waits_before.is_some_and(|before| voluntary_switches() > before);
        self.count(shared, slow && waited);
        if let Some(rest) = rest {
            if let Err(full) = jobs.try_send(rest) {
                // Only when a rescue loop filled the queue meanwhile: wait
                // for room on a thread of its own, not on the I/O thread.
                let (jobs, rest) = (jobs.clone(), full.into_inner());
                std::thread::spawn(move || {
                    let _ = jobs.send(rest);
                });
            }
        }
        call.is_some_and(|c| c.answered)
    }

    /// One more inline call in the moving share; hand off when it passes the limit.
    fn count(&self, shared: &Shared, slow: bool) {
        let share = self.slow_share.load(Ordering::Relaxed);
        let share = share - share / 32 + if slow { 65536 / 32 } else { 0 };
        self.slow_share.store(share, Ordering::Relaxed);
        if slow && share > SLOW_SHARE_LIMIT {
            self.hand_off_for_a_while(shared);
        }
    }

    fn hand_off_for_a_while(&self, shared: &Shared) {
        let now = now_us(shared);
        let last = self.last_slow_us.swap(now, Ordering::Relaxed);
        let before = self.backoff_us.load(Ordering::Relaxed);
        let backoff = if last != 0 && now.saturating_sub(last) <= 4 * before {
            (before * 2).min(BACKOFF_MAX.as_micros() as u64)
        } else {
            BACKOFF_FIRST.as_micros() as u64
        };
        self.backoff_us.store(backoff, Ordering::Relaxed);
        self.handoff_until_us
            .store(now + backoff, Ordering::Relaxed);
    }
}

/// How often this thread has blocked (voluntary context switches).
fn voluntary_switches() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_nvcsw
}

fn now_us(shared: &Shared) -> u64 {
    shared.started.elapsed().as_micros() as u64
}
