//! Stage 1, the base: which base an app image starts from (`--base`, else
//! `image.base` of `.warp/config.yaml`, else [`DEFAULT_BASE`]), the base read
//! into the store from any transport, and its root filesystem unpacked once
//! per base (then cached) — the lower layer every later stage builds on.
use crate::error::fail;
use crate::image::diskfull;
use crate::image::reference::ImageRef;
use crate::image::registry::RegistryOptions;
use crate::image::store::BlobStore;
use crate::image::{base, roots, unpack, LoadedImage};
use crate::ui;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The base when neither --base nor `.warp/config.yaml` names one: the
/// official CPython image, Debian based (warp is linked against glibc).
pub const DEFAULT_BASE: &str = "docker.io/library/python:3.12-slim-bookworm";

/// The base image read into the store, and its root filesystem (unpacked
/// once per base, then cached).
pub fn load_base(
    base_ref: &ImageRef,
    store: &BlobStore,
    registry: &RegistryOptions,
) -> Result<(LoadedImage, PathBuf)> {
    let base = ui::step(&format!("Base image {base_ref}"), || {
        base::load(base_ref, store, registry)
            .map_err(|e| diskfull::in_cache(e, store, &format!("the base image {base_ref}")))
    })?;
    let base_root = ui::step(
        &format!("Base root filesystem ({} layers)", base.layers.len()),
        || {
            roots::ensure(
                store,
                // v2: file mtimes restored (valid .pyc files in the tree).
                &format!("base-{}", roots::key(&format!("v2\n{}", base.identity))),
                |dir| {
                    for (i, l) in base.layers.iter().enumerate() {
                        let what = format!("base layer {} ({})", i + 1, l.digest);
                        unpack::unpack_layer(&store.path(&l.digest)?, dir, &what)?;
                    }
                    Ok(())
                },
            )
            .map_err(|e| diskfull::in_cache(e, store, "the base's root filesystem"))
        },
    )?;
    Ok((base, base_root))
}

/// `image.base` from the app's `.warp/config.yaml` (read as `warp build`
/// reads it, so a bad file gets the same message), if set.
pub fn configured_base(src: &Path) -> Result<Option<String>> {
    let config = crate::app::config::Config::load(src)?;
    let base = config.image.as_ref().and_then(|image| image.get("base"));
    match base {
        None => Ok(None),
        Some(serde_yaml_ng::Value::String(base)) => Ok(Some(base.clone())),
        Some(_) => Err(fail(
            "`image.base` in .warp/config.yaml is not a string",
            "write it as `image: {base: docker.io/library/python:3.12-slim-bookworm}`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_comes_from_the_apps_config() {
        let src = tempfile::tempdir().unwrap();
        assert_eq!(configured_base(src.path()).unwrap(), None);
        std::fs::create_dir_all(src.path().join(".warp")).unwrap();
        let config = src.path().join(".warp/config.yaml");
        std::fs::write(&config, "image:\n  base: oci-archive:base.tar\n").unwrap();
        assert_eq!(
            configured_base(src.path()).unwrap().as_deref(),
            Some("oci-archive:base.tar")
        );
        std::fs::write(&config, "image:\n  base: [1]\n").unwrap();
        let e = configured_base(src.path()).unwrap_err().to_string();
        assert!(e.contains("not a string"), "{e}");
    }
}
