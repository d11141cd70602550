//! Django apps: read STATIC_URL, STATIC_ROOT and WSGI_APPLICATION from the
//! settings, and run `collectstatic --noinput` — with STATIC_ROOT defaulted to
//! `<app root>/tmp/django/static` when the settings leave it unset (as
//! warpdrive does), so users need not set it. The default is injected into the
//! settings object in the collectstatic process only; `warp start` serves the
//! recorded directory at STATIC_URL.
use crate::app::record::DjangoInfo;
use crate::error::fail;
use crate::proc;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run inside the venv's Python with argv: injected STATIC_ROOT, output file,
/// "1" to collect, the settings module.
const SCRIPT: &str = r#"
import json, os, sys
injected, out, collect, module = sys.argv[1:5]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", module)
sys.path.insert(0, os.getcwd())
import django
from django.conf import settings
django.setup()
static_root = getattr(settings, "STATIC_ROOT", None)
if not static_root:
    settings.STATIC_ROOT = static_root = injected
if collect == "1":
    from django.core.management import call_command
    call_command("collectstatic", interactive=False, verbosity=1)
with open(out, "w") as f:
    json.dump({
        "settings_module": os.environ["DJANGO_SETTINGS_MODULE"],
        "static_url": getattr(settings, "STATIC_URL", None),
        "static_root": str(static_root),
        "wsgi_application": getattr(settings, "WSGI_APPLICATION", None),
    }, f)
"#;

#[derive(Deserialize)]
struct Found {
    settings_module: String,
    static_url: Option<String>,
    static_root: Option<PathBuf>,
    wsgi_application: Option<String>,
}

/// Read the settings (and collect static files when `collect`); returns the
/// record's DjangoInfo and WSGI_APPLICATION.
pub fn inspect(
    python: &Path,
    home: &Path,
    app_root: &Path,
    settings_module: &str,
    collect: bool,
    env: &[(String, String)],
) -> Result<(DjangoInfo, Option<String>)> {
    let injected = app_root.join("tmp").join("django").join("static");
    let out = tempfile::NamedTempFile::new().context("creating a temporary file")?;
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg(&injected)
        .arg(out.path())
        .arg(if collect { "1" } else { "0" })
        .arg(settings_module)
        .current_dir(home)
        .envs(env.iter().map(|(k, v)| (k, v)));
    proc::run_quiet(cmd, |code| {
        fail(
            format!(
                "Django ({settings_module}) failed while {} (exit code {})",
                if collect {
                    "collecting static files"
                } else {
                    "reading its settings"
                },
                code
            ),
            "its output is above; set DISABLE_COLLECTSTATIC=1 to skip collectstatic",
        )
    })?;
    let found: Found = serde_json::from_slice(&std::fs::read(out.path())?)
        .context("reading the Django settings warp asked for")?;
    let static_url = found.static_url.map(|url| {
        if url.starts_with('/') || url.contains("://") {
            url
        } else {
            format!("/{url}")
        }
    });
    Ok((
        DjangoInfo {
            settings_module: found.settings_module,
            static_url,
            static_root: found.static_root,
        },
        found.wsgi_application,
    ))
}
