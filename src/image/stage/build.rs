//! The build run between the runtime and dependencies stages: the source
//! copied into the overlay's upper directory and `warp build` run inside the
//! base's root in the sandbox, as uid 1001, with the host's uv, CA bundle,
//! pip/uv settings and a kept download cache lent to it (none of them ever
//! lands in a layer).
use crate::error::fail;
use crate::image::config::{self, APP_ROOT, APP_SRC};
use crate::image::sandbox::{self, Bind, Sandbox};
use crate::image::store::BlobStore;
use crate::image::{diskfull, roots, unpack};
use crate::ui;
use anyhow::Result;
use std::fs;
use std::path::{Path, PathBuf};

/// Source entries never copied into the image.
fn skip_source(rel: &Path) -> bool {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    matches!(first.as_deref(), Some(".git") | Some(".venv")) || name == "__pycache__"
}

/// Copy the source into the root's /opt/app-root/src.
fn copy_source(src: &Path, root: &Path) -> Result<()> {
    let target = root.join("opt/app-root/src");
    crate::files::copy_tree_except(src, &target, &skip_source)?;
    Ok(())
}

/// The host's uv (on PATH, as `warp build` finds it) with its version, when
/// the base has none: bind-mounted into the build, where `warp build` then
/// prefers it to pip — a build-time tool only, never in a layer.
pub fn host_uv(base_root: &Path) -> Option<(PathBuf, String)> {
    let in_base = ["usr/local/bin/uv", "usr/bin/uv"].iter().any(|p| {
        unpack::resolve_in_root(base_root, Path::new(p), true, "the base image")
            .is_ok_and(|r| r.is_file())
    });
    if in_base {
        return None;
    }
    let uv = which::which("uv").ok()?;
    let out = duct::cmd!(&uv, "--version")
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !version.is_empty()).then_some((uv, version))
}

/// Where uv's cache is inside the build's root (in the overlay's upper).
const UV_CACHE_INSIDE: &str = "/tmp/warp-uv-cache";

/// uv's download/unpack cache, kept in the cache directory between builds
/// (`build-cache/uv`) and renamed into the build's upper directory while it
/// runs — the same file system as the venv it installs into, so uv
/// hard-links files instead of copying them (a bind mount would be another
/// mount, where links fail). Renamed back afterwards; when two builds run at
/// once, the second starts with an empty cache and the first one back wins.
struct UvCache {
    kept: PathBuf,
    inside: PathBuf,
}

impl UvCache {
    fn lend(build_cache: &Path, upper: &Path) -> Result<UvCache> {
        let kept = build_cache.join("uv");
        let inside = upper.join(UV_CACHE_INSIDE.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap())?;
        if fs::rename(&kept, &inside).is_err() {
            fs::create_dir_all(&inside)?;
        }
        Ok(UvCache { kept, inside })
    }
}

impl Drop for UvCache {
    fn drop(&mut self) {
        if self.inside.is_dir() && !self.kept.exists() {
            let _ = fs::rename(&self.inside, &self.kept);
        }
    }
}

/// What a build inside the base's root needs.
pub struct BuildRun<'a> {
    pub store: &'a BlobStore,
    pub src: &'a Path,
    /// The read-only trees under the overlay, top first: the cached
    /// dependencies (when there are), the runtime files, the base's root.
    pub lowers: Vec<PathBuf>,
    /// The base's Python (from `sandbox::find_python`).
    pub python: &'a str,
    pub epoch: u64,
    /// The host's uv (see [`host_uv`]).
    pub uv: Option<&'a Path>,
}

/// What the build wrote: the overlay's upper directory, in a scratch
/// directory of the cache that goes with this value.
pub struct Built {
    _work: roots::Scratch,
    pub upper: PathBuf,
}

impl Built {
    /// The built /opt/app-root (venv, source, static files, build record).
    pub fn app_root(&self) -> PathBuf {
        self.upper.join(APP_ROOT.trim_start_matches('/'))
    }
}

