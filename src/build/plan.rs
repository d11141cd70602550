//! The dependency plan: one value that states every input deciding what an
//! install puts into the venv — the layout (which lock or requirement file),
//! the groups and extras, the installer, the interpreter, the app's files
//! that feed the install (lock file and pyproject, requirement files with
//! their includes and the project's metadata, a package project's tree, the
//! wheelhouse, the settings and environment files), the variables
//! that change how pip/uv resolve, and the `pre-build` / `build-env` hooks —
//! and hashes itself.
//!
//! `warp build` compares [`Plan::hash`] with the last build's (the inputs
//! hash: unchanged → install skipped; S2I's assemble reuses a saved venv on
//! it), and `warp image` keys its dependencies layer on the same hash plus the
//! image-only fields (base image and its Pythons, warp binary, the installer
//! inside and `WARP_INSTALLER`). There is no second list of
//! inputs anywhere: a new input is added here, and both follow.
use crate::app::config::Config;
use crate::app::hooks;
use crate::app::vars::AppVars;
use crate::app::{App, AppPaths};
use crate::build::detect::{self, Layout};
use crate::build::inputs::{hash_field, settings_files, source_inputs, HASHED_VARS};
use crate::build::install;
use crate::build::lock::Selection;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The interpreter an install is made for.
#[derive(Debug, Clone, PartialEq)]
pub struct Interpreter {
    /// Its path (the base interpreter of a build; empty for an image, whose
    /// interpreter is named by its version and the base image).
    pub path: PathBuf,
    /// e.g. "3.11.7".
    pub version: String,
}

/// Everything that decides the venv's installed packages.
#[derive(Debug, Clone)]
pub struct Plan {
    pub layout: Layout,
    pub selection: Selection,
    /// "uv" or "pip" (an image names uv's version too).
    pub installer: String,
    pub interpreter: Interpreter,
    /// The app's files that feed the install, as (name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// The values of [`HASHED_VARS`] (empty when unset).
    pub vars: Vec<(String, String)>,
    /// The `pre-build` and `build-env` hooks' text (empty when absent).
    pub hooks: Vec<(String, Vec<u8>)>,
}

/// What a plan is read from: the app, its settings and variables.
pub struct Source<'a> {
    pub paths: &'a AppPaths,
    pub config: &'a Config,
    pub vars: &'a AppVars,
    /// The app's home (APP_HOME applied).
    pub home: &'a std::path::Path,
}

impl Plan {
    /// The plan of the app in `source` for an installer and interpreter.
    pub fn read(source: &Source, installer: &str, interpreter: Interpreter) -> Result<Plan> {
        let Source {
            paths,
            config,
            vars,
            home,
        } = source;
        let layout = detect::layout(home, vars, config)?;
        let wheelhouse = install::wheelhouse(&paths.src_root);
        let mut files = source_inputs(&layout, home, &paths.app_root, wheelhouse.as_deref());
        files.extend(settings_files(&paths.src_root));
        let hooks = ["pre-build", "build-env"]
            .iter()
            .map(|name| {
                let text = hooks::find(paths, name)
                    .and_then(|file| std::fs::read(file).ok())
                    .unwrap_or_default();
                (name.to_string(), text)
            })
            .collect();
        Ok(Plan {
            selection: Selection::new(vars, config),
            layout,
            installer: installer.to_string(),
            interpreter,
            files,
            // Index URLs without their credentials: a password is not an
            // input of the set, and not even its hash goes into the record.
            vars: HASHED_VARS
                .iter()
                .map(|v| {
                    let value = vars.get(v).unwrap_or_default();
                    let value = if v.contains("INDEX") {
                        value
                            .split_whitespace()
                            .map(crate::build::lock::index::redact)
                            .collect::<Vec<_>>()
                            .join(" ")
                    } else {
                        value
                    };
                    (v.to_string(), value)
                })
                .collect(),
            hooks,
        })
    }

    /// The plan of the source tree `src`, reading its settings as a build
    /// does (for `warp image`, which builds it elsewhere), with the variables
    /// `also` (read as the build reads them) as further inputs.
    pub fn of_source(
        src: &std::path::Path,
        installer: &str,
        interpreter: Interpreter,
        also: &[&str],
    ) -> Result<Plan> {
        let paths = AppPaths::locate(src)?;
        let App { config, vars, .. } = App::load(&paths)?;
        let home = vars.app_home(&paths)?;
        let mut plan = Plan::read(
            &Source {
                paths: &paths,
                config: &config,
                vars: &vars,
                home: &home,
            },
            installer,
            interpreter,
        )?;
        for var in also {
            plan.vars
                .push((var.to_string(), vars.get(var).unwrap_or_default()));
        }
        Ok(plan)
    }

    /// sha256 over every field, each named and length-prefixed.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| hash_field(&mut h, name, value);
        field("plan", b"v3");
        field("tool", self.installer.as_bytes());
        field(
            "python",
            self.interpreter.path.as_os_str().as_encoded_bytes(),
        );
        field("version", self.interpreter.version.as_bytes());
        field("layout", self.layout.name().as_bytes());
        field("groups", self.selection.groups.join(",").as_bytes());
        field("extras", self.selection.extras.join(",").as_bytes());
        for (var, value) in &self.vars {
            field(var, value.as_bytes());
        }
        for (name, bytes) in self.files.iter().chain(&self.hooks) {
            field(name, bytes);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            layout: Layout::None,
            selection: Selection::default(),
            installer: "uv".into(),
            interpreter: Interpreter {
                path: "/usr/bin/python3.11".into(),
                version: "3.11.2".into(),
            },
            files: vec![("uv.lock".into(), b"a".to_vec())],
            vars: vec![],
            hooks: vec![],
        }
    }

    #[test]
    fn every_stated_input_changes_the_hash() {
        let base = plan().hash();
        assert_eq!(base, plan().hash());
        let mut p = plan();
        p.selection.groups.push("docs".into());
        assert_ne!(p.hash(), base);
        let mut p = plan();
        p.selection.extras.push("pg".into());
        assert_ne!(p.hash(), base);
        let mut p = plan();
        p.installer = "pip".into();
        assert_ne!(p.hash(), base);
        let mut p = plan();
        p.interpreter.version = "3.12.1".into();
        assert_ne!(p.hash(), base);
        let mut p = plan();
        p.files[0].1 = b"b".to_vec();
        assert_ne!(p.hash(), base);
    }
}
