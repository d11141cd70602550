//! Facts about the app's source that go into the image's metadata: the
//! SOURCE_DATE_EPOCH every stamped timestamp uses (default: the last commit
//! time), the git revision and the remote URL (credentials stripped).
use crate::error::fail;
use anyhow::Result;
use std::path::Path;

/// SOURCE_DATE_EPOCH, else the last commit time of the source, else 0.
pub fn source_date_epoch(src: &Path) -> Result<u64> {
    if let Some(epoch) = env_source_date_epoch()? {
        return Ok(epoch);
    }
    Ok(git(src, &["log", "-1", "--format=%ct"])
        .and_then(|t| t.parse().ok())
        .unwrap_or(0))
}

/// SOURCE_DATE_EPOCH, when set.
pub fn env_source_date_epoch() -> Result<Option<u64>> {
    let Some(text) = std::env::var_os("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = text.to_string_lossy();
    text.trim().parse().map(Some).map_err(|_| {
        fail(
            format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"),
            "set it to a Unix time, e.g. $(git log -1 --format=%ct)",
        )
    })
}

/// The output of `git -C src ARGS`, if git is there and succeeds.
pub fn git(src: &Path, args: &[&str]) -> Option<String> {
    let mut full = vec!["-C".to_string(), src.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    let out = duct::cmd("git", full)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `https://user:token@host/x` → `https://host/x`: a label must not carry a secret.
fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host))
                if !rest.split('/').next().unwrap_or("").is_empty()
                    && rest.find('@') < rest.find('/') =>
            {
                format!("{scheme}://{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The `origin` remote's URL, credentials stripped.
pub fn remote_url(src: &Path) -> Option<String> {
    git(src, &["config", "--get", "remote.origin.url"]).map(|u| strip_credentials(&u))
}

/// Whether the work tree differs from the commit (`git status --porcelain`
/// lists something), when the source is a git checkout.
pub fn dirty(src: &Path) -> Option<bool> {
    revision(src)?;
    Some(git(src, &["status", "--porcelain"]).is_some())
}

/// The commit checked out (`git rev-parse HEAD`).
pub fn revision(src: &Path) -> Option<String> {
    git(src, &["rev-parse", "HEAD"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_from_source_urls() {
        assert_eq!(
            strip_credentials("https://u:tok@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            strip_credentials("https://github.com/a/b@c.git"),
            "https://github.com/a/b@c.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }
}
