//! warp's server package in a venv made by `warp build`: hard links of one
//! copy kept in the user's cache (`build-cache/warpserver/<digest>/`), shared
//! by every venv; a file of that copy written in place through a venv is
//! noticed and the copy made again (and the venv's file put back by the next
//! build); a cache on another file system gets written files.
use crate::build_support::*;
use crate::support::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `warp build` of a plain wsgi.py with uv, with `cache` as warp's cache.
fn build(app: &TempApp, cache: &Path) -> Option<std::process::Output> {
    let mut cmd = warp_uv(app.path())?;
    cmd.env("WARP_CACHE_DIR", cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .args(["build", "--installer", "uv"]);
    Some(run(&mut cmd))
}

fn wsgi_app() -> TempApp {
    let app = TempApp::new();
    app.write("wsgi.py", WSGI_APP);
    app
}

/// `<app>/.venv/lib/pythonX.Y/site-packages/warpserver/<rel>`.
fn venv_file(app: &TempApp, rel: &str) -> PathBuf {
    let lib = app.path().join(".venv/lib");
    let python = std::fs::read_dir(&lib).unwrap().next().unwrap().unwrap();
    python.path().join("site-packages/warpserver").join(rel)
}

/// The only copy of the package in `cache`.
fn the_copy(cache: &Path) -> PathBuf {
    let copies: Vec<PathBuf> = std::fs::read_dir(cache.join("build-cache/warpserver"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    copies[0].join("warpserver")
}

fn inode(path: &Path) -> (u64, u64) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.dev(), meta.ino())
}

/// What the package's worker.py says, in this checkout.
fn worker_source() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(repo.join("server/python/warpserver/worker.py")).unwrap()
}

#[test]
fn venvs_link_one_copy_of_the_server_package_made_again_when_written_through() {
    let cache = tempfile::tempdir().unwrap();
    let (one, two) = (wsgi_app(), wsgi_app());
    let Some(out) = build(&one, cache.path()) else {
        return;
    };
    assert_ok(&out);
    assert_ok(&build(&two, cache.path()).unwrap());
    let copy = the_copy(cache.path());
    for rel in [
        "_core.abi3.so",
        "__init__.py",
        "worker.py",
        "django/management/commands/runwarp.py",
    ] {
        assert_eq!(
            inode(&venv_file(&one, rel)),
            inode(&copy.join(rel)),
            "{rel}"
        );
        assert_eq!(
            inode(&venv_file(&two, rel)),
            inode(&copy.join(rel)),
            "{rel}"
        );
    }
    for app in [&one, &two] {
        assert_ok(&venv_python(
            app.path(),
            "import warpserver, warpserver._core",
        ));
        let named = std::fs::read_to_string(venv_file(app, "installed-by-warp")).unwrap();
        assert_eq!(named.trim_end(), warp_bin().display().to_string());
    }

    // A file written in place through one venv writes the shared copy: the
    // next build notices, makes the copy again and links that.
    let written = venv_file(&one, "worker.py");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&written)
        .unwrap();
    std::io::Write::write_all(&mut file, b"\nraise SystemExit('written through')\n").unwrap();
    drop(file);
    std::fs::remove_dir_all(two.path().join(".venv")).unwrap();
    assert_ok(&build(&two, cache.path()).unwrap());
    let copy = the_copy(cache.path());
    assert_eq!(
        std::fs::read_to_string(copy.join("worker.py")).unwrap(),
        worker_source()
    );
    assert_eq!(
        inode(&venv_file(&two, "worker.py")),
        inode(&copy.join("worker.py"))
    );
    assert_ne!(inode(&written), inode(&copy.join("worker.py")));
    // The venv that was written through gets the package's file back on its
    // next build (nothing else changed: the install is skipped).
    let out = build(&one, cache.path()).unwrap();
    assert_ok(&out);
    assert!(stderr(&out).contains("install skipped"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), worker_source());
    assert_eq!(inode(&written), inode(&copy.join("worker.py")));
}

#[test]
fn a_cache_on_another_file_system_gets_written_files() {
    // /dev/shm is a tmpfs; the app is on the disk.
    let Ok(cache) = tempfile::tempdir_in("/dev/shm") else {
        return;
    };
    if std::fs::metadata(cache.path()).unwrap().dev()
        == std::fs::metadata(std::env::temp_dir()).unwrap().dev()
    {
        return;
    }
    let app = wsgi_app();
    let Some(out) = build(&app, cache.path()) else {
        return;
    };
    assert_ok(&out);
    let core = venv_file(&app, "_core.abi3.so");
    assert_eq!(std::fs::metadata(&core).unwrap().nlink(), 1);
    assert_ok(&venv_python(
        app.path(),
        "import warpserver, warpserver._core",
    ));
}
