//! Command-line surface: clap derive only. Raw values stay `Option`s here; `resolve` decides.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sts-gen",
    version,
    about = "Generate production-ready Kubernetes StatefulSets for replicated databases",
    long_about = "Generate production-ready Kubernetes StatefulSets for replicated databases.\n\n\
        One command writes everything a replicated database needs: credentials, configuration and \
        the scripts that derive each pod's identity from its ordinal, clone a new replica from a \
        running peer and wire replication to the single writer; Services, the StatefulSet and a \
        PodDisruptionBudget. The manifests go to stdout; notes and warnings go to stderr.",
    after_help = "Examples:\n  sts-gen mysql --replicas 3 > mysql.yaml\n  \
        sts-gen mysql --preset prod -n db --existing-secret mysql-credentials | kubectl apply -f -\n  \
        sts-gen list",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One Command per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it runs (or for help, completions and the
// man page): building all of them was a tenth of a run (BENCHMARKS.md).
#[command(defer = true)]
pub enum Command {
    /// MySQL 8.4 LTS: pod 0 is the primary, the others are GTID replicas cloned with the CLONE plugin
    #[command(
        after_help = "Examples:\n  sts-gen mysql --replicas 3 > mysql.yaml\n  \
        sts-gen mysql --preset prod --namespace db --existing-secret mysql-credentials\n  \
        sts-gen mysql -f values.yaml --set storage.size=50Gi -o json"
    )]
    Mysql(GenerateArgs),
    /// MariaDB 10.11 LTS: MySQL's pattern; replicas cloned with mariadb-backup from a peer, GTID replication
    #[command(
        after_help = "Examples:\n  sts-gen mariadb --replicas 3 > mariadb.yaml\n  \
        sts-gen mariadb --preset prod --namespace db --existing-secret mariadb-credentials"
    )]
    Mariadb(GenerateArgs),
    /// MongoDB 8.0: one replica set that forms and grows itself, keyfile auth, root from the Secret
    #[command(
        after_help = "Examples:\n  sts-gen mongodb --replicas 3 > mongodb.yaml\n  \
        sts-gen mongodb --preset prod --replica-set orders --existing-secret mongodb-credentials\n  \
        sts-gen mongodb --set mongodb.replicaSetName=rs1 -o json"
    )]
    Mongodb(MongodbArgs),
    /// Elasticsearch 8: a cluster that forms on the first try, security and transport TLS on
    #[command(
        after_help = "Examples:\n  sts-gen elasticsearch --replicas 3 > es.yaml\n  \
        sts-gen elasticsearch --preset prod --http-tls -n search\n  \
        sts-gen elasticsearch --no-privileged-init   # for Pod Security \"restricted\" namespaces"
    )]
    Elasticsearch(ElasticsearchArgs),
    /// PostgreSQL: pod 0 is the primary, the others hot standbys cloned with pg_basebackup
    #[command(
        after_help = "Examples:\n  sts-gen postgres --replicas 3 > postgres.yaml\n  \
        sts-gen postgres --preset prod -n db --existing-secret postgres-credentials"
    )]
    Postgres(GenerateArgs),
    /// Redis: pod 0 is the primary, the others replicas of its stable DNS name
    #[command(
        after_help = "Examples:\n  sts-gen redis --replicas 3 > redis.yaml\n  \
        sts-gen redis --preset prod -n cache --existing-secret redis-credentials"
    )]
    Redis(GenerateArgs),
    /// Render databases described entirely by values files (each with a `database:` key)
    #[command(
        after_help = "Examples:\n  sts-gen render databases/orders-mysql.yaml databases/search.yaml > all.yaml\n  \
        sts-gen render databases/*.yaml --out-dir deploy/   # one kustomize base per file\n\n\
        A values file for render:\n  database: mysql\n  name: orders\n  namespace: shop\n  \
        preset: prod\n  existingSecret: orders-credentials\n  storage:\n    size: 50Gi"
    )]
    Render(RenderArgs),
    /// List the databases and their presets, with the values each preset sets
    #[command(after_help = "Example:\n  sts-gen list")]
    List,
    /// Print a shell completion script
    #[command(after_help = "Example:\n  sts-gen completions bash > /etc/bash_completion.d/sts-gen")]
    Completions {
        /// The shell to write completions for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  sts-gen man | man -l -")]
    Man,
}

/// The database a subcommand generates; the exhaustive list every table iterates.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    ValueEnum,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Mysql,
    Mariadb,
    Mongodb,
    Elasticsearch,
    Postgres,
    Redis,
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Mysql => "mysql",
            DbKind::Mariadb => "mariadb",
            DbKind::Mongodb => "mongodb",
            DbKind::Elasticsearch => "elasticsearch",
            DbKind::Postgres => "postgres",
            DbKind::Redis => "redis",
        }
    }
}

