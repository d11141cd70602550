//! Which optional parts of a lock are installed: the production set by
//! default (no `dev` group of uv, Poetry, PDM or Pipfile), plus the dependency
//! groups and the project's extras named by `groups:` / `extras:` in
//! `.warp/config.yaml` or `$WARP_GROUPS` / `$WARP_EXTRAS` (comma- or
//! space-separated; the variable wins over the file).
use crate::app::config::Config;
use crate::app::vars::AppVars;
use crate::build::lock::normalize;
use pep508_rs::ExtraName;
use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Dependency groups beyond the production set (normalised names).
    pub groups: Vec<String>,
    /// Extras of the project (normalised names).
    pub extras: Vec<String>,
}

impl Selection {
    pub fn new(vars: &AppVars, config: &Config) -> Selection {
        let list = |var: &str, configured: &Option<Vec<String>>| -> Vec<String> {
            let mut names: Vec<String> = match vars.get(var) {
                Some(value) => value
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(normalize)
                    .collect(),
                None => configured.iter().flatten().map(|s| normalize(s)).collect(),
            };
            names.sort();
            names.dedup();
            names
        };
        Selection {
            groups: list("WARP_GROUPS", &config.groups),
            extras: list("WARP_EXTRAS", &config.extras),
        }
    }

    /// Whether a group (by any spelling) was asked for.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains(&normalize(group))
    }

    /// Whether an extra (by any spelling) was asked for.
    pub fn has_extra(&self, extra: &str) -> bool {
        self.extras.contains(&normalize(extra))
    }

    /// The extras as marker values (`extra == "..."`).
    pub fn extra_names(&self) -> Vec<ExtraName> {
        self.extras
            .iter()
            .filter_map(|e| ExtraName::from_str(e).ok())
            .collect()
    }

    /// "groups: a, b; extras: c" — for hashes and messages.
    pub fn describe(&self) -> String {
        format!(
            "groups: {}; extras: {}",
            self.groups.join(", "),
            self.extras.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn config_lists_and_variables_normalised_the_variable_winning() {
        let config = crate::app::config::parse(
            "lock: pylock.web.toml\ngroups: [Docs, docs]\nextras: [Postgres_Binary]\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(config.lock.as_deref(), Some("pylock.web.toml"));
        let mut vars = AppVars::default();
        let from_config = Selection::new(&vars, &config);
        assert_eq!(from_config.groups, ["docs"]);
        assert_eq!(from_config.extras, ["postgres-binary"]);
        assert!(from_config.has_extra("postgres.binary"));
        vars.set("WARP_GROUPS", "dev, lint");
        let chosen = Selection::new(&vars, &config);
        assert_eq!(chosen.groups, ["dev", "lint"]);
        assert_eq!(chosen.extras, ["postgres-binary"]);
    }
}
