//! The locked set as a requirements file for `pip install` / `uv pip
//! install --require-hashes --no-deps`: one `name==version --hash=…` line per
//! package (direct URLs as `name @ url --hash=…`). Markers were evaluated
//! when the lock was read, so every line applies. No index URL or credential
//! is written: the index is given to the installer's environment
//! ([`super::index`]).
use crate::build::lock::{Pinned, Source};

/// The requirements text of `locked`.
pub fn text<'a>(packages: impl IntoIterator<Item = &'a Pinned>) -> String {
    let mut out = String::new();
    for p in packages {
        match &p.source {
            Source::Registry { hashes, .. } => {
                out.push_str(&format!("{}=={}", p.name, p.version));
                for h in hashes {
                    out.push_str(&format!(" \\\n    --hash={h}"));
                }
            }
            Source::Url { url, hash } => {
                out.push_str(&format!("{} @ {url} \\\n    --hash={hash}", p.name));
            }
        }
        out.push('\n');
    }
    out
}

/// Hashes as pip writes them: `sha256:<hex>` (a bare hex digest is sha256).
pub fn hash_option(hash: &str) -> String {
    if hash.contains(':') {
        hash.to_string()
    } else {
        format!("sha256:{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::lock::Locked;

    #[test]
    fn one_hashed_line_per_package() {
        let locked = Locked {
            packages: vec![Pinned {
                name: "flask".into(),
                version: "2.3.3".into(),
                source: Source::Registry {
                    hashes: vec!["sha256:aa".into(), "sha256:bb".into()],
                    index: None,
                },
            }],
            local: Vec::new(),
            install_project: false,
        };
        assert_eq!(
            text(&locked.packages),
            "flask==2.3.3 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
        );
        assert_eq!(hash_option("abc"), "sha256:abc");
        assert_eq!(hash_option("md5:abc"), "md5:abc");
    }
}
