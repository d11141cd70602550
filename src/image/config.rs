//! The image config and manifest warp writes: user 1001:0 (numeric, never
//! root), the app's working directory and environment, `warp start` as the
//! command, port 8080, the OCI and OpenShift labels — on top of the base
//! image's own config. JSON is written with sorted keys and `created` taken
//! from SOURCE_DATE_EPOCH so that the same inputs give the same digests.
use super::{media, Layer};
use anyhow::Result;
use oci_spec::image::ImageConfiguration;
use serde_json::{json, Map, Value};

pub const APP_ROOT: &str = "/opt/app-root";
pub const APP_SRC: &str = "/opt/app-root/src";
pub const IMAGE_PATH: &str =
    "/opt/app-root/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the labels say about the app.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub name: String,
    pub epoch: u64,
    pub source_url: Option<String>,
    pub revision: Option<String>,
    pub version: Option<String>,
}

/// A layer warp added, with the history line that describes it.
pub struct AddedLayer {
    pub layer: Layer,
    pub created_by: String,
}

/// The serialised config and manifest, and their digests.
pub struct Assembled {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub layers: Vec<Layer>,
}

/// JSON with object keys sorted at every level: stable bytes.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<_> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&map[k]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sort(value)).expect("JSON values serialise")
}

/// RFC 3339 UTC time of a Unix timestamp, to the second (`…T22:13:20Z`).
pub fn rfc3339(epoch: u64) -> Result<String> {
    let too_late = || {
        crate::error::fail(
            format!(
                "the time {epoch} (SOURCE_DATE_EPOCH or the last commit) is after the year 9999"
            ),
            "set SOURCE_DATE_EPOCH to a Unix time in seconds",
        )
    };
    let seconds = i64::try_from(epoch).map_err(|_| too_late())?;
    let time = time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| too_late())?;
    Ok(time.format(&time::format_description::well_known::Rfc3339)?)
}

/// The environment of the image: the base's, with warp's variables set.
fn environment(base_env: &[String]) -> Vec<String> {
    let ours = [
        ("PATH", IMAGE_PATH),
        ("APP_ROOT", APP_ROOT),
        ("WARP_APP_ROOT", APP_ROOT),
        ("HOME", APP_SRC),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("PYTHONUNBUFFERED", "1"),
        ("PIP_NO_CACHE_DIR", "off"),
    ];
    merge_env(base_env, &ours)
}

/// The base's environment with `ours` set (replacing the base's values).
pub fn merge_env(base_env: &[String], ours: &[(&str, &str)]) -> Vec<String> {
    let mut env: Vec<String> = base_env
        .iter()
        .filter(|line| {
            let key = line.split('=').next().unwrap_or("");
            !ours.iter().any(|(k, _)| *k == key)
        })
        .cloned()
        .collect();
    env.extend(ours.iter().map(|(k, v)| format!("{k}={v}")));
    env
}

/// Config and manifest of `base` plus `added` layers.
pub fn assemble(
    base: &ImageConfiguration,
    base_layers: &[Layer],
    added: &[AddedLayer],
    facts: &ImageFacts,
) -> Result<Assembled> {
    let mut config: Value = serde_json::to_value(base)?;
    let created = rfc3339(facts.epoch)?;
    let base_env = base_env(base);
    let mut labels = base_labels(base);
    let mut set = |k: &str, v: &str| {
        labels.insert(k.to_string(), Value::String(v.to_string()));
    };
    set("org.opencontainers.image.created", &created);
    set("org.opencontainers.image.title", &facts.name);
    if let Some(url) = &facts.source_url {
        set("org.opencontainers.image.source", url);
    }
    if let Some(rev) = &facts.revision {
        set("org.opencontainers.image.revision", rev);
    }
    set(
        "org.opencontainers.image.version",
        facts.version.as_deref().unwrap_or("latest"),
    );
    set("io.openshift.expose-services", "8080:http");
    set(
        "io.k8s.description",
        &format!("{}: a Python WSGI app built and served by warp", facts.name),
    );
    set("io.k8s.display-name", &facts.name);
    set("io.openshift.tags", "python,wsgi,warp");
    let mut runtime = config["config"].as_object().cloned().unwrap_or_default();
    runtime.insert("User".into(), json!("1001:0"));
    runtime.insert("WorkingDir".into(), json!(APP_SRC));
    runtime.insert("Env".into(), json!(environment(&base_env)));
    runtime.remove("Entrypoint");
    runtime.insert("Cmd".into(), json!(["warp", "start"]));
    runtime.insert("ExposedPorts".into(), json!({"8080/tcp": {}}));
    runtime.insert("StopSignal".into(), json!("SIGTERM"));
    runtime.insert("Labels".into(), Value::Object(labels));
    config["config"] = Value::Object(runtime);
    finish(config, base_layers, added, &created)
}