/// Copy the source in and run `warp build` inside the base's root, with
/// `meanwhile` running beside it (the app recipe writes the runtime layer
/// then, mostly while the build waits for the network or runs on one CPU).
/// A failed build is one line pointing at its output above, or at a full
/// cache.
pub fn run<T: Send>(job: BuildRun, meanwhile: impl FnOnce() -> T + Send) -> Result<(Built, T)> {
    let work = roots::Scratch::new(job.store)?;
    let upper = work.path().join("upper");
    copy_source(job.src, &upper)?;
    let build_cache = job.store.root().join("build-cache");
    fs::create_dir_all(&build_cache)?;
    let uv_cache = UvCache::lend(&build_cache, &upper)?;
    let mut done = None;
    let code = ui::step("warp build (inside the image, uid 1001)", || {
        let overlay = sandbox::Overlay {
            lowers: job.lowers,
            upper: upper.clone(),
            work: work.path().join("work"),
        };
        let sandbox = build_sandbox(
            &work.path().join("merged"),
            overlay,
            job.python,
            &build_cache,
            job.epoch,
            job.uv,
        );
        let (code, value) = sandbox.run_while(meanwhile);
        done = Some(value);
        code
    })?;
    drop(uv_cache);
    if code != 0 && diskfull::nearly_full(&upper) {
        return Err(diskfull::cache_full(
            job.store.root(),
            "the build's files (see its output above)",
        ));
    }
    if code != 0 {
        return Err(fail(
            format!("the build inside the image failed (exit {code})"),
            "its output is above; `warp build --src DIR` reproduces it outside the image",
        ));
    }
    let built = Built { _work: work, upper };
    Ok((built, done.expect("the sandbox ran")))
}

