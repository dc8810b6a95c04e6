//! PostgreSQL with the official `postgres` image: pod 0 is the primary, every other pod a hot
//! standby cloned with `pg_basebackup` from a running peer and streaming from pod 0 as a
//! dedicated replication role (scram-sha-256) through a physical replication slot each, which a
//! sidecar on pod 0 keeps in step with the pods.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::core::v1::{Container, EnvVar, Lifecycle, LifecycleHandler, Probe};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Database, Engine, SetContext, backup_container, render_files};
use crate::model::parts::{empty_dir, exec, mount, small_resources, volumes};
use crate::model::scalar::lenient;
use crate::model::{Backups, Parts, Port, Quantity, Spec, Topology};
use crate::settings::{KeyName, required, section};

pub struct Postgres;

pub static POSTGRES: Postgres = Postgres;

/// The values section `postgres:`; `presets/postgres/default.yaml` sets the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Values {
    #[serde(default, deserialize_with = "lenient::int")]
    max_connections: Option<i64>,
    /// `wal_keep_size`: WAL kept for standbys that were away.
    wal_keep_size: Option<Quantity>,
}

/// The resolved options of one set (the templates read them as `postgres`).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Options {
    max_connections: u32,
    /// A quarter of the memory limit, at least 32 MiB.
    shared_buffers_mib: u64,
    /// `wal_keep_size`, and the least `max_slot_wal_keep_size` that init-data derives from the
    /// volume's real size on every start.
    wal_keep_mib: u64,
    /// Lag beyond which a standby is not Ready (`replication.maxLagSeconds`).
    max_lag_seconds: u32,
}

const MIB: u64 = 1 << 20;

const PORT: Port = Port {
    name: "postgres",
    number: 5432,
    client: true,
};
/// uid and gid of the `postgres` user in the official (Debian-based) image.
const POSTGRES_UID: i64 = 999;

const KEY_SUPERUSER: &str = "postgres-password";
const KEY_REPLICATION: &str = "replication-password";

#[derive(Serialize)]
struct Paths {
    /// The PersistentVolume, at the same path in every container.
    volume: &'static str,
    pgdata: &'static str,
    passfile: &'static str,
    config_dir: &'static str,
    socket_dir: &'static str,
    scripts: &'static str,
    credentials: &'static str,
}

const PATHS: Paths = Paths {
    volume: "/var/lib/postgresql/data",
    pgdata: "/var/lib/postgresql/data/pgdata",
    passfile: "/var/lib/postgresql/data/replication.pgpass",
    config_dir: "/etc/postgresql",
    socket_dir: "/var/run/postgresql",
    scripts: "/scripts",
    credentials: "/etc/postgresql-credentials",
};

#[derive(Serialize)]
struct Keys {
    superuser: &'static str,
    replication: &'static str,
}

#[derive(Serialize)]
struct Users {
    replication: &'static str,
}

/// How pod 0's replication container keeps the standbys' slots.
#[derive(Serialize)]
struct Slots {
    /// Seconds between two rounds.
    interval_seconds: u32,
    /// A slot is dropped once its pod has not existed for this long (and the slot is unused).
    grace_seconds: u32,
    /// The highest ordinal a set can have.
    max_ordinal: u32,
}

const SLOTS: Slots = Slots {
    interval_seconds: 10,
    grace_seconds: 600,
    max_ordinal: MAX_REPLICAS - 1,
};

/// max_wal_senders is 10: each standby streams with one.
const MAX_REPLICAS: u32 = 10;

#[derive(Serialize)]
struct Context<'a> {
    /// What the shared partials read: names, cluster domain, replicas, backups.
    #[serde(flatten)]
    set: SetContext<'a>,
    port: i32,
    postgres: &'a Options,
    paths: Paths,
    keys: Keys,
    users: Users,
    slots: Slots,
    peer_wait_seconds: u32,
}

const RUN: &str = "run";
const TMP: &str = volumes::TMP;

impl Engine for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn about(&self) -> &'static str {
        "PostgreSQL: pod 0 is the primary, the others hot standbys cloned with pg_basebackup"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "sts-gen postgres --replicas 3 > postgres.yaml",
            "sts-gen postgres --preset prod -n db --existing-secret postgres-credentials",
        ]
    }

    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_SUPERUSER, 24), (KEY_REPLICATION, 24)]
    }

    /// shared_buffers is a quarter of the limit; PostgreSQL runs small.
    fn min_memory_mib(&self) -> u64 {
        128
    }

    /// max_wal_senders is 10: each standby streams with one.
    fn max_replicas(&self) -> u32 {
        MAX_REPLICAS
    }

    fn check_section(&self, v: &Value) -> Result<()> {
        section::<Values>(self.name(), Some(v)).map(drop)
    }

    fn configure(&self, spec: &Spec, v: Option<&Value>, key: KeyName) -> Result<Box<dyn Database>> {
        let p: Values = section(self.name(), v)?;
        let max_connections = required(&p.max_connections, "postgres.maxConnections")?;
        ensure!(
            (10..=10_000).contains(&max_connections),
            "{} {max_connections} is out of range: expected 10 to 10000",
            key("postgres.maxConnections")
        );
        let keep = required(&p.wal_keep_size, "postgres.walKeepSize")?;
        // Whole WAL segments of 16 MiB: less would be raised to one without a word.
        ensure!(
            keep.value() >= (16 * MIB) as f64,
            "{} {keep} is below one WAL segment: expected at least 16Mi, such as 1Gi",
            key("postgres.walKeepSize")
        );
        let wal_keep_mib = keep.value() as u64 / MIB;
        Ok(Box::new(Options {
            max_connections: max_connections as u32,
            shared_buffers_mib: (spec.resources.memory_limit.value() as u64 / 4 / MIB).max(32),
            wal_keep_mib,
            max_lag_seconds: spec
                .max_lag_seconds
                .context("replication.maxLagSeconds is required for postgres")?,
        }))
    }
}

