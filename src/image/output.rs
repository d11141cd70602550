//! Writing the finished image: an OCI layout directory, an OCI archive, a
//! docker archive (what `docker load` / `podman load` read), a registry push,
//! or — with no output named — a load into podman or docker when one is on
//! PATH, else `NAME.tar`. Files and directories are written beside their
//! destination and renamed into place: a failure leaves nothing half-written.
use super::attach::Artifact;
use super::config::Assembled;
use super::diskfull;
use super::media;
use super::reference::{DockerRef, ImageRef, DOCKER_HUB};
use super::registry::{PushBlob, RegistryClient, RegistryOptions};
use super::sign::{self, Signer};
use super::store::{digest_hex, BlobStore};
use crate::error::fail;
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The image to write, all of its blobs in the store.
pub struct Finished<'a> {
    pub assembled: &'a Assembled,
    pub store: &'a BlobStore,
    /// The image's name (`NAME` on the command line).
    pub name: &'a DockerRef,
    /// The name as podman shows it for a local image (`localhost/app:latest`
    /// when NAME names no registry).
    pub local_name: String,
    /// The base's repository when it came from a registry: blobs can be
    /// mounted from it when pushing to the same registry.
    pub base_origin: Option<DockerRef>,
    /// Documents attached to the image (SBOMs, provenance): in OCI layout
    /// directories and on push.
    pub attachments: &'a [Artifact],
    /// Signs what is pushed.
    pub signer: Option<&'a Signer>,
}

/// The name podman gives an image built as `name_text` (podman build -t).
pub fn local_name(name_text: &str, name: &DockerRef) -> String {
    let explicit_hub =
        name_text.starts_with("docker.io/") || name_text.starts_with("index.docker.io/");
    if name.registry == DOCKER_HUB && !explicit_hub {
        let repo = name
            .repository
            .strip_prefix("library/")
            .unwrap_or(&name.repository);
        format!("localhost/{repo}:{}", name.tag_or_latest())
    } else {
        name.familiar()
    }
}

/// Write the image to one destination; returns a line saying what was done.
pub fn write(dest: &ImageRef, image: &Finished, options: &RegistryOptions) -> Result<String> {
    match dest {
        ImageRef::Oci { dir, tag } => {
            let tag = tag
                .clone()
                .unwrap_or_else(|| image.name.tag_or_latest().to_string());
            write_oci_dir(dir, &tag, image).map_err(|e| {
                diskfull::in_output(e, parent_of(dir), &format!("oci:{}", dir.display()))
            })?;
            Ok(format!("wrote oci:{}:{tag}", dir.display()))
        }
        ImageRef::OciArchive(file) => {
            let what = format!("oci-archive:{}", file.display());
            atomic_file(file, &what, |out| write_oci_archive(out, image))?;
            Ok(format!("wrote {what}"))
        }
        ImageRef::DockerArchive(file) => {
            let what = format!("docker-archive:{}", file.display());
            atomic_file(file, &what, |out| write_docker_archive(out, image))?;
            Ok(format!("wrote {what}"))
        }
        ImageRef::Docker(target) => {
            let digest = push(target, image, options)?;
            Ok(format!("pushed {target} ({digest})"))
        }
    }
}

