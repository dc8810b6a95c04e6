//! The MySQL family, one engine for two servers:
//!
//! - MySQL 8.4 LTS (official `mysql` image): replicas clone a running peer with the CLONE plugin
//!   and follow pod 0 with GTID auto-positioning;
//! - MariaDB 10.11 LTS (official `mariadb` image): replicas receive a physical backup that a
//!   peer's `clone-server` sidecar streams with mariadb-backup, and follow pod 0 with MariaDB's
//!   GTID (`MASTER_USE_GTID = slave_pos`).
//!
//! Pod 0 is the primary, every other pod a read-only replica. The objects, the container layout,
//! the identity, the bootstrap and every decision of init-data are the same code for both; a
//! `Flavor` holds what differs, and the templates branch on it only where the servers differ.

use std::collections::BTreeMap;

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::{Container, Probe, VolumeMount};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Database, Engine, SetContext, backup_container, render_files};
use crate::model::parts::{empty_dir, exec, mount, small_resources, volumes};
use crate::model::scalar::lenient;
use crate::model::{Backups, Parts, Port, Quantity, Spec, Topology};
use crate::settings::{KeyName, required, section};

/// What differs between the servers of the family.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Flavor {
    /// The database's name; the templates' partial `mysql/_clone-<name>.sh` holds its cloning.
    name: &'static str,
    /// MariaDB's differences, where the templates branch.
    mariadb: bool,
    server: &'static str,
    client: &'static str,
    admin: &'static str,
    /// A file that exists in a complete data directory only (system tables).
    data_marker: &'static str,
    /// The server option that keeps replication stopped at start-up.
    skip_replica_start: &'static str,
    /// Server options that make a replica's configuration writable (for init-data's own server).
    writable_options: &'static str,
    /// What the clone user may do: copy this server's data for a peer.
    clone_privileges: &'static str,
    /// Where the clone user with those privileges may log in from.
    clone_host: &'static str,
    /// Login options of the probes' `ping` (none: an anonymous ping, which MySQL does not log).
    ping_login: &'static [&'static str],
    /// Replicas fetch their data from a peer's `clone-server` sidecar (port `clone`).
    clone_server: bool,
    /// The longest replication password the server takes in `CHANGE … SOURCE/MASTER TO`.
    max_replication_password: u32,
}

pub struct Mysql {
    flavor: Flavor,
    about: &'static str,
    examples: &'static [&'static str],
}

pub static MYSQL: Mysql = Mysql {
    about: "MySQL 8.4 LTS: pod 0 is the primary, the others are GTID replicas cloned with the CLONE plugin",
    examples: &[
        "sts-gen mysql --replicas 3 > mysql.yaml",
        "sts-gen mysql --preset prod --namespace db --existing-secret mysql-credentials",
        "sts-gen mysql -f values.yaml --set storage.size=50Gi -o json",
    ],
    flavor: Flavor {
        name: "mysql",
        mariadb: false,
        server: "mysqld",
        client: "mysql",
        admin: "mysqladmin",
        data_marker: "mysql.ibd",
        skip_replica_start: "skip_replica_start",
        writable_options: "--read-only=OFF --super-read-only=OFF",
        clone_privileges: "BACKUP_ADMIN",
        // CLONE connects to the donor over the network.
        clone_host: "%",
        ping_login: &[],
        clone_server: false,
        // ER_CHANGE_SOURCE_PASSWORD_LENGTH.
        max_replication_password: 32,
    },
};

pub static MARIADB: Mysql = Mysql {
    about: "MariaDB 10.11 LTS: MySQL's pattern; replicas cloned with mariadb-backup from a peer, GTID replication",
    examples: &[
        "sts-gen mariadb --replicas 3 > mariadb.yaml",
        "sts-gen mariadb --preset prod --namespace db --existing-secret mariadb-credentials",
    ],
    flavor: Flavor {
        name: "mariadb",
        mariadb: true,
        server: "mariadbd",
        client: "mariadb",
        admin: "mariadb-admin",
        data_marker: "mysql/global_priv.frm",
        skip_replica_start: "skip_slave_start",
        writable_options: "--read-only=OFF",
        // mariadb-backup's needs; SLAVE MONITOR for --slave-info on a replica.
        clone_privileges: "RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR",
        // mariadb-backup runs beside the server and uses its socket.
        clone_host: "localhost",
        // MariaDB logs every failed login: the probes log in as the image's OS user `mysql`
        // (unix_socket, no privileges).
        ping_login: &["--user=mysql"],
        clone_server: true,
        // "is too long for MASTER_PASSWORD (should be no longer than 96)" (10.11, measured).
        max_replication_password: 96,
    },
};

