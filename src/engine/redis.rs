//! Redis with the official `redis` image: pod 0 is the primary, the others `replicaof` its stable
//! DNS name, authenticated (requirepass / masterauth from the Secret), persistent on the PVC.

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Container, Probe};
use serde::Serialize;

use super::{
    Engine, Parts, Port, SetContext, backup_container, render_files, small_resources, volumes,
};
use crate::k8s::{empty_dir, exec, mount, tcp};
use crate::spec::{DbSpec, RedisSpec, Spec};

pub struct Redis;

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
    redis: &'a RedisSpec,
    paths: Paths,
    keys: Keys,
    peer_wait_seconds: u32,
}

const RUNTIME: &str = "runtime";
const TMP: &str = "tmp";

impl Engine for Redis {
    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_PASSWORD, 32)]
    }

    fn max_replicas(&self) -> u32 {
        32
    }

    fn parts(&self, spec: &Spec) -> Result<Parts> {
        let DbSpec::Redis(redis) = &spec.db else {
            bail!(
                "the Redis engine was given a {} spec",
                spec.db.kind().as_str()
            );
        };
        let ctx = Context {
            set: SetContext::of(spec),
            port: PORT.number,
            redis,
            paths: PATHS,
            keys: Keys {
                password: KEY_PASSWORD,
            },
            peer_wait_seconds: 300,
        };
        let config = render_files(&["redis/redis.conf"], &ctx)?;
        let mut scripts = render_files(&["redis/init-config.sh", "redis/readiness.sh"], &ctx)?;
        if spec.backup.is_some() {
            scripts.extend(render_files(&["redis/backup.sh"], &ctx)?);
        }
        let image = spec.image.reference.clone();
        let init_config = Container {
            name: "init-config".into(),
            image: Some(image.clone()),
            command: Some(vec![
                "bash".into(),
                format!("{}/init-config.sh", PATHS.scripts),
            ]),
            volume_mounts: Some(vec![
                mount(volumes::DATA, PATHS.data, false),
                mount(volumes::SCRIPTS, PATHS.scripts, true),
                mount(volumes::CREDENTIALS, PATHS.credentials, true),
                mount(RUNTIME, PATHS.runtime_dir, false),
                mount(TMP, "/tmp", false),
            ]),
            ..Default::default()
        };
        let redis_container = Container {
            name: "redis".into(),
            image: Some(image),
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
        };
        Ok(Parts {
            ports: vec![PORT],
            config,
            scripts,
            init_containers: vec![init_config],
            containers: vec![redis_container],
            volumes: vec![empty_dir(RUNTIME, Some("Memory")), empty_dir(TMP, None)],
            user_id: REDIS_UID,
            single_writer: true,
            restore: None,
            api_backups: false,
            max_unavailable: 1,
            pod_management_policy: "OrderedReady",
            // redis-cli --rdb streams the snapshot to a file.
            backup: backup_container(
                spec,
                PATHS.scripts,
                PATHS.credentials,
                small_resources("100m", "64Mi", "256Mi"),
            ),
        })
    }
}
