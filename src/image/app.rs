//! The app image recipe, `warp image NAME`: the stages in order — base,
//! runtime layer, `warp build` inside the root (the runtime layer written
//! meanwhile), dependencies and app layers (in parallel), SBOM, config and
//! manifest, outputs.
use super::config::{self, AddedLayer, ImageFacts};
use super::diskfull;
use super::reference::ImageRef;
use super::sandbox;
use super::source;
use super::stage::outputs::Publish;
use super::stage::{self, APP_PARTS};
use super::store::BlobStore;
use super::{provenance, roots, sbom, Layer};
use crate::error::fail;
use crate::ui;
use anyhow::Result;
use std::fs;
use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub src: PathBuf,
    pub base: Option<String>,
    /// Name, outputs, registry, signing, compression.
    pub publish: Publish,
    pub sbom: Option<PathBuf>,
    /// Attach the SBOMs and the provenance to the image (`--attach`).
    pub attach: bool,
}

pub fn build_image(options: &ImageOptions) -> Result<()> {
    build_app_image(options).map_err(|e| diskfull::anywhere_in_cache(e, "the image's files"))
}

fn build_app_image(options: &ImageOptions) -> Result<()> {
    let dest = options.publish.destinations()?;
    if !options.src.is_dir() {
        return Err(fail(
            format!(
                "the source directory {} does not exist",
                options.src.display()
            ),
            "pass --src DIR with the directory that holds your app",
        ));
    }
    let src = fs::canonicalize(&options.src)?;
    let base_text = match &options.base {
        Some(b) => b.clone(),
        None => stage::base::configured_base(&src)?
            .unwrap_or_else(|| stage::base::DEFAULT_BASE.to_string()),
    };
    let base_ref = ImageRef::parse(&base_text)?;
    let epoch = source::source_date_epoch(&src)?;
    let store = BlobStore::open_default()?;

    let (base, base_root) = stage::base::load_base(&base_ref, &store, &options.publish.registry)?;
    let python = sandbox::find_python(&base_root, &base_text)?;
    let warp = stage::runtime::Warp::running(&store)?;

    let runtime_files = ui::step("Runtime files", || {
        stage::runtime::runtime_files(
            &store,
            &base_root,
            &base,
            &warp,
            options.publish.compression,
        )
        .map_err(|e| diskfull::in_cache(e, &store, "the runtime files"))
    })?;
    let runtime_cached = runtime_files.cached(&store);

    let uv = stage::build::host_uv(&base_root);
    let installer = match &uv {
        Some((_, version)) => format!("uv {version}"),
        None => "pip".to_string(),
    };
    let deps_key = stage::dependencies::dependency_key(
        &src,
        &base_root,
        &base,
        &python,
        &warp.sha256,
        &installer,
    )?;
    let cached_deps =
        stage::dependencies::cached_layer(&store, &deps_key, options.publish.compression);
    let deps_root = match &cached_deps {
        Some(deps) => Some(ui::step(
            "Dependencies layer (cached: install skipped)",
            || stage::dependencies::cached_tree(&store, &deps_key, deps),
        )?),
        None => None,
    };

    // The build writes over the cached trees. The runtime layer does not
    // depend on it: when not cached, it is written meanwhile.
    let mut lowers: Vec<PathBuf> = deps_root.iter().cloned().collect();
    lowers.push(runtime_files.tree.clone());
    lowers.push(base_root.clone());
    let build = stage::build::BuildRun {
        store: &store,
        src: &src,
        lowers,
        python: &python,
        epoch,
        uv: uv.as_ref().map(|(uv, _)| uv.as_path()),
    };
    let (built, runtime) = stage::build::run(build, || match runtime_cached {
        Some(layer) => Ok(layer),
        None => runtime_files
            .layer(&store, &base_root, &warp.exe)
            .map_err(|e| diskfull::in_cache(e, &store, "the runtime layer")),
    })?;
    let runtime = runtime?;
    let built_app_root = built.app_root();
    let venv = match &deps_root {
        Some(dir) => dir.join("opt/app-root"),
        None => built_app_root.clone(),
    };
    let created = config::rfc3339(epoch)?;
    let want_sboms = options.attach || options.sbom.is_some();
    // The SBOM documents: from the cache when the same inputs made them,
    // else rendered (the first build with new dependencies hashes every venv
    // file) — beside the dependencies layer, which reads the same files.
    let sbom_documents = || {
        let inputs = [
            deps_key.as_str(),
            base.identity.as_str(),
            warp.sha256.as_str(),
            options.publish.name.as_str(),
        ];
        sbom::documents(&store, &inputs, &created, || {
            Ok(sbom::Inventory {
                image: options.publish.name.clone(),
                os: sbom::os::read(&base_root),
                python: sbom::python_cached(&store, &deps_key, &venv)?,
                warp_sha256: warp.sha256.clone(),
            })
        })
    };
    // The dependencies layer is compressed on one thread, the app layer and
    // then the SBOM on this one.
    let title = match (cached_deps.is_some(), want_sboms) {
        (true, false) => "App layer",
        (true, true) => "App layer, SBOM",
        (false, false) => "Layers: dependencies, app (in parallel)",
        (false, true) => "Layers: dependencies | app, SBOM (in parallel)",
    };
    let (deps, app, sboms) = ui::step(title, || {
        std::thread::scope(|threads| {
            let deps = threads.spawn(|| match cached_deps {
                Some(deps) => Ok(deps),
                None => stage::dependencies::dependencies_layer(
                    &store,
                    &built_app_root,
                    &base_root,
                    &deps_key,
                    options.publish.compression,
                )
                .map_err(|e| diskfull::in_cache(e, &store, "the dependencies layer")),
            });
            let app = stage::app::app_layer(
                &store,
                &built_app_root,
                &base_root,
                epoch,
                options.publish.compression,
            )
            .map_err(|e| diskfull::in_cache(e, &store, "the app layer"));
            let sboms = match (&app, want_sboms) {
                (Ok(_), true) => Some(sbom_documents()),
                _ => None,
            };
            let deps = joined(deps.join())?;
            Ok::<_, anyhow::Error>((deps, app?, sboms.transpose()?))
        })
    })?;
    if let (Some(path), Some(sboms)) = (&options.sbom, &sboms) {
        sbom::write(path, &store.read(sboms.for_path(path))?)?;
    }
    if deps_root.is_none() {
        // The venv just built is the dependencies tree of the next build
        // with these inputs: kept (renamed, not copied) instead of unpacked later.
        roots::adopt(
            &store,
            &format!("deps-{deps_key}"),
            &built_app_root,
            APP_PARTS,
        )?;
    }

    let facts = ImageFacts {
        name: options.publish.name.clone(),
        epoch,
        source_url: source::remote_url(&src),
        revision: source::revision(&src),
        version: dest.name.tag.clone(),
    };
    let added = [
        AddedLayer {
            layer: runtime,
            created_by: "warp image: runtime (warp, /etc/passwd, /opt/app-root)".into(),
        },
        AddedLayer {
            layer: deps,
            created_by: "warp image: dependencies (virtualenv)".into(),
        },
        AddedLayer {
            layer: app,
            created_by: "warp image: app (source, static files, build record)".into(),
        },
    ];
    let assembled = config::assemble(&base.config, &base.layers, &added, &facts)?;
    let attachments = match &sboms {
        Some(sboms) if options.attach => {
            ui::step("Attachments (SPDX, CycloneDX, provenance)", || {
                let provenance = provenance::Facts {
                    image_name: options.publish.name.clone(),
                    manifest_digest: String::new(),
                    base: provenance::public_base_name(&base_ref, &base_text),
                    base_digest: base.identity.clone(),
                    warp_sha256: warp.sha256.clone(),
                    revision: facts.revision.clone(),
                    dirty: source::dirty(&src),
                    remote_url: facts.source_url.clone(),
                    lock_files: provenance::lock_files(&src),
                    source_date_epoch: epoch,
                    installer,
                    layer_compression: options.publish.compression.name().into(),
                };
                stage::documents::attachments(&store, &assembled, sboms, &provenance, &created)
            })?
        }
        _ => Vec::new(),
    };
    stage::outputs::write_outputs(&assembled, &store, &dest, &base_ref, &attachments)
}

/// A layer-writing thread's result (a panic becomes an error).
fn joined(result: std::thread::Result<Result<Layer>>) -> Result<Layer> {
    result.unwrap_or_else(|_| Err(anyhow::anyhow!("writing a layer panicked")))
}