const PORT: Port = Port {
    name: "mysql",
    number: 3306,
    client: true,
};
/// MariaDB's clone-server sidecar: a peer's backup stream for a new replica (pods only).
const CLONE_PORT: Port = Port {
    name: "clone",
    number: 3307,
    client: false,
};
/// uid and gid of the `mysql` user in both official images.
const MYSQL_UID: i64 = 999;

/// Secret keys; documented in the README for `--existing-secret`.
const KEY_ROOT: &str = "root-password";
const KEY_REPLICATION: &str = "replication-password";
const KEY_CLONE: &str = "clone-password";

/// Where things live inside the containers.
#[derive(Serialize)]
struct Paths {
    /// `<name>-config` (the shared my.cnf).
    config_dir: &'static str,
    /// emptyDir holding the per-pod my.cnf written by init-config.
    conf_dir: &'static str,
    conf_file: &'static str,
    scripts_dir: &'static str,
    credentials: &'static str,
    /// The whole PersistentVolume, as init-data sees it.
    volume: &'static str,
    /// The data directory's folder on the volume (subPath of the mysql container's mount).
    datadir_subpath: &'static str,
    datadir: &'static str,
    socket: &'static str,
    pid_file: &'static str,
}

const PATHS: Paths = Paths {
    config_dir: "/etc/mysql/config",
    conf_dir: "/etc/mysql/sts-gen",
    conf_file: "/etc/mysql/sts-gen/my.cnf",
    scripts_dir: "/scripts",
    credentials: "/etc/mysql/credentials",
    volume: "/var/lib/mysql-volume",
    datadir_subpath: "mysql",
    datadir: "/var/lib/mysql",
    socket: "/var/run/mysqld/mysqld.sock",
    pid_file: "/var/run/mysqld/mysqld.pid",
};

#[derive(Serialize)]
struct Keys {
    root: &'static str,
    replication: &'static str,
    clone: &'static str,
}

#[derive(Serialize)]
struct Users {
    replication: &'static str,
    clone: &'static str,
}

/// The template context: everything the MySQL templates may read.
#[derive(Serialize)]
struct Context<'a> {
    flavor: &'a Flavor,
    /// What the shared partials read: names, cluster domain, replicas, backups.
    #[serde(flatten)]
    set: SetContext<'a>,
    port: i32,
    clone_port: i32,
    mysql: MysqlContext,
    paths: Paths,
    keys: Keys,
    users: Users,
    /// How long a new pod waits for a peer to clone from before its init container fails.
    peer_wait_seconds: u32,
}

#[derive(Serialize)]
struct MysqlContext {
    server_id_offset: u32,
    max_connections: u32,
    /// In MiB with the `M` suffix, as my.cnf writes sizes.
    innodb_buffer_pool_size: String,
    binlog_expire_logs_seconds: u32,
}

const SCRIPT_IDS: [&str; 3] = [
    "mysql/init-config.sh",
    "mysql/init-data.sh",
    "mysql/readiness.sh",
];
const CLONE_SERVER_SCRIPT: &str = "mysql/clone-server.sh";

/// Volumes of this engine beyond the assembler's.
const CONF: &str = "conf";
const RUN: &str = "run";
const TMP: &str = volumes::TMP;

/// The values section (`mysql:` or `mariadb:`); `presets/<db>/default.yaml` sets the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Values {
    /// `server_id` = this offset + the pod's ordinal.
    #[serde(default, deserialize_with = "lenient::int")]
    server_id_offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int")]
    max_connections: Option<i64>,
    /// `innodb_buffer_pool_size`; derived from the memory limit when unset.
    innodb_buffer_pool_size: Option<Quantity>,
    #[serde(default, deserialize_with = "lenient::int")]
    binlog_expire_logs_seconds: Option<i64>,
}

/// The resolved options of one set.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    server_id_offset: u32,
    max_connections: u32,
    /// Bytes; derived from the memory limit unless given.
    innodb_buffer_pool_size: u64,
    binlog_expire_logs_seconds: u32,
}

const MIB: u64 = 1 << 20;
/// InnoDB sizes the buffer pool in chunks of 128 MiB (times the instances).
const POOL_CHUNK: u64 = 128 * MIB;

