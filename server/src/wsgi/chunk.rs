//! Response chunks that borrow the app's `bytes` objects instead of copying
//! them: hyper writes straight from the Python object's memory.
//!
//! The catch is the release: the I/O side finishes with a chunk without the
//! GIL, and a `Py<PyBytes>` dropped there would only be queued in pyo3's
//! pending-decref pool, which is drained when a thread re-attaches — rarely,
//! under load, since Python threads keep the GIL between jobs. So a finished
//! chunk hands its object back over a channel instead, and the Python thread
//! releases what came back after each job ([`release_returned`]).
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::LazyLock;

/// Below this size a copy is cheaper than the bookkeeping.
const BORROW_FROM: usize = 4096;

/// Finished chunks' objects, on their way back to a Python thread.
type Returns = (
    crossbeam_channel::Sender<Py<PyBytes>>,
    crossbeam_channel::Receiver<Py<PyBytes>>,
);

static RETURNED: LazyLock<Returns> = LazyLock::new(crossbeam_channel::unbounded);

/// A `bytes` object kept alive while hyper holds a view of it.
struct Borrowed {
    object: Option<Py<PyBytes>>,
    data: *const u8,
    len: usize,
}

// SAFETY: `data` points into an immutable bytes object that `object` keeps
// alive until the drop below hands it back; nothing writes through it.
unsafe impl Send for Borrowed {}
unsafe impl Sync for Borrowed {}

impl AsRef<[u8]> for Borrowed {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the Send/Sync note above.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            // If the channel is somehow gone, pyo3's pool takes it.
            let _ = RETURNED.0.send(object);
        }
    }
}

/// The bytes of `object` as a `Bytes`: borrowed when large, copied when small.
pub fn bytes_of(object: &Bound<'_, PyBytes>) -> Bytes {
    let data = object.as_bytes();
    if data.len() < BORROW_FROM {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from_owner(Borrowed {
        data: data.as_ptr(),
        len: data.len(),
        object: Some(object.clone().unbind()),
    })
}

/// Release (with the GIL) every borrowed object the I/O side has finished with.
pub fn release_returned(_py: Python<'_>) {
    while let Ok(object) = RETURNED.1.try_recv() {
        drop(object);
    }
}