/// The base's labels (Config.Labels) as JSON values, to add to.
pub fn base_labels(base: &ImageConfiguration) -> Map<String, Value> {
    base.config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// The base's environment (Config.Env).
pub fn base_env(base: &ImageConfiguration) -> Vec<String> {
    base.config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default()
}

/// Complete `config` (the base's, its runtime settings already changed):
/// the added layers' diff ids and history lines, then serialise config and
/// manifest canonically and check them against the spec's types.
pub fn finish(
    mut config: Value,
    base_layers: &[Layer],
    added: &[AddedLayer],
    created: &str,
) -> Result<Assembled> {
    config["created"] = json!(created);
    config["author"] = json!(concat!("warp ", env!("CARGO_PKG_VERSION")));
    let mut diff_ids: Vec<Value> = base_layers.iter().map(|l| json!(l.diff_id)).collect();
    let mut history = config["history"].as_array().cloned().unwrap_or_default();
    for added in added {
        diff_ids.push(json!(added.layer.diff_id));
        history.push(json!({"created": created, "created_by": added.created_by}));
    }
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    config["history"] = Value::Array(history);
    let config_bytes = canonical_json(&config);
    // Checked against the spec's types: what podman and registries will parse.
    ImageConfiguration::from_reader(config_bytes.as_slice())?;
    let config_digest = super::store::sha256_digest(&config_bytes);

    let layers: Vec<Layer> = base_layers
        .iter()
        .cloned()
        .chain(added.iter().map(|a| a.layer.clone()))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    });
    let manifest_bytes = canonical_json(&manifest);
    oci_spec::image::ImageManifest::from_reader(manifest_bytes.as_slice())?;
    Ok(Assembled {
        manifest_digest: super::store::sha256_digest(&manifest_bytes),
        config: config_bytes,
        config_digest,
        manifest: manifest_bytes,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        assert!(rfc3339(253_402_300_800).is_err());
    }

    #[test]
    fn config_runs_warp_as_1001_with_labels() {
        let base: ImageConfiguration = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin", "FOO=1"], "Entrypoint": ["/bin/sh"], "Labels": {"b": "1"}},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "1".repeat(64))]}
        }))
        .unwrap();
        let base_layer = Layer {
            media_type: media::OCI_LAYER_GZIP.into(),
            digest: format!("sha256:{}", "2".repeat(64)),
            size: 3,
            diff_id: format!("sha256:{}", "1".repeat(64)),
        };
        let added = AddedLayer {
            layer: Layer {
                diff_id: format!("sha256:{}", "3".repeat(64)),
                digest: format!("sha256:{}", "4".repeat(64)),
                ..base_layer.clone()
            },
            created_by: "warp image: app".into(),
        };
        let facts = ImageFacts {
            name: "app".into(),
            epoch: 0,
            revision: Some("abc".into()),
            ..Default::default()
        };
        let one = assemble(
            &base,
            std::slice::from_ref(&base_layer),
            std::slice::from_ref(&added),
            &facts,
        )
        .unwrap();
        let two = assemble(
            &base,
            std::slice::from_ref(&base_layer),
            std::slice::from_ref(&added),
            &facts,
        )
        .unwrap();
        assert_eq!(one.manifest_digest, two.manifest_digest);
        let config: Value = serde_json::from_slice(&one.config).unwrap();
        let c = &config["config"];
        assert_eq!(c["User"], "1001:0");
        assert_eq!(c["WorkingDir"], APP_SRC);
        assert_eq!(c["Cmd"], json!(["warp", "start"]));
        assert!(c.get("Entrypoint").is_none());
        assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(c["Labels"]["io.openshift.expose-services"], "8080:http");
        assert_eq!(c["Labels"]["org.opencontainers.image.revision"], "abc");
        assert_eq!(c["Labels"]["b"], "1");
        let env: Vec<&str> = c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"FOO=1")
                && env.contains(&"APP_ROOT=/opt/app-root")
                && env.contains(&"LANG=C.UTF-8")
        );
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }
}