impl Engine for Mysql {
    fn name(&self) -> &'static str {
        self.flavor.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn examples(&self) -> &'static [&'static str] {
        self.examples
    }

    /// Both servers share the templates; they branch on `flavor` where the servers differ.
    fn templates(&self) -> &'static str {
        "mysql"
    }

    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_ROOT, 24), (KEY_REPLICATION, 24), (KEY_CLONE, 24)]
    }

    /// No protocol limit; beyond this a fan-out from one primary is the wrong design.
    fn max_replicas(&self) -> u32 {
        32
    }

    /// MySQL 8.4's own footprint (performance schema included) beside the buffer pool needs twice
    /// what MariaDB's does.
    fn min_memory_mib(&self) -> u64 {
        if self.flavor.mariadb { 256 } else { 512 }
    }

    fn check_section(&self, v: &Value) -> Result<()> {
        section::<Values>(self.name(), Some(v)).map(drop)
    }

    fn configure(
        &self,
        spec: &Spec,
        v: Option<&Value>,
        key: KeyName,
    ) -> Result<Box<dyn Database>> {
        let options = options(self.name(), &section(self.name(), v)?, spec, key)?;
        Ok(Box::new(MysqlSet {
            flavor: self.flavor,
            options,
        }))
    }
}

/// Validates the section and sizes the buffer pool from the memory limit.
fn options(section: &str, m: &Values, spec: &Spec, name: KeyName) -> Result<Options> {
    let key = |k: &str| name(&format!("{section}.{k}"));
    let offset = required(&m.server_id_offset, &key("serverIdOffset"))?;
    ensure!(
        offset >= 1 && offset + i64::from(spec.replicas) <= i64::from(u32::MAX),
        "{} {offset} is out of range: expected 1 to {} (server_id = offset + ordinal, never 0)",
        key("serverIdOffset"),
        u32::MAX - spec.replicas
    );
    let max_connections = required(&m.max_connections, &key("maxConnections"))?;
    ensure!(
        (10..=100_000).contains(&max_connections),
        "{} {max_connections} is out of range: expected 10 to 100000",
        key("maxConnections")
    );
    let expire = required(
        &m.binlog_expire_logs_seconds,
        &key("binlogExpireLogsSeconds"),
    )?;
    ensure!(
        (3600..=i64::from(u32::MAX)).contains(&expire),
        "{} {expire} is out of range: expected at least 3600 (one hour)",
        key("binlogExpireLogsSeconds")
    );
    let limit = spec.resources.memory_limit.value() as u64;
    let pool = match &m.innodb_buffer_pool_size {
        Some(q) => {
            let bytes = q.value() as u64;
            ensure!(
                bytes >= POOL_CHUNK && bytes < limit,
                "{} {q} is out of range: expected at least 128Mi and below the memory limit {}",
                key("innodbBufferPoolSize"),
                spec.resources.memory_limit
            );
            bytes / MIB * MIB
        }
        None => derived_pool(limit),
    };
    Ok(Options {
        server_id_offset: offset as u32,
        max_connections: max_connections as u32,
        innodb_buffer_pool_size: pool,
        binlog_expire_logs_seconds: expire as u32,
    })
}

/// 40% of a small memory limit (the server's own overhead dominates there), 70% of a larger
/// one, in whole 128 MiB chunks, at least one chunk.
fn derived_pool(limit: u64) -> u64 {
    let share = if limit <= 2048 * MIB {
        limit * 2 / 5
    } else {
        limit * 7 / 10
    };
    (share / POOL_CHUNK).max(1) * POOL_CHUNK
}

/// A MySQL or MariaDB set.
#[derive(Debug)]
struct MysqlSet {
    flavor: Flavor,
    options: Options,
}

impl Database for MysqlSet {
    fn parts(&self, spec: &Spec) -> Result<Parts> {
        let (config, scripts) = self.files(spec)?;
        let image = &spec.image.reference;
        let mut containers = vec![self.server(image)];
        if self.flavor.clone_server {
            containers.push(clone_server(image));
        }
        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            init_containers: init_containers(image),
            containers,
            volumes: vec![
                empty_dir(CONF, None),
                empty_dir(RUN, Some("Memory")),
                empty_dir(TMP, None),
            ],
            user_id: MYSQL_UID,
            // Pod N clones a running N-1 on its first start; no quorum: one pod at a time
            // may be disrupted and the others keep serving.
            topology: Topology::PrimaryReplicas,
            backups: Backups::Copy {
                container: self.backup_container(spec),
            },
        })
    }
}

