//! `warp image --sign-key`: sigstore signatures that the real
//! containers/image (skopeo) verifies under a policy requiring
//! `sigstoreSigned` with `use-sigstore-attachments: true`: a signed image
//! is accepted; an unsigned one, one with another image's signature and one
//! checked against another key are refused. Bad keys fail before any work,
//! with one line, and push nothing.
#[path = "support/image.rs"]
mod image_support;
#[path = "support/registry.rs"]
mod registry_support;
mod support;

use image_support::*;
use registry_support::Registry;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{assert_fails_with, assert_ok, run, stderr};

fn openssl(args: &[&str], dir: &Path) {
    assert_ok(&run(Command::new("openssl").args(args).current_dir(dir)));
}

/// The policy and registries.d that make skopeo require a sigstore
/// signature by `public_key` for `registry`.
fn policy(dir: &Path, registry: &str, public_key: &Path) -> (PathBuf, PathBuf) {
    let policy = dir.join(format!(
        "policy-{}.json",
        public_key.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &policy,
        serde_json::json!({
            "default": [{"type": "reject"}],
            "transports": {"docker": {registry: [{
                "type": "sigstoreSigned",
                "keyPath": public_key,
                "signedIdentity": {"type": "matchRepository"},
            }]}, "dir": {"": [{"type": "insecureAcceptAnything"}]}},
        })
        .to_string(),
    )
    .unwrap();
    let registries_d = dir.join("registries.d");
    std::fs::create_dir_all(&registries_d).unwrap();
    std::fs::write(
        registries_d.join("warp-test.yaml"),
        format!("docker:\n  {registry}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    (policy, registries_d)
}

/// `skopeo copy` of `image` under the policy: Ok or the error text.
fn skopeo_copy(
    image: &str,
    (policy, registries_d): &(PathBuf, PathBuf),
    out: &Path,
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(out);
    let result = run(Command::new("skopeo")
        .arg("copy")
        .arg("--policy")
        .arg(policy)
        .arg("--registries.d")
        .arg(registries_d)
        .args(["--src-tls-verify=false", "-q"])
        .arg(format!("docker://{image}"))
        .arg(format!("dir:{}", out.display()))
        .env_remove("REGISTRY_AUTH_FILE"));
    if result.status.success() {
        Ok(())
    } else {
        Err(stderr(&result))
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
    if support::which("skopeo").is_none() {
        support::require_all("skopeo");
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let k = keys.path();
    // SEC1 as `openssl ecparam -genkey` writes it (with the parameters block)
    // and PKCS#8 as `openssl genpkey` writes it.
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "key.pem",
        ],
        k,
    );
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
    let copy = work.path().join("copy");
    let ours = policy(work.path(), &registry.host(), &k.join("key.pub"));
    let theirs = policy(work.path(), &registry.host(), &k.join("other.pub"));
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

    // skopeo (containers/image) reads the attachment. Debian's build has
    // sigstore verification patched out ("Debian-local change: sigstore
    // disabled"): there, a signature found is as far as it goes; a full
    // build verifies it.
    const DEBIAN_DISABLED: &str = "sigstore disabled";
    let full_verifier = match skopeo_copy(&signed, &ours, &copy) {
        Ok(()) => true,
        Err(e) if e.contains(DEBIAN_DISABLED) => false,
        Err(e) => panic!("the signed image was refused: {e}"),
    };
    let refused = skopeo_copy(&unsigned, &ours, &copy).unwrap_err();
    assert!(
        refused.contains("no signature exists"),
        "unsigned: {refused}"
    );
    if full_verifier {
        skopeo_copy(&pkcs8_signed, &theirs, &copy).expect("PKCS#8-signed, its public key");
        let refused = skopeo_copy(&signed, &theirs, &copy).unwrap_err();
        assert!(refused.contains("signature"), "another key: {refused}");
    } else {
        eprintln!("NOTE: skopeo here cannot verify sigstore signatures ({DEBIAN_DISABLED}); checked with openssl");
        let e = skopeo_copy(&signed, &theirs, &copy).unwrap_err();
        assert!(e.contains(DEBIAN_DISABLED), "{e}");
    }

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
    let refused = skopeo_copy(&unsigned, &ours, &copy).unwrap_err();
    if full_verifier {
        assert!(
            refused.to_lowercase().contains("digest"),
            "tampered: {refused}"
        );
    } else {
        assert!(refused.contains(DEBIAN_DISABLED), "tampered: {refused}");
    }

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
