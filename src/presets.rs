//! Built-in presets: data files under `presets/<db>/`, embedded at compile time.
//! `default.yaml` holds a database's defaults (the lowest layer); the others are named presets.

use anyhow::{Result, bail};

use crate::cli::DbKind;
use crate::values::Values;

/// The name of the defaults file of every database; not selectable with `--preset`.
pub const DEFAULTS: &str = "default";

/// A row of `PRESETS`: database, preset name, and `presets/<db>/<name>.yaml` embedded at
/// compile time.
macro_rules! preset {
    ($kind:ident, $db:literal, $name:literal) => {
        Preset {
            db: DbKind::$kind,
            name: $name,
            yaml: include_str!(concat!("../presets/", $db, "/", $name, ".yaml")),
        }
    };
}

pub struct Preset {
    pub db: DbKind,
    pub name: &'static str,
    /// The source: what a run reads, and what `sts-gen list` prints.
    pub yaml: &'static str,
}

pub const PRESETS: &[Preset] = &[
    preset!(Elasticsearch, "elasticsearch", "default"),
    preset!(Elasticsearch, "elasticsearch", "dev"),
    preset!(Elasticsearch, "elasticsearch", "prod"),
    preset!(Mongodb, "mongodb", "default"),
    preset!(Mongodb, "mongodb", "dev"),
    preset!(Mongodb, "mongodb", "prod"),
    preset!(Mysql, "mysql", "default"),
    preset!(Mysql, "mysql", "dev"),
    preset!(Mysql, "mysql", "prod"),
    preset!(Mariadb, "mariadb", "default"),
    preset!(Mariadb, "mariadb", "dev"),
    preset!(Mariadb, "mariadb", "prod"),
    preset!(Postgres, "postgres", "default"),
    preset!(Postgres, "postgres", "dev"),
    preset!(Postgres, "postgres", "prod"),
    preset!(Redis, "redis", "default"),
    preset!(Redis, "redis", "dev"),
    preset!(Redis, "redis", "prod"),
];

fn find(db: DbKind, name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.db == db && p.name == name)
}

/// An embedded preset parses (a unit test parses every one).
fn parse(p: &Preset) -> Values {
    let origin = format!("presets/{}/{}.yaml", p.db.as_str(), p.name);
    Values::from_yaml(p.yaml, &origin).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The database's defaults.
pub fn defaults(db: DbKind) -> Values {
    parse(find(db, DEFAULTS).expect("every database has presets/<db>/default.yaml"))
}

/// The names `--preset` accepts for `db`, in table order.
pub fn names(db: DbKind) -> Vec<&'static str> {
    PRESETS
        .iter()
        .filter(|p| p.db == db && p.name != DEFAULTS)
        .map(|p| p.name)
        .collect()
}

/// A named preset; an unknown name fails listing the valid ones.
pub fn get(db: DbKind, name: &str) -> Result<Values> {
    match find(db, name).filter(|_| name != DEFAULTS) {
        Some(p) => Ok(parse(p)),
        None => bail!(
            "unknown preset {name:?} for {}: expected one of {}",
            db.as_str(),
            names(db).join(", ")
        ),
    }
}

/// The raw text of a preset or of the defaults (`sts-gen list`).
pub fn text(db: DbKind, name: &str) -> Option<&'static str> {
    find(db, name).map(|p| p.yaml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_database_has_defaults_dev_and_prod() {
        for &db in DbKind::value_variants() {
            defaults(db);
            assert_eq!(names(db), ["dev", "prod"], "{db:?}");
            for n in names(db) {
                get(db, n).unwrap();
            }
        }
    }

    #[test]
    fn every_preset_file_is_in_the_table() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/presets");
        for db in std::fs::read_dir(root).unwrap() {
            let db = db.unwrap();
            if !db.file_type().unwrap().is_dir() {
                continue;
            }
            for f in std::fs::read_dir(db.path()).unwrap() {
                let path = f.unwrap().path();
                let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
                let dbname = db.file_name().to_str().unwrap().to_owned();
                assert!(
                    PRESETS
                        .iter()
                        .any(|p| p.db.as_str() == dbname && p.name == name),
                    "{} is not in PRESETS",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn unknown_preset_lists_the_valid_ones() {
        let e = get(DbKind::Mysql, "huge").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"unknown preset "huge" for mysql: expected one of dev, prod"#
        );
        assert!(get(DbKind::Mysql, DEFAULTS).is_err());
    }
}
