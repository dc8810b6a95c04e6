//! MongoDB 8.0 with the official `mongo` image: one replica set with keyfile internal auth. A
//! sidecar runs an idempotent reconciliation step that initiates the set on pod 0 (only when no
//! peer could already hold one) and adds every other pod through the current primary. Backups are
//! `mongodump --oplog` archives of a secondary; a restore loads one into pod 0's empty volume
//! (init-data with `RESTORE_FROM`), from which the sidecar initiates a new set.

use std::collections::BTreeMap;

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::{Container, EnvVar, Probe, VolumeMount};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Database, Engine, SetContext, backup_container, render_files};
use crate::model::parts::{empty_dir, exec, mount, small_resources, tcp, volumes};
use crate::model::scalar::lenient;
use crate::model::{Backups, Parts, Port, Quantity, Spec, Topology};
use crate::settings::{KeyName, Kind, Setting, required, section};

pub struct MongoDb;

pub static MONGODB: MongoDb = MongoDb;

/// The values section `mongodb:`; `presets/mongodb/default.yaml` sets the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Values {
    #[serde(default, deserialize_with = "lenient::text")]
    replica_set_name: Option<String>,
    /// `storage.wiredTiger.engineConfig.cacheSizeGB`; derived from the memory limit when unset.
    wired_tiger_cache_size: Option<Quantity>,
}

/// The resolved options of one replica set (the templates read them as `mongodb`).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Options {
    replica_set_name: String,
    /// WiredTiger cache in GiB (mongod's unit); derived from the memory limit unless given.
    wired_tiger_cache_gb: f64,
}

const FLAGS: &[Setting] = &[Setting {
    key: "mongodb.replicaSetName",
    flag: "replica-set",
    short: None,
    value_name: "NAME",
    help: "Name of the replica set [default: rs0]",
    value: Kind::Text,
}];

const PORT: Port = Port {
    name: "mongodb",
    number: 27017,
    client: true,
};
/// uid and gid of the `mongodb` user in the official image.
const MONGODB_UID: i64 = 999;
/// MongoDB allows at most 7 voting members; members beyond are non-voting.
const MAX_VOTING: u32 = 7;

const KEY_ROOT: &str = "root-password";
const KEY_KEYFILE: &str = "keyfile";

#[derive(Serialize)]
struct Paths {
    config_dir: &'static str,
    scripts: &'static str,
    credentials: &'static str,
    keyfile_dir: &'static str,
    keyfile: &'static str,
    dbpath: &'static str,
    /// The whole data volume (init-data): mongod's dbpath is its `db` directory.
    volume: &'static str,
    volume_db: &'static str,
}

const PATHS: Paths = Paths {
    config_dir: "/etc/mongo",
    scripts: "/scripts",
    credentials: "/etc/mongo-credentials",
    keyfile_dir: "/etc/mongo-keyfile",
    keyfile: "/etc/mongo-keyfile/keyfile",
    dbpath: "/data/db",
    volume: "/data/volume",
    volume_db: "/data/volume/db",
};

#[derive(Serialize)]
struct Keys {
    root: &'static str,
    keyfile: &'static str,
}

#[derive(Serialize)]
struct Users {
    root: &'static str,
}

#[derive(Serialize)]
struct Context<'a> {
    /// What the shared partials read: names, cluster domain, replicas, backups.
    #[serde(flatten)]
    set: SetContext<'a>,
    port: i32,
    mongodb: &'a Options,
    paths: Paths,
    keys: Keys,
    users: Users,
}

const SCRIPT_IDS: [&str; 6] = [
    "mongodb/init-keyfile.sh",
    "mongodb/init-data.sh",
    "mongodb/restore-root.js",
    "mongodb/replica-set.sh",
    "mongodb/replica-set.js",
    "mongodb/readiness.js",
];
/// Scripts of the backup CronJob, rendered when the spec has backups.
const BACKUP_SCRIPT_IDS: [&str; 2] = ["mongodb/backup.sh", "mongodb/member-state.js"];

const KEYFILE: &str = "keyfile";
const TMP: &str = volumes::TMP;

impl Engine for MongoDb {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    fn about(&self) -> &'static str {
        "MongoDB 8.0: one replica set that forms and grows itself, keyfile auth, root from the Secret"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "sts-gen mongodb --replicas 3 > mongodb.yaml",
            "sts-gen mongodb --preset prod --replica-set orders --existing-secret mongodb-credentials",
            "sts-gen mongodb --set mongodb.replicaSetName=rs1 -o json",
        ]
    }

    fn flags(&self) -> &'static [Setting] {
        FLAGS
    }

    /// 756 characters: the key file MongoDB's documentation generates (`openssl rand -base64 756`).
    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_ROOT, 24), (KEY_KEYFILE, 756)]
    }

    /// MongoDB's limit on replica set members.
    /// WiredTiger's smallest cache (256 MiB) and mongod beside it.
    fn min_memory_mib(&self) -> u64 {
        512
    }

    fn max_replicas(&self) -> u32 {
        50
    }

    fn check_section(&self, v: &Value) -> Result<()> {
        section::<Values>(self.name(), Some(v)).map(drop)
    }

    fn configure(&self, spec: &Spec, v: Option<&Value>, key: KeyName) -> Result<Box<dyn Database>> {
        Ok(Box::new(options(&section(self.name(), v)?, spec, key)?))
    }
}

