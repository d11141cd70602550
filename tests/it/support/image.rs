//! Helpers for the `warp image` tests: the base image fixtures (saved once
//! per test run from the podman image tests/run.sh makes), a shared layer
//! cache, reading OCI layouts, crafted base layouts, podman containers that
//! are removed when dropped.

use crate::support::{self, TempApp};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where fixtures made by these tests are kept between test runs.
pub fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The layer cache shared by the tests whose results do not depend on it
/// being cold (the dependency layer is reused across tests, as intended).
/// Emptied when the warp binary changed since it was filled: its cached
/// trees are keyed by the binary and would only pile up.
pub fn shared_cache() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let cache = fixtures_dir().join("cache");
            let meta = std::fs::metadata(support::warp_bin()).unwrap();
            let stamp = format!("{} {:?}", meta.len(), meta.modified().unwrap());
            let stamp_file = fixtures_dir().join("cache.warp-binary");
            if std::fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) {
                let _ = std::fs::remove_dir_all(&cache);
                std::fs::write(&stamp_file, stamp).unwrap();
            }
            cache
        })
        .clone()
}

static SAVE: Mutex<()> = Mutex::new(());

/// The tests' Debian+python3 base ($WARP_TEST_BASE_IMAGE) saved as
/// `format` (oci-archive or docker-archive), once. None when missing (skip).
pub fn base_archive(format: &str) -> Option<PathBuf> {
    let _guard = SAVE.lock().unwrap_or_else(|e| e.into_inner());
    let file = fixtures_dir().join(format!("base-{format}.tar"));
    if file.exists() {
        return Some(file);
    }
    let image = std::env::var("WARP_TEST_BASE_IMAGE")
        .ok()
        .filter(|v| !v.is_empty());
    let (Some(image), Some(_)) = (image, support::which("podman")) else {
        support::require_all("the base image $WARP_TEST_BASE_IMAGE and podman");
        return None;
    };
    let tmp = fixtures_dir().join(format!(".base-{format}.tar.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let out = podman()
        .args(["save", "--format", format, "-o"])
        .arg(&tmp)
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman save failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &file).unwrap();
    Some(file)
}

pub fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.env_remove("REGISTRY_AUTH_FILE");
    cmd
}

/// `warp image` for `app`, with its own cache dir and a fixed SOURCE_DATE_EPOCH.
pub fn warp_image(app: &Path, cache: &Path) -> Command {
    let mut cmd = support::warp(app);
    cmd.env("WARP_CACHE_DIR", cache)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("REGISTRY_AUTH_FILE")
        .arg("image");
    cmd
}

/// Builds of an app into OCI layouts (one directory each) with one cache.
pub struct LayoutBuilds {
    pub cache: tempfile::TempDir,
    work: tempfile::TempDir,
    base: String,
}

impl LayoutBuilds {
    /// `base` with its transport (`docker-archive:…`).
    pub fn new(base: String) -> LayoutBuilds {
        LayoutBuilds {
            cache: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            base,
        }
    }

    /// Build `app` into the layout `dir`; it must succeed. (output, layout path)
    pub fn build(&self, app: &Path, dir: &str) -> (std::process::Output, PathBuf) {
        self.build_with(app, dir, &[])
    }

    /// `warp image app:1 --base BASE --output oci:LAYOUT`, with `env` set.
    pub fn build_with(
        &self,
        app: &Path,
        dir: &str,
        env: &[(&str, &str)],
    ) -> (std::process::Output, PathBuf) {
        let layout = self.work.path().join(dir);
        let mut cmd = warp_image(app, self.cache.path());
        cmd.args(["app:1", "--base", &self.base, "--output"])
            .arg(format!("oci:{}", layout.display()))
            .envs(env.iter().copied());
        let out = support::run(&mut cmd);
        support::assert_ok(&out);
        (out, layout)
    }
}

