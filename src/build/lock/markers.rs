//! PEP 508 markers for the build's interpreter: its marker values come from
//! the interpreter itself (in the one probe a build runs anyway), and markers
//! are evaluated by the `pep508_rs` crate.
use anyhow::Result;
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The marker values an interpreter reports ([`crate::build::python::probe`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Values {
    implementation_name: String,
    implementation_version: String,
    os_name: String,
    platform_machine: String,
    platform_python_implementation: String,
    platform_release: String,
    platform_system: String,
    platform_version: String,
    python_full_version: String,
    python_version: String,
    sys_platform: String,
}

/// The marker environment of the interpreter that reported `v`.
pub fn environment(v: &Values) -> Result<MarkerEnvironment> {
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: &v.implementation_name,
        implementation_version: &v.implementation_version,
        os_name: &v.os_name,
        platform_machine: &v.platform_machine,
        platform_python_implementation: &v.platform_python_implementation,
        platform_release: &v.platform_release,
        platform_system: &v.platform_system,
        platform_version: &v.platform_version,
        python_full_version: &v.python_full_version,
        python_version: &v.python_version,
        sys_platform: &v.sys_platform,
    })
    .map_err(|e| anyhow::anyhow!("the interpreter's marker environment: {e}"))
}

/// Whether `marker` (none: always) holds in `env` with `extras` asked for.
pub fn holds(marker: Option<&str>, env: &MarkerEnvironment, extras: &[ExtraName]) -> Result<bool> {
    let Some(text) = marker.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(true);
    };
    let tree = MarkerTree::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(tree.evaluate(env, extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(version: &str) -> MarkerEnvironment {
        let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: version,
            os_name: "posix",
            platform_machine: "x86_64",
            platform_python_implementation: "CPython",
            platform_release: "6.1",
            platform_system: "Linux",
            platform_version: "#1",
            python_full_version: version,
            python_version: &minor,
            sys_platform: "linux",
        })
        .unwrap()
    }

    #[test]
    fn markers_follow_the_interpreter_and_extras() {
        let m = Some("python_full_version < '3.10'");
        assert!(holds(m, &env("3.9.18"), &[]).unwrap());
        assert!(!holds(m, &env("3.12.1"), &[]).unwrap());
        assert!(holds(None, &env("3.12.1"), &[]).unwrap());
        let win = Some("sys_platform == 'win32'");
        assert!(!holds(win, &env("3.12.1"), &[]).unwrap());
        let extra = Some("extra == 'postgres'");
        let pg = ExtraName::from_str("postgres").unwrap();
        assert!(!holds(extra, &env("3.12.1"), &[]).unwrap());
        assert!(holds(extra, &env("3.12.1"), &[pg]).unwrap());
        assert!(holds(Some("python_version >>"), &env("3.12.1"), &[]).is_err());
    }
}
