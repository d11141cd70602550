//! Image references with skopeo-style transports: `docker://host/repo:tag`
//! (or a bare reference), `oci:DIR[:tag]`, `oci-archive:FILE`,
//! `docker-archive:FILE`. Parsing follows the distribution reference grammar
//! (lower-case path components, a domain when the first component has a `.`
//! or `:` or is `localhost`, Docker Hub and `library/` as defaults).
use crate::error::fail;
use anyhow::Result;
use std::fmt;
use std::path::PathBuf;

/// Docker Hub, the registry of a reference without a domain.
pub const DOCKER_HUB: &str = "docker.io";

/// A reference to an image in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRef {
    /// `host[:port]`, `docker.io` when none was given.
    pub registry: String,
    /// `library/python`, `team/app`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…` when the reference pins a digest.
    pub digest: Option<String>,
}

/// Where an image comes from or goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Docker(DockerRef),
    /// An OCI layout directory, with the `org.opencontainers.image.ref.name` to pick.
    Oci {
        dir: PathBuf,
        tag: Option<String>,
    },
    /// An OCI layout in a tar file.
    OciArchive(PathBuf),
    /// `docker save` format: a tar with `manifest.json`.
    DockerArchive(PathBuf),
}

/// skopeo transports warp does not read or write.
const OTHER_TRANSPORTS: &[&str] = &[
    "containers-storage",
    "docker-daemon",
    "dir",
    "ostree",
    "sif",
    "tarball",
];

const TRANSPORT_HINT: &str =
    "use docker://HOST/REPO:TAG, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE";

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef> {
        if let Some(rest) = text.strip_prefix("docker://") {
            return Ok(ImageRef::Docker(DockerRef::parse(rest)?));
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            return Ok(ImageRef::OciArchive(non_empty_path(text, rest)?));
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            return Ok(ImageRef::DockerArchive(non_empty_path(text, rest)?));
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            // oci:DIR:TAG — the tag is what follows the last ':' when it is
            // not part of a path (no '/').
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                    (dir, Some(tag.to_string()))
                }
                _ => (rest, None),
            };
            return Ok(ImageRef::Oci {
                dir: non_empty_path(text, dir)?,
                tag,
            });
        }
        // Other skopeo transports, and URLs of any other scheme.
        let scheme = text.split_once(':').map(|(s, _)| s).unwrap_or("");
        if text.contains("://") || OTHER_TRANSPORTS.contains(&scheme) {
            return Err(fail(
                format!("unknown image transport {scheme:?} in {text:?}"),
                TRANSPORT_HINT,
            ));
        }
        Ok(ImageRef::Docker(DockerRef::parse(text)?))
    }
}

fn non_empty_path(text: &str, path: &str) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(fail(
            format!("{text:?} names no file or directory"),
            TRANSPORT_HINT,
        ));
    }
    Ok(PathBuf::from(path))
}

impl DockerRef {
    /// Parse `[host[:port]/]path[:tag][@sha256:hex]`.
    pub fn parse(text: &str) -> Result<DockerRef> {
        let invalid = |why: &str| {
            fail(
                format!("{text:?} is not a valid image reference: {why}"),
                "a reference looks like registry.example.com/team/app:1.0 (lower-case name, tag of letters, digits, '.', '_', '-')",
            )
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| invalid("only sha256 digests are supported"))?;
                if hex.len() != 64 || !hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
                    return Err(invalid(
                        "the digest is not sha256 followed by 64 hex digits",
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        // The tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(invalid("bad tag"));
            }
        }
        let mut components: Vec<&str> = name.split('/').collect();
        let registry = if components.len() > 1
            && (components[0].contains('.')
                || components[0].contains(':')
                || components[0] == "localhost")
        {
            let host = components.remove(0);
            let valid_host = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid_host || host.starts_with([':', '.', '-']) {
                return Err(invalid("bad registry host"));
            }
            host.to_string()
        } else {
            DOCKER_HUB.to_string()
        };
        for component in &components {
            if !valid_path_component(component) {
                return Err(invalid(&format!(
                    "{component:?} is not a valid name component (lower-case letters, digits and single '.', '_', '__' or '-' between them)"
                )));
            }
        }
        if registry == DOCKER_HUB && components.len() == 1 {
            components.insert(0, "library");
        }
        let repository = components.join("/");
        if repository.len() > 255 {
            return Err(invalid("the name is longer than 255 characters"));
        }
        Ok(DockerRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag or digest to ask the registry for (`latest` when none).
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The tag to write into archives (`latest` when none).
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// Whether the registry is spoken to over plain HTTP (as Docker does for
    /// localhost and 127.0.0.0/8).
    pub fn is_local_registry(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => self.registry.as_str(),
        };
        host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `host/repo:tag`, the form `podman images` shows.
    pub fn familiar(&self) -> String {
        format!(
            "{}/{}:{}",
            self.registry,
            self.repository,
            self.tag_or_latest()
        )
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    if component.is_empty() {
        return false;
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Docker(r) => write!(f, "docker://{r}"),
            ImageRef::Oci { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageRef::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageRef::OciArchive(p) => write!(f, "oci-archive:{}", p.display()),
            ImageRef::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(text: &str) -> DockerRef {
        match ImageRef::parse(text).unwrap() {
            ImageRef::Docker(r) => r,
            other => panic!("{text} parsed as {other:?}"),
        }
    }

    #[test]
    fn bare_names_default_to_docker_hub_library() {
        let r = docker("python:3.12-slim");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/python");
        assert_eq!(r.reference(), "3.12-slim");
        assert_eq!(docker("team/app").repository, "team/app");
        assert_eq!(docker("app").reference(), "latest");
    }

    #[test]
    fn hosts_ports_and_digests() {
        let r = docker("docker://127.0.0.1:5000/base/debian:1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "base/debian");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert!(r.is_local_registry());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = docker(&format!("quay.io/x/y@{d}"));
        assert_eq!(r.reference(), d);
        assert!(!r.is_local_registry());
        assert!(docker("localhost/app").is_local_registry());
        assert_eq!(docker("localhost:5000/app:v2").registry, "localhost:5000");
    }

    #[test]
    fn local_transports() {
        assert_eq!(
            ImageRef::parse("oci:/tmp/layout:v1").unwrap(),
            ImageRef::Oci {
                dir: "/tmp/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci:out").unwrap(),
            ImageRef::Oci {
                dir: "out".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse("oci-archive:a.tar").unwrap(),
            ImageRef::OciArchive("a.tar".into())
        );
        assert_eq!(
            ImageRef::parse("docker-archive:b.tar").unwrap(),
            ImageRef::DockerArchive("b.tar".into())
        );
    }

    #[test]
    fn invalid_references_are_refused() {
        for bad in [
            "",
            "App",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:12",
            "-a",
            "a..b",
            "sif:foo",
            "ftp://x/y",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = ImageRef::parse("containers-storage:foo")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown image transport"), "{err}");
    }
}
