//! The Linux scheduling policy of a worker's own threads.
//!
//! A request crosses two threads of one worker: the I/O thread reads it and
//! queues it, a Python thread runs the app and hands the reply back. When both
//! share a CPU (a worker pinned, or more workers than CPUs — the usual case
//! under load), the normal policy lets each wake-up preempt the other thread at
//! once, so the two ping-pong: measured on the hello app, 0.4–0.5 context
//! switches per request, and on a Django view 3.3 (new requests arriving
//! interrupt the view). Under SCHED_BATCH a woken thread waits for the running
//! one to block or use up its slice, so the I/O thread reads every ready
//! request before the Python thread runs them all, and the Python thread
//! answers every queued request before the I/O thread writes them: 0.05 and
//! 0.07 context switches per request, 10–15 % less CPU per request.
//!
//! The price: a woken worker thread no longer preempts *other* programs on its
//! CPU either (it waits for their slice, a few milliseconds at most); on a CPU
//! shared with a busy foreign process the worker gets less of it.
//! `--cpu-scheduling normal` keeps the kernel's default. Threads and processes
//! the application starts inherit the policy (the kernel's reset-on-fork flag
//! resets only real-time policies); for them it is as harmless: the same
//! share of the CPU, only no preempting on wake-up.

/// The `cpu_scheduling` setting (part of the supervisor ↔ worker protocol).
pub use warp_protocol::CpuScheduling;

/// Put the calling thread under the configured policy.
pub fn apply(policy: CpuScheduling) {
    if policy == CpuScheduling::Normal {
        return;
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        // Not fatal: a seccomp profile may forbid it; the worker runs as before.
        eprintln!(
            "[warpserver] could not set the batch CPU scheduling policy: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{apply, CpuScheduling};

    #[test]
    fn batch_applies_to_the_calling_thread_only() {
        std::thread::spawn(|| {
            apply(CpuScheduling::Batch);
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        })
        .join()
        .unwrap();
        std::thread::spawn(|| {
            apply(CpuScheduling::Normal);
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
