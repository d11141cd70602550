//! The stages an image is made of, each its own module, in the order the
//! app recipe (`image::app`) runs them: `base` (the base image and its
//! root), `runtime` (the warp binary, /etc/passwd, /opt/app-root), `build`
//! (`warp build` inside the root), `dependencies` (the venv, cached by its
//! inputs), `app` (source, static files, build record), `documents` (SBOM and
//! provenance, attached to the image) and `outputs`
//! (config + manifest stored, every destination written). The builder
//! recipe (`image::builder`) uses `base`, `runtime` and `outputs`.
//!
//! Timestamps: the app layer and the config's `created` use
//! SOURCE_DATE_EPOCH (default: the source's last git commit time, else 0);
//! the runtime and dependencies layers are stamped 0 so that they are shared
//! between apps and commits unchanged.
pub mod app;
pub mod base;
pub mod build;
pub mod dependencies;
pub mod documents;
pub mod outputs;
pub mod runtime;

/// Parts of /opt/app-root that belong to the app layer; the rest is the venv.
pub const APP_PARTS: &[&str] = &["src", "tmp", "data", ".warp"];

#[cfg(test)]
pub(crate) mod test_support {
    use crate::image::store::BlobStore;
    use crate::image::Layer;

    /// (path, mode, uid) of every entry of a gzip layer, in order.
    pub fn layer_entries(store: &BlobStore, layer: &Layer) -> Vec<(String, u32, u64)> {
        let file = std::fs::File::open(store.path(&layer.digest).unwrap()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap() & 0o7777,
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    /// A built /opt/app-root: a venv and the app's parts.
    pub fn built_app_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("bin/python", "py"),
            ("lib/python3.11/site-packages/flask/__init__.py", ""),
            ("src/wsgi.py", "app = None"),
            ("src/__pycache__/wsgi.cpython-311.pyc", "stale"),
            ("tmp/django/static/a.css", "css"),
            ("data/.keep", ""),
            (".warp/build.json", "{}"),
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }
}
