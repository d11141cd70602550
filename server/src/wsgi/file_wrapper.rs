//! `wsgi.file_wrapper`: iterable over a file-like object; when the app returns
//! one wrapping a real file, the I/O side streams the file itself without the
//! GIL (see [`crate::wsgi::run`]).
use pyo3::prelude::*;

#[pyclass(module = "warpserver._core")]
pub struct FileWrapper {
    pub filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        Ok((data.len()? > 0).then_some(data))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr("close")? {
            filelike.call_method0("close")?;
        }
        Ok(())
    }
}

impl FileWrapper {
    /// A duplicate of the wrapped file's descriptor, positioned where the
    /// file object is, when it is a regular file on disk.
    pub fn real_file(&self, py: Python<'_>) -> Option<std::fs::File> {
        use std::io::{Seek, SeekFrom};
        use std::os::fd::BorrowedFd;
        let filelike = self.filelike.bind(py);
        let fd: i32 = filelike.call_method0("fileno").ok()?.extract().ok()?;
        let position: u64 = filelike.call_method0("tell").ok()?.extract().ok()?;
        // SAFETY: fd belongs to the live file object; we only duplicate it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let owned = borrowed.try_clone_to_owned().ok()?;
        let mut file = std::fs::File::from(owned);
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        // A dup shares the offset with the original: reopen by /proc to get our own.
        let path = format!("/proc/self/fd/{fd}");
        if let Ok(own) = std::fs::File::open(&path) {
            file = own;
        }
        file.seek(SeekFrom::Start(position)).ok()?;
        Some(file)
    }
}