/// Validates the section and sizes the cache from the memory limit.
fn options(m: &Values, spec: &Spec, key: KeyName) -> Result<Options> {
    let name = required(&m.replica_set_name, "mongodb.replicaSetName")?;
    ensure!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{} {name:?} is not a valid replica set name: expected 1 to 64 letters, digits, '-' or '_'",
        key("mongodb.replicaSetName")
    );
    let limit = spec.resources.memory_limit.value();
    let gib = 1024.0 * 1024.0 * 1024.0;
    let cache = match &m.wired_tiger_cache_size {
        Some(q) => {
            ensure!(
                q.value() >= 0.25 * gib && q.value() < limit,
                "mongodb.wiredTigerCacheSize {q} is out of range: expected at least 256Mi and below the memory limit {}",
                spec.resources.memory_limit
            );
            q.value() / gib
        }
        // mongod's own default: 50% of (RAM - 1 GiB), at least 0.25 GiB; RAM = the limit.
        None => ((limit / gib - 1.0) * 0.5).max(0.25),
    };
    Ok(Options {
        replica_set_name: name,
        // Two decimals: the config file stays readable and stable.
        wired_tiger_cache_gb: (cache * 100.0).floor() / 100.0,
    })
}

impl Database for Options {
    fn warnings(&self, spec: &Spec) -> Vec<String> {
        let n = spec.replicas;
        let voting = n.min(MAX_VOTING);
        let mut w = Vec::new();
        if n == 2 {
            w.push(
                "2 members cannot lose either one: without a majority of 2 votes the set has no \
                 primary; use 3 members"
                    .to_owned(),
            );
        } else if voting.is_multiple_of(2) {
            w.push(format!(
                "{voting} voting members survive the loss of {} as {} would; the even vote adds no \
                 fault tolerance, use {} or {}",
                (voting - 1) / 2,
                voting - 1,
                voting - 1,
                voting + 1
            ));
        }
        if n > MAX_VOTING {
            w.push(format!(
                "members beyond the 7th ({} of {n}) are non-voting with priority 0: they replicate \
                 and serve reads but never vote or become primary",
                n - MAX_VOTING
            ));
        }
        w
    }

    fn parts(&self, spec: &Spec) -> Result<Parts> {
        let (config, scripts) = self.files(spec)?;
        let image = &spec.image.reference;
        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            // init-data last, so that the restore Job runs it with RESTORE_FROM (see
            // init-data.sh): it sees the whole volume, where a restore is built beside mongod's
            // `db` directory and renamed into place.
            init_containers: vec![init_keyfile(image), init_data(image)],
            containers: vec![server(image), replica_set_sidecar(image)],
            volumes: vec![empty_dir(KEYFILE, Some("Memory")), empty_dir(TMP, None)],
            user_id: MONGODB_UID,
            // Every member must be able to start (and answer pod 0) before any is Ready: with
            // ordered start, a member that cannot become secondary alone would block the others.
            topology: Topology::Elected {
                max_unavailable: max_unavailable(spec.replicas),
            },
            backups: Backups::Copy {
                container: backup(spec),
            },
        })
    }
}

impl Options {
    /// mongod.conf, and the scripts this set runs.
    fn files(&self, spec: &Spec) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let ctx = Context {
            set: SetContext::of(spec, PATHS.scripts),
            port: PORT.number,
            mongodb: self,
            paths: PATHS,
            keys: Keys {
                root: KEY_ROOT,
                keyfile: KEY_KEYFILE,
            },
            users: Users { root: "root" },
        };
        let config = render_files(&["mongodb/mongod.conf"], &ctx)?;
        let mut scripts = render_files(&SCRIPT_IDS, &ctx)?;
        if spec.backup.is_some() {
            scripts.extend(render_files(&BACKUP_SCRIPT_IDS, &ctx)?);
        }
        Ok((config, scripts))
    }
}

/// Voluntary disruptions may take down only as many pods as the voting majority can lose.
fn max_unavailable(replicas: u32) -> i32 {
    let voting = replicas.min(MAX_VOTING);
    ((voting - 1) / 2) as i32
}

/// `HOME=/tmp` for the containers that run mongosh or the database tools, which write under
/// `$HOME` (the root file system is read-only).
fn home() -> EnvVar {
    EnvVar {
        name: "HOME".into(),
        value: Some("/tmp".into()),
        ..Default::default()
    }
}