/// `bash /scripts/<name>`.
fn script(name: &str) -> Vec<String> {
    vec!["bash".to_owned(), format!("{}/{name}", PATHS.scripts_dir)]
}

/// init-config writes the pod's my.cnf (identity from the ordinal); init-data prepares the data
/// directory: initialises pod 0, clones a peer into a new replica, wires replication.
fn init_containers(image: &str) -> Vec<Container> {
    vec![
        Container {
            name: "init-config".into(),
            image: Some(image.to_owned()),
            command: Some(script("init-config.sh")),
            volume_mounts: Some(vec![
                mount(volumes::CONFIG, PATHS.config_dir, true),
                mount(volumes::SCRIPTS, PATHS.scripts_dir, true),
                mount(CONF, PATHS.conf_dir, false),
            ]),
            ..Default::default()
        },
        Container {
            name: "init-data".into(),
            image: Some(image.to_owned()),
            command: Some(script("init-data.sh")),
            volume_mounts: Some(vec![
                mount(volumes::DATA, PATHS.volume, false),
                mount(volumes::SCRIPTS, PATHS.scripts_dir, true),
                mount(volumes::CREDENTIALS, PATHS.credentials, true),
                // Writable: a replica of another replication set turns replication off here.
                mount(CONF, PATHS.conf_dir, false),
                mount(TMP, "/tmp", false),
            ]),
            ..Default::default()
        },
    ]
}

/// The running server's view: its data directory, socket directory and configuration (the
/// clone-server sidecar reads the same).
fn server_mounts() -> Vec<VolumeMount> {
    vec![
        VolumeMount {
            sub_path: Some(PATHS.datadir_subpath.into()),
            ..mount(volumes::DATA, PATHS.datadir, false)
        },
        mount(volumes::SCRIPTS, PATHS.scripts_dir, true),
        mount(volumes::CREDENTIALS, PATHS.credentials, true),
        mount(CONF, PATHS.conf_dir, true),
        mount(RUN, "/var/run/mysqld", false),
        mount(TMP, "/tmp", false),
    ]
}

/// MariaDB's sidecar: serves this pod's data as a mariadb-backup stream to a peer that proves it
/// holds the clone password; reads the data directory and the server's socket.
fn clone_server(image: &str) -> Container {
    Container {
        name: "clone-server".into(),
        image: Some(image.to_owned()),
        command: Some(script("clone-server.sh")),
        ports: Some(vec![CLONE_PORT.container_port()]),
        volume_mounts: Some(server_mounts()),
        // Idle but for a clone: copying files needs little memory (the stream is not
        // buffered); the new replica prepares the backup with its own.
        resources: Some(small_resources("10m", "64Mi", "512Mi")),
        // Pod N+1 clones from this pod only once the pod is Ready: listening included. Not a
        // TCP probe: while a clone runs, socat accepts nothing (one at a time), so probe
        // connections would queue up, fail, and turn the donor not Ready. The kernel's
        // socket table says whether the port listens (state 0A) without connecting.
        readiness_probe: Some(Probe {
            period_seconds: Some(10),
            ..exec(&[
                "grep",
                "-q",
                &format!(":{:04X} 00000000:0000 0A", CLONE_PORT.number),
                "/proc/net/tcp",
            ])
        }),
        ..Default::default()
    }
}