/// Load the image into podman or docker, else write NAME.tar; returns what was done.
pub fn load_or_save(image: &Finished, cwd: &Path) -> Result<String> {
    for engine in ["podman", "docker"] {
        if which::which(engine).is_err() {
            continue;
        }
        let tmp = tempfile::Builder::new()
            .prefix("load-")
            .suffix(".tar")
            .tempfile_in(image.store.tmp_dir())?;
        // podman takes an OCI archive (gzip blobs copied as they are, no
        // decompression); docker before 25 only reads docker archives.
        if engine == "podman" {
            write_oci_archive(tmp.as_file(), image)
        } else {
            write_docker_archive(tmp.as_file(), image)
        }
        .map_err(|e| {
            diskfull::in_cache(e, image.store, &format!("the archive for `{engine} load`"))
        })?;
        let out = duct::cmd!(engine, "load", "-i", tmp.path())
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()?;
        if out.status.success() {
            return Ok(format!("loaded {} into {engine}", image.local_name));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if engine == "docker" && text.contains("Cannot connect") {
            continue;
        }
        return Err(fail(
            format!(
                "`{engine} load` failed: {}",
                text.trim().lines().last().unwrap_or("")
            ),
            "name an output instead, e.g. --output docker-archive:app.tar",
        ));
    }
    let repo = image.name.repository.rsplit('/').next().unwrap_or("image");
    let file = cwd.join(format!("{repo}.tar"));
    let what = format!("docker-archive:{}", file.display());
    atomic_file(&file, &what, |out| write_docker_archive(out, image))?;
    Ok(format!(
        "no podman or docker on PATH: wrote docker-archive:{} (load it with `podman load -i`)",
        file.display()
    ))
}

/// The directory a file or directory output is written in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Write `what` through a temporary file beside `file`, renamed into place
/// on success (the temporary file is removed on failure).
fn atomic_file(file: &Path, what: &str, fill: impl FnOnce(&fs::File) -> Result<()>) -> Result<()> {
    let parent = parent_of(file);
    let tmp = tempfile::Builder::new()
        .prefix(".warp-image-")
        .tempfile_in(parent)
        .map_err(|e| {
            fail(
                format!("cannot write in {}: {e}", parent.display()),
                "the output's directory must exist and be writable",
            )
        })?;
    let written = fill(tmp.as_file()).and_then(|()| Ok(tmp.as_file().sync_all()?));
    written.map_err(|e| diskfull::in_output(e, parent, what))?;
    tmp.persist(file)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// The files of an OCI layout: (path inside the layout, source).
enum LayoutFile {
    Bytes(Vec<u8>),
    Blob(String),
}

/// The layout's files; `attached`: with the image's attachments (listed
/// after the image, with their `artifactType`).
fn layout_files(tag: &str, image: &Finished, attached: bool) -> Result<Vec<(String, LayoutFile)>> {
    let a = image.assembled;
    let attachments = if attached { image.attachments } else { &[] };
    let mut manifests = vec![json!({
        "mediaType": media::OCI_MANIFEST,
        "digest": a.manifest_digest,
        "size": a.manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    })];
    manifests.extend(attachments.iter().map(Artifact::descriptor));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    let mut files = vec![
        (
            "oci-layout".to_string(),
            LayoutFile::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ),
        (
            "index.json".to_string(),
            LayoutFile::Bytes(super::config::canonical_json(&index)),
        ),
    ];
    let mut digests = vec![a.manifest_digest.clone(), a.config_digest.clone()];
    digests.extend(a.layers.iter().map(|l| l.digest.clone()));
    for artifact in attachments {
        digests.push(artifact.digest.clone());
        digests.extend(artifact.blobs.iter().map(|(d, _)| d.clone()));
    }
    let mut seen = std::collections::HashSet::new();
    for digest in digests {
        if seen.insert(digest.clone()) {
            files.push((
                format!("blobs/sha256/{}", digest_hex(&digest)?),
                LayoutFile::Blob(digest),
            ));
        }
    }
    Ok(files)
}

fn write_oci_dir(dir: &Path, tag: &str, image: &Finished) -> Result<()> {
    if dir.exists() && !dir.join("oci-layout").exists() && fs::read_dir(dir)?.next().is_some() {
        return Err(fail(
            format!("{} exists and is not an OCI layout", dir.display()),
            "name a new or empty directory for oci:DIR",
        ));
    }
    let parent = parent_of(dir);
    fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".warp-oci-")
        .tempdir_in(parent)?;
    fs::create_dir_all(tmp.path().join("blobs/sha256"))?;
    for (path, file) in layout_files(tag, image, true)? {
        let target = tmp.path().join(&path);
        match file {
            LayoutFile::Bytes(bytes) => fs::write(&target, bytes)?,
            LayoutFile::Blob(digest) => {
                let source = image.store.path(&digest)?;
                if fs::hard_link(&source, &target).is_err() {
                    fs::copy(&source, &target)?;
                }
            }
        }
    }
    let staged = tmp.keep();
    if dir.exists() {
        let old = parent.join(format!(".warp-old-{}", std::process::id()));
        fs::rename(dir, &old)?;
        fs::rename(&staged, dir)?;
        fs::remove_dir_all(&old)?;
    } else {
        fs::rename(&staged, dir)?;
    }
    Ok(())
}

fn append_bytes(builder: &mut tar::Builder<impl Write>, path: &str, bytes: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, bytes)?;
    Ok(())
}

fn append_file(builder: &mut tar::Builder<impl Write>, path: &str, source: &Path) -> Result<()> {
    let file = fs::File::open(source)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(file.metadata()?.len());
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, file)?;
    Ok(())
}

