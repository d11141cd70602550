//! `warp image` against real registries on 127.0.0.1 (docker-registry,
//! distribution 2.8): TLS with a self-signed certificate (verified by
//! default, `--tls-verify=false`, or trusted through `SSL_CERT_FILE`),
//! bearer-token auth with a real token server, and retries of transient
//! failures through a proxy that closes or answers 503 to the first
//! connections; zstd layers pulled and run by podman; a plain registry and
//! one with basic auth, pulled from, pushed to and pulled back by podman.
use crate::image_support;
use crate::registry_support;
use crate::support;

use image_support::*;
use registry_support::{Faults, FlakyProxy, Registry};
use serde_json::Value;
use std::time::{Duration, Instant};
use support::{assert_fails_with, assert_ok, run, stderr, stdout};

#[test]
fn a_tls_registry_on_loopback_is_verified_unless_tls_verify_is_false() {
    let Some(registry) = Registry::with_tls() else {
        return;
    };
    let Some(base) = registry.push_test_base() else {
        return;
    };
    let app = plain_app("over tls");

    // Verification is on by default, also on loopback: the self-signed
    // certificate is refused before anything is built, and warp does not
    // fall back to plain HTTP.
    let out = run(warp_image(app.path(), &shared_cache()).args(["app", "--base", &base]));
    assert_fails_with(
        &out,
        &format!(
            "the TLS certificate of the registry {} is not trusted",
            registry.host()
        ),
    );
    assert!(
        stderr(&out).contains("use --tls-verify=false"),
        "{}",
        stderr(&out)
    );

    // --tls-verify=false: the base is pulled and the image pushed over TLS.
    let name = format!("{}/team/app:1", registry.host());
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &base,
        "--tls-verify=false",
        "--push",
    ]));
    assert_ok(&out);
    let digest = digest_of(&out);
    assert_eq!(registry.digest_of(&name), digest);

    // Verified TLS: trusting the certificate (SSL_CERT_FILE, read by the
    // platform verifier) is enough, no flag. The pushed image is pulled back
    // as a base.
    let layout = tempfile::tempdir().unwrap();
    let out = run(warp_image(app.path(), &shared_cache())
        .env("SSL_CERT_FILE", registry.cert_file())
        .args([
            "again",
            "--base",
            &format!("docker://{name}"),
            "--output",
            &format!("oci:{}", layout.path().join("out").display()),
        ]));
    assert_ok(&out);
    assert!(layout.path().join("out/index.json").exists());
}

