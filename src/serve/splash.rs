//! The page `warp start` serves when the source has dependencies but nothing
//! to run (no wsgi.py, app.py, app.sh, Django project or APP_MODULE): a small
//! WSGI script, written into the app root, that says how to add an app. It
//! runs in a normal worker, so the server, health checks and the image all
//! behave as they will once the app is there.
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const SPLASH_APP: &str = r#"
"""warp's splash page: the source has no app to serve yet."""

PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>warp: no app yet</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>warp is running</h1>
<p>The server works, but the source has no application to serve yet. Add one of:</p>
<ul>
<li><code>wsgi.py</code> with a WSGI callable named <code>application</code></li>
<li>a Django project (<code>manage.py</code>)</li>
<li><code>app.py</code> (run with python) or an executable <code>app.sh</code></li>
<li><code>APP_MODULE=module:callable</code> in <code>.warp/environment</code></li>
</ul>
<p>then run <code>warp build</code> and <code>warp start</code> again.</p>
</body></html>
"""


def application(environ, start_response):
    start_response("200 OK", [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(PAGE))),
        ("Cache-Control", "no-store"),
    ])
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [PAGE]
"#;

/// Write the splash script into `app_root/.warp/` (when it differs) and return its path.
pub fn install(app_root: &Path) -> Result<PathBuf> {
    let path = app_root.join(".warp").join("warp_splash.py");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(SPLASH_APP) {
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, SPLASH_APP).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_splash_script_is_written_once() {
        let root = tempfile::tempdir().unwrap();
        let path = super::install(root.path()).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("def application"));
        assert_eq!(super::install(root.path()).unwrap(), path);
    }
}