impl MysqlSet {
    /// The shared my.cnf, and the scripts this set runs.
    fn files(&self, spec: &Spec) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let ctx = context(&self.flavor, spec, &self.options);
        let config = render_files(&["mysql/my.cnf"], &ctx)?;
        let mut scripts = render_files(&SCRIPT_IDS, &ctx)?;
        if self.flavor.clone_server {
            scripts.extend(render_files(&[CLONE_SERVER_SCRIPT], &ctx)?);
        }
        if spec.backup.is_some() {
            scripts.extend(render_files(&["mysql/backup.sh"], &ctx)?);
        }
        Ok((config, scripts))
    }

    /// The database container: the server on the pod's my.cnf, pinged for liveness, Ready when
    /// readiness.sh says it serves (a replica: replicating).
    fn server(&self, image: &str) -> Container {
        let f = &self.flavor;
        let defaults = format!("--defaults-file={}", PATHS.conf_file);
        let ping_argv: Vec<&str> = [f.admin, defaults.as_str()]
            .into_iter()
            .chain(f.ping_login.iter().copied())
            .chain(["ping"])
            .collect();
        let ping = || exec(&ping_argv);
        Container {
            name: f.name.into(),
            image: Some(image.to_owned()),
            command: Some(vec![f.server.into(), defaults.clone()]),
            ports: Some(vec![PORT.container_port()]),
            volume_mounts: Some(server_mounts()),
            // Crash recovery of a large buffer pool can take minutes: up to 15 before liveness.
            startup_probe: Some(Probe {
                period_seconds: Some(10),
                timeout_seconds: Some(5),
                failure_threshold: Some(90),
                ..ping()
            }),
            liveness_probe: Some(Probe {
                period_seconds: Some(10),
                timeout_seconds: Some(5),
                failure_threshold: Some(3),
                ..ping()
            }),
            readiness_probe: Some(Probe {
                period_seconds: Some(5),
                timeout_seconds: Some(5),
                failure_threshold: Some(3),
                success_threshold: Some(1),
                ..exec(&["bash", &format!("{}/readiness.sh", PATHS.scripts_dir)])
            }),
            ..Default::default()
        }
    }

    /// MariaDB: unpacking the stream needs little; preparing it applies the copied redo log
    /// with mariadb-backup's default 100M buffer. MySQL: the throw-away recipient server (a 128M
    /// buffer pool, performance_schema, log buffers) needs about 500M; the clone streams to disk.
    fn backup_container(&self, spec: &Spec) -> Option<Container> {
        let f = &self.flavor;
        backup_container(
                spec,
                PATHS.scripts_dir,
                PATHS.credentials,
                if f.mariadb {
                    small_resources("250m", "256Mi", "1Gi")
                } else {
                    small_resources("250m", "768Mi", "1Gi")
                },
            )
            .map(|mut c| {
                if !f.mariadb {
                    // The recipient server reads the set's shared my.cnf.
                    c.volume_mounts.get_or_insert_with(Vec::new).push(mount(
                        volumes::CONFIG,
                        PATHS.config_dir,
                        true,
                    ));
                }
                c
            })
    }
}

fn context<'a>(flavor: &'a Flavor, spec: &'a Spec, my: &Options) -> Context<'a> {
    Context {
        flavor,
        set: SetContext::of(spec, PATHS.scripts_dir),
        port: PORT.number,
        clone_port: CLONE_PORT.number,
        mysql: MysqlContext {
            server_id_offset: my.server_id_offset,
            max_connections: my.max_connections,
            innodb_buffer_pool_size: format!("{}M", my.innodb_buffer_pool_size >> 20),
            binlog_expire_logs_seconds: my.binlog_expire_logs_seconds,
        },
        paths: PATHS,
        keys: Keys {
            root: KEY_ROOT,
            replication: KEY_REPLICATION,
            clone: KEY_CLONE,
        },
        users: Users {
            replication: "replication",
            clone: "clone",
        },
        peer_wait_seconds: super::PEER_WAIT_SECONDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer pool derived for a memory limit.
    fn pool(memory: &str) -> u64 {
        let r = crate::cli::resolve_argv(&["mysql", "--memory", memory], &|_| Ok("pw".into()))
            .unwrap();
        let values = Values {
            server_id_offset: Some(100),
            max_connections: Some(151),
            binlog_expire_logs_seconds: Some(3600),
            innodb_buffer_pool_size: None,
        };
        options("mysql", &values, &r.spec, &|k| k.to_owned())
            .unwrap()
            .innodb_buffer_pool_size
    }

    #[test]
    fn buffer_pool_follows_the_memory_limit() {
        assert_eq!(derived_pool(512 * MIB), 128 * MIB);
        assert_eq!(derived_pool(1024 * MIB), 384 * MIB);
        assert_eq!(derived_pool(8192 * MIB), 5632 * MIB);
        assert_eq!(pool("4Gi"), 2816 * MIB);
        let r = crate::cli::resolve_argv(
            &["mysql", "--set", "mysql.innodbBufferPoolSize=300Mi", "--existing-secret", "s"],
            &|_| Ok("pw".to_owned()),
        )
        .unwrap();
        let my = r.database.parts(&r.spec).unwrap().config["my.cnf"].clone();
        assert!(my.contains("innodb_buffer_pool_size = 300M"), "{my}");
    }
}
