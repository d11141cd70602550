//! Builds the WSGI server extension (`server/`, a pyo3 cdylib) and hands its
//! path to the `warp` crate, which embeds it: a user installs one binary and
//! `warp` writes the extension into each app's virtualenv.
//!
//! The extension is always built in release mode (it is what serves traffic)
//! in its own target directory, so the nested cargo never waits on the lock of
//! the outer build. `WARP_SERVER_EXT=/path/to/_core.so` skips the nested build.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let server = manifest_dir.join("server");
    for watched in ["src", "python", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", server.join(watched).display());
    }
    // The supervisor ↔ worker protocol crate is compiled into the extension too.
    let protocol = manifest_dir.join("protocol");
    for watched in ["src", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            protocol.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=WARP_SERVER_EXT");

    let so = match env::var_os("WARP_SERVER_EXT") {
        Some(prebuilt) => {
            // Its content names the package's copy (see `digest`).
            println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
            PathBuf::from(prebuilt)
        }
        None => build_extension(&manifest_dir, &server),
    };
    if !so.is_file() {
        panic!("warp: the server extension {} does not exist", so.display());
    }
    println!("cargo:rustc-env=WARPSERVER_SO={}", so.display());
    let python = write_python_manifest(&server.join("python"));
    println!("cargo:rustc-env=WARPSERVER_DIGEST={}", digest(&so, &python));
}

/// A name for the package's content (the extension and the Python files):
/// the key of the copy a local build keeps to hard-link into venvs. A hash
/// that changes with Rust's release only changes the name of that copy.
fn digest(so: &Path, python: &[(String, String)]) -> String {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    hasher.write(&std::fs::read(so).unwrap());
    for (rel, abs) in python {
        hasher.write(rel.as_bytes());
        hasher.write(&std::fs::read(abs).unwrap());
    }
    format!("{:016x}", hasher.finish())
}

/// Generate `$OUT_DIR/python_files.rs`: every file of the pure-Python package
/// `server/python/`, as `(relative path, bytes)`, for `extension`; returns
/// the files (relative and absolute paths).
fn write_python_manifest(python_dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    collect(python_dir, python_dir, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (rel, abs) in &files {
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!({abs:?}) as &[u8]),\n"
        ));
    }
    out.push_str("]\n");
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap()).join("python_files.rs");
    std::fs::write(dest, out).unwrap();
    files
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.push((rel, path.to_string_lossy().into_owned()));
        }
    }
}

fn build_extension(manifest_dir: &Path, server: &Path) -> PathBuf {
    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"));
    let target_dir = target_root.join("warpserver");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(server.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("PYO3_BUILD_EXTENSION_MODULE", "1");
    // The outer cargo's settings (clippy's wrapper, its profile, its target
    // directory) must not leak into the nested build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = key == "CARGO_HOME" || key == "CARGO_MAKEFLAGS";
        if (key.starts_with("CARGO_") && !keep)
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            cmd.env_remove(&key);
        }
    }
    let output = cmd.output().expect("warp: could not run cargo for server/");
    if !output.status.success() {
        panic!(
            "warp: building the server extension failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    target_dir.join("release").join("lib_core.so")
}
