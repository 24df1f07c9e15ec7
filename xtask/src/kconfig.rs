//! The kernel configuration: fragments from `config/`, applied with `make olddefconfig`.
//!
//! After `olddefconfig` every setting a fragment asks for is checked in the resulting `.config`:
//! an option whose dependencies are not met silently disappears otherwise.

use crate::build;
use crate::paths::{Flavour, Paths};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs;

/// One line of a fragment: `CONFIG_X=value`, or `# CONFIG_X is not set` (`value` is `None`).
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    pub value: Option<String>,
}

/// The settings of a fragment or `.config`; other comments and blank lines are skipped.
pub fn parse(text: &str) -> Vec<Setting> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Setting> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("# ") {
        let name = rest.strip_suffix(" is not set")?;
        return name.starts_with("CONFIG_").then(|| Setting {
            name: name.to_string(),
            value: None,
        });
    }
    let (name, value) = line.split_once('=')?;
    name.starts_with("CONFIG_").then(|| Setting {
        name: name.to_string(),
        value: Some(value.to_string()),
    })
}

/// The settings `wanted` asks for that `actual` does not have, described for a person. Where
/// `wanted` names an option twice, the later line counts, as for `merge_config.sh`.
pub fn unmet(wanted: &[Setting], actual: &[Setting]) -> Vec<String> {
    let actual: HashMap<&str, Option<&str>> = actual
        .iter()
        .map(|setting| (setting.name.as_str(), setting.value.as_deref()))
        .collect();
    let last: HashMap<&str, usize> = wanted
        .iter()
        .enumerate()
        .map(|(index, setting)| (setting.name.as_str(), index))
        .collect();
    wanted
        .iter()
        .enumerate()
        .filter(|(index, want)| last.get(want.name.as_str()) == Some(index))
        .map(|(_, want)| want)
        .filter_map(|want| {
            let have = actual.get(want.name.as_str()).copied().flatten();
            match (&want.value, have) {
                (None, None) => None,
                (None, Some(value)) => {
                    Some(format!("{} should be unset but is {value}", want.name))
                }
                (Some(value), Some(have)) if value == have => None,
                (Some(value), have) => Some(format!(
                    "{}={value} was asked for but it is {}",
                    want.name,
                    have.unwrap_or("unset")
                )),
            }
        })
        .collect()
}

/// Writes the build directory's `.config` from the fragments when they changed, and checks it.
pub fn configure(paths: &Paths, flavour: Flavour) -> Result<()> {
    let mut wanted_text = String::new();
    for fragment in flavour.fragments() {
        let path = paths.repo.join(fragment);
        wanted_text += &fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    let build_dir = paths.build(flavour);
    fs::create_dir_all(&build_dir)?;
    let stamp = build_dir.join(".drm-vmap-client-fragments");
    let config = build_dir.join(".config");
    if config.exists() && fs::read_to_string(&stamp).is_ok_and(|text| text == wanted_text) {
        return Ok(());
    }
    eprintln!("config: applying {}", flavour.fragments().join(" + "));
    fs::write(&config, &wanted_text)?;
    build::make(paths, flavour, &["olddefconfig"], "olddefconfig")?;
    let problems = unmet(&parse(&wanted_text), &parse(&fs::read_to_string(&config)?));
    if !problems.is_empty() {
        bail!(
            "the kernel configuration lost settings (unmet dependencies?):\n  {}",
            problems.join("\n  ")
        );
    }
    fs::write(stamp, wanted_text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_parse_settings_and_skip_comments() {
        let settings = parse("# a comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n");
        assert_eq!(settings.len(), 3);
        assert_eq!(
            settings[1],
            Setting {
                name: "CONFIG_B".into(),
                value: None
            }
        );
        assert_eq!(settings[2].value.as_deref(), Some("\"x\""));
    }

    #[test]
    fn lost_settings_are_reported() {
        let wanted = parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_D=y\n");
        let actual = parse("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=m\n");
        let problems = unmet(&wanted, &actual);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("CONFIG_B should be unset"));
        assert!(problems[1].contains("CONFIG_C=y was asked for but it is unset"));
        assert!(problems[2].contains("it is m"));
    }

    #[test]
    fn a_later_fragment_overrides_an_earlier_one() {
        let wanted = parse("CONFIG_A=y\nCONFIG_B=y\nCONFIG_A=m\n");
        let actual = parse("CONFIG_A=m\nCONFIG_B=y\n");
        assert!(unmet(&wanted, &actual).is_empty());
        let actual = parse("CONFIG_A=y\nCONFIG_B=y\n");
        assert_eq!(unmet(&wanted, &actual).len(), 1);
    }
}
