//! Built-in presets: data files under `presets/<db>/`, embedded at compile time.
//! `default.yaml` holds a database's defaults (the lowest layer); the others are named presets.

use anyhow::{Result, bail};

use crate::cli::DbKind;
use crate::values::Values;

/// The name of the defaults file of every database; not selectable with `--preset`.
pub const DEFAULTS: &str = "default";

/// (database, preset name, YAML source). Paths are `presets/<db>/<name>.yaml`.
/// A row of `PRESETS`: `presets/<db>/<name>.yaml`, embedded at compile time.
macro_rules! preset {
    ($kind:ident, $db:literal, $name:literal) => {
        (
            DbKind::$kind,
            $name,
            include_str!(concat!("../presets/", $db, "/", $name, ".yaml")),
        )
    };
}

pub const PRESETS: &[(DbKind, &str, &str)] = &[
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

fn source(db: DbKind, name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(d, n, _)| *d == db && *n == name)
        .map(|&(_, _, src)| src)
}

fn parse(db: DbKind, name: &str, src: &str) -> Values {
    Values::from_yaml(src, &format!("presets/{}/{name}.yaml", db.as_str()))
        .expect("embedded preset parses")
}

/// The database's defaults.
pub fn defaults(db: DbKind) -> Values {
    let src = source(db, DEFAULTS).expect("every database has presets/<db>/default.yaml");
    parse(db, DEFAULTS, src)
}

/// The names `--preset` accepts for `db`, in table order.
pub fn names(db: DbKind) -> Vec<&'static str> {
    PRESETS
        .iter()
        .filter(|(d, n, _)| *d == db && *n != DEFAULTS)
        .map(|&(_, n, _)| n)
        .collect()
}

/// A named preset; an unknown name fails listing the valid ones.
pub fn get(db: DbKind, name: &str) -> Result<Values> {
    match source(db, name).filter(|_| name != DEFAULTS) {
        Some(src) => Ok(parse(db, name, src)),
        None => bail!(
            "unknown preset {name:?} for {}: expected one of {}",
            db.as_str(),
            names(db).join(", ")
        ),
    }
}

/// The raw text of a preset or of the defaults (`sts-gen list`).
pub fn text(db: DbKind, name: &str) -> Option<&'static str> {
    source(db, name)
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
                        .any(|(d, n, _)| d.as_str() == dbname && *n == name),
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
