//! Stage 5, the outputs: where the image goes (checked before any work),
//! then its config and manifest stored and every destination written
//! (`output` knows each format).
use crate::error::fail;
use crate::image::attach::Artifact;
use crate::image::config;
use crate::image::output::{self, Finished};
use crate::image::reference::{DockerRef, ImageRef};
use crate::image::registry::RegistryOptions;
use crate::image::sign::Signer;
use crate::image::store::BlobStore;
use crate::ui;
use anyhow::Result;
use std::path::Path;

/// What both recipes are asked about the image they write: its name,
/// where it goes, how it is signed and compressed.
#[derive(Debug, Clone)]
pub struct Publish {
    /// NAME: [REGISTRY/]REPO[:TAG].
    pub name: String,
    /// `--output`s as given.
    pub outputs: Vec<String>,
    /// `--push`: also to the registry NAME names.
    pub push: bool,
    pub registry: RegistryOptions,
    /// `--sign-key`: sign the pushed image with this key.
    pub sign_key: Option<std::path::PathBuf>,
    /// How the layers warp writes are compressed.
    pub compression: crate::image::layer::Compression,
}

impl Publish {
    /// The destinations, checked (and the signing key loaded) before any work.
    pub fn destinations(&self) -> Result<Destinations> {
        destinations(
            &self.name,
            &self.outputs,
            self.push,
            &self.registry,
            self.sign_key.as_deref(),
        )
    }
}

/// The image's name and where it goes.
pub struct Destinations {
    /// NAME as given.
    pub name_text: String,
    pub name: DockerRef,
    pub outputs: Vec<ImageRef>,
    pub registry: RegistryOptions,
    /// The key that signs what is pushed (`--sign-key`).
    pub signer: Option<Signer>,
}

/// The image's name and where to write it (checked before any work):
/// `--output`s, plus the registry NAME names with `--push`.
pub fn destinations(
    name_text: &str,
    outputs: &[String],
    push: bool,
    registry: &RegistryOptions,
    sign_key: Option<&Path>,
) -> Result<Destinations> {
    let name = DockerRef::parse(name_text)?;
    let mut dests = outputs
        .iter()
        .map(|o| ImageRef::parse(o))
        .collect::<Result<Vec<_>>>()?;
    if push {
        dests.push(ImageRef::Docker(name.clone()));
    }
    let signer = match sign_key {
        None => None,
        Some(_) if !dests.iter().any(|d| matches!(d, ImageRef::Docker(_))) => {
            return Err(fail(
                "--sign-key signs the image in a registry, and nothing is pushed",
                "add --push (or --output docker://REGISTRY/REPO:TAG)",
            ))
        }
        Some(path) => Some(Signer::load(path)?),
    };
    Ok(Destinations {
        name_text: name_text.to_string(),
        name,
        outputs: dests,
        registry: registry.clone(),
        signer,
    })
}

/// Store the config and manifest, write every output (none named: load into
/// podman/docker or write NAME.tar) and print the manifest digest.
pub fn write_outputs(
    assembled: &config::Assembled,
    store: &BlobStore,
    dest: &Destinations,
    base_ref: &ImageRef,
    attachments: &[Artifact],
) -> Result<()> {
    let (name, outputs, registry) = (&dest.name, &dest.outputs, &dest.registry);
    store.put_bytes(&assembled.config)?;
    store.put_bytes(&assembled.manifest)?;
    let finished = Finished {
        assembled,
        store,
        name,
        local_name: output::local_name(&dest.name_text, name),
        base_origin: match base_ref {
            ImageRef::Docker(d) => Some(d.clone()),
            _ => None,
        },
        attachments,
        signer: dest.signer.as_ref(),
    };
    if outputs.is_empty() {
        let done = ui::step("Output", || {
            output::load_or_save(&finished, &std::env::current_dir()?)
        })?;
        eprintln!("    {done}");
    }
    for dest in outputs {
        let done = ui::step(&format!("Output {dest}"), || {
            output::write(dest, &finished, registry)
        })?;
        eprintln!("    {done}");
    }
    println!("{}", assembled.manifest_digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_adds_the_registry_the_name_names() {
        let options = RegistryOptions::default();
        let d = destinations(
            "127.0.0.1:5000/team/app:1",
            &["oci:out".into()],
            true,
            &options,
            None,
        )
        .unwrap();
        let (name, dests) = (d.name, d.outputs);
        assert_eq!(name.repository, "team/app");
        assert_eq!(dests.len(), 2);
        assert!(matches!(&dests[1], ImageRef::Docker(d) if d.registry == "127.0.0.1:5000"));
        assert!(destinations("app", &[], false, &options, None)
            .unwrap()
            .outputs
            .is_empty());
        assert!(destinations("Bad Name!", &[], false, &options, None).is_err());
    }
}

#[cfg(test)]
mod signing_tests {
    use super::*;

    #[test]
    fn a_signing_key_needs_a_push_and_is_checked_first() {
        let options = RegistryOptions::default();
        let missing = Path::new("/nonexistent/key.pem");
        let e = destinations("app", &["oci:out".into()], false, &options, Some(missing))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nothing is pushed"), "{e}");
        let e = destinations("127.0.0.1:5000/app:1", &[], true, &options, Some(missing))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("cannot read the signing key /nonexistent/key.pem"),
            "{e}"
        );
    }
}
