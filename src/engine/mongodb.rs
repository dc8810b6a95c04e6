//! MongoDB 8.0 with the official `mongo` image: one replica set with keyfile internal auth. A
//! sidecar runs an idempotent reconciliation step that initiates the set on pod 0 (only when no
//! peer could already hold one) and adds every other pod through the current primary. Backups are
//! `mongodump --oplog` archives of a secondary; a restore loads one into pod 0's empty volume
//! (init-data with `RESTORE_FROM`), from which the sidecar initiates a new set.

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Container, EnvVar, Probe, VolumeMount};
use serde::Serialize;

use super::{
    Engine, Parts, Port, SetContext, backup_container, render_files, small_resources, volumes,
};
use crate::k8s::{empty_dir, exec, mount, tcp};
use crate::spec::{DbSpec, MongodbSpec, Spec};

pub struct MongoDb;

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
    mongodb: &'a MongodbSpec,
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
const TMP: &str = "tmp";

impl Engine for MongoDb {
    /// 756 characters: the key file MongoDB's documentation generates (`openssl rand -base64 756`).
    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_ROOT, 24), (KEY_KEYFILE, 756)]
    }

    /// MongoDB's limit on replica set members.
    fn max_replicas(&self) -> u32 {
        50
    }

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
        } else if voting % 2 == 0 {
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
        let DbSpec::Mongodb(mongodb) = &spec.db else {
            bail!(
                "the MongoDB engine was given a {} spec",
                spec.db.kind().as_str()
            );
        };
        let ctx = Context {
            set: SetContext::of(spec),
            port: PORT.number,
            mongodb,
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

        let image = spec.image.reference.clone();
        let home = EnvVar {
            name: "HOME".into(),
            value: Some("/tmp".into()),
            ..Default::default()
        };
        let init_keyfile = Container {
            name: "init-keyfile".into(),
            image: Some(image.clone()),
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
        };
        // Last, so that the restore Job runs it with RESTORE_FROM (see init-data.sh): it sees the
        // whole volume, where a restore is built beside mongod's `db` directory and renamed into
        // place.
        let init_data = Container {
            name: "init-data".into(),
            image: Some(image.clone()),
            command: Some(vec![
                "bash".into(),
                format!("{}/init-data.sh", PATHS.scripts),
            ]),
            env: Some(vec![home.clone()]),
            volume_mounts: Some(vec![
                mount(volumes::DATA, PATHS.volume, false),
                mount(volumes::SCRIPTS, PATHS.scripts, true),
                mount(volumes::CREDENTIALS, PATHS.credentials, true),
                mount(TMP, "/tmp", false),
            ]),
            ..Default::default()
        };
        let mongod = Container {
            name: "mongod".into(),
            image: Some(image.clone()),
            command: Some(vec![
                "mongod".into(),
                "--config".into(),
                format!("{}/mongod.conf", PATHS.config_dir),
            ]),
            env: Some(vec![home.clone()]),
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
        };
        let sidecar = Container {
            name: "replica-set".into(),
            image: Some(image),
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
        };

        // Voluntary disruptions may take down only as many pods as the voting majority can lose.
        let voting = spec.replicas.min(MAX_VOTING);
        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            init_containers: vec![init_keyfile, init_data],
            containers: vec![mongod, sidecar],
            volumes: vec![empty_dir(KEYFILE, Some("Memory")), empty_dir(TMP, None)],
            user_id: MONGODB_UID,
            single_writer: false,
            restore: None,
            api_backups: false,
            max_unavailable: ((voting - 1) / 2) as i32,
            // Every member must be able to start (and answer pod 0) before any is Ready: with
            // ordered start, a member that cannot become secondary alone would block the others.
            pod_management_policy: "Parallel",
            // mongodump streams documents into a gzip archive; mongosh (Node.js) checks members.
            backup: backup_container(
                spec,
                PATHS.scripts,
                PATHS.credentials,
                small_resources("100m", "128Mi", "512Mi"),
            )
            .map(|c| Container {
                env: Some(vec![home]),
                ..c
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{DbKind, GenerateArgs};

    fn spec(replicas: u32) -> Spec {
        let args = GenerateArgs {
            replicas: Some(replicas.to_string()),
            ..Default::default()
        };
        crate::resolve::resolve_with(DbKind::Mongodb, &args, &|_| Ok("pw".to_owned()))
            .unwrap()
            .spec
    }

    #[test]
    fn pdb_never_allows_losing_the_voting_majority() {
        for (n, max) in [(2, 0), (3, 1), (4, 1), (5, 2), (7, 3), (9, 3), (50, 3)] {
            assert_eq!(
                MongoDb.parts(&spec(n)).unwrap().max_unavailable,
                max,
                "{n} members"
            );
        }
    }

    #[test]
    fn topology_warnings() {
        assert!(MongoDb.warnings(&spec(1)).is_empty());
        assert!(MongoDb.warnings(&spec(3)).is_empty());
        assert!(MongoDb.warnings(&spec(2))[0].contains("2 members cannot lose either one"));
        assert!(MongoDb.warnings(&spec(4))[0].contains("4 voting members"));
        let w = MongoDb.warnings(&spec(9));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("beyond the 7th (2 of 9)"));
        let w = MongoDb.warnings(&spec(8));
        assert!(
            w[0].contains("7 voting") || w[0].contains("beyond"),
            "{w:?}"
        );
    }
}
