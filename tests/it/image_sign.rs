//! `warp image --sign-key`: sigstore signatures that the real
//! containers/image (Debian sid's skopeo, run in the tests' sid root) verifies under a policy requiring
//! `sigstoreSigned` with `use-sigstore-attachments: true`: a signed image
//! is accepted; an unsigned one, one with another image's signature and one
//! checked against another key are refused. Bad keys fail before any work,
//! with one line, and push nothing. A registry that refuses the attachments
//! (nginx in front of it refusing the `sha256-<hex>` tags) fails the push
//! with one line, and the image's tag is not written.
use crate::image_support;
use crate::registry_support;
use crate::sid_root;
use crate::support;

use image_support::*;
use registry_support::{RefusingProxy, Registry};
use sid_root::{in_root, InsideDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{assert_fails_with, assert_ok, run, stderr};

fn openssl(args: &[&str], dir: &Path) {
    assert_ok(&run(Command::new("openssl").args(args).current_dir(dir)));
}

/// `DIR/key.pem`: a P-256 key in SEC1, as `openssl ecparam -genkey` writes
/// it (with the parameters block).
fn sec1_key(dir: &Path) {
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "key.pem",
        ],
        dir,
    );
}

/// sid's skopeo (containers/image 5.3x with sigstore verification; bookworm's
/// build has it patched out, "Debian-local change: sigstore disabled"), run in
/// the tests' sid root by chroot, which shares the host's loopback and so
/// reaches the test registry. Its policies and copies live in `dir`.
struct Skopeo {
    root: PathBuf,
    dir: InsideDir,
}

/// A policy file and registries.d directory, as paths inside the sid root.
struct Policy {
    file: String,
    registries_d: String,
}

impl Skopeo {
    fn new() -> Option<Skopeo> {
        let root = sid_root::sid_root("usr/bin/skopeo")?;
        let dir = InsideDir::new(&root);
        Some(Skopeo { root, dir })
    }

    /// The policy and registries.d that make skopeo require a sigstore
    /// signature by `public_key` for `registry`, with the signatures looked
    /// up as OCI attachments (`use-sigstore-attachments`).
    fn policy(&self, registry: &str, public_key: &Path) -> Policy {
        let name = public_key.file_name().unwrap().to_string_lossy();
        std::fs::copy(public_key, self.dir.host.path().join(&*name)).unwrap();
        let file = format!("policy-{name}.json");
        std::fs::write(
            self.dir.host.path().join(&file),
            serde_json::json!({
                "default": [{"type": "reject"}],
                "transports": {"docker": {registry: [{
                    "type": "sigstoreSigned",
                    "keyPath": format!("{}/{name}", self.dir.rel),
                    "signedIdentity": {"type": "matchRepository"},
                }]}},
            })
            .to_string(),
        )
        .unwrap();
        let registries_d = self.dir.host.path().join("registries.d");
        std::fs::create_dir_all(&registries_d).unwrap();
        std::fs::write(
            registries_d.join("warp-test.yaml"),
            format!("docker:\n  {registry}:\n    use-sigstore-attachments: true\n"),
        )
        .unwrap();
        Policy {
            file: format!("{}/{file}", self.dir.rel),
            registries_d: format!("{}/registries.d", self.dir.rel),
        }
    }

    /// `skopeo copy` of `image` to a directory under `policy`: Ok or the
    /// error text.
    fn copy(&self, image: &str, policy: &Policy) -> Result<(), String> {
        let _ = std::fs::remove_dir_all(self.dir.host.path().join("copy"));
        let source = format!("docker://{image}");
        let target = format!("dir:{}/copy", self.dir.rel);
        let result = run(&mut in_root(
            &self.root,
            &[
                "skopeo",
                "copy",
                "--policy",
                &policy.file,
                "--registries.d",
                &policy.registries_d,
                "--src-tls-verify=false",
                "-q",
                &source,
                &target,
            ],
        ));
        if result.status.success() {
            Ok(())
        } else {
            Err(stderr(&result))
        }
    }
}

