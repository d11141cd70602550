//! `--sign-key FILE`: the pushed image signed in the sigstore format that
//! containers/image (podman, skopeo, CRI-O) verifies with
//! `use-sigstore-attachments: true` — a "simple signing" payload naming the
//! image's repository:tag and manifest digest, signed with ECDSA P-256
//! (SHA-256, ASN.1 DER, base64) and stored as cosign stores it: an OCI
//! manifest under the tag `sha256-<hex>.sig` whose layer is the payload and
//! whose `dev.cosignproject.cosign/signature` annotation is the signature.
//!
//! Keys: an ECDSA P-256 private key in PEM as openssl writes it (PKCS#8
//! `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`), or cosign's encrypted key
//! (`cosign generate-key-pair`: PKCS#8 sealed with NaCl secretbox under a
//! scrypt-derived key; the password from `$COSIGN_PASSWORD`, as cosign
//! reads it). The key is read once, before
//! any work; it is never printed, logged or written anywhere (the `Debug`
//! of [`Signer`] says only that there is a key).
use super::config::canonical_json;
use super::media;
use super::reference::DockerRef;
use super::store::BlobStore;
use crate::error::fail;
use anyhow::Result;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::json;
use std::path::Path;

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// A loaded signing key.
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(ECDSA P-256 key)")
    }
}

/// The PEM block labelled `label` in `text` (BEGIN to END lines), if any.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

impl Signer {
    /// Read the key in `path`; every failure is one line that names the
    /// file (never its content).
    pub fn load(path: &Path) -> Result<Signer> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(
                format!("cannot read the signing key {shown}: {e}"),
                "pass --sign-key with a PEM file holding an ECDSA P-256 private key (openssl ecparam -name prime256v1 -genkey -noout -out key.pem)",
            )
        })?;
        let not_p256 = |what: &str| {
            fail(
                format!("the signing key {shown} is {what}, not an ECDSA P-256 private key"),
                "warp signs with ECDSA P-256 keys: openssl ecparam -name prime256v1 -genkey -noout -out key.pem",
            )
        };
        if let Some(block) = pem_block(&text, "PRIVATE KEY") {
            return SigningKey::from_pkcs8_pem(block)
                .map(|key| Signer { key })
                .map_err(|_| not_p256("a PKCS#8 key of another type or curve"));
        }
        if let Some(block) = pem_block(&text, "EC PRIVATE KEY") {
            return p256::SecretKey::from_sec1_pem(block)
                .map(|secret| Signer {
                    key: SigningKey::from(secret),
                })
                .map_err(|_| not_p256("an EC key on another curve"));
        }
        for label in [
            "ENCRYPTED SIGSTORE PRIVATE KEY",
            "ENCRYPTED COSIGN PRIVATE KEY",
        ] {
            if let Some(block) = pem_block(&text, label) {
                let der = cosign_decrypt(block, path)?;
                return SigningKey::from_pkcs8_der(&der)
                    .map(|key| Signer { key })
                    .map_err(|_| not_p256("a cosign key of another type"));
            }
        }
        if pem_block(&text, "ENCRYPTED PRIVATE KEY").is_some() {
            return Err(fail(
                format!("the signing key {shown} is an encrypted PKCS#8 key, which warp does not decrypt"),
                "decrypt it to a file only you can read: openssl pkcs8 -in KEY -out key.pem",
            ));
        }
        for (label, what) in [
            ("RSA PRIVATE KEY", "an RSA key"),
            ("OPENSSH PRIVATE KEY", "an OpenSSH key"),
            ("DSA PRIVATE KEY", "a DSA key"),
            ("PUBLIC KEY", "a public key"),
        ] {
            if pem_block(&text, label).is_some() {
                return Err(not_p256(what));
            }
        }
        Err(not_p256("not a PEM private key"))
    }

    /// The base64 of the DER ECDSA signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.key.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

/// The variable cosign (and warp) read an encrypted key's password from.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// The PKCS#8 DER inside a cosign encrypted key: the PEM body is JSON naming
/// the scrypt parameters and salt and the secretbox nonce.
fn cosign_decrypt(block: &str, path: &Path) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let shown = path.display();
    let damaged = || {
        fail(
            format!("the cosign key {shown} is damaged (not the JSON cosign writes)"),
            "make a new key pair with `cosign generate-key-pair`",
        )
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: String = block.lines().filter(|l| !l.starts_with("-----")).collect();
    let json: serde_json::Value = b64
        .decode(body.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(damaged)?;
    if json["kdf"]["name"] != "scrypt" || json["cipher"]["name"] != "nacl/secretbox" {
        return Err(damaged());
    }
    let field = |v: &serde_json::Value| v.as_str().and_then(|s| b64.decode(s).ok());
    let (Some(salt), Some(nonce), Some(sealed)) = (
        field(&json["kdf"]["salt"]),
        field(&json["cipher"]["nonce"]),
        field(&json["ciphertext"]),
    ) else {
        return Err(damaged());
    };
    let params = &json["kdf"]["params"];
    let n = params["N"].as_u64().unwrap_or(0);
    let (r, p) = (
        params["r"].as_u64().unwrap_or(0),
        params["p"].as_u64().unwrap_or(0),
    );
    if !n.is_power_of_two()
        || !(2..=1 << 20).contains(&n)
        || nonce.len() != 24
        || r == 0
        || p == 0
        || r > 64
        || p > 64
    {
        return Err(damaged());
    }
    let password = std::env::var(PASSWORD_VAR).map_err(|_| {
        fail(
            format!("the signing key {shown} is encrypted and ${PASSWORD_VAR} is not set"),
            format!("set {PASSWORD_VAR} to its password (as for cosign)"),
        )
    })?;
    let scrypt_params = scrypt::Params::new(n.trailing_zeros() as u8, r as u32, p as u32, 32)
        .map_err(|_| damaged())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &scrypt_params, &mut key).map_err(|_| damaged())?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            sealed.as_slice(),
        )
        .map_err(|_| {
            fail(
                format!(
                    "cannot decrypt the signing key {shown}: wrong password in ${PASSWORD_VAR}"
                ),
                format!("set {PASSWORD_VAR} to the password the key was made with"),
            )
        })
}

