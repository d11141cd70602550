//! The image's provenance: an in-toto statement (v1) whose subject is the
//! image manifest, with a SLSA v1 provenance predicate — the builder (warp
//! and its version), the source (git commit, remote, whether the tree was
//! dirty), the digests of the lock and requirements files, the base image's
//! digest, warp's binary and the parameters that change the result.
//!
//! It must not carry anything of the build machine: no secret, credential
//! or host path. So the base is named by its registry reference, or for a
//! local archive or layout by its file name only; the remote URL is kept
//! only when it is a URL (credentials stripped), never a local path; no
//! environment value is recorded (index URLs may hold tokens), only which
//! installer ran. No start/finish times: the same inputs give the same bytes.
use crate::image::reference::ImageRef;
use serde_json::json;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What `buildType` names: how to read `externalParameters`.
pub const BUILD_TYPE: &str = "https://warp.invalid/image/v1";
pub const BUILDER_ID: &str = "https://warp.invalid/builder";

/// Files of the source whose digests are recorded (those present).
pub const LOCK_FILES: &[&str] = &[
    "requirements.txt",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pylock.toml",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
];

/// Everything the statement says.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub image_name: String,
    /// The image manifest's digest (`sha256:…`).
    pub manifest_digest: String,
    pub base: String,
    /// The base's manifest digest (its config digest for a docker archive).
    pub base_digest: String,
    pub warp_sha256: String,
    pub revision: Option<String>,
    pub dirty: Option<bool>,
    pub remote_url: Option<String>,
    /// (file name relative to the source, sha256 hex), sorted.
    pub lock_files: Vec<(String, String)>,
    pub source_date_epoch: u64,
    pub installer: String,
    pub layer_compression: String,
}

/// The base as it may be written down: a registry reference as given, a
/// local file or directory by its file name only.
pub fn public_base_name(base: &ImageRef, text: &str) -> String {
    let file_name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match base {
        ImageRef::Docker(_) => text.to_string(),
        ImageRef::Oci { dir, tag } => match tag {
            Some(tag) => format!("oci:{}:{tag}", file_name(dir)),
            None => format!("oci:{}", file_name(dir)),
        },
        ImageRef::OciArchive(file) => format!("oci-archive:{}", file_name(file)),
        ImageRef::DockerArchive(file) => format!("docker-archive:{}", file_name(file)),
    }
}

/// A remote that is a URL (`scheme://…` or `user@host:path`), not a local path.
fn is_url(remote: &str) -> bool {
    remote.contains("://")
        || (remote.contains('@') && remote.contains(':') && !remote.starts_with('/'))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The statement, as canonical JSON bytes.
pub fn statement(f: &Facts) -> Vec<u8> {
    let mut source = json!({});
    if let Some(rev) = &f.revision {
        source["revision"] = json!(rev);
        source["dirty"] = json!(f.dirty.unwrap_or(false));
    }
    let remote = f.remote_url.as_deref().filter(|r| is_url(r));
    if let Some(url) = remote {
        source["uri"] = json!(url);
    }
    let mut resolved = Vec::new();
    if let Some(rev) = &f.revision {
        let mut dep = json!({
            "name": "source",
            "digest": {"gitCommit": rev},
            "annotations": {"dirty": f.dirty.unwrap_or(false)},
        });
        if let Some(url) = remote {
            dep["uri"] = json!(format!("git+{url}@{rev}"));
        }
        resolved.push(dep);
    }
    resolved.push(json!({
        "name": "base",
        "uri": f.base,
        "digest": {"sha256": hex_of(&f.base_digest)},
    }));
    for (name, sha) in &f.lock_files {
        resolved.push(json!({"name": name, "digest": {"sha256": sha}}));
    }
    resolved.push(json!({
        "name": "warp",
        "uri": format!("pkg:generic/warp@{}", env!("CARGO_PKG_VERSION")),
        "digest": {"sha256": f.warp_sha256},
    }));
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f.image_name, "digest": {"sha256": hex_of(&f.manifest_digest)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "name": f.image_name,
                    "base": f.base,
                    "source": source,
                    "sourceDateEpoch": f.source_date_epoch,
                    "layerCompression": f.layer_compression,
                },
                "internalParameters": {"installer": f.installer},
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"warp": env!("CARGO_PKG_VERSION")},
                },
            },
        },
    });
    crate::image::config::canonical_json(&statement)
}

/// The lock and requirements files of the source at `src`, with their sha256.
pub fn lock_files(src: &std::path::Path) -> Vec<(String, String)> {
    use sha2::{Digest as _, Sha256};
    let mut out = Vec::new();
    for name in LOCK_FILES {
        // Only regular files directly in the source (never through a link).
        let path = src.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((name.to_string(), hex::encode(Sha256::digest(&bytes))));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn facts() -> Facts {
        Facts {
            image_name: "registry.example/team/app:1".into(),
            manifest_digest: format!("sha256:{}", "1".repeat(64)),
            base: public_base_name(
                &ImageRef::parse("oci-archive:/home/alice/secret-dir/base.tar").unwrap(),
                "oci-archive:/home/alice/secret-dir/base.tar",
            ),
            base_digest: format!("sha256:{}", "2".repeat(64)),
            warp_sha256: "3".repeat(64),
            revision: Some("abc123".into()),
            dirty: Some(true),
            remote_url: Some("/home/alice/repos/app.git".into()),
            lock_files: vec![("requirements.txt".into(), "4".repeat(64))],
            source_date_epoch: 1_700_000_000,
            installer: "uv 0.9.0".into(),
            layer_compression: "gzip".into(),
        }
    }

    #[test]
    fn statement_is_slsa_v1_and_names_every_input() {
        let bytes = statement(&facts());
        assert_eq!(bytes, statement(&facts()));
        let s = parse(&bytes);
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], "1".repeat(64));
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["externalParameters"]["source"]["revision"], "abc123");
        assert_eq!(def["externalParameters"]["source"]["dirty"], true);
        let deps = def["resolvedDependencies"].as_array().unwrap();
        let named = |n: &str| deps.iter().find(|d| d["name"] == n).unwrap().clone();
        assert_eq!(named("base")["digest"]["sha256"], "2".repeat(64));
        assert_eq!(
            named("requirements.txt")["digest"]["sha256"],
            "4".repeat(64)
        );
        assert_eq!(named("source")["digest"]["gitCommit"], "abc123");
        assert_eq!(named("warp")["digest"]["sha256"], "3".repeat(64));
        assert_eq!(
            s["predicate"]["runDetails"]["builder"]["version"]["warp"],
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn no_host_path_gets_in() {
        let text = String::from_utf8(statement(&facts())).unwrap();
        assert!(!text.contains("/home/alice"), "{text}");
        assert!(text.contains("\"oci-archive:base.tar\""), "{text}");
        let mut with_url = facts();
        with_url.remote_url = Some("https://github.com/a/b.git".into());
        let text = String::from_utf8(statement(&with_url)).unwrap();
        assert!(
            text.contains("git+https://github.com/a/b.git@abc123"),
            "{text}"
        );
    }
}
