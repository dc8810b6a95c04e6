//! The resolved, validated description of one database instance: what engines and builders read.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{DbKind, ServiceType};
use crate::names::Names;
use crate::quantity::Quantity;
use crate::values::AntiAffinity;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    pub names: Names,
    /// `None`: objects carry no namespace; scripts read it from the downward API.
    pub namespace: Option<String>,
    pub replicas: u32,
    pub image: Image,
    pub storage: Storage,
    pub resources: Resources,
    pub service_type: ServiceType,
    pub credentials: Credentials,
    pub cluster_domain: String,
    pub anti_affinity: AntiAffinity,
    pub termination_grace_period_seconds: i64,
    pub labels: BTreeMap<String, String>,
    /// Scheduled backups, if on.
    pub backup: Option<BackupSpec>,
    /// `--restore-from`: the output is what restores this backup into pod 0.
    pub restore_from: Option<String>,
    /// Backups in an S3-compatible bucket instead of the claim `<name>-backups` (for the backup
    /// CronJob and the restore Job alike).
    pub backup_s3: Option<S3Store>,
    /// The database and its own options.
    pub db: DbSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupSpec {
    /// A cron schedule as CronJob takes it.
    pub schedule: String,
    pub storage: Storage,
    /// Complete backups kept (at least 1).
    pub keep: u32,
}

/// An S3-compatible bucket that holds the backups, under `prefix/<backup name>/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3Store {
    /// The existing Secret with the bucket's endpoint, name and keys.
    pub secret: String,
    /// `backup.s3.prefix`; unset: `<namespace>/<name>`.
    pub prefix: Option<String>,
    /// The instance's name, for the default prefix.
    pub name: String,
    /// The S3 client's image (rclone).
    pub image: String,
    /// The Jobs' scratch volume, which holds one backup on its way to or from the bucket.
    pub scratch: Storage,
}

impl S3Store {
    /// The folder in the bucket as a shell word for the scripts: the configured prefix, or
    /// `<namespace>/<name>` with the namespace read at run time (`POD_NAMESPACE`), so that sets
    /// of the same name in two namespaces never share a folder, nor prune each other's backups.
    /// Prefixes and names hold no shell-special characters (checked in `resolve`).
    pub fn prefix_word(&self) -> String {
        match &self.prefix {
            Some(p) => p.clone(),
            None => format!("\"$POD_NAMESPACE\"/{}", self.name),
        }
    }
}

/// One variant per database, holding that database's options: an exhaustive `match` finds them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DbSpec {
    Mysql(MysqlSpec),
    /// MariaDB shares MySQL's options (and its engine).
    Mariadb(MysqlSpec),
    Mongodb(MongodbSpec),
    Elasticsearch(ElasticsearchSpec),
    Postgres(PostgresSpec),
    Redis(RedisSpec),
}

impl DbSpec {
    pub fn kind(&self) -> DbKind {
        match self {
            DbSpec::Mysql(_) => DbKind::Mysql,
            DbSpec::Mariadb(_) => DbKind::Mariadb,
            DbSpec::Mongodb(_) => DbKind::Mongodb,
            DbSpec::Elasticsearch(_) => DbKind::Elasticsearch,
            DbSpec::Postgres(_) => DbKind::Postgres,
            DbSpec::Redis(_) => DbKind::Redis,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MysqlSpec {
    pub server_id_offset: u32,
    pub max_connections: u32,
    /// Bytes; derived from the memory limit unless given.
    pub innodb_buffer_pool_size: u64,
    pub binlog_expire_logs_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MongodbSpec {
    pub replica_set_name: String,
    /// WiredTiger cache in GiB (mongod's unit); derived from the memory limit unless given.
    pub wired_tiger_cache_gb: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElasticsearchSpec {
    pub http_tls: bool,
    pub privileged_init: bool,
    /// JVM heap (-Xms = -Xmx) in MiB: half the memory limit, below 31 GiB (compressed oops).
    pub heap_mib: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostgresSpec {
    pub max_connections: u32,
    /// A quarter of the memory limit, at least 32 MiB.
    pub shared_buffers_mib: u64,
    pub wal_keep_mib: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisSpec {
    /// `maxmemory`: three quarters of the memory limit (the rest: buffers, forks for saves).
    pub maxmemory_mib: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    /// The full reference as the pod spec gets it.
    pub reference: String,
    /// The tag (or digest) for the `app.kubernetes.io/version` label.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Storage {
    pub size: Quantity,
    pub class_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resources {
    pub cpu: Quantity,
    pub memory: Quantity,
    pub cpu_limit: Option<Quantity>,
    pub memory_limit: Quantity,
}

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Credentials {
    /// Generated by sts-gen (OS randomness) into `<name>-credentials`: key → value.
    Generated(BTreeMap<String, String>),
    /// A Secret the user created, with the keys the engine documents.
    Existing(String),
}

impl Spec {
    /// The Secret the pods read credentials from.
    pub fn secret_name(&self) -> &str {
        match &self.credentials {
            Credentials::Generated(_) => &self.names.secret,
            Credentials::Existing(name) => name,
        }
    }
}
