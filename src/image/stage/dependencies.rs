//! Stage 3, the dependencies layer: the venv the build installed (all of
//! the built /opt/app-root but the app's parts), stamped 0 and cached under
//! a key of everything that decides what gets installed, so that a
//! code-only rebuild skips the install.
use super::APP_PARTS;
use crate::image::config::APP_ROOT;
use crate::image::layer::{self, Compression, LayerWriter, Owner};
use crate::image::store::BlobStore;
use crate::image::{diskfull, roots, unpack, Layer, LoadedImage};
use anyhow::Result;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// The venv (everything of the built /opt/app-root but the app's parts),
/// stamped 0 and remembered under the dependency key.
pub fn dependencies_layer(
    store: &BlobStore,
    built_app_root: &Path,
    base_root: &Path,
    deps_key: &str,
    compression: Compression,
) -> Result<Layer> {
    let mut w = LayerWriter::new();
    w.add_dir(Path::new(APP_ROOT), 0o775, Owner::App);
    w.add_tree(built_app_root, Path::new(APP_ROOT), Owner::App, &|rel| {
        rel.components().count() == 1
            && APP_PARTS.iter().any(|p| rel == Path::new(p))
            && rel != Path::new(".warp")
    })?;
    w.fill_parents(base_root);
    let layer = w.write_with(store, 0, compression)?;
    layer::remember(store, &layer_kind(compression), deps_key, &layer)?;
    Ok(layer)
}

/// The variable that decides the installer inside the build (which the
/// `installer` field names only from the host's side): image-only.
const DEPENDENCY_ENV: &[&str] = &["WARP_INSTALLER"];

/// The key of the dependencies layer: the build's plan hash + the image-only
/// fields (base, its Pythons, the warp binary — which installs the server
/// extension —, the installer).
pub fn dependency_key(
    src: &Path,
    root: &Path,
    base: &LoadedImage,
    python: &str,
    exe_hash: &str,
    installer: &str,
) -> Result<String> {
    use crate::build::inputs::hash_field;
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| hash_field(&mut h, name, value);
    field("key", b"deps-v6");
    field("base", base.identity.as_bytes());
    field("python", python.as_bytes());
    field("warp", exe_hash.as_bytes());
    field("installer", installer.as_bytes());
    for lib in ["usr/lib", "usr/local/lib"] {
        if let Ok(entries) = fs::read_dir(root.join(lib)) {
            let mut versions: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("python3"))
                .collect();
            versions.sort();
            field(lib, versions.join(" ").as_bytes());
        }
    }
    // What `warp build` itself hashes — its dependency plan (layout, lock,
    // groups, extras, the app's files, settings, variables and hooks) for
    // this installer and Python — plus the image-only variable.
    let interpreter = crate::build::plan::Interpreter {
        path: PathBuf::new(),
        version: python.to_string(),
    };
    let plan = crate::build::plan::Plan::of_source(src, installer, interpreter, DEPENDENCY_ENV)?;
    field("plan", plan.hash().as_bytes());
    Ok(hex::encode(h.finalize()))
}

/// The cache index kind of dependencies layers in `compression`.
pub fn layer_kind(compression: Compression) -> String {
    format!("deps{}", compression.kind_suffix())
}

/// The cached dependencies layer in `compression`, if any.
pub fn cached_layer(store: &BlobStore, deps_key: &str, compression: Compression) -> Option<Layer> {
    layer::cached(store, &layer_kind(compression), deps_key)
}

/// The cached dependencies layer unpacked (once) as the tree the build
/// runs over.
pub fn cached_tree(store: &BlobStore, deps_key: &str, deps: &Layer) -> Result<PathBuf> {
    roots::ensure(store, &format!("deps-{deps_key}"), |dir| {
        unpack::unpack_layer(
            &store.path(&deps.digest)?,
            dir,
            "the cached dependencies layer",
        )
    })
    .map_err(|e| diskfull::in_cache(e, store, "the unpacked dependencies layer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::stage::test_support::{built_app_root, layer_entries};

    #[test]
    fn the_dependencies_layer_is_the_venv_and_is_remembered() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let built = built_app_root();
        let empty_base = tempfile::tempdir().unwrap();
        let layer = dependencies_layer(
            &store,
            built.path(),
            empty_base.path(),
            "k1",
            Compression::Gzip,
        )
        .unwrap();
        let entries = layer_entries(&store, &layer);
        let paths: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert!(paths.contains(&"opt/app-root/bin/python"), "{paths:?}");
        assert!(paths.contains(&"opt/app-root/lib/python3.11/site-packages/flask/__init__.py"));
        for part in ["src", "tmp", "data"] {
            let inside = format!("opt/app-root/{part}");
            assert!(
                !paths.iter().any(|p| p.starts_with(&inside)),
                "{part} left out: {paths:?}"
            );
        }
        assert!(
            entries
                .iter()
                .filter(|e| e.0.starts_with("opt/app-root/"))
                .all(|e| e.2 == 1001),
            "owned by the app user: {entries:?}"
        );
        assert_eq!(layer::cached(&store, "deps", "k1"), Some(layer.clone()));
        let tree = cached_tree(&store, "k1", &layer).unwrap();
        assert!(tree.join("opt/app-root/bin/python").is_file());
    }
}
