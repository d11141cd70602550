//! Reading a base image into the blob store from any transport: an OCI layout
//! directory, an OCI archive, a docker archive, or a registry (see
//! `registry`). Every blob is verified against its digest on the way in.
use super::reference::ImageRef;
use super::registry::{RegistryClient, RegistryOptions};
use super::store::BlobStore;
use super::{media, Layer, LoadedImage};
use crate::error::fail;
use anyhow::{Context, Result};
use oci_spec::image::ImageConfiguration;
use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Load the image `reference` names; its blobs end up in `store`.
pub fn load(
    reference: &ImageRef,
    store: &BlobStore,
    options: &RegistryOptions,
) -> Result<LoadedImage> {
    match reference {
        ImageRef::Oci { dir, tag } => {
            load_oci_dir(dir, tag.as_deref(), store, &reference.to_string())
        }
        ImageRef::OciArchive(file) => load_oci_archive(file, store, reference),
        ImageRef::DockerArchive(file) => load_docker_archive(file, store, reference),
        ImageRef::Docker(docker) => RegistryClient::new(docker, options)?.pull(docker, store),
    }
}

fn open_input(file: &Path, reference: &ImageRef) -> Result<File> {
    File::open(file).map_err(|e| {
        fail(
            format!("cannot read {reference}: {e}"),
            "check the path; `podman save --format oci-archive -o FILE IMAGE` makes one",
        )
    })
}

/// The architecture name of this machine, as OCI platforms spell it.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// From an image index, the manifest for linux on this machine's architecture.
pub fn pick_platform(index: &Value, what: &str) -> Result<(String, String)> {
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let arch = host_architecture();
    let found = manifests.iter().find(|m| {
        m["platform"]["os"].as_str().unwrap_or("linux") == "linux"
            && m["platform"]["architecture"].as_str().unwrap_or(arch) == arch
    });
    match found {
        Some(m) => Ok((
            m["digest"].as_str().unwrap_or_default().to_string(),
            m["mediaType"]
                .as_str()
                .unwrap_or(media::OCI_MANIFEST)
                .to_string(),
        )),
        None => Err(fail(
            format!("{what} has no image for linux/{arch}"),
            "use a base image built for this machine's architecture",
        )),
    }
}

/// Read an OCI image layout directory.
fn load_oci_dir(
    dir: &Path,
    tag: Option<&str>,
    store: &BlobStore,
    what: &str,
) -> Result<LoadedImage> {
    let index_path = dir.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&index_path).map_err(|e| {
        fail(
            format!("{what}: cannot read {}: {e}", index_path.display()),
            "an OCI layout has index.json, oci-layout and blobs/ at its root",
        )
    })?)
    .with_context(|| format!("{what}: index.json is not JSON"))?;
    let blob = |digest: &str| -> Result<File> {
        let hex = super::store::digest_hex(digest)?;
        File::open(dir.join("blobs/sha256").join(hex))
            .with_context(|| format!("{what}: blob {digest} is missing"))
    };
    load_layout(&index, &blob, tag, store, what)
}

/// Read an OCI layout in a tar, streaming: blobs the store has are skipped,
/// the others copied in (verified); nothing is extracted to disk.
fn load_oci_archive(file: &Path, store: &BlobStore, reference: &ImageRef) -> Result<LoadedImage> {
    let what = reference.to_string();
    let unreadable = |e: std::io::Error| {
        fail(
            format!("{what} is not a readable tar file: {e}"),
            "an OCI archive is what `podman save --format oci-archive` or `skopeo copy ... oci-archive:FILE` writes",
        )
    };
    let mut archive = tar::Archive::new(std::io::BufReader::new(open_input(file, reference)?));
    let mut index = None;
    // With seek, the blobs already in the store are skipped, not read.
    for entry in archive.entries_with_seek().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let path = path.trim_start_matches("./");
        if path == "index.json" {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            index = Some(
                serde_json::from_slice::<Value>(&bytes)
                    .with_context(|| format!("{what}: index.json is not JSON"))?,
            );
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            let digest = format!("sha256:{hex}");
            if !store.has(&digest) {
                store.put_reader(&mut entry, Some(&digest), &format!("blob {digest}"))?;
            }
        }
    }
    let index = index.ok_or_else(|| {
        fail(
            format!("{what} has no index.json"),
            "an OCI archive has index.json, oci-layout and blobs/ at its root",
        )
    })?;
    let blob = |digest: &str| -> Result<File> {
        File::open(store.path(digest)?).with_context(|| format!("{what}: blob {digest} is missing"))
    };
    load_layout(&index, &blob, None, store, &what)
}

