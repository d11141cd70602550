//! Source-to-Image: the logic behind builders/s2i/{assemble,run,save-artifacts,usage}
//! (each of those scripts only execs `warp s2i NAME`), and the Kubernetes
//! manifests for the images they make.
//!
//! The S2I contract (what `s2i build` and OpenShift's buildah builds do): the
//! app source is put in /tmp/src, the artifacts of the previous image (what its
//! `save-artifacts` wrote) in /tmp/artifacts, then `assemble` runs in the
//! builder image as a non-root user and the container is committed with `run`
//! as its command.
pub mod artifacts;
pub mod assemble;
pub mod manifests;
pub mod overrides;
pub mod paths;
pub mod run;
pub mod usage;

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` through a temporary file in the same directory, so
/// that a failure leaves nothing half-written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        crate::error::fail(
            format!("cannot write {}: {e}", path.display()),
            "choose a file in an existing, writable directory",
        )
    })?;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
