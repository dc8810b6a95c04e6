//! MySQL 8.4 LTS with the official `mysql` image: pod 0 is the primary, every other pod a
//! `super_read_only` replica that clones a running peer with the CLONE plugin and then follows
//! pod 0 with GTID auto-positioning.

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Container, Probe, VolumeMount};
use serde::Serialize;

use super::{Engine, Parts, Port, render_files, volumes};
use crate::k8s::{empty_dir, exec, mount};
use crate::names::Names;
use crate::spec::{DbSpec, MysqlSpec, Spec};

pub struct Mysql;

const PORT: Port = Port {
    name: "mysql",
    number: 3306,
    client: true,
};
/// uid and gid of the `mysql` user in the official image.
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
    names: &'a Names,
    cluster_domain: &'a str,
    replicas: u32,
    port: i32,
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

/// Volumes of this engine beyond the assembler's.
const CONF: &str = "conf";
const RUN: &str = "run";
const TMP: &str = "tmp";

impl Engine for Mysql {
    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_ROOT, 24), (KEY_REPLICATION, 24), (KEY_CLONE, 24)]
    }

    /// No protocol limit; beyond this a fan-out from one primary is the wrong design.
    fn max_replicas(&self) -> u32 {
        32
    }

    fn parts(&self, spec: &Spec) -> Result<Parts> {
        let DbSpec::Mysql(my) = &spec.db else {
            bail!(
                "the MySQL engine was given a {} spec",
                spec.db.kind().as_str()
            );
        };
        let ctx = context(spec, my);
        let config = render_files(&["mysql/my.cnf"], &ctx)?;
        let scripts = render_files(&SCRIPT_IDS, &ctx)?;

        let image = spec.image.reference.clone();
        let script = |name: &str| vec!["bash".to_owned(), format!("{}/{name}", PATHS.scripts_dir)];
        let init_config = Container {
            name: "init-config".into(),
            image: Some(image.clone()),
            command: Some(script("init-config.sh")),
            volume_mounts: Some(vec![
                mount(volumes::CONFIG, PATHS.config_dir, true),
                mount(volumes::SCRIPTS, PATHS.scripts_dir, true),
                mount(CONF, PATHS.conf_dir, false),
            ]),
            ..Default::default()
        };
        let init_data = Container {
            name: "init-data".into(),
            image: Some(image.clone()),
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
        };
        let ping = || {
            exec(&[
                "mysqladmin",
                &format!("--defaults-file={}", PATHS.conf_file),
                "ping",
            ])
        };
        let mysql = Container {
            name: "mysql".into(),
            image: Some(image),
            command: Some(vec![
                "mysqld".into(),
                format!("--defaults-file={}", PATHS.conf_file),
            ]),
            ports: Some(vec![PORT.container_port()]),
            volume_mounts: Some(vec![
                VolumeMount {
                    sub_path: Some(PATHS.datadir_subpath.into()),
                    ..mount(volumes::DATA, PATHS.datadir, false)
                },
                mount(volumes::SCRIPTS, PATHS.scripts_dir, true),
                mount(volumes::CREDENTIALS, PATHS.credentials, true),
                mount(CONF, PATHS.conf_dir, true),
                mount(RUN, "/var/run/mysqld", false),
                mount(TMP, "/tmp", false),
            ]),
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
        };

        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            init_containers: vec![init_config, init_data],
            containers: vec![mysql],
            volumes: vec![
                empty_dir(CONF, None),
                empty_dir(RUN, Some("Memory")),
                empty_dir(TMP, None),
            ],
            user_id: MYSQL_UID,
            single_writer: true,
            // No quorum: one pod at a time keeps the others serving.
            max_unavailable: 1,
            // Pod N clones a running N-1 on its first start.
            pod_management_policy: "OrderedReady",
        })
    }
}

fn context<'a>(spec: &'a Spec, my: &MysqlSpec) -> Context<'a> {
    Context {
        names: &spec.names,
        cluster_domain: &spec.cluster_domain,
        replicas: spec.replicas,
        port: PORT.number,
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
        peer_wait_seconds: 300,
    }
}
