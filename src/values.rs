//! The values schema: one type for presets, `-f` values files and `--set`, all fields optional.
//! Layers are merged with [`Values::merge`]; `resolve` turns the merged result into a `Spec`.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Deserializer, Serialize};

use crate::cli::{DbKind, ServiceType};

/// A scalar that may be written as a YAML string or number (`cpu: 1`, `cpu: 500m`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AntiAffinity {
    /// Spread pods over nodes when possible (`preferredDuringScheduling…`).
    Preferred,
    /// Never schedule two pods on one node (`requiredDuringScheduling…`).
    Required,
}

/// Everything a preset, a values file or `--set` may say. Unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Values {
    /// Which database the file describes (`sts-gen render`); checked against the subcommand.
    pub database: Option<DbKind>,
    /// A preset to start from, as `--preset` (the flag wins).
    pub preset: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub replicas: Option<i64>,
    pub image: Option<String>,
    pub storage: Option<StorageValues>,
    pub resources: Option<ResourceValues>,
    pub service_type: Option<ServiceType>,
    pub existing_secret: Option<String>,
    pub cluster_domain: Option<String>,
    pub anti_affinity: Option<AntiAffinity>,
    pub termination_grace_period_seconds: Option<i64>,
    pub labels: Option<BTreeMap<String, Scalar>>,
    pub mysql: Option<MysqlValues>,
    /// The same keys as `mysql`.
    pub mariadb: Option<MysqlValues>,
    pub mongodb: Option<MongodbValues>,
    pub backup: Option<BackupValues>,
    pub elasticsearch: Option<ElasticsearchValues>,
    pub postgres: Option<PostgresValues>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageValues {
    pub size: Option<Scalar>,
    pub class_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceValues {
    /// CPU request.
    pub cpu: Option<Scalar>,
    /// Memory request; also the memory limit unless `memoryLimit` is set.
    pub memory: Option<Scalar>,
    pub cpu_limit: Option<Scalar>,
    pub memory_limit: Option<Scalar>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MysqlValues {
    /// `server_id` = this offset + the pod's ordinal.
    pub server_id_offset: Option<i64>,
    pub max_connections: Option<i64>,
    /// `innodb_buffer_pool_size`; derived from the memory limit when unset.
    pub innodb_buffer_pool_size: Option<Scalar>,
    pub binlog_expire_logs_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupValues {
    /// Cron schedule of the backup CronJob; unset or "none": no backups.
    pub schedule: Option<String>,
    pub storage_size: Option<Scalar>,
    pub storage_class_name: Option<String>,
    /// Complete backups kept.
    pub keep: Option<i64>,
    /// An S3-compatible bucket instead of the claim.
    pub s3: Option<S3Values>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Values {
    /// An existing Secret with the keys endpoint, bucket, access-key-id, secret-access-key and
    /// optionally region.
    pub secret: Option<String>,
    /// The folder of this instance's backups in the bucket (default: the instance's name).
    pub prefix: Option<String>,
    /// The image of the S3 client (rclone) that uploads and downloads backups.
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MongodbValues {
    pub replica_set_name: Option<String>,
    /// `storage.wiredTiger.engineConfig.cacheSizeGB`; derived from the memory limit when unset.
    pub wired_tiger_cache_size: Option<Scalar>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ElasticsearchValues {
    /// HTTPS on the HTTP port.
    pub http_tls: Option<bool>,
    /// A privileged init container raises vm.max_map_count; false: mmap off instead.
    pub privileged_init: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresValues {
    pub max_connections: Option<i64>,
    /// `wal_keep_size`: WAL kept for standbys that were away.
    pub wal_keep_size: Option<Scalar>,
}

/// Later layers win field by field; maps merge key by key.
pub trait Merge {
    fn merge(&mut self, later: Self);
}

impl<T: Merge> Merge for Option<T> {
    fn merge(&mut self, later: Self) {
        match (self.as_mut(), later) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => *self = Some(b),
            (_, None) => {}
        }
    }
}

macro_rules! merge_leaves {
    ($($t:ty),*) => {$(impl Merge for $t { fn merge(&mut self, later: Self) { *self = later; } })*};
}
merge_leaves!(String, i64, bool, Scalar, ServiceType, AntiAffinity, DbKind);

impl Merge for BTreeMap<String, Scalar> {
    fn merge(&mut self, later: Self) {
        self.extend(later);
    }
}

macro_rules! merge_struct {
    ($t:ty { $($f:ident),* }) => {
        impl Merge for $t {
            fn merge(&mut self, later: Self) { $(self.$f.merge(later.$f);)* }
        }
    };
}
merge_struct!(Values {
    database,
    preset,
    name,
    namespace,
    replicas,
    image,
    storage,
    resources,
    service_type,
    existing_secret,
    cluster_domain,
    anti_affinity,
    termination_grace_period_seconds,
    labels,
    mysql,
    mariadb,
    mongodb,
    backup,
    elasticsearch,
    postgres
});
merge_struct!(BackupValues {
    schedule,
    storage_size,
    storage_class_name,
    keep,
    s3
});
merge_struct!(S3Values {
    secret,
    prefix,
    image
});
merge_struct!(StorageValues { size, class_name });
merge_struct!(ResourceValues {
    cpu,
    memory,
    cpu_limit,
    memory_limit
});
merge_struct!(PostgresValues {
    max_connections,
    wal_keep_size
});
merge_struct!(ElasticsearchValues {
    http_tls,
    privileged_init
});
merge_struct!(MongodbValues {
    replica_set_name,
    wired_tiger_cache_size
});
merge_struct!(MysqlValues {
    server_id_offset,
    max_connections,
    innodb_buffer_pool_size,
    binlog_expire_logs_seconds
});

impl Values {
    /// Parse a values document. `origin` names the file in errors, which carry the line.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Values> {
        if text.trim().is_empty() {
            return Ok(Values::default());
        }
        serde_saphyr::from_str::<Values>(text)
            .map_err(|e| anyhow!("{}", with_source_line(&one_line(&e.to_string()), text)))
            .with_context(|| format!("{origin}: invalid values"))
    }

    /// Parse one `--set KEY=VALUE`; the key is a values-file path such as `storage.size`.
    pub fn from_set(assignment: &str) -> Result<Values> {
        let Some((key, value)) = assignment.split_once('=') else {
            bail!("--set {assignment:?}: expected KEY=VALUE, e.g. storage.size=20Gi");
        };
        // Map-valued keys take the rest of the path verbatim: label keys contain dots.
        let parts: Vec<&str> = match key.split_once('.') {
            Some(("labels", label)) => vec!["labels", label],
            _ => key.split('.').collect(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            bail!("--set {assignment:?}: the key {key:?} has an empty path segment");
        }
        let mut node = scalar_value(value);
        for part in parts.iter().rev() {
            node = serde_json::Value::Object([((*part).to_owned(), node)].into_iter().collect());
        }
        serde_json::from_value::<Values>(node).map_err(|e| anyhow!("--set {key}={value}: {e}"))
    }
}

/// `--set` values are typed the way YAML would type them: integers and booleans, else strings.
fn scalar_value(v: &str) -> serde_json::Value {
    if let Ok(i) = v.parse::<i64>() {
        return serde_json::Value::from(i);
    }
    match v {
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        _ => serde_json::Value::String(v.to_owned()),
    }
}

/// Quote the offending line, which names the key, after a message that gives `line N`.
fn with_source_line(msg: &str, text: &str) -> String {
    let line_no = msg
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    match line_no.and_then(|n| text.lines().nth(n.wrapping_sub(1))) {
        Some(line) if !line.trim().is_empty() => format!("{msg} (in `{}`)", line.trim()),
        _ => msg.to_owned(),
    }
}

/// Parser errors can span lines (a snippet of the input); keep the first, most specific line.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    // serde-saphyr puts the location on a following `-->` line; keep it with the message.
    match msg.lines().map(str::trim).find(|l| l.starts_with("-->")) {
        Some(loc) if !first.contains("line") => {
            format!("{first} at {}", loc.trim_start_matches("-->").trim())
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_field_by_field() {
        let mut v = Values::from_yaml("replicas: 3\nstorage:\n  size: 10Gi\n  className: a\n", "a")
            .unwrap();
        v.merge(Values::from_yaml("storage:\n  size: 20Gi\n", "b").unwrap());
        assert_eq!(v.replicas, Some(3));
        let s = v.storage.unwrap();
        assert_eq!(s.size, Some(Scalar("20Gi".into())));
        assert_eq!(s.class_name.as_deref(), Some("a"));
    }

    #[test]
    fn labels_merge_key_by_key() {
        let mut v = Values::from_yaml("labels:\n  a: '1'\n  b: '2'\n", "a").unwrap();
        v.merge(Values::from_set("labels.b=3").unwrap());
        v.merge(Values::from_set("labels.example.com/team=db").unwrap());
        let l = v.labels.unwrap();
        assert_eq!(l["a"].0, "1");
        assert_eq!(l["b"].0, "3");
        assert_eq!(l["example.com/team"].0, "db");
    }

    #[test]
    fn set_uses_the_values_paths_and_types() {
        let v = Values::from_set("storage.size=20Gi").unwrap();
        assert_eq!(v.storage.unwrap().size, Some(Scalar("20Gi".into())));
        assert_eq!(Values::from_set("replicas=5").unwrap().replicas, Some(5));
        assert_eq!(
            Values::from_set("resources.cpu=2")
                .unwrap()
                .resources
                .unwrap()
                .cpu,
            Some(Scalar("2".into()))
        );
        let v = Values::from_set("mysql.serverIdOffset=1000").unwrap();
        assert_eq!(v.mysql.unwrap().server_id_offset, Some(1000));
    }

    #[test]
    fn set_rejects_unknown_keys_naming_them() {
        let e = Values::from_set("storage.bogus=1").unwrap_err().to_string();
        assert!(
            e.contains("storage.bogus=1") && e.contains("unknown field `bogus`"),
            "{e}"
        );
        let e = Values::from_set("nokey").unwrap_err().to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
        let e = Values::from_set("storage..size=1").unwrap_err().to_string();
        assert!(e.contains("empty path segment"), "{e}");
    }

    #[test]
    fn values_file_rejects_unknown_keys_with_the_line() {
        let e = Values::from_yaml("replicas: 3\nstorage:\n  sise: 1Gi\n", "v.yaml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.starts_with("v.yaml: invalid values: "), "{msg}");
        assert!(msg.contains("sise"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn empty_values_file_is_no_values() {
        assert_eq!(
            Values::from_yaml("\n# nothing\n", "x").unwrap(),
            Values::default()
        );
    }
}