/// The "simple signing" payload for `image` (repository and tag as pushed)
/// with manifest `digest`.
pub fn payload(image: &DockerRef, digest: &str) -> Vec<u8> {
    canonical_json(&json!({
        "critical": {
            "identity": {"docker-reference": image.to_string()},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
}

/// (digest, size) of blobs a manifest refers to.
pub type Blobs = Vec<(String, u64)>;

/// The signature as a manifest for the `sha256-<hex>.sig` tag, its blobs
/// (config and payload) stored; returns (manifest, blobs as (digest, size)).
pub fn signature_manifest(
    store: &BlobStore,
    payload: &[u8],
    signature: &str,
) -> Result<(Vec<u8>, Blobs)> {
    let payload_digest = store.put_bytes(payload)?;
    // The config cosign writes: an image config naming the payload.
    let config = canonical_json(&json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
    }));
    let config_digest = store.put_bytes(&config)?;
    let manifest = canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": SIMPLE_SIGNING,
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": {SIGNATURE_ANNOTATION: signature},
        }],
    }));
    Ok((
        manifest,
        vec![
            (config_digest, config.len() as u64),
            (payload_digest, payload.len() as u64),
        ],
    ))
}

/// The tag containers/image looks up for the signatures of `digest`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", super::attach::fallback_tag(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    // Made with `openssl ecparam -name prime256v1 -genkey` and `openssl
    // pkcs8 -topk8 -nocrypt` (the same key twice; a test key only).
    const SEC1: &str = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFiIDPilRT5TpqNruwtA+7/CjWRMoSJ1itUIs65LNI/moAoGCCqGSM49\nAwEHoUQDQgAEhJ/EEtnVzTW+eHCtbDAump/RqoGL/gQKLnT2qz6+Ujw4J5b/u9Ir\nPNqqH8g6Sk1pJ+RKO9338UBlIRX7LRejvg==\n-----END EC PRIVATE KEY-----\n";
    const PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWIgM+KVFPlOmo2u7\nC0D7v8KNZEyhInWK1Qizrks0j+ahRANCAASEn8QS2dXNNb54cK1sMC6an9GqgYv+\nBAoudParPr5SPDgnlv+70is82qofyDpKTWkn5Eo73ffxQGUhFfstF6O+\n-----END PRIVATE KEY-----\n";

    #[test]
    fn signatures_verify_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        std::fs::write(&file, SEC1).unwrap();
        let signer = Signer::load(&file).unwrap();
        assert_eq!(format!("{signer:?}"), "Signer(ECDSA P-256 key)");
        let image = DockerRef::parse("127.0.0.1:5000/team/app:1").unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let payload = payload(&image, &digest);
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            text.contains("\"docker-reference\":\"127.0.0.1:5000/team/app:1\""),
            "{text}"
        );
        let sig = signer.sign(&payload);
        let der = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        let verifying = VerifyingKey::from(&signer.key);
        verifying
            .verify(&payload, &Signature::from_der(&der).unwrap())
            .unwrap();
        assert!(verifying
            .verify(b"other", &Signature::from_der(&der).unwrap())
            .is_err());
        assert_eq!(
            signature_tag(&digest),
            format!("sha256-{}.sig", "a".repeat(64))
        );
        // The PKCS#8 form of the same key gives the same public key.
        std::fs::write(&file, PKCS8).unwrap();
        assert_eq!(
            VerifyingKey::from(&Signer::load(&file).unwrap().key),
            verifying
        );
    }

    #[test]
    fn other_keys_are_refused_with_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Signer::load(&dir.path().join("nope.pem"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read the signing key"), "{missing}");
        let rsa = dir.path().join("rsa.pem");
        std::fs::write(
            &rsa,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = Signer::load(&rsa).unwrap_err().to_string();
        assert!(
            e.contains("is an RSA key, not an ECDSA P-256 private key"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        assert!(Signer::load(&junk).is_err());
    }
}