fn write_oci_archive(out: &fs::File, image: &Finished) -> Result<()> {
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let tag = image.local_name.clone();
    // `podman load` refuses an archive whose index lists more than one
    // manifest: no attachments in archives.
    for (path, file) in layout_files(&tag, image, false)? {
        match file {
            LayoutFile::Bytes(bytes) => append_bytes(&mut builder, &path, &bytes)?,
            LayoutFile::Blob(digest) => {
                append_file(&mut builder, &path, &image.store.path(&digest)?)?
            }
        }
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

/// `docker save` format: config as `<hex>.json`, each layer as an
/// uncompressed `<diff_id hex>.tar`, and `manifest.json`.
fn write_docker_archive(out: &fs::File, image: &Finished) -> Result<()> {
    let a = image.assembled;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let config_name = format!("{}.json", digest_hex(&a.config_digest)?);
    append_bytes(&mut builder, &config_name, &a.config)?;
    let mut layer_names = Vec::new();
    let mut written = std::collections::HashSet::new();
    for layer in &a.layers {
        let name = format!("{}.tar", digest_hex(&layer.diff_id)?);
        if written.insert(name.clone()) {
            let blob = image.store.path(&layer.digest)?;
            if layer.media_type.ends_with("gzip") || layer.media_type.ends_with("zstd") {
                let mut plain = tempfile::tempfile_in(image.store.tmp_dir())?;
                std::io::copy(&mut super::unpack::decompressed(&blob)?, &mut plain).map_err(
                    |e| diskfull::in_cache(e.into(), image.store, "a decompressed layer"),
                )?;
                let len = plain.metadata()?.len();
                std::io::Seek::rewind(&mut plain)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(len);
                header.set_mode(0o644);
                header.set_mtime(0);
                header.set_entry_type(tar::EntryType::Regular);
                builder.append_data(&mut header, &name, plain)?;
            } else {
                append_file(&mut builder, &name, &blob)?;
            }
        }
        layer_names.push(name);
    }
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": [image.local_name],
        "Layers": layer_names,
    }]);
    append_bytes(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest)?,
    )?;
    builder.into_inner()?.flush()?;
    Ok(())
}

fn push(target: &DockerRef, image: &Finished, options: &RegistryOptions) -> Result<String> {
    let a = image.assembled;
    let store = image.store;
    store.put_bytes(&a.config)?;
    let mount_from = image
        .base_origin
        .as_ref()
        .filter(|o| o.registry == target.registry)
        .map(|o| o.repository.clone());
    let mut blobs: Vec<PushBlob> = a
        .layers
        .iter()
        .map(|l| PushBlob {
            digest: l.digest.clone(),
            size: l.size,
            mount_from: mount_from.clone(),
        })
        .collect();
    blobs.push(PushBlob {
        digest: a.config_digest.clone(),
        size: a.config.len() as u64,
        mount_from: None,
    });
    for (digest, size) in image.attachments.iter().flat_map(|x| x.blobs.iter()) {
        if !blobs.iter().any(|b| &b.digest == digest) {
            blobs.push(PushBlob {
                digest: digest.clone(),
                size: *size,
                mount_from: None,
            });
        }
    }
    eprintln!("    pushing to {target}");
    let attachments = image.attachments;
    RegistryClient::new(target, options)?.push(
        target,
        &blobs,
        &a.manifest,
        store,
        &mut |client, digest| {
            if !attachments.is_empty() {
                let how = client.attach(target, digest, attachments)?;
                eprintln!("    attached {} documents ({how})", attachments.len());
            }
            if let Some(signer) = image.signer {
                let payload = sign::payload(target, digest);
                let signature = signer.sign(&payload);
                let (manifest, sig_blobs) = sign::signature_manifest(store, &payload, &signature)?;
                let sig_blobs: Vec<PushBlob> = sig_blobs
                    .into_iter()
                    .map(|(digest, size)| PushBlob {
                        digest,
                        size,
                        mount_from: None,
                    })
                    .collect();
                client.push_blobs(target, &sig_blobs, store)?;
                let tag = sign::signature_tag(digest);
                client
                    .put_manifest(target, &tag, &manifest, media::OCI_MANIFEST)
                    .map_err(|e| {
                        fail(
                            format!(
                                "the registry {} refused the image's signature: {}",
                                target.registry,
                                e.to_string().lines().next().unwrap_or("")
                            ),
                            "the image's tag was not pushed; check the registry's logs and push again",
                        )
                    })?;
                eprintln!("    signed (sigstore signature {tag})");
            }
            Ok(())
        },
    )
}
