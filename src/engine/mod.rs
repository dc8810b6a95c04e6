//! Database engines: the only database-specific code. An engine turns a `Spec` into `Parts`;
//! the generic assembler in `k8s` turns parts into objects.

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Container, ContainerPort, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Serialize;

use crate::cli::DbKind;
use crate::k8s::mount;
use crate::names::Names;
use crate::resolve::PasswordSource;
use crate::spec::Spec;
use crate::templates::{self, file_name};

mod elasticsearch;
mod mongodb;
mod mysql;
mod postgres;
mod redis;

pub use elasticsearch::Elasticsearch;
pub use mongodb::MongoDb;
pub use mysql::{MARIADB, MYSQL, Mysql};
pub use postgres::Postgres;
pub use redis::Redis;

/// Volume names the assembler provides to every engine's containers.
pub mod volumes {
    /// The volumeClaimTemplate: each pod's own PersistentVolume.
    pub const DATA: &str = "data";
    /// The `<name>-config` ConfigMap.
    pub const CONFIG: &str = "config";
    /// The `<name>-scripts` ConfigMap (files mode 0555).
    pub const SCRIPTS: &str = "scripts";
    /// The credentials Secret (files mode 0440, group = the pod's fsGroup).
    pub const CREDENTIALS: &str = "credentials";
    /// The backups' claim (`<name>-backups`): in the backup Job's pod, and in the database pods
    /// of an engine whose servers write the backups themselves (`Parts::api_backups`).
    pub const BACKUPS: &str = "backups";
}

/// A port the database serves; Services target it by name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Port {
    pub name: &'static str,
    pub number: i32,
    /// Exposed by the client Services too (not only by the headless one).
    pub client: bool,
}

impl Port {
    pub fn container_port(&self) -> ContainerPort {
        ContainerPort {
            name: Some(self.name.into()),
            container_port: self.number,
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }
}

/// Renders templates into ConfigMap data: file name (the ID's last part) → contents.
pub fn render_files<C: Serialize>(ids: &[&str], ctx: &C) -> Result<BTreeMap<String, String>> {
    let ctx = templates::context(ctx)?;
    ids.iter()
        .map(|id| Ok((file_name(id).to_owned(), templates::render(id, &ctx)?)))
        .collect()
}

/// Resources of a small sidecar, which keeps them (the others get the spec's): CPU and memory
/// requests and a memory limit.
pub fn small_resources(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    let q = |v: &str| Quantity(v.to_owned());
    ResourceRequirements {
        requests: Some([("cpu".to_owned(), q(cpu)), ("memory".to_owned(), q(memory))].into()),
        limits: Some([("memory".to_owned(), q(memory_limit))].into()),
        ..Default::default()
    }
}

/// What an engine contributes to the objects of one instance.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// Ports of the main container, exposed by every Service.
    pub ports: Vec<Port>,
    /// `<name>-config` data: configuration files.
    pub config: BTreeMap<String, String>,
    /// `<name>-scripts` data: scripts.
    pub scripts: BTreeMap<String, String>,
    pub init_containers: Vec<Container>,
    /// The database container first.
    pub containers: Vec<Container>,
    /// Volumes beyond data, config, scripts and credentials (emptyDirs).
    /// Containers that set their own `resources` keep them (small sidecars); the others get the
    /// spec's.
    pub volumes: Vec<Volume>,
    /// The image's database user, which every container runs as.
    pub user_id: i64,
    /// Pod 0 is the only writer: a `<name>-primary` Service reaches it alone.
    pub single_writer: bool,
    /// The PodDisruptionBudget's maxUnavailable: what the database can lose without losing
    /// availability (quorum).
    pub max_unavailable: i32,
    /// `OrderedReady` where pod N needs pod N-1 (cloning); `Parallel` where members must all be
    /// able to start before any is Ready (quorum-based sets).
    pub pod_management_policy: &'static str,
    /// The backup CronJob's container (when the spec has backups): its command and the mounts
    /// of the pod's volumes it needs; the assembler adds the backups volume at `BACKUPS_DIR`.
    pub backup: Option<Container>,
    /// How `--restore-from` restores, for an engine that restores through the database's API
    /// into a running set (Elasticsearch's `_restore`): the container of a Job that does it,
    /// with `RESTORE_FROM` set to the backup's name by the assembler. The restore output is
    /// then the ConfigMaps and that Job, nothing of pod 0. `None`: pod 0's init containers
    /// restore into pod 0's claim before the set starts (`RESTORE_FROM` = the backup's path).
    pub restore: Option<Container>,
    /// The database takes and restores backups through its API into a repository of its own
    /// (Elasticsearch's snapshots), which its servers write themselves: on the backups' claim,
    /// which every database pod then gets as volume `volumes::BACKUPS` (the engine mounts it;
    /// ReadWriteMany), or in the S3 bucket, so that the Jobs get no S3 client containers.
    /// Otherwise only the Jobs mount the claim (ReadWriteOnce).
    pub api_backups: bool,
}