impl Database for Options {
    fn parts(&self, spec: &Spec) -> Result<Parts> {
        let (config, scripts) = self.files(spec)?;
        let image = &spec.image.reference;
        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            init_containers: vec![init_data(image)],
            containers: vec![server(image), replication(image)],
            volumes: vec![empty_dir(RUN, Some("Memory")), empty_dir(TMP, None)],
            user_id: POSTGRES_UID,
            // Pod N clones a running N-1 on its first start.
            topology: Topology::PrimaryReplicas,
            backups: Backups::Copy {
                container: backup(spec),
            },
        })
    }
}

impl Options {
    /// postgresql.conf and pg_hba.conf, and the scripts this set runs.
    fn files(&self, spec: &Spec) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let ctx = Context {
            set: SetContext::of(spec, PATHS.scripts),
            port: PORT.number,
            postgres: self,
            paths: PATHS,
            keys: Keys {
                superuser: KEY_SUPERUSER,
                replication: KEY_REPLICATION,
            },
            users: Users {
                replication: "replication",
            },
            slots: SLOTS,
            peer_wait_seconds: super::PEER_WAIT_SECONDS,
        };
        let config = render_files(&["postgres/postgresql.conf", "postgres/pg_hba.conf"], &ctx)?;
        let mut scripts = render_files(
            &[
                "postgres/init-data.sh",
                "postgres/readiness.sh",
                "postgres/replication.sh",
            ],
            &ctx,
        )?;
        if spec.backup.is_some() {
            scripts.extend(render_files(&["postgres/backup.sh"], &ctx)?);
        }
        Ok((config, scripts))
    }
}

/// init-data makes sure the volume holds a data directory before postgres starts: initdb on
/// pod 0, pg_basebackup from a running peer on a new standby, nothing when one is there.
fn init_data(image: &str) -> Container {
    Container {
        name: "init-data".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "bash".into(),
            format!("{}/init-data.sh", PATHS.scripts),
        ]),
        volume_mounts: Some(vec![
            mount(volumes::DATA, PATHS.volume, false),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(TMP, "/tmp", false),
        ]),
        ..Default::default()
    }
}

/// The database container: postgres on the set's postgresql.conf, stopped fast, alive while
/// pg_isready answers on its socket, Ready by readiness.sh (pod 0 writable; a standby streaming
/// and within the lag bound).
fn server(image: &str) -> Container {
    let port = PORT.number.to_string();
    let ready = || exec(&["pg_isready", "--host", PATHS.socket_dir, "--port", &port]);
    Container {
        name: "postgres".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "postgres".into(),
            "-D".into(),
            PATHS.pgdata.into(),
            "-c".into(),
            format!("config_file={}/postgresql.conf", PATHS.config_dir),
        ]),
        env: Some(vec![EnvVar {
            name: "PGDATA".into(),
            value: Some(PATHS.pgdata.into()),
            ..Default::default()
        }]),
        ports: Some(vec![PORT.container_port()]),
        volume_mounts: Some(vec![
            mount(volumes::DATA, PATHS.volume, false),
            mount(volumes::CONFIG, PATHS.config_dir, true),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(RUN, PATHS.socket_dir, false),
            mount(TMP, "/tmp", false),
        ]),
        // SIGTERM is a "smart" shutdown that waits for every client; stop fast instead.
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: exec(&["pg_ctl", "stop", "--mode=fast", "--wait", "--timeout=60"]).exec,
                ..Default::default()
            }),
            ..Default::default()
        }),
        // Crash recovery replays WAL: up to 15 minutes before liveness counts.
        startup_probe: Some(Probe {
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(90),
            ..ready()
        }),
        liveness_probe: Some(Probe {
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(6),
            ..ready()
        }),
        // One local query; a standby that does not stream asks pod 0 why (2 s at most).
        readiness_probe: Some(Probe {
            period_seconds: Some(5),
            timeout_seconds: Some(5),
            failure_threshold: Some(3),
            ..exec(&["bash", &format!("{}/readiness.sh", PATHS.scripts)])
        }),
        ..Default::default()
    }
}

/// The sidecar: on pod 0 it creates and drops the standbys' replication slots; on a standby it
/// logs when streaming stops or resumes, and why. A query every few seconds.
fn replication(image: &str) -> Container {
    Container {
        name: "replication".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "bash".into(),
            format!("{}/replication.sh", PATHS.scripts),
        ]),
        volume_mounts: Some(vec![
            // The passfile, which tells why a standby's WAL receiver cannot log in.
            mount(volumes::DATA, PATHS.volume, true),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(RUN, PATHS.socket_dir, false),
            mount(TMP, "/tmp", false),
        ]),
        resources: Some(small_resources("10m", "32Mi", "64Mi")),
        ..Default::default()
    }
}

/// The backup CronJob's container: pg_basebackup streams and gzip compresses, which takes little
/// memory and some CPU.
fn backup(spec: &Spec) -> Option<Container> {
    backup_container(
        spec,
        PATHS.scripts,
        PATHS.credentials,
        small_resources("250m", "128Mi", "512Mi"),
    )
}
