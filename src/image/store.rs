//! The blob store: content-addressed files under the user's cache directory
//! (`$XDG_CACHE_HOME/warp` or `~/.cache/warp`), shared by every image build.
//! Pulled base layers, written layers, configs and manifests all live here
//! by digest, so an unchanged layer is never pulled or written twice. A blob
//! is only ever renamed into place after its digest was checked.
use crate::error::fail;
use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The content-addressed store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, checked (it becomes a file name).
pub fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => Err(fail(
            format!("{digest:?} is not a sha256 digest"),
            "the image's manifest or index is damaged; fetch or save it again",
        )),
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    pub inner: W,
    hasher: Sha256,
    pub written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The inner writer, the `sha256:` digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobStore {
    /// The user's store: `$WARP_CACHE_DIR`, else `$XDG_CACHE_HOME/warp`, else `~/.cache/warp`.
    pub fn open_default() -> Result<BlobStore> {
        BlobStore::open(&cache_dir()?)
    }

    pub fn open(dir: &Path) -> Result<BlobStore> {
        let root = dir.to_path_buf();
        fs::create_dir_all(root.join("blobs/sha256"))
            .with_context(|| format!("creating the cache {}", root.display()))?;
        fs::create_dir_all(root.join("tmp"))?;
        Ok(BlobStore { root })
    }

    /// The cache directory (blobs, layer index, temporary files).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A scratch directory on the store's file system (renames into the store are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.path(digest)?;
        fs::read(&path).with_context(|| format!("reading blob {digest} from the cache"))
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if !self.has(&digest) {
            let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
            tmp.write_all(bytes)?;
            tmp.persist(self.path(&digest)?)?;
        }
        Ok(digest)
    }

    /// Copy a stream into the store; when `expected` is given the content
    /// must have that digest (else nothing is stored and the error says so).
    /// Returns the digest and size.
    pub fn put_reader(
        &self,
        mut reader: impl Read,
        expected: Option<&str>,
        what: &str,
    ) -> Result<(String, u64)> {
        if let Some(expected) = expected {
            digest_hex(expected)?;
        }
        let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
        let mut writer = HashingWriter::new(io::BufWriter::new(tmp));
        io::copy(&mut reader, &mut writer).with_context(|| format!("copying {what}"))?;
        let (inner, digest, size) = writer.finish();
        let tmp = inner.into_inner().map_err(|e| e.into_error())?;
        if let Some(expected) = expected {
            if expected != digest {
                return Err(fail(
                    format!("digest mismatch for {what}: expected {expected}, got {digest}"),
                    "the blob was damaged in transit or the source is corrupt; try again, or check the source image",
                ));
            }
        }
        tmp.persist(self.path(&digest)?)?;
        Ok((digest, size))
    }

    /// Small JSON records kept beside the blobs (the layer cache index).
    pub fn index_path(&self, kind: &str, key: &str) -> PathBuf {
        self.root
            .join("index")
            .join(kind)
            .join(format!("{key}.json"))
    }

    /// Write an index record at once (a reader sees the old one or the new one).
    pub fn write_index(&self, kind: &str, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.index_path(kind, key);
        let dir = path.parent().expect("index records live in a directory");
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.persist(&path)?;
        Ok(())
    }
}

/// `$WARP_CACHE_DIR`, else `$XDG_CACHE_HOME/warp`, else `~/.cache/warp`.
pub fn cache_dir() -> Result<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("WARP_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("warp"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache/warp")),
        None => Err(fail(
            "no cache directory: neither XDG_CACHE_HOME nor HOME is set",
            "set XDG_CACHE_HOME (or WARP_CACHE_DIR) to a writable directory",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_by_digest_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let digest = store.put_bytes(b"hello").unwrap();
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read(&digest).unwrap(), b"hello");
        let err = store
            .put_reader(&b"other"[..], Some(&digest), "a test blob")
            .unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(digest_hex("sha256:../../etc").is_err());
    }
}
