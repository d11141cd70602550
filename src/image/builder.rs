//! `warp image NAME --builder`: the Source-to-Image builder image — what the
//! repository's Containerfile makes with `podman build` — written directly
//! from a base image, so that a user with only the warp binary and no
//! container engine gets one, reproducibly.
//!
//! Layers added to the base: the runtime stage's layer (this warp binary
//! in /usr/local/bin, /etc/passwd group-writable with a 1001 entry,
//! /opt/app-root 1001:0 g=u) and a layer with the S2I scripts in
//! /usr/libexec/s2i (embedded in the binary from builders/s2i/). The config
//! takes the labels, user, environment, port and command below — the values
//! the Containerfile spells out too; a unit test reads the Containerfile and
//! fails when the two disagree. Both layers are stamped 0 and the config's
//! `created` is SOURCE_DATE_EPOCH (else 0): the same warp binary and base
//! always give the same digest.
use super::config::{self, AddedLayer, APP_ROOT, APP_SRC, IMAGE_PATH};
use super::layer::{Compression, LayerWriter, Owner};
use super::reference::ImageRef;
use super::stage::outputs::Publish;
use super::stage::{self, base::DEFAULT_BASE};
use super::store::BlobStore;
use super::{sandbox, unpack, Layer};
use crate::ui;
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;

/// Where the scripts go (what the scripts-url labels point at).
pub const SCRIPTS_DIR: &str = "/usr/libexec/s2i";

/// The S2I scripts, as in builders/s2i/ (embedded: the binary alone is enough).
pub const SCRIPTS: &[(&str, &[u8])] = &[
    ("assemble", include_bytes!("../../builders/s2i/assemble")),
    ("run", include_bytes!("../../builders/s2i/run")),
    (
        "save-artifacts",
        include_bytes!("../../builders/s2i/save-artifacts"),
    ),
    ("usage", include_bytes!("../../builders/s2i/usage")),
];

/// The builder's labels (the Containerfile's LABEL).
pub const LABELS: &[(&str, &str)] = &[
    ("io.openshift.s2i.scripts-url", "image:///usr/libexec/s2i"),
    ("io.s2i.scripts-url", "image:///usr/libexec/s2i"),
    ("io.openshift.expose-services", "8080:http"),
    ("io.openshift.tags", "builder,python,warp"),
    (
        "io.k8s.description",
        "Builds Python WSGI apps from source with warp and serves them with warp's WSGI server",
    ),
    ("io.k8s.display-name", "warp Python builder"),
    (
        "summary",
        "Source-to-Image builder for Python WSGI apps (warp)",
    ),
];

/// The builder's environment (the Containerfile's ENV), but for
/// [`IMAGE_NAME_VAR`].
pub const ENV: &[(&str, &str)] = &[
    ("HOME", APP_ROOT),
    ("APP_ROOT", APP_ROOT),
    ("WARP_APP_ROOT", APP_ROOT),
    ("PATH", IMAGE_PATH),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("PYTHONUNBUFFERED", "1"),
];

/// The variable that tells `usage` the image's name (the Containerfile's
/// `ARG IMAGE_NAME`; here the NAME of `warp image NAME --builder`).
pub const IMAGE_NAME_VAR: &str = "WARP_BUILDER_IMAGE";

/// USER: numeric, so that the platform can tell it is not root.
pub const USER: &str = "1001";
/// EXPOSE.
pub const PORT: u16 = 8080;
/// CMD: with no command the image says how to use it.
pub const CMD: &str = "/usr/libexec/s2i/usage";
/// WORKDIR.
pub const WORKDIR: &str = APP_SRC;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct BuilderOptions {
    pub base: Option<String>,
    /// Name, outputs, registry, signing, compression.
    pub publish: Publish,
}

pub fn build_builder(options: &BuilderOptions) -> Result<()> {
    make_builder(options)
        .map_err(|e| super::diskfull::anywhere_in_cache(e, "the builder image's files"))
}

fn make_builder(options: &BuilderOptions) -> Result<()> {
    let dest = options.publish.destinations()?;
    let base_text = options.base.as_deref().unwrap_or(DEFAULT_BASE);
    let base_ref = ImageRef::parse(base_text)?;
    let epoch = super::source::env_source_date_epoch()?.unwrap_or(0);
    let store = BlobStore::open_default()?;
    let (base, base_root) = stage::base::load_base(&base_ref, &store, &options.publish.registry)?;
    // assemble runs `warp build`, which needs the base's Python: say so now.
    sandbox::find_python(&base_root, base_text)?;
    let warp = stage::runtime::Warp::running(&store)?;
    let (_, runtime) = ui::step("Runtime layer", || {
        stage::runtime::runtime_layer(
            &store,
            &base_root,
            &base,
            &warp,
            options.publish.compression,
        )
    })?;
    let scripts = ui::step("S2I scripts layer", || {
        scripts_layer(&store, &base_root, options.publish.compression)
    })?;
    let added = [
        AddedLayer {
            layer: runtime,
            created_by: "warp image --builder: runtime (warp, /etc/passwd, /opt/app-root)".into(),
        },
        AddedLayer {
            layer: scripts,
            created_by: format!("warp image --builder: S2I scripts in {SCRIPTS_DIR}"),
        },
    ];
    let created = config::rfc3339(epoch)?;
    let mut image_config = serde_json::to_value(&base.config)?;
    image_config["config"] = runtime_config(&base.config, &options.publish.name);
    let assembled = config::finish(image_config, &base.layers, &added, &created)?;
    stage::outputs::write_outputs(&assembled, &store, &dest, &base_ref, &[])
}

