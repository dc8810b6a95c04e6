//! Built-in presets: data files under `presets/<database>/`, embedded at compile time (the whole
//! folder: a new database's presets need no list). `default.yaml` holds a database's defaults
//! (the lowest layer); the others are named presets.

use anyhow::{Result, bail};
use include_dir::{Dir, include_dir};

use crate::settings::Layer;

static PRESETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/presets");

/// The name of the defaults file of every database; not selectable with `--preset`.
pub const DEFAULTS: &str = "default";

/// The raw text of `presets/<database>/<name>.yaml` (`sts-gen list` prints it).
pub fn text(database: &str, name: &str) -> Option<&'static str> {
    PRESETS
        .get_file(format!("{database}/{name}.yaml"))
        .and_then(|f| f.contents_utf8())
}

fn layer(database: &str, name: &str, text: &str) -> Layer {
    Layer::from_yaml(text, &format!("presets/{database}/{name}.yaml"))
        .unwrap_or_else(|e| panic!("an embedded preset parses: {e:#}"))
}

/// The database's defaults.
pub fn defaults(database: &str) -> Layer {
    let text = text(database, DEFAULTS)
        .unwrap_or_else(|| panic!("presets/{database}/{DEFAULTS}.yaml is embedded"));
    layer(database, DEFAULTS, text)
}

/// The names `--preset` accepts for `database`, sorted.
pub fn names(database: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PRESETS
        .get_dir(database)
        .into_iter()
        .flat_map(|d| d.files())
        .filter_map(|f| f.path().file_stem()?.to_str())
        .filter(|n| *n != DEFAULTS)
        .collect();
    names.sort_unstable();
    names
}

/// A named preset; an unknown name fails listing the valid ones.
pub fn get(database: &str, name: &str) -> Result<Layer> {
    match text(database, name).filter(|_| name != DEFAULTS) {
        Some(text) => Ok(layer(database, name, text)),
        None => bail!(
            "unknown preset {name:?} for {database}: expected one of {}",
            names(database).join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_database_has_defaults_dev_and_prod() {
        for e in crate::engine::ENGINES {
            let db = e.name();
            defaults(db);
            assert_eq!(names(db), ["dev", "prod"], "{db}");
            for n in names(db) {
                get(db, n).unwrap();
            }
        }
    }

    #[test]
    fn unknown_preset_lists_the_valid_ones() {
        let e = get("mysql", "huge").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"unknown preset "huge" for mysql: expected one of dev, prod"#
        );
        assert!(get("mysql", DEFAULTS).is_err());
    }
}