/// init-keyfile copies the key file from the Secret into a memory-backed emptyDir, readable by
/// mongod only (mongod refuses a group-readable one).
fn init_keyfile(image: &str) -> Container {
    Container {
        name: "init-keyfile".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "bash".into(),
            format!("{}/init-keyfile.sh", PATHS.scripts),
        ]),
        volume_mounts: Some(vec![
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(KEYFILE, PATHS.keyfile_dir, false),
        ]),
        ..Default::default()
    }
}

/// init-data prepares the volume before mongod starts; with `RESTORE_FROM` (the restore Job) it
/// loads a backup into it. It mounts the whole volume, not only mongod's `db` directory.
fn init_data(image: &str) -> Container {
    Container {
        name: "init-data".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "bash".into(),
            format!("{}/init-data.sh", PATHS.scripts),
        ]),
        env: Some(vec![home()]),
        volume_mounts: Some(vec![
            mount(volumes::DATA, PATHS.volume, false),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(TMP, "/tmp", false),
        ]),
        ..Default::default()
    }
}

/// The database container: mongod on mongod.conf, with its dbpath the volume's `db` directory.
fn server(image: &str) -> Container {
    Container {
        name: "mongod".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "mongod".into(),
            "--config".into(),
            format!("{}/mongod.conf", PATHS.config_dir),
        ]),
        env: Some(vec![home()]),
        ports: Some(vec![PORT.container_port()]),
        volume_mounts: Some(vec![
            VolumeMount {
                sub_path: Some("db".into()),
                ..mount(volumes::DATA, PATHS.dbpath, false)
            },
            mount(volumes::CONFIG, PATHS.config_dir, true),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(KEYFILE, PATHS.keyfile_dir, true),
            mount(TMP, "/tmp", false),
        ]),
        // A TCP check costs nothing; mongosh (a Node.js process) is kept for readiness only.
        // Startup allows 10 minutes for WiredTiger recovery after a crash.
        startup_probe: Some(Probe {
            period_seconds: Some(10),
            failure_threshold: Some(60),
            ..tcp(PORT.name)
        }),
        liveness_probe: Some(Probe {
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(6),
            ..tcp(PORT.name)
        }),
        readiness_probe: Some(Probe {
            period_seconds: Some(10),
            timeout_seconds: Some(10),
            failure_threshold: Some(3),
            ..exec(&[
                "mongosh",
                "--quiet",
                "--norc",
                "--file",
                &format!("{}/readiness.js", PATHS.scripts),
            ])
        }),
        ..Default::default()
    }
}

/// The `replica-set` sidecar: keeps this pod a member (initiates the set on pod 0, adds the
/// others through the primary) with one idempotent reconciliation step every few seconds.
fn replica_set_sidecar(image: &str) -> Container {
    Container {
        name: "replica-set".into(),
        image: Some(image.to_owned()),
        command: Some(vec![
            "bash".into(),
            format!("{}/replica-set.sh", PATHS.scripts),
        ]),
        volume_mounts: Some(vec![
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(TMP, "/tmp", false),
        ]),
        // mongosh runs briefly every few seconds; it needs far less than mongod.
        resources: Some(small_resources("10m", "64Mi", "256Mi")),
        ..Default::default()
    }
}

/// The backup CronJob's container: mongodump streams documents into a gzip archive; mongosh
/// (Node.js) checks members.
fn backup(spec: &Spec) -> Option<Container> {
    backup_container(
        spec,
        PATHS.scripts,
        PATHS.credentials,
        small_resources("100m", "128Mi", "512Mi"),
    )
    .map(|c| Container {
        env: Some(vec![home()]),
        ..c
    })
}

#[cfg(test)]
mod tests {
    use crate::cli::resolve_argv as from_argv;
    use crate::resolve::Resolved;

    fn set(replicas: u32) -> Resolved {
        from_argv(&["mongodb", "--replicas", &replicas.to_string()], &|_| {
            Ok("pw".to_owned())
        })
        .unwrap()
    }

    fn warnings(replicas: u32) -> Vec<String> {
        let r = set(replicas);
        r.database.warnings(&r.spec)
    }

    #[test]
    fn pdb_never_allows_losing_the_voting_majority() {
        for (n, max) in [(2, 0), (3, 1), (4, 1), (5, 2), (7, 3), (9, 3), (50, 3)] {
            let r = set(n);
            let parts = r.database.parts(&r.spec).unwrap();
            assert_eq!(parts.topology.max_unavailable(), max, "{n} members");
        }
    }

    #[test]
    fn topology_warnings() {
        assert!(warnings(1).is_empty());
        assert!(warnings(3).is_empty());
        assert!(warnings(2)[0].contains("2 members cannot lose either one"));
        assert!(warnings(4)[0].contains("4 voting members"));
        let w = warnings(9);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("beyond the 7th (2 of 9)"));
        let w = warnings(8);
        assert!(
            w[0].contains("7 voting") || w[0].contains("beyond"),
            "{w:?}"
        );
    }
}
