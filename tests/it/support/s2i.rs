//! Emulating what `s2i build` and OpenShift do, with real podman: build the
//! builder image from the Containerfile, stream an app's source into a
//! builder container and run assemble as user 1001, commit the result with
//! `run` as its command, run it as an arbitrary UID.

use crate::support::{assert_ok, require_all, warp_bin, which};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The builder image the tests make (once per test binary run).
pub const BUILDER: &str = "localhost/warp-test/s2i-builder:latest";
/// The host's CA bundle, bind-mounted (read-only) into build containers so
/// pip can reach PyPI through the machine's TLS proxy; never put in a layer.
const CA_DIR: &str = "/etc/ssl/certs";
const CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Bound on any single podman command.
const PODMAN_TIMEOUT_SECS: &str = "600";

/// `podman ARGS…`, killed after PODMAN_TIMEOUT_SECS.
pub fn podman() -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", PODMAN_TIMEOUT_SECS, "podman"]);
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// The base image to build the builder on, when podman and it are here.
pub fn base_image() -> Option<String> {
    if which("podman").is_none() {
        require_all("podman");
        return None;
    }
    let Some(base) = std::env::var("WARP_TEST_BASE_IMAGE")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        require_all("WARP_TEST_BASE_IMAGE (the Debian+python3 base image)");
        return None;
    };
    if !output(podman().args(["image", "exists", &base]))
        .status
        .success()
    {
        require_all(&format!("the base image {base}"));
        return None;
    }
    Some(base)
}

/// Build the builder from the repository's Containerfile, with the warp
/// binary under test where the Containerfile expects `cargo build --release`
/// to have put it. None (skipped) without podman or the base image.
pub fn builder() -> Option<&'static str> {
    static BUILT: OnceLock<Option<&'static str>> = OnceLock::new();
    *BUILT.get_or_init(|| {
        let base = base_image()?;
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let context = tempfile::Builder::new()
            .prefix("s2i-context-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let ctx = context.path();
        std::fs::copy(repo.join("Containerfile"), ctx.join("Containerfile")).unwrap();
        std::fs::copy(repo.join(".containerignore"), ctx.join(".containerignore")).unwrap();
        std::fs::create_dir_all(ctx.join("builders/s2i")).unwrap();
        for script in ["assemble", "run", "save-artifacts", "usage"] {
            let rel = format!("builders/s2i/{script}");
            std::fs::copy(repo.join(&rel), ctx.join(&rel)).unwrap();
        }
        std::fs::create_dir_all(ctx.join("target/release")).unwrap();
        let bin = ctx.join("target/release/warp");
        if std::fs::hard_link(warp_bin(), &bin).is_err() {
            std::fs::copy(warp_bin(), &bin).unwrap();
        }
        // The previous run's builder, removed once this one has its tag
        // (each run would otherwise leave an untagged image behind).
        let previous = output(podman().args(["image", "inspect", "--format", "{{.Id}}", BUILDER]));
        let previous = String::from_utf8_lossy(&previous.stdout).trim().to_string();
        let out = output(
            podman()
                .args(["build", "-q", "-f", "Containerfile", "--build-arg"])
                .arg(format!("BASE={base}"))
                .args([
                    "--build-arg",
                    &format!("IMAGE_NAME={BUILDER}"),
                    "-t",
                    BUILDER,
                    ".",
                ])
                .current_dir(ctx),
        );
        assert_ok(&out);
        let built = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !previous.is_empty() && !built.starts_with(&previous) && !previous.starts_with(&built) {
            let _ = podman().args(["rmi", &previous]).output();
        }
        Some(BUILDER)
    })
}

fn unique(kind: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "warp-s2i-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A container the test made, removed (by name) when dropped.
pub struct Container {
    pub name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", "-t", "2", &self.name]).output();
    }
}

/// An image the test made, removed when dropped.
pub struct Image {
    pub name: String,
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman().args(["rmi", "-f", &self.name]).output();
    }
}

/// The app source as s2i streams it: a tar of the directory's contents,
/// owned by 1001:0.
pub fn source_tar(dir: &Path) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir).unwrap();
    let bytes = tar.into_inner().unwrap();
    // Deterministic mode writes uid/gid 0; s2i's assemble user owns the files.
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        header.set_uid(1001);
        header.set_gid(0);
        let path = entry.path().unwrap().into_owned();
        match header.entry_type() {
            tar::EntryType::Symlink => {
                let target = entry.link_name().unwrap().unwrap().into_owned();
                out.append_link(&mut header, &path, &target).unwrap();
            }
            _ => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
                out.append_data(&mut header, &path, data.as_slice())
                    .unwrap();
            }
        }
    }
    out.into_inner().unwrap()
}

