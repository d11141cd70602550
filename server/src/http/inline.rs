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
//! [`crate::watchdog::RESCUE_AFTER`], has `http::run` start a new I/O loop
//! that takes over accepting (the stuck one serves its own connections once the call returns,
//! then ends); past the request-timeout it answers 504 on the socket itself.
//!
//! A request that finds the pool busy with one that began under 2 ms ago waits
//! for it (the pool signals `Shared::pool_idle`, at most 4 ms) instead of
//! queueing: under steady load a queue never empties by itself, so one hand-off
//! would keep every later request on the pool. A pool thread counts itself idle
//! only after it let go of the GIL, and the GIL probe skips its turn when a
//! request started within the second, so an inline call rarely waits for the
//! GIL. The I/O thread keeps one Python thread state for its life, so an inline
//! call is a GIL acquisition, not a new thread state; it is never the main
//! thread, so Python signal handlers never run inside the app.
//!
//! How each guarantee holds while a call runs inline and its I/O loop does
//! nothing else:
//! - *request-timeout*: the watchdog thread sees the call in
//!   `Shared::inline_call`; at the timeout it writes the same 504 on the
//!   request's socket (only if hyper holds no unwritten bytes of an earlier
//!   response; else it only ends the stream), shuts its sending side, counts it
//!   once (the call's late reply is not counted) and asks for the recycle, as
//!   the I/O side does for a pool thread's request;
//! - *the I/O loop held too long*: past 200 ms the watchdog has `http::run`
//!   start a new I/O loop (generation N+1, thread `warpserver-io-N+1`) that
//!   takes over accepting; the held loop serves its own connections once the
//!   call returns (handing every request off), drains, and ends.
//!   max-connections is shared; at most `threads` requests still run at once —
//!   a pool thread that takes a job while the held call fills the last slot
//!   waits (`pool::wait_for_a_slot`), the job still counted as queued and under
//!   queue-timeout;
//! - *queue-timeout*: inline requests never queue (their queue wait is 0);
//!   requests that arrive meanwhile wait in their sockets, unmeasured, behind
//!   calls nine in ten of which take under 2 ms — about max-connections × 2 ms
//!   (2 s at the defaults) against a 45 s queue-timeout — and behind the few
//!   slower ones the moving share lets through, which the rescue above bounds
//!   for new connections;
//! - *header, body and keep-alive timeouts* of other connections are judged
//!   when the loop next looks (late by at most one inline call, never early);
//!   request bodies are read in full before any app call;
//! - *watchdog*: an I/O thread holds the GIL only inside a call and releases it
//!   when the app waits, like a pool thread, so the GIL probe sees the same; a
//!   call holding the GIL for the deadlock-timeout is a real deadlock;
//! - *graceful drain, SIGTERM/SIGHUP, max-requests, memory-limit*: signals are
//!   read by whichever loop is accepting (tokio's signal driver is
//!   process-wide); a drain waits for an inline call as for a pool thread's;
//!   the counters `maximum-requests` uses count inline requests when their call
//!   ends;
//! - *metrics, access log, events*: counted and logged in the same places;
//!   `request_metrics()` adds `inline_requests` and `handed_off_requests`;
//!   event callbacks run on the thread that runs the request;
//! - *thread identity*: an inline request runs on a `warpserver-io-N` thread,
//!   one shared by every inline request (so `threading.local` is per thread as
//!   before, not per request); a response whose iteration outgrows the inline
//!   budget (2 ms, or more replies than the channel holds — a long stream, many
//!   `write()`s) is finished by a pool thread, so its generator resumes there:
//!   an app that ties objects to the thread that created them (sqlite3's
//!   check_same_thread) must not keep using them in a long streamed response.
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
