//! The base image's OS packages, read from its package database: Debian and
//! Ubuntu's dpkg status file, Alpine's apk database. An rpm database (a
//! sqlite or Berkeley DB file) is not read: the SBOM says so instead of
//! pretending the base has no packages. Paths are resolved inside the base's
//! root (a symlink never leads out of it).
use crate::image::unpack;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One installed OS package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OsPackage {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    /// The licence the database states (apk does; dpkg does not).
    pub license: Option<String>,
    /// `pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12`
    pub purl: String,
}

/// What the base's package database says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInventory {
    /// `debian 12`, from /etc/os-release (ID and VERSION_ID).
    pub distro: Option<String>,
    pub packages: Vec<OsPackage>,
    /// Set when the packages could not be listed, saying why.
    pub not_listed: Option<String>,
}

/// Read the OS packages of the root filesystem at `root`.
pub fn read(root: &Path) -> OsInventory {
    let read = |rel: &str| -> Option<String> {
        let path = unpack::resolve_in_root(root, Path::new(rel), true, "the base image").ok()?;
        std::fs::read_to_string(path).ok()
    };
    let release = read("etc/os-release").or_else(|| read("usr/lib/os-release"));
    let field = |k: &str| {
        release.as_deref().and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix(k)?
                    .strip_prefix('=')
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        })
    };
    let id = field("ID").unwrap_or_else(|| "linux".to_string());
    let version = field("VERSION_ID");
    let distro = version.as_ref().map(|v| format!("{id}-{v}"));
    let described = Some(
        format!("{id} {}", version.as_deref().unwrap_or(""))
            .trim()
            .to_string(),
    );
    let mut inventory = OsInventory {
        distro: described,
        packages: Vec::new(),
        not_listed: None,
    };
    if let Some(status) = read("var/lib/dpkg/status") {
        inventory.packages = dpkg(&status, &id, distro.as_deref());
    } else if let Some(installed) = read("lib/apk/db/installed") {
        inventory.packages = apk(&installed, &id, distro.as_deref());
    } else if ["var/lib/rpm", "usr/lib/sysimage/rpm"].iter().any(|d| {
        unpack::resolve_in_root(root, Path::new(d), true, "the base image")
            .is_ok_and(|p| p.is_dir())
    }) {
        inventory.not_listed = Some(
            "the base's OS packages are in an rpm database, which warp does not read: they are not listed"
                .to_string(),
        );
    } else {
        inventory.not_listed =
            Some("the base has no dpkg, apk or rpm database: no OS packages listed".to_string());
    }
    inventory.packages.sort();
    inventory.packages.dedup();
    inventory
}

fn purl(
    kind: &str,
    namespace: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<&str>,
) -> String {
    let mut qualifiers = Vec::new();
    if let Some(arch) = arch {
        qualifiers.push(format!("arch={}", encode(arch)));
    }
    if let Some(distro) = distro {
        qualifiers.push(format!("distro={}", encode(distro)));
    }
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        encode(namespace),
        encode(name),
        encode(version)
    );
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// Percent-encoding of a purl component (what the purl spec leaves as is
/// stays: letters, digits, `.-_~`).
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Paragraphs of a dpkg status file whose Status is `install ok installed`.
fn dpkg(status: &str, id: &str, distro: Option<&str>) -> Vec<OsPackage> {
    let mut out = Vec::new();
    for paragraph in status.split("\n\n") {
        let field = |k: &str| {
            paragraph.lines().find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|v| v.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else {
            continue;
        };
        if !field("Status").is_some_and(|s| s.ends_with(" installed")) {
            continue;
        }
        let arch = field("Architecture");
        out.push(OsPackage {
            purl: purl("deb", id, &name, &version, arch.as_deref(), distro),
            name,
            version,
            arch,
            license: None,
        });
    }
    out
}

/// Records of Alpine's `lib/apk/db/installed` (P: name, V: version, A:
/// arch, L: licence).
fn apk(installed: &str, id: &str, distro: Option<&str>) -> Vec<OsPackage> {
    let mut out = Vec::new();
    for record in installed.split("\n\n") {
        let field = |k: &str| {
            record
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let (Some(name), Some(version)) = (field("P:"), field("V:")) else {
            continue;
        };
        let arch = field("A:");
        out.push(OsPackage {
            purl: purl("apk", id, &name, &version, arch.as_deref(), distro),
            name,
            version,
            arch,
            license: field("L:"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn dpkg_lists_installed_packages_with_purls() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
        fs::create_dir_all(root.path().join("usr/lib")).unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("usr/lib/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.path().join("etc/os-release"))
            .unwrap();
        fs::write(
            root.path().join("var/lib/dpkg/status"),
            "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: x\n more\n\n\
             Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
             Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n",
        )
        .unwrap();
        let inv = read(root.path());
        assert_eq!(inv.distro.as_deref(), Some("debian 12"));
        assert_eq!(inv.not_listed, None);
        let names: Vec<&str> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["bash", "libc6"]);
        assert_eq!(
            inv.packages[0].purl,
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn apk_states_licences_and_rpm_is_said_not_listed() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("lib/apk/db")).unwrap();
        fs::write(
            root.path().join("lib/apk/db/installed"),
            "C:Q1x\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n",
        )
        .unwrap();
        let inv = read(root.path());
        assert_eq!(inv.packages.len(), 2);
        assert_eq!(inv.packages[1].license.as_deref(), Some("MIT"));
        assert!(inv.packages[1]
            .purl
            .starts_with("pkg:apk/linux/musl@1.2.4-r2?arch=x86_64"));

        let rpm = tempfile::tempdir().unwrap();
        fs::create_dir_all(rpm.path().join("var/lib/rpm")).unwrap();
        let inv = read(rpm.path());
        assert!(inv.packages.is_empty());
        assert!(inv.not_listed.unwrap().contains("rpm database"));
    }
}