/// An app of one `wsgi.py` that answers `body`.
pub fn plain_app(body: &str) -> TempApp {
    let app = TempApp::new();
    app.write(
        "wsgi.py",
        &format!(
            "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [{body:?}.encode()]\n"
        ),
    );
    app
}

/// The image digest `warp image` printed last on stdout.
pub fn digest_of(out: &std::process::Output) -> String {
    let text = support::stdout(out);
    let digest = text.trim().lines().last().unwrap_or("").to_string();
    assert!(
        digest.starts_with("sha256:"),
        "no digest on stdout: {text}\n{}",
        support::stderr(out)
    );
    digest
}

/// A Flask app with requirements.txt.
pub fn flask_app(greeting: &str) -> TempApp {
    let app = TempApp::new();
    app.write("requirements.txt", "flask\n");
    app.write(
        "wsgi.py",
        &format!(
            "from flask import Flask\napplication = Flask(__name__)\n\n@application.route('/')\ndef index():\n    return {greeting:?}\n"
        ),
    );
    app
}

/// (manifest, config) of the only image in an OCI layout directory.
pub fn read_layout(dir: &Path) -> (Value, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = blob_json(dir, &digest);
    let config = blob_json(dir, manifest["config"]["digest"].as_str().unwrap());
    (manifest, config)
}

pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

pub fn blob_json(dir: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(blob_path(dir, digest)).unwrap()).unwrap()
}

/// One tar entry of a layer: path, uid, gid, mode, content (regular files).
#[derive(Debug)]
pub struct Entry {
    pub path: String,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    pub content: Vec<u8>,
}

/// The entries of a (gzip) layer blob in an OCI layout.
pub fn layer_entries(dir: &Path, digest: &str) -> Vec<Entry> {
    let file = std::fs::File::open(blob_path(dir, digest)).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let mut content = Vec::new();
        if h.entry_type().is_file() {
            entry.read_to_end(&mut content).unwrap();
        }
        out.push(Entry {
            path: entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mode: h.mode().unwrap(),
            content,
        });
    }
    out
}

/// An OCI layout whose only layer is `layer_tar` (an uncompressed tar).
pub fn crafted_layout(dir: &Path, layer_tar: &[u8]) {
    use sha2::Digest;
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha(bytes);
        std::fs::write(blob_path(dir, &d), bytes).unwrap();
        d
    };
    let layer = put(layer_tar);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer]},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = put(&config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_tar.len()}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = put(&manifest_bytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_bytes.len()}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A tar entry with a raw name (the tar crate refuses `..` in set_path, as a
/// crafted layer would not).
pub fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    path: &str,
    link: &str,
    body: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_entry_type(kind);
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    builder.append(&h, body).unwrap();
}

/// A podman container started with `podman run -d`, removed when dropped.
pub struct Container {
    pub id: String,
}

impl Container {
    pub fn run(args: &[&str]) -> Container {
        let out = podman().args(["run", "-d"]).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "podman run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            id: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        }
    }

    /// Run `image` as `user` on the host network with the app on a free
    /// port; returns the container and that port.
    pub fn serve(image: &str, user: &str) -> (Container, u16) {
        let port = support::free_port();
        let port_env = format!("WARP_HTTP_PORT={port}");
        let container = Container::run(&["-u", user, "--network", "host", "-e", &port_env, image]);
        (container, port)
    }

    pub fn logs(&self) -> String {
        let out = podman().args(["logs", &self.id]).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", "-t", "2", &self.id]).output();
    }
}

/// GET http://127.0.0.1:PORT/PATH with curl until it answers or `secs` pass:
/// (status, body).
pub fn curl_until_up(port: u16, path: &str, secs: u64) -> Option<(u16, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some((body, code)) = text.rsplit_once('\n') {
            if let Ok(code) = code.trim().parse::<u16>() {
                if code != 0 {
                    return Some((code, body.to_string()));
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    None
}