/// The `warp build` run inside the root.
/// `uv`: the host's uv, bind-mounted as /usr/local/bin/uv (see [`host_uv`]).
fn build_sandbox(
    root: &Path,
    overlay: sandbox::Overlay,
    python: &str,
    build_cache: &Path,
    epoch: u64,
    uv: Option<&Path>,
) -> Sandbox {
    let cache_inside = "/tmp/warp-build-cache";
    // Collected static files are kept per static key in the cache's `static/`
    // (see build::static_reuse): a code-only rebuild copies them in instead
    // of running collectstatic.
    let static_cache = format!("{cache_inside}/static");
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), config::IMAGE_PATH.into()),
        ("HOME".into(), "/tmp/warp-home".into()),
        ("APP_ROOT".into(), APP_ROOT.into()),
        ("WARP_APP_ROOT".into(), APP_ROOT.into()),
        ("WARP_PYTHON".into(), python.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
        ("XDG_CACHE_HOME".into(), cache_inside.into()),
        ("PIP_CACHE_DIR".into(), format!("{cache_inside}/pip")),
        // uv's cache is moved into the build's own tree for the build (see
        // UvCache): on the venv's file system, uv hard-links from it instead
        // of copying thousands of files.
        ("UV_CACHE_DIR".into(), UV_CACHE_INSIDE.into()),
        ("UV_LINK_MODE".into(), "hardlink".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        // Bytecode written by imports during the build (collectstatic's) is
        // timestamp-based: stamped with install-time mtimes, it made the
        // dependencies layer differ between cold builds, and it is stale in
        // the image anyway (layer files have mtime 0). pip's install-time
        // compilation is not affected and, with SOURCE_DATE_EPOCH, writes
        // hash-based .pyc files that stay valid.
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        (crate::build::static_reuse::CACHE_VAR.into(), static_cache),
    ];
    // The user's index and build settings pass through (never into a layer).
    for (k, v) in std::env::vars() {
        let prefixed = ["PIP_", "UV_", "WARPDRIVE_", "WARP_"]
            .iter()
            .any(|p| k.starts_with(p))
            && !matches!(k.as_str(), "PIP_CERT" | "WARP_CACHE_DIR" | "WARP_PROJECT");
        let app_setting = crate::build::inputs::HASHED_VARS.contains(&k.as_str())
            || matches!(
                k.as_str(),
                "DISABLE_COLLECTSTATIC" | "APP_MODULE" | "APP_FILE" | "APP_SCRIPT"
            );
        if (prefixed || app_setting) && !env.iter().any(|(e, _)| *e == k) {
            env.push((k, v));
        }
    }
    let mut binds = vec![Bind {
        host: build_cache.to_path_buf(),
        inside: cache_inside.into(),
        read_only: false,
    }];
    for file in ["/etc/resolv.conf", "/etc/hosts"] {
        if Path::new(file).is_file() {
            binds.push(Bind {
                host: file.into(),
                inside: file.into(),
                read_only: true,
            });
        }
    }
    if let Some(bundle) = sandbox::host_ca_bundle() {
        let inside = "/etc/ssl/certs/ca-certificates.crt";
        binds.push(Bind {
            host: bundle,
            inside: inside.into(),
            read_only: true,
        });
        for k in ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"] {
            env.push((k.into(), inside.into()));
        }
    }
    let home = dirs_home();
    for (host, inside) in [
        (PathBuf::from("/etc/pip.conf"), "/etc/pip.conf"),
        (home.join(".config/pip/pip.conf"), "/etc/pip.conf"),
        (home.join(".pip/pip.conf"), "/etc/pip.conf"),
        (home.join(".config/uv/uv.toml"), "/etc/uv/uv.toml"),
    ] {
        if host.is_file() && !binds.iter().any(|b| b.inside == Path::new(inside)) {
            binds.push(Bind {
                host,
                inside: inside.into(),
                read_only: true,
            });
        }
    }
    if let Some(uv) = uv {
        binds.push(Bind {
            host: uv.to_path_buf(),
            inside: "/usr/local/bin/uv".into(),
            read_only: true,
        });
    }
    fs::create_dir_all(overlay.upper.join("tmp/warp-home")).ok();
    Sandbox {
        root: root.to_path_buf(),
        overlay: Some(overlay),
        workdir: APP_SRC.into(),
        env,
        binds,
        argv: vec![
            "/usr/local/bin/warp".into(),
            "build".into(),
            "--src".into(),
            APP_SRC.into(),
        ],
    }
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_venv_and_bytecode_stay_out_of_the_copy() {
        for skipped in [".git", ".git/HEAD", ".venv/bin/python", "pkg/__pycache__"] {
            assert!(skip_source(Path::new(skipped)), "{skipped}");
        }
        for kept in ["wsgi.py", "pkg/git.py", ".warp/config.yaml", "venv.txt"] {
            assert!(!skip_source(Path::new(kept)), "{kept}");
        }
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join(".git")).unwrap();
        fs::create_dir_all(from.path().join("pkg/__pycache__")).unwrap();
        fs::write(from.path().join("pkg/app.py"), "x").unwrap();
        std::os::unix::fs::symlink("pkg/app.py", from.path().join("link")).unwrap();
        let root = tempfile::tempdir().unwrap();
        copy_source(from.path(), root.path()).unwrap();
        let src = root.path().join("opt/app-root/src");
        assert_eq!(fs::read_to_string(src.join("pkg/app.py")).unwrap(), "x");
        assert_eq!(
            fs::read_link(src.join("link")).unwrap(),
            Path::new("pkg/app.py")
        );
        assert!(!src.join(".git").exists() && !src.join("pkg/__pycache__").exists());
    }

    #[test]
    fn the_build_runs_warp_build_with_the_host_uv_and_no_host_paths_in_env() {
        let root = tempfile::tempdir().unwrap();
        let overlay = sandbox::Overlay {
            lowers: vec![],
            upper: root.path().join("upper"),
            work: root.path().join("work"),
        };
        let sandbox = build_sandbox(
            &root.path().join("merged"),
            overlay,
            "/usr/bin/python3",
            Path::new("/cache/build-cache"),
            42,
            Some(Path::new("/host/bin/uv")),
        );
        assert_eq!(
            sandbox.argv,
            ["/usr/local/bin/warp", "build", "--src", APP_SRC]
        );
        let env = |k: &str| {
            sandbox
                .env
                .iter()
                .find(|(e, _)| e == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(env("SOURCE_DATE_EPOCH").as_deref(), Some("42"));
        assert_eq!(env("WARP_PYTHON").as_deref(), Some("/usr/bin/python3"));
        assert!(sandbox
            .binds
            .iter()
            .any(|b| b.host == Path::new("/host/bin/uv")
                && b.inside == Path::new("/usr/local/bin/uv")
                && b.read_only));
        assert!(sandbox
            .env
            .iter()
            .all(|(_, v)| !v.contains("/cache/build-cache")));
    }
}