// Flags shared by every database subcommand (DESIGN.md §8). Not a doc comment: clap would
// make it the about text of every subcommand that flattens these (their arguments are deferred).
#[derive(Debug, Clone, Default, Args)]
pub struct GenerateArgs {
    /// Name of the StatefulSet and prefix of every object [default: the database name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace of every object (omitted: no namespace field; kubectl's context decides)
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Number of pods; pod 0 is the primary
    #[arg(short = 'r', long, value_name = "N", allow_negative_numbers = true)]
    pub replicas: Option<String>,
    /// Preset to start from (see `sts-gen list`) [default: none, the database's defaults]
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Values file (YAML, same keys as presets); repeatable, later files win
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set one value by its values-file path, e.g. storage.size=20Gi; repeatable, later wins
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Size of each pod's PersistentVolumeClaim (a Kubernetes quantity, e.g. 20Gi)
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    pub storage_size: Option<String>,
    /// StorageClass of the PersistentVolumeClaims [default: the cluster's default class]
    #[arg(long, value_name = "NAME")]
    pub storage_class: Option<String>,
    /// Container image of the database
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// CPU request of the database container (a Kubernetes quantity, e.g. 500m)
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    pub cpu: Option<String>,
    /// Memory request and limit of the database container (a Kubernetes quantity, e.g. 2Gi)
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Type of the client Services
    #[arg(long, value_enum, value_name = "TYPE")]
    pub service_type: Option<ServiceType>,
    /// Use this existing Secret for credentials instead of generating one (output is then deterministic)
    #[arg(long, value_name = "NAME")]
    pub existing_secret: Option<String>,
    /// DNS domain of the cluster, used in the pods' stable DNS names
    #[arg(long, value_name = "DOMAIN")]
    pub cluster_domain: Option<String>,
    /// Scheduled backups: a CronJob on this cron schedule, e.g. "0 3 * * *" ("none": off)
    #[arg(long, value_name = "CRON")]
    pub backup_schedule: Option<String>,
    /// Size of the backups' PersistentVolumeClaim
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    pub backup_storage_size: Option<String>,
    /// How many complete backups to keep; older ones go once a new one succeeds
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub backup_keep: Option<String>,
    /// Keep backups in an S3-compatible bucket: an existing Secret with endpoint, bucket,
    /// access-key-id, secret-access-key (and optionally region)
    #[arg(long, value_name = "SECRET")]
    pub backup_s3_secret: Option<String>,
    /// Instead of the set, print what restores backup NAME into a fresh set's pod 0
    #[arg(long, value_name = "NAME")]
    pub restore_from: Option<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// Write one file per object plus kustomization.yaml into DIR instead of stdout
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Treat warnings (weak topologies, privileged containers) as errors, for CI
    #[arg(long)]
    pub strict: bool,
}

// `sts-gen render`: databases from values files alone.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Values files, each describing one database (`database:` plus any values-file key)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// Write each database into DIR/<file name without .yaml>/ (objects plus kustomization.yaml)
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,
}

// `sts-gen mongodb`: the common flags plus MongoDB's own.
#[derive(Debug, Clone, Default, Args)]
pub struct MongodbArgs {
    #[command(flatten)]
    pub common: GenerateArgs,
    /// Name of the replica set [default: rs0]
    #[arg(long, value_name = "NAME")]
    pub replica_set: Option<String>,
}

// `sts-gen elasticsearch`: the common flags plus Elasticsearch's own.
#[derive(Debug, Clone, Default, Args)]
pub struct ElasticsearchArgs {
    #[command(flatten)]
    pub common: GenerateArgs,
    /// Serve HTTPS on 9200 with the generated (or provided) certificate [default: HTTP]
    #[arg(long)]
    pub http_tls: bool,
    /// No privileged init container raising vm.max_map_count: disables mmap instead
    /// (node.store.allow_mmap: false), for Pod Security "restricted" namespaces
    #[arg(long)]
    pub no_privileged_init: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
pub enum ServiceType {
    #[value(name = "ClusterIP")]
    ClusterIP,
    #[value(name = "LoadBalancer")]
    LoadBalancer,
    #[value(name = "NodePort")]
    NodePort,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::NodePort => "NodePort",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Yaml,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_db_kind_has_a_subcommand() {
        let cmd = Cli::command();
        for kind in DbKind::value_variants() {
            assert!(
                cmd.find_subcommand(kind.as_str()).is_some(),
                "no subcommand for {kind:?}"
            );
        }
    }
}
