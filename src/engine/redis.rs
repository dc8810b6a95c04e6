//! Redis with the official `redis` image: pod 0 is the primary, the others `replicaof` its stable
//! DNS name, authenticated (requirepass / masterauth from the Secret), persistent on the PVC.

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Container, Probe};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Database, Engine, SetContext, backup_container, render_files};
use crate::model::parts::{empty_dir, exec, mount, small_resources, tcp, volumes};
use crate::model::{Backups, Parts, Port, Spec, Topology};
use crate::settings::{KeyName, section};

pub struct Redis;

pub static REDIS: Redis = Redis;

/// The values section `redis:` has no keys yet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Values {}

/// The resolved options of one set (the templates read them as `redis`).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Options {
    /// `maxmemory`: three quarters of the memory limit (the rest: buffers, forks for saves).
    maxmemory_mib: u64,
}

const PORT: Port = Port {
    name: "redis",
    number: 6379,
    client: true,
};
/// uid and gid of the `redis` user in the official (Debian-based) image.
const REDIS_UID: i64 = 999;
const KEY_PASSWORD: &str = "redis-password";

#[derive(Serialize)]
struct Paths {
    data: &'static str,
    config_dir: &'static str,
    runtime_dir: &'static str,
    runtime_conf: &'static str,
    scripts: &'static str,
    credentials: &'static str,
}

const PATHS: Paths = Paths {
    data: "/data",
    config_dir: "/etc/redis",
    runtime_dir: "/etc/redis-runtime",
    runtime_conf: "/etc/redis-runtime/redis.conf",
    scripts: "/scripts",
    credentials: "/etc/redis-credentials",
};

#[derive(Serialize)]
struct Keys {
    password: &'static str,
}

#[derive(Serialize)]
struct Context<'a> {
    /// What the shared partials read: names, cluster domain, replicas, backups.
    #[serde(flatten)]
    set: SetContext<'a>,
    port: i32,
    redis: &'a Options,
    paths: Paths,
    keys: Keys,
    peer_wait_seconds: u32,
    /// `repl-ping-replica-period`: how often pod 0 pings its replicas, so that an idle pod 0
    /// does not read as lag in readiness.sh (see [`repl_ping_seconds`]).
    repl_ping_seconds: u32,
}

const RUNTIME: &str = "runtime";
const TMP: &str = volumes::TMP;

impl Engine for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn about(&self) -> &'static str {
        "Redis: pod 0 is the primary, the others replicas of its stable DNS name"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "sts-gen redis --replicas 3 > redis.yaml",
            "sts-gen redis --preset prod -n cache --existing-secret redis-credentials",
        ]
    }

    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_PASSWORD, 32)]
    }

    /// A small cache is a use of Redis; maxmemory is a share of the limit.
    fn min_memory_mib(&self) -> u64 {
        64
    }

    fn max_replicas(&self) -> u32 {
        32
    }

    fn check_section(&self, v: &Value) -> Result<()> {
        section::<Values>(self.name(), Some(v)).map(drop)
    }

    fn configure(
        &self,
        spec: &Spec,
        v: Option<&Value>,
        _key: KeyName,
    ) -> Result<Box<dyn Database>> {
        let Values {} = section(self.name(), v)?;
        Ok(Box::new(Options {
            maxmemory_mib: (spec.resources.memory_limit.value() as u64 * 3 / 4 / (1 << 20)).max(16),
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
            init_containers: vec![init_config(image)],
            containers: vec![server(image)],
            volumes: vec![empty_dir(RUNTIME, Some("Memory")), empty_dir(TMP, None)],
            user_id: REDIS_UID,
            topology: Topology::PrimaryReplicas,
            backups: Backups::Copy {
                container: backup(spec),
            },
        })
    }
}

impl Options {
    /// The shared redis.conf, and the scripts this set runs.
    fn files(&self, spec: &Spec) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let ctx = Context {
            set: SetContext::of(spec, PATHS.scripts),
            port: PORT.number,
            redis: self,
            paths: PATHS,
            keys: Keys {
                password: KEY_PASSWORD,
            },
            peer_wait_seconds: super::PEER_WAIT_SECONDS,
            repl_ping_seconds: repl_ping_seconds(spec.max_lag_seconds),
        };
        let config = render_files(&["redis/redis.conf"], &ctx)?;
        let mut scripts = render_files(&["redis/init-config.sh", "redis/readiness.sh"], &ctx)?;
        if spec.backup.is_some() {
            scripts.extend(render_files(&["redis/backup.sh"], &ctx)?);
        }
        Ok((config, scripts))
    }
}

/// Redis's default ping period (10 s), or half the lag cap when that is shorter: a replica
/// hears from an idle pod 0 at least twice within the cap, so readiness.sh's lag
/// (`master_last_io_seconds_ago`) stays under it while the link works.
fn repl_ping_seconds(max_lag_seconds: Option<u32>) -> u32 {
    max_lag_seconds.map_or(10, |lag| (lag / 2).clamp(1, 10))
}

/// `bash /scripts/<name>`.
fn script(name: &str) -> Vec<String> {
    vec!["bash".to_owned(), format!("{}/{name}", PATHS.scripts)]
}

/// init-config writes the pod's redis.conf (the shared one, the password, a replica's `replicaof`)
/// and keeps a wiped pod 0 from starting empty next to replicas that hold data.
fn init_config(image: &str) -> Container {
    Container {
        name: "init-config".into(),
        image: Some(image.to_owned()),
        command: Some(script("init-config.sh")),
        volume_mounts: Some(vec![
            mount(volumes::DATA, PATHS.data, false),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(RUNTIME, PATHS.runtime_dir, false),
            mount(TMP, "/tmp", false),
        ]),
        ..Default::default()
    }
}

/// The database container: redis-server on the runtime redis.conf, a TCP check for start-up and
/// liveness, Ready when readiness.sh says it serves.
fn server(image: &str) -> Container {
    Container {
        name: "redis".into(),
        image: Some(image.to_owned()),
        command: Some(vec!["redis-server".into(), PATHS.runtime_conf.into()]),
        ports: Some(vec![PORT.container_port()]),
        volume_mounts: Some(vec![
            mount(volumes::DATA, PATHS.data, false),
            mount(volumes::CONFIG, PATHS.config_dir, true),
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(RUNTIME, PATHS.runtime_dir, true),
            mount(TMP, "/tmp", false),
        ]),
        // Loading a large append-only file takes a while: up to 10 minutes.
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
            period_seconds: Some(5),
            timeout_seconds: Some(5),
            failure_threshold: Some(3),
            ..exec(&["bash", &format!("{}/readiness.sh", PATHS.scripts)])
        }),
        ..Default::default()
    }
}

/// The backup CronJob's container: redis-cli --rdb streams the snapshot to a file.
fn backup(spec: &Spec) -> Option<Container> {
    backup_container(
        spec,
        PATHS.scripts,
        PATHS.credentials,
        small_resources("100m", "64Mi", "256Mi"),
    )
}

#[cfg(test)]
mod tests {
    use super::repl_ping_seconds;

    #[test]
    fn pod_0_pings_replicas_at_least_twice_within_the_lag_cap() {
        assert_eq!(repl_ping_seconds(Some(60)), 10);
        assert_eq!(repl_ping_seconds(Some(20)), 10);
        assert_eq!(repl_ping_seconds(Some(9)), 4);
        assert_eq!(repl_ping_seconds(Some(3)), 1);
        assert_eq!(repl_ping_seconds(Some(1)), 1);
        assert_eq!(repl_ping_seconds(None), 10);
    }
}