/// What one assemble run gave.
pub struct Assembled {
    pub container: Container,
    pub output: Output,
}

impl Assembled {
    pub fn log(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Run assemble in a container of `image` as user 1001 with the app's source
/// in /tmp/src and, when given, a previous image's artifacts tar unpacked in
/// /tmp/artifacts — as `s2i build [--incremental]` does.
pub fn assemble(
    image: &str,
    app: &Path,
    artifacts: Option<&Path>,
    env: &[(&str, &str)],
) -> Assembled {
    let container = Container {
        name: unique("build"),
    };
    let mut cmd = podman();
    cmd.args([
        "run",
        "-i",
        "--name",
        &container.name,
        "-u",
        "1001",
        "--network",
        "host",
    ])
    .args(["-v", &format!("{CA_DIR}:{CA_DIR}:ro")])
    .args([
        "-e",
        &format!("PIP_CERT={CA_FILE}"),
        "-e",
        &format!("SSL_CERT_FILE={CA_FILE}"),
    ]);
    for (k, v) in env {
        cmd.args(["-e", &format!("{k}={v}")]);
    }
    let mut script = String::from("set -e; mkdir -p /tmp/src; tar -C /tmp/src -xf -; ");
    if let Some(tar) = artifacts {
        cmd.args(["-v", &format!("{}:/tmp/artifacts.tar:ro", tar.display())]);
        script.push_str("mkdir -p /tmp/artifacts; tar -C /tmp/artifacts -xf /tmp/artifacts.tar; ");
    }
    script.push_str("exec /usr/libexec/s2i/assemble");
    cmd.args([image, "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let tar = source_tar(app);
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    let output = child.wait_with_output().unwrap();
    Assembled { container, output }
}

/// `podman commit` the assembled container with `run` as the command.
pub fn commit(assembled: &Assembled) -> Image {
    let image = Image {
        name: format!("localhost/warp-test/{}:latest", unique("app")),
    };
    let out = output(podman().args([
        "commit",
        "-q",
        "--change",
        "CMD [\"/usr/libexec/s2i/run\"]",
        &assembled.container.name,
        &image.name,
    ]));
    assert_ok(&out);
    image
}

/// `save-artifacts` run in a container of `image` (as s2i does): the tar on
/// its standard output, written to `dest`.
pub fn save_artifacts(image: &str, dest: &Path) -> Output {
    let out = output(podman().args([
        "run",
        "--rm",
        "-u",
        "1001",
        image,
        "/usr/libexec/s2i/save-artifacts",
    ]));
    std::fs::write(dest, &out.stdout).unwrap();
    out
}

/// Run `image` detached, as `user`, on the host network with PORT and `env` set.
pub fn serve(image: &str, user: &str, port: u16, env: &[(&str, &str)]) -> Container {
    let container = Container {
        name: unique("run"),
    };
    let mut cmd = podman();
    cmd.args([
        "run",
        "-d",
        "--name",
        &container.name,
        "-u",
        user,
        "--network",
        "host",
    ])
    .args(["-e", &format!("PORT={port}")]);
    for (k, v) in env {
        cmd.args(["-e", &format!("{k}={v}")]);
    }
    assert_ok(&output(cmd.arg(image)));
    container
}

/// The container's log so far (for failure messages).
pub fn logs(container: &Container) -> String {
    let out = output(podman().args(["logs", &container.name]));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the container is still running.
pub fn running(container: &Container) -> bool {
    let out = output(podman().args(["inspect", "--format", "{{.State.Running}}", &container.name]));
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

/// GET http://127.0.0.1:PORT/PATH with curl, retried until it answers, the
/// container stops, or `wait` passes: (status, body).
pub fn get(container: &Container, port: u16, path: &str, wait: Duration) -> Option<(u16, String)> {
    let deadline = Instant::now() + wait;
    loop {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .ok()?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
            if let Ok(code) = code.trim().parse() {
                return Some((code, body.to_string()));
            }
        }
        if Instant::now() > deadline || !running(container) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The image's label `name`.
pub fn label(image: &str, name: &str) -> String {
    let out = output(podman().args([
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Labels \"{name}\"}}}}"),
        image,
    ]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A directory for test files that podman can bind-mount.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("s2i-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}
