//! `warp start` options kept with the app's source, so that an image or an
//! S2I build runs with them without changing its command: the `server:`
//! mapping of `.warp/config.yaml` (keys are the option names, as on the
//! command line) and warpdrive's `.warpdrive/server_args` / `.warp/server_args`
//! (plain arguments separated by white space), then the file named by
//! `APP_CONFIG` (s2i-python-container's variable, from the environment or
//! `.s2i/environment`; relative to the source): a YAML mapping like `server:`
//! when it ends in .yaml/.yml, else plain arguments. They come before the
//! command line's own arguments, so the command line wins.
//!
//! This module yields *arguments*, not settings: `cli::start` parses them with
//! the same clap flags as the command line (one parser, so an option is
//! spelled and checked alike wherever it comes from), and this library module
//! needs no clap type and never imports `cli`.
//!
//! ```yaml
//! server:
//!   processes: 2
//!   maximum-requests: 1000
//!   url-alias: [[/static, static]]
//!   trust-proxy: [10.0.0.0/8]
//!   access-log: true
//! ```
use crate::app::config::CONFIG_FILE;
use crate::app::App;
use crate::error::fail;
use anyhow::Result;
use serde_yaml_ng::Value;
use std::path::Path;

/// warpdrive's file of extra server arguments, and warp's own name for it.
pub const SERVER_ARGS_FILES: [&str; 2] = [".warp/server_args", ".warpdrive/server_args"];

/// The arguments the source of `app` asks for (empty when it has none).
pub fn load(app: &App) -> Result<Vec<String>> {
    let mut args = Vec::new();
    if let Some(server) = &app.config.server {
        args.extend(yaml_to_args(server)?);
    }
    let src_root = &app.paths.src_root;
    for name in SERVER_ARGS_FILES {
        if let Ok(text) = std::fs::read_to_string(src_root.join(name)) {
            args.extend(text.split_whitespace().map(str::to_string));
            break;
        }
    }
    if let Some(file) = app.vars.get("APP_CONFIG").filter(|f| !f.is_empty()) {
        args.extend(app_config_args(src_root, &file)?);
    }
    Ok(args)
}

/// The `warp start` options in the file APP_CONFIG names.
fn app_config_args(src_root: &Path, file: &str) -> Result<Vec<String>> {
    let path = src_root.join(file);
    if file.ends_with(".py") {
        return Err(fail(
            format!("APP_CONFIG={file} is a Python (gunicorn) configuration file"),
            "warp reads `warp start` options from APP_CONFIG: a YAML mapping (.yaml/.yml, keys as on the command line) or plain arguments such as `--processes 2 --threads 4`",
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(
            format!("APP_CONFIG={file}: cannot read {}: {e}", path.display()),
            "set APP_CONFIG to a file of the source holding `warp start` options, or unset it",
        )
    })?;
    if file.ends_with(".yaml") || file.ends_with(".yml") {
        let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            fail(
                format!("APP_CONFIG={file}: {e}"),
                "write a mapping of option names to values, e.g. `processes: 2`",
            )
        })?;
        return yaml_to_args(&value);
    }
    Ok(text.split_whitespace().map(str::to_string).collect())
}

/// The `server:` mapping as command-line arguments.
pub fn yaml_to_args(server: &Value) -> Result<Vec<String>> {
    let bad = |what: String| {
        fail(
            format!("{CONFIG_FILE}: server: {what}"),
            "write each option as on the command line, e.g. `processes: 2`, `access-log: true`, `url-alias: [[/static, static]]`",
        )
    };
    let Value::Mapping(map) = server else {
        if server.is_null() {
            return Ok(Vec::new());
        }
        return Err(bad("must be a mapping of option names to values".into()));
    };
    let mut args = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(bad(format!("{key:?} is not an option name")));
        };
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            Value::Null | Value::Bool(false) => {}
            Value::Bool(true) => args.push(flag),
            Value::Sequence(items) => {
                for item in items {
                    args.push(flag.clone());
                    match item {
                        Value::Sequence(parts) => {
                            for part in parts {
                                args.push(scalar(part).ok_or_else(|| {
                                    bad(format!("{key}: {part:?} is not a plain value"))
                                })?);
                            }
                        }
                        other => args.push(scalar(other).ok_or_else(|| {
                            bad(format!("{key}: {other:?} is not a plain value"))
                        })?),
                    }
                }
            }
            other => {
                args.push(flag);
                args.push(
                    scalar(other)
                        .ok_or_else(|| bad(format!("{key}: {other:?} is not a plain value")))?,
                );
            }
        }
    }
    Ok(args)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppPaths;

    fn args(yaml: &str) -> Result<Vec<String>> {
        yaml_to_args(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn options_become_arguments() {
        let got = args(
            "processes: 2\nmaximum_requests: 1000\naccess-log: true\nreload-on-changes: false\n\
             url-alias: [[/static, static], [/media, media]]\ntrust-proxy: [10.0.0.0/8]\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "--processes",
                "2",
                "--maximum-requests",
                "1000",
                "--access-log",
                "--url-alias",
                "/static",
                "static",
                "--url-alias",
                "/media",
                "media",
                "--trust-proxy",
                "10.0.0.0/8"
            ]
        );
    }

    #[test]
    fn nested_mappings_are_refused() {
        let err = args("processes: {a: 1}\n").unwrap_err().to_string();
        assert!(err.contains("server: processes"), "{err}");
        assert!(args("[1, 2]\n").is_err());
    }

    #[test]
    fn warpdrive_server_args_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".warpdrive")).unwrap();
        std::fs::write(
            dir.path().join(".warpdrive/server_args"),
            "--threads 3\n--access-log\n",
        )
        .unwrap();
        assert_eq!(
            load(&App::load(&AppPaths::locate(dir.path()).unwrap()).unwrap()).unwrap(),
            ["--threads", "3", "--access-log"]
        );
    }
}