/// The scripts in /usr/libexec/s2i (root-owned, 0755), the directory
/// resolved through the base's symlinks as a COPY would.
fn scripts_layer(store: &BlobStore, base_root: &Path, compression: Compression) -> Result<Layer> {
    let resolved = unpack::resolve_in_root(
        base_root,
        Path::new(SCRIPTS_DIR.trim_start_matches('/')),
        true,
        "the base image",
    )?;
    let dir = Path::new("/").join(resolved.strip_prefix(base_root)?);
    let mut w = LayerWriter::new();
    w.add_dir(&dir, 0o755, Owner::System);
    for (script, bytes) in SCRIPTS {
        w.add_bytes(&dir.join(script), bytes.to_vec(), 0o755, Owner::System);
    }
    w.fill_parents(base_root);
    w.write_with(store, 0, compression)
}

/// The config's `config` object: the base's, with the builder's user,
/// working directory, environment, port, command and labels.
fn runtime_config(base: &oci_spec::image::ImageConfiguration, image_name: &str) -> Value {
    let mut runtime = serde_json::to_value(base)
        .ok()
        .and_then(|c| c["config"].as_object().cloned())
        .unwrap_or_default();
    let mut labels = config::base_labels(base);
    for (k, v) in LABELS {
        labels.insert(k.to_string(), json!(v));
    }
    let mut env: Vec<(&str, &str)> = ENV.to_vec();
    env.push((IMAGE_NAME_VAR, image_name));
    runtime.insert("User".into(), json!(USER));
    runtime.insert("WorkingDir".into(), json!(WORKDIR));
    runtime.insert(
        "Env".into(),
        json!(config::merge_env(&config::base_env(base), &env)),
    );
    runtime.remove("Entrypoint");
    runtime.insert("Cmd".into(), json!([CMD]));
    runtime.insert("ExposedPorts".into(), json!({ format!("{PORT}/tcp"): {} }));
    runtime.insert("Labels".into(), Value::Object(labels));
    Value::Object(runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const CONTAINERFILE: &str = include_str!("../../Containerfile");

    /// The Containerfile's instructions: (KEYWORD, arguments), continuation
    /// lines joined, comments dropped.
    fn instructions() -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut current = String::new();
        for line in CONTAINERFILE.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => current.push_str(part),
                None => {
                    current.push_str(trimmed);
                    let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
                    out.push((keyword.to_uppercase(), args.trim().to_string()));
                    current.clear();
                }
            }
        }
        out
    }

    /// `K1="v 1" K2=v2` → {K1: "v 1", K2: "v2"}.
    fn pairs(args: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut rest = args.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=').expect("KEY=VALUE");
            let (value, after) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"').expect("closing quote");
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
            };
            out.insert(key.trim().to_string(), value.to_string());
            rest = after.trim();
        }
        out
    }

    fn all(keyword: &str) -> Vec<String> {
        instructions()
            .into_iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, a)| a)
            .collect()
    }

    #[test]
    fn the_containerfile_says_the_same() {
        let labels: BTreeMap<String, String> = all("LABEL").iter().flat_map(|a| pairs(a)).collect();
        let ours: BTreeMap<String, String> = LABELS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(labels, ours, "LABEL");

        let env: BTreeMap<String, String> = all("ENV").iter().flat_map(|a| pairs(a)).collect();
        let mut ours: BTreeMap<String, String> = ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ours.insert(IMAGE_NAME_VAR.into(), "${IMAGE_NAME}".into());
        assert_eq!(env, ours, "ENV");

        // The last USER is the image's; USER 0 before it is for the RUN step.
        assert_eq!(all("USER").last().unwrap(), USER);
        assert_eq!(all("WORKDIR"), [WORKDIR]);
        assert_eq!(all("EXPOSE"), [PORT.to_string()]);
        assert_eq!(all("CMD"), [format!("[\"{CMD}\"]")]);
        assert_eq!(all("ARG")[0], format!("BASE={DEFAULT_BASE}"));
        assert!(
            all("COPY").contains(&format!("builders/s2i/ {SCRIPTS_DIR}/")),
            "the Containerfile copies the scripts to {SCRIPTS_DIR}"
        );
        // The same passwd entry for 1001 as the runtime layer adds.
        let entry = stage::runtime::APP_USER_ENTRY.trim_end();
        assert!(
            CONTAINERFILE.contains(&format!("'{entry}'")),
            "the Containerfile adds {entry:?} to /etc/passwd"
        );
    }

    #[test]
    fn every_script_of_builders_s2i_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("builders/s2i");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SCRIPTS.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for (_, bytes) in SCRIPTS {
            assert!(bytes.starts_with(b"#!/bin/sh\n"));
        }
    }

    #[test]
    fn config_is_the_builders() {
        let base: oci_spec::image::ImageConfiguration = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin", "PYTHON_VERSION=3.12.1"], "Entrypoint": ["python3"], "Labels": {"base": "1"}},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let c = runtime_config(&base, "quay.io/me/warp-builder:1");
        assert_eq!(c["User"], "1001");
        assert_eq!(c["Cmd"], json!(["/usr/libexec/s2i/usage"]));
        assert!(c.get("Entrypoint").is_none());
        assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(c["Labels"]["base"], "1");
        assert_eq!(c["Labels"]["io.openshift.tags"], "builder,python,warp");
        let env = c["Env"].as_array().unwrap();
        for line in [
            "PYTHON_VERSION=3.12.1",
            "WARP_BUILDER_IMAGE=quay.io/me/warp-builder:1",
            "HOME=/opt/app-root",
        ] {
            assert!(env.contains(&json!(line)), "{line} in {env:?}");
        }
        let paths = env
            .iter()
            .filter(|e| e.as_str().unwrap().starts_with("PATH="));
        assert_eq!(paths.count(), 1);
    }
}