#[test]
fn signed_images_pass_skopeos_policy_and_others_do_not() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    let Some(skopeo) = Skopeo::new() else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let k = keys.path();
    // SEC1 as `openssl ecparam -genkey` writes it (with the parameters block)
    // and PKCS#8 as `openssl genpkey` writes it.
    sec1_key(k);
    openssl(&["ec", "-in", "key.pem", "-pubout", "-out", "key.pub"], k);
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other.pem",
        ],
        k,
    );
    openssl(
        &["pkey", "-in", "other.pem", "-pubout", "-out", "other.pub"],
        k,
    );
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
        k,
    );
    let key_text = std::fs::read_to_string(k.join("key.pem")).unwrap();
    let secret_line = key_text.lines().find(|l| l.len() > 40).unwrap().to_string();

    let app = flask_app("signed\n");
    let base_arg = format!("oci-archive:{}", base.display());
    // cosign's encrypted format, written by PyNaCl and hashlib (not by warp).
    openssl(
        &[
            "pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", "key.pem", "-out", "key.der",
        ],
        k,
    );
    let Some(python) = support::tool("python") else {
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cosign_key.py");
    assert_ok(&run(Command::new(python)
        .arg(fixture)
        .args(["key.der", "cosign.key", "pass phrase"])
        .current_dir(k)));
    let password = std::cell::RefCell::new(Some("pass phrase"));
    let push = |tag: &str, key: Option<&str>| {
        let name = format!("{}/team/app:{tag}", registry.host());
        let mut cmd = warp_image(app.path(), &shared_cache());
        cmd.args([&name, "--base", &base_arg, "--push"]);
        match *password.borrow() {
            Some(p) => cmd.env("COSIGN_PASSWORD", p),
            None => cmd.env_remove("COSIGN_PASSWORD"),
        };
        if let Some(key) = key {
            cmd.arg("--sign-key").arg(k.join(key));
        }
        (name, run(&mut cmd))
    };
    let (signed, out) = push("signed", Some("key.pem"));
    assert_ok(&out);
    let text = format!("{}{}", support::stdout(&out), stderr(&out));
    assert!(
        text.contains("signed (sigstore signature sha256-"),
        "{text}"
    );
    assert!(
        !text.contains(&secret_line),
        "the key must never be printed"
    );
    let (pkcs8_signed, out) = push("pkcs8", Some("other.pem"));
    assert_ok(&out);
    let (unsigned, out) = push("unsigned", None);
    assert_ok(&out);
    let (cosign_signed, out) = push("cosign", Some("cosign.key"));
    assert_ok(&out);
    assert!(!stderr(&out).contains("pass phrase"));

    let work = tempfile::tempdir().unwrap();
    let ours = skopeo.policy(&registry.host(), &k.join("key.pub"));
    let theirs = skopeo.policy(&registry.host(), &k.join("other.pub"));
    // The signature as the registry holds it, checked by openssl against
    // the public keys: the payload names this image's digest and repository.
    let sig_tag = |digest: &str| format!("{}.sig", digest.replacen(':', "-", 1));
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    let check_with_openssl = |image: &str, public_key: &str| -> bool {
        let digest = registry.digest_of(image);
        let (status, body) = registry.get(
            &format!("/v2/team/app/manifests/{}", sig_tag(&digest)),
            manifest_type,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let sig_manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let layer = &sig_manifest["layers"][0];
        assert_eq!(
            layer["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        let (_, payload) = registry.get(
            &format!("/v2/team/app/blobs/{}", layer["digest"].as_str().unwrap()),
            "*/*",
        );
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            claims["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        assert_eq!(claims["critical"]["identity"]["docker-reference"], image);
        assert_eq!(
            claims["critical"]["type"],
            "cosign container image signature"
        );
        let signature = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("payload"), &payload).unwrap();
        std::fs::write(dir.path().join("sig.der"), &signature).unwrap();
        run(Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(k.join(public_key))
            .args(["-signature", "sig.der", "payload"])
            .current_dir(dir.path()))
        .status
        .success()
    };
    assert!(check_with_openssl(&signed, "key.pub"));
    assert!(
        !check_with_openssl(&signed, "other.pub"),
        "another key does not verify it"
    );
    assert!(check_with_openssl(&pkcs8_signed, "other.pub"));
    assert!(
        check_with_openssl(&cosign_signed, "key.pub"),
        "the cosign key is key.pem sealed"
    );

    // skopeo (containers/image) finds the attachment and verifies it.
    skopeo
        .copy(&signed, &ours)
        .expect("signed (SEC1 key), its public key");
    skopeo
        .copy(&pkcs8_signed, &theirs)
        .expect("signed (PKCS#8 key), its public key");
    skopeo
        .copy(&cosign_signed, &ours)
        .expect("signed (cosign key), its public key");
    let refused = skopeo.copy(&unsigned, &ours).unwrap_err();
    assert!(
        refused.contains("no signature exists"),
        "unsigned: {refused}"
    );
    let refused = skopeo.copy(&signed, &theirs).unwrap_err();
    assert!(
        refused.contains("cryptographic signature verification failed"),
        "another key: {refused}"
    );

    // Tampered: the signed image's signature put where the unsigned image's
    // signatures are looked up — a valid signature, of another digest.
    let signed_digest = registry.digest_of(&signed);
    let unsigned_digest = registry.digest_of(&unsigned);
    let (status, sig) = registry.get(
        &format!("/v2/team/app/manifests/{}", sig_tag(&signed_digest)),
        manifest_type,
    );
    assert_eq!(status, 200);
    let sig_file = work.path().join("sig.json");
    std::fs::write(&sig_file, &sig).unwrap();
    let put = run(Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {manifest_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", sig_file.display()))
        .arg(format!(
            "http://{}/v2/team/app/manifests/{}",
            registry.host(),
            sig_tag(&unsigned_digest)
        )));
    assert_ok(&put);
    let refused = skopeo.copy(&unsigned, &ours).unwrap_err();
    assert!(
        refused.contains(&format!(
            "Signature for digest {signed_digest} does not match"
        )),
        "tampered: {refused}"
    );

    // Bad keys: one line, non-zero exit, and no tag pushed.
    let tags = || {
        let (_, body) = registry.get("/v2/team/app/tags/list", "application/json");
        String::from_utf8_lossy(&body).into_owned()
    };
    for (key, needle) in [
        ("missing.pem", "cannot read the signing key"),
        ("rsa.pem", "not an ECDSA P-256 private key"),
        ("key.pub", "is a public key"),
    ] {
        let (_, out) = push(&format!("bad-{}", key.replace('.', "-")), Some(key));
        assert_fails_with(&out, needle);
        assert!(!stderr(&out).contains(&secret_line));
        assert!(!tags().contains("bad-"), "{}", tags());
    }
    *password.borrow_mut() = Some("wrong");
    let (_, out) = push("bad-password", Some("cosign.key"));
    assert_fails_with(&out, "wrong password in $COSIGN_PASSWORD");
    *password.borrow_mut() = None;
    let (_, out) = push("bad-nopassword", Some("cosign.key"));
    assert_fails_with(&out, "$COSIGN_PASSWORD is not set");
    assert!(!tags().contains("bad-"), "{}", tags());
}

/// The tags of `repo` as the registry itself lists them.
fn tags(registry: &Registry, repo: &str) -> Vec<String> {
    let (status, body) = registry.get(&format!("/v2/{repo}/tags/list"), "application/json");
    if status == 404 {
        return Vec::new();
    }
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    list["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_registry_that_refuses_the_attachments_gets_no_tag() {
    let Some(registry) = Registry::anonymous() else {
        return;
    };
    let Some(base) = base_archive("oci-archive") else {
        return;
    };
    // One nginx refuses the fallback tag that lists the SBOMs and the
    // provenance, the other only the signature's tag.
    let digest_tag = "^/v2/.+/manifests/sha256-[0-9a-f]{64}$";
    let signature_tag = r"^/v2/.+/manifests/sha256-[0-9a-f]{64}\.sig$";
    let Some(no_attachments) = RefusingProxy::start(&registry, &[digest_tag]) else {
        return;
    };
    let Some(no_signatures) = RefusingProxy::start(&registry, &[signature_tag]) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    sec1_key(keys.path());
    let app = flask_app("refused\n");
    let base_arg = format!("oci-archive:{}", base.display());
    let push_with = |host: &str, tag: &str, sign: bool, extra: &[&str]| {
        let mut cmd = warp_image(app.path(), &shared_cache());
        cmd.args([
            &format!("{host}/team/app:{tag}"),
            "--base",
            &base_arg,
            "--push",
        ]);
        cmd.args(extra);
        if sign {
            cmd.arg("--sign-key").arg(keys.path().join("key.pem"));
        }
        run(&mut cmd)
    };
    let push = |host: &str, tag: &str, sign: bool| push_with(host, tag, sign, &[]);
    let one_error_line = |out: &std::process::Output| {
        let text = stderr(out);
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("warp: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{text}");
        errors[0].to_string()
    };

    // Everything else passes through: an unsigned image pushes where only
    // signatures are refused, attachments and all.
    assert_ok(&push(&no_signatures.host(), "through-nginx", false));
    assert_eq!(
        tags(&registry, "team/app").len(),
        2,
        "the tag and the attachments' tag"
    );

    let out = push(&no_attachments.host(), "sbom-refused", false);
    assert_fails_with(&out, "refused the attachments");
    let line = one_error_line(&out);
    assert!(line.contains("HTTP 403"), "{line}");
    assert!(
        stderr(&out).contains("the image's tag was not pushed"),
        "{}",
        stderr(&out)
    );
    assert!(
        no_attachments.access_log().contains("\" 403 "),
        "nginx refused it: {}",
        no_attachments.access_log()
    );

    // The hint's way out: the image without its attachments.
    assert!(stderr(&out).contains("--attach=false"), "{}", stderr(&out));
    assert_ok(&push_with(
        &no_attachments.host(),
        "unattached",
        false,
        &["--attach=false"],
    ));
    assert!(tags(&registry, "team/app").contains(&"unattached".to_string()));

    let out = push(&no_signatures.host(), "signature-refused", true);
    assert_fails_with(&out, "refused the image's signature");
    let line = one_error_line(&out);
    assert!(line.contains("HTTP 403"), "{line}");

    let tags = tags(&registry, "team/app");
    assert!(
        !tags.iter().any(|t| t.ends_with("-refused")),
        "no tag for a refused push: {tags:?}"
    );
}