/// Where backups live in the backup and restore Jobs' containers.
pub const BACKUPS_DIR: &str = "/backups";

/// What `_partials/backup.sh` reads from a template context (`backup`).
#[derive(Debug, Serialize)]
pub struct BackupContext {
    pub dir: &'static str,
    pub keep: u32,
}

/// What the shared partials (`templates/_partials/`: identity, cluster, backup) read from every
/// engine's template context; each engine flattens it into its own.
#[derive(Debug, Serialize)]
pub struct SetContext<'a> {
    pub names: &'a Names,
    pub cluster_domain: &'a str,
    pub replicas: u32,
    /// Set when the spec has backups.
    pub backup: Option<BackupContext>,
}

impl SetContext<'_> {
    pub fn of(spec: &Spec) -> SetContext<'_> {
        SetContext {
            names: &spec.names,
            cluster_domain: &spec.cluster_domain,
            replicas: spec.replicas,
            backup: spec.backup.as_ref().map(|b| BackupContext {
                dir: BACKUPS_DIR,
                keep: b.keep,
            }),
        }
    }
}

/// The backup CronJob's container when `spec` has backups: the database image running
/// `<scripts>/backup.sh` with the scripts, the credentials and the emptyDir `tmp` at /tmp mounted,
/// and small `resources` of its own.
pub fn backup_container(
    spec: &Spec,
    scripts: &str,
    credentials: &str,
    resources: ResourceRequirements,
) -> Option<Container> {
    spec.backup.as_ref().map(|_| Container {
        name: "backup".into(),
        image: Some(spec.image.reference.clone()),
        command: Some(vec!["bash".into(), format!("{scripts}/backup.sh")]),
        volume_mounts: Some(vec![
            mount(volumes::SCRIPTS, scripts, true),
            mount(volumes::CREDENTIALS, credentials, true),
            mount("tmp", "/tmp", false),
        ]),
        resources: Some(resources),
        ..Default::default()
    })
}

pub trait Engine: Sync {
    /// Keys of the credentials Secret and the length of each generated password.
    fn secrets(&self) -> &'static [(&'static str, usize)];
    /// The generated Secret's contents: by default a random password for every key.
    fn generate_secret(
        &self,
        spec: &Spec,
        password: PasswordSource,
    ) -> Result<BTreeMap<String, String>> {
        let _ = spec;
        self.secrets()
            .iter()
            .map(|&(key, len)| Ok((key.to_owned(), password(len)?)))
            .collect()
    }
    /// Notes on stderr about the topology of `spec` (fault tolerance).
    fn warnings(&self, spec: &Spec) -> Vec<String> {
        let _ = spec;
        Vec::new()
    }
    /// The most replicas the database supports in this topology.
    fn max_replicas(&self) -> u32;
    /// The database's parts for `spec`.
    fn parts(&self, spec: &Spec) -> Result<Parts>;
}

/// The engine of a database; exhaustive, so a new `DbKind` without an engine does not compile.
pub fn for_kind(kind: DbKind) -> &'static dyn Engine {
    match kind {
        DbKind::Mysql => &mysql::MYSQL,
        DbKind::Mariadb => &mysql::MARIADB,
        DbKind::Mongodb => &MongoDb,
        DbKind::Elasticsearch => &Elasticsearch,
        DbKind::Postgres => &Postgres,
        DbKind::Redis => &Redis,
    }
}