#[test]
fn bearer_token_auth_refuses_anonymous_clients_and_serves_logged_in_ones() {
    let Some(registry) = Registry::with_token_auth("warp", "t0ken-pass") else {
        return;
    };
    let Some(base) = registry.push_test_base() else {
        return;
    };
    let app = plain_app("with a token");
    let name = format!("{}/team/private:1", registry.host());

    // Anonymous: the token server hands out a token that grants nothing,
    // and the registry still answers 401. (The token service fails twice
    // first: a closed connection, then a 503; both are retried.)
    registry.realm_proxy().set_faults(Faults {
        drop_first: 1,
        http_503_first: 1,
        ..Faults::default()
    });
    let out = run(warp_image(app.path(), &shared_cache()).args([&name, "--base", &base]));
    assert_fails_with(&out, "refused access (HTTP 401)");
    let realm = format!("token from http://{}/token", registry.realm_proxy().host());
    assert_eq!(stderr(&out).matches(&realm).count(), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HTTP 503; retrying in"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("log in"), "{}", stderr(&out));
    assert!(
        registry
            .token_log()
            .contains("granted (anonymous) (nothing)"),
        "{}",
        registry.token_log()
    );

    // Logged in (credentials from REGISTRY_AUTH_FILE, sent to the realm as
    // basic auth): pull the base, push the image; the base's layers are
    // mounted, which takes a token for two repositories.
    let auth_dir = tempfile::tempdir().unwrap();
    let auth = registry.auth_file(auth_dir.path());
    let out = run(warp_image(app.path(), &shared_cache())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args([&name, "--base", &base, "--push"]));
    assert_ok(&out);
    let digest = digest_of(&out);
    assert!(stderr(&out).contains("mounted"), "{}", stderr(&out));
    let tokens = registry.token_log();
    assert!(
        tokens.contains("granted warp repository:warp-test/base:pull\n"),
        "{tokens}"
    );
    // (the registry names the scopes, and their actions, in no fixed order)
    let grants = |line: &str, repository: &str, actions: &[&str]| {
        line.split(' ').any(|scope| {
            scope
                .strip_prefix(&format!("repository:{repository}:"))
                .is_some_and(|given| actions.iter().all(|a| given.split(',').any(|g| g == *a)))
        })
    };
    assert!(
        tokens.lines().any(|line| line.starts_with("granted warp ")
            && grants(line, "team/private", &["pull", "push"])
            && grants(line, "warp-test/base", &["pull"])),
        "{tokens}"
    );
    assert_eq!(registry.digest_of(&name), digest);

    // A wrong password: the token server answers 401.
    registry.assert_wrong_password_is_refused(app.path(), &name, &base);
}

#[test]
fn transient_failures_are_retried_with_backoff_and_reported_after_the_budget() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    if registry.push_test_base().is_none() {
        return;
    }
    let app = plain_app("after retries");
    let cache = shared_cache();

    // A registry that is down for good: 4 attempts, 0.5 + 1 + 2 s apart,
    // then one clear line.
    let down = FlakyProxy::start(
        registry.port,
        Faults {
            drop_first: usize::MAX,
            ..Faults::default()
        },
    );
    let started = Instant::now();
    let out = run(warp_image(app.path(), &cache).args([
        "app",
        "--base",
        &format!("docker://{}/warp-test/base:1", down.host()),
    ]));
    let took = started.elapsed();
    assert_fails_with(
        &out,
        &format!("cannot reach the registry {} (4 attempts)", down.host()),
    );
    assert!(stderr(&out).contains("hint: check that the registry is running"));
    assert_eq!(stderr(&out).matches("retrying in").count(), 3);
    assert_eq!(
        down.connections.load(std::sync::atomic::Ordering::SeqCst),
        4
    );
    assert!(
        took >= Duration::from_millis(3500) && took < Duration::from_secs(30),
        "{took:?}"
    );

    // A registry that answers 503 for good: the status is reported.
    let busy = FlakyProxy::start(
        registry.port,
        Faults {
            http_503_first: usize::MAX,
            ..Faults::default()
        },
    );
    let out = run(warp_image(app.path(), &cache).args([
        "app",
        "--base",
        &format!("docker://{}/warp-test/base:1", busy.host()),
    ]));
    assert_fails_with(
        &out,
        "answered HTTP 503 to GET /v2/warp-test/base/manifests/1 (4 attempts)",
    );

    // Briefly unavailable: two connections closed, then two 503s; the pull
    // and the push go through.
    let flaky = FlakyProxy::start(
        registry.port,
        Faults {
            drop_first: 2,
            http_503_first: 2,
            ..Faults::default()
        },
    );
    let name = format!("{}/team/app:1", flaky.host());
    let out = run(warp_image(app.path(), &cache).args([
        &name,
        "--base",
        &format!("docker://{}/warp-test/base:1", flaky.host()),
        "--push",
    ]));
    assert_ok(&out);
    let log = stderr(&out);
    assert_eq!(log.matches("HTTP 503; retrying in").count(), 2, "{log}");
    assert_eq!(log.matches("retrying in").count(), 4, "{log}");
    let digest = digest_of(&out);
    assert_eq!(
        registry.digest_of(&format!("{}/team/app:1", registry.host())),
        digest
    );

    // Rate-limited: a 429 with `Retry-After: 2` is waited out for as long as
    // the registry asks (not the first backoff's 0.5 s), then the pull goes on.
    flaky.set_faults(Faults {
        http_429_first: 1,
        ..Faults::default()
    });
    let layout = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(warp_image(app.path(), &cache).args([
        "app",
        "--base",
        &format!("docker://{}/warp-test/base:1", flaky.host()),
        "--output",
        &format!("oci:{}", layout.path().join("image").display()),
    ]));
    assert_ok(&out);
    assert!(
        stderr(&out).contains("HTTP 429; retrying in 2.0 s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() >= Duration::from_secs(2));

    // An upload that breaks off (the client's side cut after 1 MB, on the
    // connection after the HTTPS probe's): started again in a new session.
    // The base comes from a file, so only the push goes through the proxy,
    // and its first blob (the base's layer, 100 MB) breaks off.
    flaky.set_faults(Faults {
        cut_upload_first: 2,
        cut_upload_after: 1 << 20,
        ..Faults::default()
    });
    let Some(base_file) = base_archive("oci-archive") else {
        return;
    };
    let other = format!("{}/team/other:1", flaky.host());
    let out = run(warp_image(app.path(), &cache).args([
        &other,
        "--base",
        &format!("oci-archive:{}", base_file.display()),
        "--push",
    ]));
    assert_ok(&out);
    let log = stderr(&out);
    assert_eq!(log.matches("broke off").count(), 1, "{log}");
    assert!(log.contains("starting it again in 0.5 s"), "{log}");
    assert_eq!(
        registry.digest_of(&format!("{}/team/other:1", registry.host())),
        digest_of(&out)
    );
}

/// `cmd` run by script(1) in a pseudo-terminal: its stdout is what the
/// terminal showed (stdout and stderr together).
fn in_a_terminal(cmd: &std::process::Command) -> Option<std::process::Command> {
    let Some(script) = support::which("script") else {
        support::require_all("script (util-linux)");
        return None;
    };
    let quote =
        |arg: &std::ffi::OsStr| format!("'{}'", arg.to_str().unwrap().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let mut wrapped = std::process::Command::new(script);
    wrapped.args(["-qec", &line.join(" "), "/dev/null"]);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Some(wrapped)
}

#[test]
fn pushes_show_per_layer_progress_in_a_terminal_only() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let app = plain_app("progress");
    let name = format!("{}/team/app:1", registry.host());
    let mut cmd = warp_image(app.path(), &shared_cache());
    cmd.args([
        &name,
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--push",
    ]);
    let Some(mut terminal) = in_a_terminal(&cmd) else {
        return;
    };
    let out = run(&mut terminal);
    assert_ok(&out);
    let screen = stdout(&out);
    // Every blob is uploaded (a fresh registry): each gets a progress line
    // that reaches 100 %, then its summary line.
    let base_layer = screen
        .lines()
        .flat_map(|line| line.split('\r'))
        .find(|part| part.contains("blob 1/") && part.contains("100%"))
        .unwrap_or_else(|| panic!("no progress line for the first blob:\n{screen}"));
    assert!(base_layer.contains(" MiB / "), "{base_layer}");
    assert!(screen.contains("pushed in"), "{screen}");

    // Not a terminal: the summary lines only.
    let out = run(&mut cmd);
    assert_ok(&out);
    assert!(!stderr(&out).contains('%'), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\r'), "{}", stderr(&out));
}

#[test]
fn a_blob_download_that_breaks_off_is_downloaded_again() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    // A base of one 4 MB layer (and no Python: the command stops right after
    // the pull, with no build).
    let work = tempfile::tempdir().unwrap();
    let mut noise = Vec::with_capacity(4 << 20);
    let mut x: u32 = 12345;
    while noise.len() < 4 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let mut layer = tar::Builder::new(Vec::new());
    raw_entry(&mut layer, tar::EntryType::Regular, "noise.bin", "", &noise);
    crafted_layout(&work.path().join("base"), &layer.into_inner().unwrap());
    let Some(base) = registry.copy_in(
        &format!("oci:{}", work.path().join("base").display()),
        "warp-test/noise:1",
    ) else {
        return;
    };
    // The first two forwarded connections (the HTTPS probe, then the pull's
    // keep-alive connection) are cut after 1 MB: the manifest and the config
    // pass, the layer breaks off.
    let proxy = FlakyProxy::start(
        registry.port,
        Faults {
            cut_first: 2,
            cut_after: 1 << 20,
            ..Faults::default()
        },
    );
    let base = base.replace(&registry.host(), &proxy.host());
    let app = plain_app("x");
    let cache = tempfile::tempdir().unwrap();
    let out = run(warp_image(app.path(), cache.path()).args(["app", "--base", &base]));
    assert_fails_with(&out, "has no Python");
    let log = stderr(&out);
    assert!(log.contains("the download broke off"), "{log}");
    assert!(log.contains("layer 1/1"), "{log}");
}

#[test]
fn zstd_layers_are_pulled_and_run_by_podman() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    // No dependencies to install: the venv (with the server) is still a layer.
    let app = plain_app("zstd");
    let name = format!("{}/team/zstd:1", registry.host());
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &format!("oci-archive:{}", base.display()),
        "--compression",
        "zstd",
        "--push",
    ]));
    assert_ok(&out);
    let digest = digest_of(&out);
    let (status, body) = registry.get(
        &format!("/v2/team/zstd/manifests/{digest}"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[types.len() - 3..],
        ["application/vnd.oci.image.layer.v1.tar+zstd"; 3],
        "warp's three layers are zstd: {types:?}"
    );
    let out = run(podman().args(["pull", "-q", "--tls-verify=false", &name]));
    assert_ok(&out);
    let out = run(podman().args([
        "run",
        "--rm",
        "-u",
        "100001:0",
        &name,
        "python",
        "-c",
        "import warpserver; print('zstd ok')",
    ]));
    let _ = run(podman().args(["rmi", "-f", &name]));
    assert_ok(&out);
    assert!(
        support::stdout(&out).contains("zstd ok"),
        "{}",
        support::stdout(&out)
    );
}