/// The image an OCI index names (by tag, or the only one), its blobs
/// copied into the store through `blob`.
fn load_layout(
    index: &Value,
    blob: &dyn Fn(&str) -> Result<File>,
    tag: Option<&str>,
    store: &BlobStore,
    what: &str,
) -> Result<LoadedImage> {
    // Artifacts attached to an image (SBOMs, provenance) are not images.
    let manifests: Vec<Value> = index["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.get("artifactType").is_none())
        .collect();
    let chosen = match tag {
        Some(tag) => manifests.iter().find(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str();
            name == Some(tag) || name.is_some_and(|n| n.ends_with(&format!(":{tag}")))
        }),
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    };
    let Some(chosen) = chosen else {
        return Err(fail(
            match tag {
                Some(tag) => format!("{what} has no image tagged {tag:?}"),
                None => format!("{what} holds {} images; name one", manifests.len()),
            },
            "name the image as oci:DIR:TAG (the org.opencontainers.image.ref.name annotation)",
        ));
    };
    let mut digest = chosen["digest"].as_str().unwrap_or_default().to_string();
    let mut media_type = chosen["mediaType"]
        .as_str()
        .unwrap_or(media::OCI_MANIFEST)
        .to_string();
    if media::is_index(&media_type) {
        let (index_digest, _) =
            store.put_reader(blob(&digest)?, Some(&digest), "the image index")?;
        let nested: Value = serde_json::from_slice(&store.read(&index_digest)?)?;
        (digest, media_type) = pick_platform(&nested, what)?;
    }
    let _ = media_type;
    let (manifest_digest, _) = store.put_reader(blob(&digest)?, Some(&digest), "the manifest")?;
    let manifest: Value = serde_json::from_slice(&store.read(&manifest_digest)?)
        .with_context(|| format!("{what}: the manifest is not JSON"))?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    store.put_reader(
        blob(&config_digest)?,
        Some(&config_digest),
        "the image config",
    )?;
    let config = parse_config(&store.read(&config_digest)?, what)?;
    let layers = manifest_layers(
        &manifest,
        &config,
        what,
        "the image is damaged; save it again",
    )?;
    for layer in &layers {
        if !store.has(&layer.digest) {
            let digest = &layer.digest;
            store.put_reader(blob(digest)?, Some(digest), &format!("layer {digest}"))?;
        }
    }
    Ok(LoadedImage {
        config,
        layers,
        identity: manifest_digest,
    })
}

/// The manifest's layer descriptors paired with the config's diff_ids; a
/// count that differs means a damaged image (`hint` says what to do).
pub fn manifest_layers(
    manifest: &serde_json::Value,
    config: &ImageConfiguration,
    what: &str,
    hint: &str,
) -> Result<Vec<Layer>> {
    let diff_ids = config.rootfs().diff_ids();
    let descriptors = manifest["layers"].as_array().cloned().unwrap_or_default();
    if descriptors.len() != diff_ids.len() {
        return Err(fail(
            format!(
                "{what}: the manifest lists {} layers but the config {}",
                descriptors.len(),
                diff_ids.len()
            ),
            hint,
        ));
    }
    Ok(descriptors
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| Layer {
            media_type: media::to_oci_layer(
                layer["mediaType"].as_str().unwrap_or(media::OCI_LAYER_GZIP),
            ),
            size: layer["size"].as_u64().unwrap_or(0),
            digest: layer["digest"].as_str().unwrap_or_default().to_string(),
            diff_id: diff_id.clone(),
        })
        .collect())
}

pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    ImageConfiguration::from_reader(bytes).map_err(|e| {
        fail(
            format!("{what}: the image config is not valid: {e}"),
            "the image is damaged; save it again",
        )
    })
}

/// Read a `docker save` / `podman save --format docker-archive` tar.
fn load_docker_archive(
    file: &Path,
    store: &BlobStore,
    reference: &ImageRef,
) -> Result<LoadedImage> {
    let what = reference.to_string();
    let unpacked = tempfile::Builder::new()
        .prefix("docker-archive-")
        .tempdir_in(store.tmp_dir())?;
    tar::Archive::new(open_input(file, reference)?)
        .unpack(unpacked.path())
        .with_context(|| format!("{} is not a readable tar file", file.display()))?;
    let dir = unpacked.path();
    let manifest: Value = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            fail(
                format!("{what} has no manifest.json"),
                "a docker archive is what `docker save` or `podman save --format docker-archive` writes",
            )
        })?;
    let entry = &manifest[0];
    let inside = |name: &str| -> Result<File> {
        if name.split('/').any(|c| c == "..") || name.starts_with('/') {
            return Err(fail(
                format!("{what}: bad path {name:?} in manifest.json"),
                "the archive is damaged or crafted",
            ));
        }
        File::open(dir.join(name)).with_context(|| format!("{what}: {name} is missing"))
    };
    let config_name = entry["Config"].as_str().unwrap_or_default();
    let (config_digest, _) = store.put_reader(inside(config_name)?, None, "the image config")?;
    let config = parse_config(&store.read(&config_digest)?, &what)?;
    let diff_ids = config.rootfs().diff_ids().clone();
    let names = entry["Layers"].as_array().cloned().unwrap_or_default();
    if names.len() != diff_ids.len() {
        return Err(fail(
            format!(
                "{what}: manifest.json lists {} layers but the config {}",
                names.len(),
                diff_ids.len()
            ),
            "the archive is damaged; save it again",
        ));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in names.iter().zip(diff_ids) {
        let name = name.as_str().unwrap_or_default();
        let mut head = [0u8; 2];
        let gzipped = inside(name)?.read(&mut head)? == 2 && head == [0x1f, 0x8b];
        let (digest, size) = store.put_reader(
            inside(name)?,
            if gzipped {
                None
            } else {
                Some(diff_id.as_str())
            },
            &format!("layer {name}"),
        )?;
        layers.push(Layer {
            media_type: if gzipped {
                media::OCI_LAYER_GZIP
            } else {
                media::OCI_LAYER_TAR
            }
            .to_string(),
            digest,
            size,
            diff_id,
        });
    }
    Ok(LoadedImage {
        config,
        layers,
        identity: config_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_resolves_to_this_machines_platform() {
        let arch = host_architecture();
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:windows", "platform": {"os": "windows", "architecture": arch}},
            {"digest": "sha256:other", "platform": {"os": "linux", "architecture": "s390x"}},
            {"digest": "sha256:ours", "mediaType": media::OCI_MANIFEST, "platform": {"os": "linux", "architecture": arch}},
        ]});
        assert_eq!(pick_platform(&index, "x").unwrap().0, "sha256:ours");
        let none = serde_json::json!({"manifests": [{"digest": "sha256:o", "platform": {"os": "linux", "architecture": "s390x"}}]});
        let err = pick_platform(&none, "the base").unwrap_err().to_string();
        assert!(err.contains(&format!("no image for linux/{arch}")), "{err}");
    }
}
