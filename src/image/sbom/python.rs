//! The Python distributions of the image's venv, from their
//! `*.dist-info` directories: name, version, purl, the licence the metadata
//! states (`License-Expression`, else `License`), and every file RECORD
//! lists with its sha256 (RECORD's) and sha1 (SPDX requires one per file;
//! computed from the file in the venv).
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where the venv is in the image.
const VENV_IN_IMAGE: &str = "/opt/app-root";

/// One file of a distribution, as RECORD lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PyFile {
    /// Its path in the image.
    pub path: String,
    pub sha256: String,
    pub sha1: String,
}

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PyDist {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    pub purl: String,
    pub files: Vec<PyFile>,
}

/// Every distribution in the venv at `app_root` (the host directory that is
/// /opt/app-root in the image), sorted by name.
pub fn read(app_root: &Path) -> Vec<PyDist> {
    let mut found = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(pythons) = fs::read_dir(app_root.join(lib)) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = pythons.flatten().map(|e| e.path()).collect();
        pythons.sort();
        for python in pythons {
            let site = python.join("site-packages");
            let Ok(entries) = fs::read_dir(&site) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().ends_with(".dist-info") {
                    continue;
                }
                if let Some(dist) = distribution(app_root, &site, &entry.path()) {
                    found.push(dist);
                }
            }
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    found
}

fn distribution(app_root: &Path, site: &Path, dist_info: &Path) -> Option<PyDist> {
    let meta = fs::read_to_string(dist_info.join("METADATA")).ok()?;
    // The header ends at the first empty line (the description follows).
    let header: Vec<&str> = meta.lines().take_while(|l| !l.is_empty()).collect();
    let field = |k: &str| {
        header.iter().find_map(|l| {
            l.strip_prefix(k)
                .and_then(|v| v.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v != "UNKNOWN")
        })
    };
    let name = field("Name")?;
    let version = field("Version")?;
    let license = field("License-Expression").or_else(|| field("License"));
    let record = fs::read_to_string(dist_info.join("RECORD")).unwrap_or_default();
    let mut files: Vec<PyFile> = record
        .lines()
        .filter_map(|line| record_file(app_root, site, line))
        .collect();
    files.sort();
    files.dedup();
    Some(PyDist {
        purl: purl(&name, &version),
        name,
        version,
        license,
        files,
    })
}

/// `pkg:pypi/django@5.1` (the name normalised as PEP 503 and the purl spec say).
pub fn purl(name: &str, version: &str) -> String {
    let mut normal = String::new();
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && normal.ends_with('-')) {
            normal.push(c);
        }
    }
    format!(
        "pkg:pypi/{}@{}",
        super::os::encode(&normal),
        super::os::encode(version)
    )
}

/// One RECORD line `path,sha256=URLSAFE_B64,size` → the file (None for the
/// lines without a hash: RECORD itself, bytecode; and for paths that leave
/// the venv).
fn record_file(app_root: &Path, site: &Path, line: &str) -> Option<PyFile> {
    let (path, rest) = match line.strip_prefix('"') {
        Some(quoted) => {
            let end = quoted.find('"')?;
            (
                quoted[..end].to_string(),
                quoted[end + 1..].strip_prefix(',')?,
            )
        }
        None => {
            let (p, r) = line.split_once(',')?;
            (p.to_string(), r)
        }
    };
    let hash = rest.split(',').next()?.strip_prefix("sha256=")?;
    let sha256 = hex::encode(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(hash.trim_end_matches('='))
            .ok()?,
    );
    // Lexically normalised, and it must stay inside the venv.
    let mut rel = site.strip_prefix(app_root).ok()?.to_path_buf();
    for part in Path::new(&path).components() {
        match part {
            Component::Normal(p) => rel.push(p),
            Component::ParentDir => {
                if !rel.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    let host = app_root.join(&rel);
    let meta = fs::symlink_metadata(&host).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut sha1 = Sha1::new();
    std::io::copy(&mut fs::File::open(&host).ok()?, &mut sha1).ok()?;
    Some(PyFile {
        path: format!("{VENV_IN_IMAGE}/{}", rel.to_string_lossy()),
        sha256,
        sha1: hex::encode(sha1.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_come_with_licence_and_record_hashes() {
        let root = tempfile::tempdir().unwrap();
        let site = root.path().join("lib/python3.11/site-packages");
        let info = site.join("Flask_Thing-3.0.0.dist-info");
        fs::create_dir_all(&info).unwrap();
        fs::create_dir_all(site.join("flask_thing")).unwrap();
        fs::create_dir_all(root.path().join("bin")).unwrap();
        fs::write(site.join("flask_thing/__init__.py"), "x = 1\n").unwrap();
        fs::write(root.path().join("bin/flask-thing"), "#!python\n").unwrap();
        fs::write(
            info.join("METADATA"),
            "Metadata-Version: 2.4\nName: Flask_Thing\nVersion: 3.0.0\nLicense-Expression: BSD-3-Clause\n\nLicense: not this\n",
        )
        .unwrap();
        let b64 = |bytes: &[u8]| {
            use sha2::Digest;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes))
        };
        fs::write(
            info.join("RECORD"),
            format!(
                "flask_thing/__init__.py,sha256={},6\n../../../bin/flask-thing,sha256={},9\n\
                 ../../../../../etc/passwd,sha256={},1\nFlask_Thing-3.0.0.dist-info/RECORD,,\n",
                b64(b"x = 1\n"),
                b64(b"#!python\n"),
                b64(b"x")
            ),
        )
        .unwrap();
        let dists = read(root.path());
        assert_eq!(dists.len(), 1);
        let d = &dists[0];
        assert_eq!(d.purl, "pkg:pypi/flask-thing@3.0.0");
        assert_eq!(d.license.as_deref(), Some("BSD-3-Clause"));
        let paths: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/opt/app-root/bin/flask-thing",
                "/opt/app-root/lib/python3.11/site-packages/flask_thing/__init__.py"
            ]
        );
        use sha2::Digest;
        assert_eq!(
            d.files[1].sha256,
            hex::encode(sha2::Sha256::digest(b"x = 1\n"))
        );
        assert_eq!(d.files[1].sha1, hex::encode(Sha1::digest(b"x = 1\n")));
    }
}
