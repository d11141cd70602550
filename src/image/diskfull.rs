//! A full disk (ENOSPC, or EDQUOT for a full quota) while `warp image`
//! writes — into the layer cache or an output — reads as one line naming the
//! place and what was being written, with a hint, instead of a bare I/O
//! error. Nothing half-written is kept either way: blobs, cached trees and
//! outputs are written beside their place and renamed in only when complete
//! (store.rs, roots.rs, output.rs), and the temporary files go when dropped.
use super::store::BlobStore;
use crate::error::{fail, UserError};
use std::path::Path;

/// Below this much free space, a build that failed inside is taken to have
/// failed for want of space (its own output says so too).
const NEARLY_FULL: u64 = 1 << 20;

/// Whether `err` was caused by a full file system or quota.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.downcast_ref::<UserError>().is_none()
        && err.chain().any(|c| {
            // tempfile's errors keep the kind, not the OS error number.
            c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
                    || matches!(
                        io.kind(),
                        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                    )
            })
        })
}

/// A full disk while writing `what` into the cache; other errors pass through.
pub fn in_cache(err: anyhow::Error, store: &BlobStore, what: &str) -> anyhow::Error {
    if !is_disk_full(&err) {
        return err;
    }
    cache_full(store.root(), what)
}

/// The error for a full cache file system (the cache in `root`).
pub fn cache_full(root: &Path, what: &str) -> anyhow::Error {
    fail(
        format!(
            "no space left on the device holding the cache {} while writing {what}",
            root.display()
        ),
        "free some space there, or point WARP_CACHE_DIR at a bigger file system; nothing half-written was kept",
    )
}

/// A full disk while writing the output `what` in `dir`; other errors pass through.
pub fn in_output(err: anyhow::Error, dir: &Path, what: &str) -> anyhow::Error {
    if !is_disk_full(&err) {
        return err;
    }
    fail(
        format!(
            "no space left on the device holding {} while writing {what}",
            dir.display()
        ),
        "free some space there, or write the output elsewhere (--output); nothing was written",
    )
}

/// Whether the file system holding `path` is (nearly) out of space or inodes.
pub fn nearly_full(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path).is_ok_and(|s| {
        s.blocks_available().saturating_mul(s.fragment_size()) < NEARLY_FULL
            || (s.files() > 0 && s.files_available() == 0)
    })
}

/// A full disk not named by a step (their errors already say where and
/// what): it happened in the cache, the only other place written to.
pub fn anywhere_in_cache(e: anyhow::Error, what: &str) -> anyhow::Error {
    match super::store::cache_dir() {
        Ok(root) if is_disk_full(&e) => cache_full(&root, what),
        _ => e,
    }
}
