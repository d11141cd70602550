//! glibc's malloc, tuned for request bodies.
//!
//! By default glibc serves an allocation of 128 KiB or more (the threshold
//! moves up as such blocks are freed) with a fresh `mmap`, and gives freed
//! memory at the top of a heap back to the kernel once 128 KiB are free. A
//! 1 MB upload is read into a 1 MB `bytes` for the app and freed after the
//! request: with the defaults every upload maps, faults in and zeroes 256
//! fresh pages and unmaps them again. Measured on the bench's 1 MB upload at
//! 1x1 (2-CPU VM): 26 page faults per request, about 10 % of the worker's
//! CPU in the kernel's page-fault and page-clearing paths, 2,210–2,310 req/s;
//! with both thresholds at 16 MiB: no faults, 2,630–2,690 req/s, the worker's
//! RSS 34 MiB instead of 24 (freed memory is kept for the next request, up
//! to 16 MiB per heap). 16 MiB covers the default limit-request-body (10 MiB).
//!
//! A `GLIBC_TUNABLES`, `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_`
//! in the worker's environment means someone chose: nothing is changed then.
//! Other C libraries (musl) are left alone.

use std::sync::atomic::{AtomicBool, Ordering};

/// Both thresholds, in bytes.
const THRESHOLD: i32 = 16 << 20;

static TUNED: AtomicBool = AtomicBool::new(false);

/// Whether [`tune`] set the thresholds (`request_metrics()["malloc_tuned"]`).
pub fn tuned() -> bool {
    TUNED.load(Ordering::Relaxed)
}

/// Set the thresholds for this process unless the environment sets malloc's.
pub fn tune() {
    let chosen = [
        "GLIBC_TUNABLES",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    TUNED.store(!chosen && set_thresholds(), Ordering::Relaxed);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> bool {
    // SAFETY: mallopt only sets two of malloc's parameters (thread-safe in glibc).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}
