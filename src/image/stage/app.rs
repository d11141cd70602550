//! Stage 4, the app layer: the app's parts of the built /opt/app-root
//! (source, collected static files, data, the build record), stamped with
//! SOURCE_DATE_EPOCH.
use super::APP_PARTS;
use crate::image::config::APP_ROOT;
use crate::image::layer::{Compression, LayerWriter, Owner};
use crate::image::store::BlobStore;
use crate::image::Layer;
use anyhow::Result;
use std::path::Path;

/// The app's parts of the built /opt/app-root, stamped `epoch`.
pub fn app_layer(
    store: &BlobStore,
    built_app_root: &Path,
    base_root: &Path,
    epoch: u64,
    compression: Compression,
) -> Result<Layer> {
    let mut w = LayerWriter::new();
    for part in APP_PARTS {
        let host = built_app_root.join(part);
        if host.exists() {
            // Bytecode the build's imports wrote next to the source is
            // timestamp-based (stamped with the copy's mtime), so never
            // reproducible; and a build that reused the collected static
            // files imported nothing. The app writes its own at run time.
            w.add_tree(&host, &Path::new(APP_ROOT).join(part), Owner::App, &|rel| {
                rel.file_name().is_some_and(|n| n == "__pycache__")
            })?;
        }
    }
    w.fill_parents(base_root);
    w.write_with(store, epoch, compression)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::stage::test_support::{built_app_root, layer_entries};

    #[test]
    fn the_app_layer_holds_the_apps_parts_without_bytecode() {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let built = built_app_root();
        let empty_base = tempfile::tempdir().unwrap();
        let layer = app_layer(
            &store,
            built.path(),
            empty_base.path(),
            1_700_000_000,
            Compression::Gzip,
        )
        .unwrap();
        let paths: Vec<String> = layer_entries(&store, &layer)
            .into_iter()
            .map(|e| e.0)
            .collect();
        for want in [
            "opt/app-root/src/wsgi.py",
            "opt/app-root/tmp/django/static/a.css",
            "opt/app-root/data/.keep",
            "opt/app-root/.warp/build.json",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} in {paths:?}");
        }
        assert!(
            !paths
                .iter()
                .any(|p| p.contains("__pycache__") || p.contains("site-packages")),
            "{paths:?}"
        );
        // Same tree, same stamp: same digest.
        let again = app_layer(
            &store,
            built.path(),
            empty_base.path(),
            1_700_000_000,
            Compression::Gzip,
        )
        .unwrap();
        assert_eq!(again.digest, layer.digest);
    }
}