#[test]
fn registry_pull_build_push_and_pull_back_with_podman() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    let Some(base) = registry.push_test_base() else {
        return;
    };
    let app = plain_app("from the registry");
    let name = format!("{}/team/app:1", registry.host());

    let out = run(warp_image(app.path(), &shared_cache()).args([
        "app",
        "--base",
        &format!("docker://{}/warp-test/nothing:1", registry.host()),
    ]));
    assert_fails_with(&out, "not found");

    let out = run(warp_image(app.path(), &shared_cache()).args([&name, "--base", &base, "--push"]));
    assert_ok(&out);
    let digest = digest_of(&out);
    let log = stderr(&out);
    // The base layer is mounted from the base's repository, not uploaded again.
    assert!(log.contains("mounted") || log.contains("exists"), "{log}");
    assert!(log.contains("pushed in"), "{log}");

    let out = run(podman().args(["pull", "--tls-verify=false", &name]));
    assert_ok(&out);
    let out = run(podman().args([
        "run",
        "--rm",
        "-u",
        "100001:0",
        &name,
        "cat",
        "/opt/app-root/src/wsgi.py",
    ]));
    assert_ok(&out);
    assert!(stdout(&out).contains("from the registry"));
    let out = run(podman().args(["image", "inspect", "--format", "{{.Digest}}", &name]));
    assert_eq!(stdout(&out).trim(), digest);

    // A second push finds every blob there.
    let out = run(warp_image(app.path(), &shared_cache()).args([
        &name,
        "--base",
        &base,
        "--output",
        &format!("docker://{name}"),
    ]));
    assert_ok(&out);
    assert!(!stderr(&out).contains("pushed in"), "{}", stderr(&out));
    let _ = run(podman().args(["rmi", "-f", &name]));
}

#[test]
fn registry_with_basic_auth_needs_and_uses_credentials() {
    let Some(registry) = Registry::with_basic_auth("warp", "s3cret-pass") else {
        return;
    };
    let Some(base) = registry.push_test_base() else {
        return;
    };
    let app = plain_app("authenticated");
    let name = format!("{}/team/private:1", registry.host());

    let out = run(warp_image(app.path(), &shared_cache()).args([&name, "--base", &base]));
    assert_fails_with(&out, "refused access (HTTP 401)");
    assert!(stderr(&out).contains("log in"), "{}", stderr(&out));

    let auth_dir = tempfile::tempdir().unwrap();
    let auth = registry.auth_file(auth_dir.path());
    let out = run(warp_image(app.path(), &shared_cache())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args([&name, "--base", &base, "--push"]));
    assert_ok(&out);
    let out = run(std::process::Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        "warp:s3cret-pass",
        &format!("docker://{name}"),
    ]));
    assert_ok(&out);
    let inspected: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        inspected["Labels"]["io.openshift.expose-services"],
        "8080:http"
    );

    // Wrong credentials: a clear refusal, not a crash.
    registry.assert_wrong_password_is_refused(app.path(), &name, &base);
}
