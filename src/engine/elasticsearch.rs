//! Elasticsearch 8 with the official image: every pod master-eligible and a data node, cluster
//! formation from the pod names, security on with transport TLS from a generated (or provided)
//! CA, and `vm.max_map_count` handled by a privileged init container or by turning mmap off.
//! Backups are snapshots the nodes write into a shared-filesystem (`fs`) repository on the
//! backups claim, which every node mounts, or with an S3 bucket (`spec.backup_s3`) into an `s3`
//! repository through a repository-s3 client that init-config sets up on every node from the S3
//! Secret; the backup and restore Jobs drive the `_snapshot` API with curl through the client
//! Service.

use std::collections::BTreeMap;

use anyhow::{Result, bail, ensure};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, Probe, SecretVolumeSource, SecurityContext, TCPSocketAction, Volume,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Database, Engine, SetContext, backup_container, render_files};
use crate::model::parts::{BACKUPS_DIR, empty_dir, mount, small_resources, tcp, volumes};
use crate::model::scalar::lenient;
use crate::model::{Backups, Parts, PasswordSource, Port, S3Store, Spec, Topology};
use crate::settings::{KeyName, Kind, Setting, required, section};
use crate::tls;

pub struct Elasticsearch;

pub static ELASTICSEARCH: Elasticsearch = Elasticsearch;

/// The values section `elasticsearch:`; `presets/elasticsearch/default.yaml` sets the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Values {
    /// HTTPS on the HTTP port.
    #[serde(default, deserialize_with = "lenient::flag")]
    http_tls: Option<bool>,
    /// A privileged init container raises vm.max_map_count; false: mmap off instead.
    #[serde(default, deserialize_with = "lenient::flag")]
    privileged_init: Option<bool>,
}

/// The resolved options of one cluster (the templates read them as `elasticsearch`).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Options {
    http_tls: bool,
    privileged_init: bool,
    /// JVM heap (-Xms = -Xmx) in MiB: half the memory limit, below 31 GiB (compressed oops).
    heap_mib: u64,
}

const FLAGS: &[Setting] = &[
    Setting {
        key: "elasticsearch.httpTls",
        flag: "http-tls",
        short: None,
        value_name: "",
        help: "Serve HTTPS on 9200 with the generated (or provided) certificate [default: HTTP]",
        value: Kind::Switch(true),
    },
    Setting {
        key: "elasticsearch.privilegedInit",
        flag: "no-privileged-init",
        short: None,
        value_name: "",
        help: "No privileged init container raising vm.max_map_count: disables mmap instead \
               (node.store.allow_mmap: false), for Pod Security \"restricted\" namespaces",
        value: Kind::Switch(false),
    },
];

const HTTP: Port = Port {
    name: "http",
    number: 9200,
    client: true,
};
const TRANSPORT: Port = Port {
    name: "transport",
    number: 9300,
    client: false,
};
/// Elasticsearch (8.2+) opens this port once the node is in a cluster with an elected master.
const READINESS_PORT: i32 = 9399;
/// uid of the `elasticsearch` user in the official image (its group is 0).
const ES_UID: i64 = 1000;
/// Elasticsearch's bootstrap check requires at least this vm.max_map_count.
const MAX_MAP_COUNT: u32 = 262_144;

const KEY_PASSWORD: &str = "elastic-password";
const KEY_CA: &str = "ca.crt";
const KEY_CRT: &str = "tls.crt";
/// The snapshot repository the backup and restore Jobs register.
const REPOSITORY: &str = "sts-gen";
/// The repository's directory on the backups claim (a subdirectory: the claim's root may hold
/// other things, such as ext4's lost+found).
const REPOSITORY_LOCATION: &str = "/backups/elasticsearch";
const KEY_KEY: &str = "tls.key";
/// The repository-s3 client the nodes get with an S3 bucket: its settings are
/// `s3.client.sts-gen.*` (not `default`, so that settings of the user's own stay apart).
const S3_CLIENT: &str = "sts-gen";
/// The S3 Secret's volume (in every pod of the instance: the nodes' init-config and the Jobs
/// read it) and where it is mounted.
const S3_SECRET: &str = "s3-secret";
const S3_SECRET_DIR: &str = "/etc/elasticsearch-s3";

#[derive(Serialize)]
struct Paths {
    /// The image's config directory; an emptyDir copy of it in the elasticsearch container.
    config: &'static str,
    /// Where init-config sees that emptyDir.
    config_copy: &'static str,
    /// The `<name>-config` ConfigMap (elasticsearch.yml).
    config_map: &'static str,
    /// The credentials Secret, inside the config directory (Elasticsearch reads TLS files only
    /// from there).
    certs: &'static str,
    certs_rel: &'static str,
    /// The same Secret, as the shared identity script and init-config name it.
    credentials: &'static str,
    /// init-config's private (0600) copy of the password, in the config directory.
    password_copy: &'static str,
    data: &'static str,
    scripts: &'static str,
}

const PATHS: Paths = Paths {
    config: "/usr/share/elasticsearch/config",
    config_copy: "/mnt/config",
    config_map: "/mnt/config-map",
    certs: "/usr/share/elasticsearch/config/certs",
    certs_rel: "certs",
    credentials: "/etc/elasticsearch-credentials",
    password_copy: "bootstrap-password",
    data: "/usr/share/elasticsearch/data",
    scripts: "/scripts",
};

#[derive(Serialize)]
struct Context<'a> {
    /// What the shared partials read: names, cluster domain, replicas, backups.
    #[serde(flatten)]
    set: SetContext<'a>,
    http_port: i32,
    transport_port: i32,
    readiness_port: i32,
    max_map_count: u32,
    /// One node: `discovery.type: single-node` (another topology: going from one node to more
    /// changes the configuration, and so the pods).
    single_node: bool,
    elasticsearch: &'a Options,
    paths: Paths,
    keys: Keys,
    api: Api,
    /// Set when the snapshots go to an S3 bucket.
    s3: Option<S3<'a>>,
}

/// The S3 bucket of the snapshots, as init-config and the Jobs' scripts read it.
#[derive(Serialize)]
struct S3<'a> {
    /// The Secret's name, for messages.
    secret: &'a str,
    /// Where the Secret's keys are files.
    credentials: &'static str,
    /// The repository's `base_path` in the bucket (no leading or trailing `/`), as a shell word
    /// (`S3Store::prefix_word`).
    prefix: String,
    client: &'static str,
}

#[derive(Serialize)]
struct Keys {
    password: &'static str,
    ca: &'static str,
}

/// How the backup and restore Jobs reach Elasticsearch and where the snapshots go.
#[derive(Serialize)]
struct Api {
    /// The protocol the HTTP port serves: https with `httpTls` (verified against the Secret's CA).
    scheme: &'static str,
    repository: &'static str,
    /// `path.repo`: where the backups claim is mounted in every node.
    repository_root: &'static str,
    repository_location: &'static str,
}

const CONFIG_COPY: &str = "config-copy";
const LOGS: &str = "logs";
const TMP: &str = volumes::TMP;

/// Names the node certificate is valid for: every pod through the headless Service (and, with a
/// namespace, a wildcard covering pods added by scaling; a wildcard needs two labels after it),
/// the client Service, and the pod's loopback.
fn subject_alt_names(spec: &Spec) -> Vec<String> {
    let n = &spec.names;
    let mut sans: Vec<String> = (0..spec.replicas)
        .map(|i| format!("{}.{}", n.pod(i), n.headless))
        .collect();
    sans.push(n.client.clone());
    if let Some(ns) = &spec.namespace {
        let domain = &spec.cluster_domain;
        sans.extend([
            format!("*.{}.{ns}.svc", n.headless),
            format!("*.{}.{ns}.svc.{domain}", n.headless),
            format!("{}.{ns}.svc", n.client),
            format!("{}.{ns}.svc.{domain}", n.client),
        ]);
    }
    sans.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    sans
}

impl Engine for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn about(&self) -> &'static str {
        "Elasticsearch 8: a cluster that forms on the first try, security and transport TLS on"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "sts-gen elasticsearch --replicas 3 > es.yaml",
            "sts-gen elasticsearch --preset prod --http-tls -n search",
            "sts-gen elasticsearch --no-privileged-init   # for Pod Security \"restricted\" namespaces",
        ]
    }

    fn flags(&self) -> &'static [Setting] {
        FLAGS
    }

    fn replicas_lag(&self) -> bool {
        false
    }

    /// The heap is half of the limit, and Elasticsearch wants at least 256 MiB of it.
    fn min_memory_mib(&self) -> u64 {
        512
    }

    fn secrets(&self) -> &'static [(&'static str, usize)] {
        &[(KEY_PASSWORD, 24)]
    }

    fn generate_secret(
        &self,
        spec: &Spec,
        password: PasswordSource,
    ) -> Result<BTreeMap<String, String>> {
        let name = &spec.names.statefulset;
        let t = tls::generate(
            &format!("{name} CA (sts-gen)"),
            name,
            &subject_alt_names(spec),
        )?;
        Ok(BTreeMap::from([
            (KEY_PASSWORD.to_owned(), password(24)?),
            (KEY_CA.to_owned(), t.ca_crt),
            (KEY_CRT.to_owned(), t.crt),
            (KEY_KEY.to_owned(), t.key),
        ]))
    }

    fn max_replicas(&self) -> u32 {
        99
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
        let e: Values = section(self.name(), v)?;
        ensure!(
            spec.max_lag_seconds.is_none(),
            "replication.maxLagSeconds does not apply to elasticsearch: its shards replicate inside the cluster, which has no lagging replicas to leave out"
        );
        // The heap: half the limit (at least 256 MiB: see min_memory_mib), below 32 GiB.
        let half_mib = spec.resources.memory_limit.value() as u64 / 2 / (1 << 20);
        if spec.restore_from.is_some() && spec.backup.is_none() {
            bail!(
                "--restore-from for Elasticsearch needs the backup settings the set runs with \
                 (--backup-schedule and the others): every node reads the snapshots from {}",
                if spec.backup_s3.is_some() {
                    "the bucket through the S3 client those settings give it"
                } else {
                    "the backups claim they mount"
                }
            );
        }
        Ok(Box::new(Options {
            http_tls: required(&e.http_tls, "elasticsearch.httpTls")?,
            privileged_init: required(&e.privileged_init, "elasticsearch.privilegedInit")?,
            // Below 31 GiB the JVM keeps compressed object pointers.
            heap_mib: half_mib.min(31 * 1024),
        }))
    }
}

impl Database for Options {
    fn warnings(&self, spec: &Spec) -> Vec<String> {
        let mut w = Vec::new();
        if self.privileged_init {
            w.push(
                "init container init-sysctl runs privileged (as root) to raise vm.max_map_count; \
                 --no-privileged-init avoids it (Pod Security \"restricted\") and turns mmap off"
                    .to_owned(),
            );
        }
        // The backups claim is mounted by every node: only a ReadWriteMany class binds it.
        if let Some(b) = &spec.backup
            && spec.backup_s3.is_none()
            && b.storage.class_name.is_none()
        {
            w.push(
                "every node mounts the snapshots' claim, so it needs a ReadWriteMany StorageClass: \
                 with the cluster's default (block storage on most clouds) it never binds and no \
                 node starts; give --backup-storage-class NAME (NFS, EFS, CephFS, Filestore) or \
                 keep the snapshots in a bucket with --backup-s3-secret"
                    .to_owned(),
            );
        }
        let n = spec.replicas;
        w.extend(if n == 2 {
            vec![
                "2 master-eligible nodes cannot lose either one: electing a master needs both; \
                 use 3"
                    .to_owned(),
            ]
        } else if n > 2 && n.is_multiple_of(2) {
            vec![format!(
                "{n} master-eligible nodes: Elasticsearch leaves one out of the voting \
                 configuration, so the even node adds no fault tolerance over {}",
                n - 1
            )]
        } else {
            Vec::new()
        });
        w
    }

    fn parts(&self, spec: &Spec) -> Result<Parts> {
        // The bucket counts with the backup settings only: without them there is no repository.
        let s3 = s3_store(spec);
        let (config, scripts) = self.files(spec, s3)?;
        let image = &spec.image.reference;
        Ok(Parts {
            ports: vec![HTTP, TRANSPORT],
            config,
            scripts,
            init_containers: self.init_containers(image, s3.is_some()),
            containers: vec![self.server(spec, s3.is_some())],
            volumes: pod_volumes(s3),
            user_id: ES_UID,
            // Every node must be up to elect the first master: ordered start would never get
            // there. A master quorum survives one node down from 3 on; with 2, none may go.
            topology: Topology::Elected {
                max_unavailable: i32::from(spec.replicas >= 3),
            },
            // curl against the API: the snapshot itself runs in the nodes.
            backups: Backups::Api {
                container: backup(spec).map(|c| with_s3_secret(c, s3.is_some())),
                restore: restore(spec).map(|c| Box::new(with_s3_secret(c, s3.is_some()))),
            },
        })
    }
}

impl Options {
    /// elasticsearch.yml, and the scripts this cluster runs; `s3`: the bucket of the snapshots.
    fn files(
        &self,
        spec: &Spec,
        s3: Option<&S3Store>,
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let ctx = Context {
            set: SetContext::of(spec, PATHS.scripts),
            http_port: HTTP.number,
            transport_port: TRANSPORT.number,
            readiness_port: READINESS_PORT,
            max_map_count: MAX_MAP_COUNT,
            single_node: spec.replicas == 1,
            elasticsearch: self,
            paths: PATHS,
            keys: Keys {
                password: KEY_PASSWORD,
                ca: KEY_CA,
            },
            api: Api {
                scheme: if self.http_tls { "https" } else { "http" },
                repository: REPOSITORY,
                repository_root: BACKUPS_DIR,
                repository_location: REPOSITORY_LOCATION,
            },
            s3: s3.map(|s| S3 {
                secret: &s.secret,
                credentials: S3_SECRET_DIR,
                prefix: s.prefix_word(),
                client: S3_CLIENT,
            }),
        };
        // The restore goes through the repository the set has with its backup settings, and its
        // ConfigMaps replace the set's: without those settings they would drop path.repo or the
        // S3 client.
        let config = render_files(&["elasticsearch/elasticsearch.yml"], &ctx)?;
        let mut script_ids = vec!["elasticsearch/init-config.sh"];
        if self.privileged_init {
            script_ids.push("elasticsearch/init-sysctl.sh");
        }
        // restore.sh is part of the set's scripts too: the restore output's ConfigMaps are then
        // the set's, byte for byte, and applying either never changes what the other runs.
        if spec.backup.is_some() {
            script_ids.extend(["elasticsearch/backup.sh", "elasticsearch/restore.sh"]);
        }
        let scripts = render_files(&script_ids, &ctx)?;
        Ok((config, scripts))
    }

    /// init-sysctl (with `privilegedInit`) raises vm.max_map_count; init-config copies the
    /// image's config directory into a writable emptyDir with sts-gen's elasticsearch.yml (and,
    /// with an S3 bucket, the repository-s3 client's settings in the keystore).
    fn init_containers(&self, image: &str, s3: bool) -> Vec<Container> {
        let mut init_containers = Vec::new();
        if self.privileged_init {
            init_containers.push(init_sysctl(image));
        }
        // The data volume read-write: init-config records there that the cluster has formed.
        // /tmp: curl's config (the cluster is asked whether it formed) and, with S3, the JVM of
        // elasticsearch-keystore (the root file system is read-only).
        let mut init_config_mounts = vec![
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CONFIG, PATHS.config_map, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(volumes::DATA, PATHS.data, false),
            mount(CONFIG_COPY, PATHS.config_copy, false),
            mount(TMP, "/tmp", false),
        ];
        if s3 {
            // The S3 client's settings come from the Secret.
            init_config_mounts.push(mount(S3_SECRET, S3_SECRET_DIR, true));
        }
        init_containers.push(Container {
            name: "init-config".into(),
            image: Some(image.to_owned()),
            command: Some(script("init-config.sh")),
            volume_mounts: Some(init_config_mounts),
            ..Default::default()
        });
        init_containers
    }

    /// The node: the image's entrypoint with the heap and the bootstrap password's file, TCP
    /// checks for start-up and liveness, Ready once in a cluster with an elected master.
    fn server(&self, spec: &Spec, s3: bool) -> Container {
        let env = |name: &str, value: String| EnvVar {
            name: name.into(),
            value: Some(value),
            ..Default::default()
        };
        Container {
            name: "elasticsearch".into(),
            image: Some(spec.image.reference.clone()),
            // The image's entrypoint stays: it stores the bootstrap password in the keystore.
            env: Some(vec![
                env("ES_JAVA_OPTS", format!("-Xms{0}m -Xmx{0}m", self.heap_mib)),
                env(
                    "ELASTIC_PASSWORD_FILE",
                    format!("{}/{}", PATHS.config, PATHS.password_copy),
                ),
                env("ES_TMPDIR", "/tmp".into()),
            ]),
            ports: Some(vec![HTTP.container_port(), TRANSPORT.container_port()]),
            volume_mounts: Some(elasticsearch_mounts(spec, s3)),
            // Start-up includes JVM start and, on a restart, shard recovery: up to 10 minutes.
            startup_probe: Some(Probe {
                period_seconds: Some(10),
                failure_threshold: Some(60),
                ..tcp(HTTP.name)
            }),
            liveness_probe: Some(Probe {
                period_seconds: Some(10),
                timeout_seconds: Some(5),
                failure_threshold: Some(6),
                ..tcp(TRANSPORT.name)
            }),
            // Ready = in a cluster with an elected master (readiness.port). Nothing here waits on
            // other pods' readiness, and Parallel start brings every node up at once.
            readiness_probe: Some(Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::Int(READINESS_PORT),
                    ..Default::default()
                }),
                period_seconds: Some(5),
                timeout_seconds: Some(3),
                failure_threshold: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `bash /scripts/<name>`.
fn script(name: &str) -> Vec<String> {
    vec!["bash".to_owned(), format!("{}/{name}", PATHS.scripts)]
}

/// init-sysctl raises the node's vm.max_map_count to what Elasticsearch's bootstrap check needs.
fn init_sysctl(image: &str) -> Container {
    Container {
        name: "init-sysctl".into(),
        image: Some(image.to_owned()),
        command: Some(script("init-sysctl.sh")),
        volume_mounts: Some(vec![mount(volumes::SCRIPTS, PATHS.scripts, true)]),
        // The only privileged piece, and only what writing a kernel setting takes.
        security_context: Some(SecurityContext {
            privileged: Some(true),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pods' emptyDirs, and with an S3 bucket its Secret.
fn pod_volumes(s3: Option<&S3Store>) -> Vec<Volume> {
    let mut pod_volumes = vec![
        empty_dir(CONFIG_COPY, None),
        empty_dir(LOGS, None),
        empty_dir(TMP, None),
    ];
    // An engine volume: the StatefulSet's pods and the Jobs' (which start from the same pod
    // basics) all get it.
    pod_volumes.extend(s3.map(s3_secret_volume));
    pod_volumes
}

/// The backup CronJob's container: backup.sh has the cluster take a snapshot through the API.
fn backup(spec: &Spec) -> Option<Container> {
    backup_container(spec, PATHS.scripts, PATHS.credentials, api_resources())
}

/// The restore Job's container with `--restore-from`: restore.sh restores the snapshot into the
/// running cluster through the API.
fn restore(spec: &Spec) -> Option<Container> {
    spec.restore_from.as_ref().map(|_| Container {
        name: "restore".into(),
        image: Some(spec.image.reference.clone()),
        command: Some(script("restore.sh")),
        volume_mounts: Some(vec![
            mount(volumes::SCRIPTS, PATHS.scripts, true),
            mount(volumes::CREDENTIALS, PATHS.credentials, true),
            mount(TMP, "/tmp", false),
        ]),
        resources: Some(api_resources()),
        ..Default::default()
    })
}

/// A Job's container with an S3 bucket: the Jobs' scripts read the bucket's name from the Secret.
fn with_s3_secret(mut c: Container, s3: bool) -> Container {
    if s3 {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount(S3_SECRET, S3_SECRET_DIR, true));
    }
    c
}

/// The Jobs' container runs bash and curl only.
fn api_resources() -> k8s_openapi::api::core::v1::ResourceRequirements {
    small_resources("100m", "64Mi", "256Mi")
}

/// The bucket of the snapshots: `spec.backup_s3` when the spec has backups.
fn s3_store(spec: &Spec) -> Option<&S3Store> {
    spec.backup.as_ref().and(spec.backup_s3.as_ref())
}

/// The S3 Secret as a volume: files readable by the pod's group only, like the credentials.
fn s3_secret_volume(s3: &S3Store) -> Volume {
    Volume {
        name: S3_SECRET.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(s3.secret.clone()),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The elasticsearch container's mounts; with backups on the claim, that claim at `path.repo`.
fn elasticsearch_mounts(spec: &Spec, s3: bool) -> Vec<k8s_openapi::api::core::v1::VolumeMount> {
    let mut m = vec![
        mount(volumes::DATA, PATHS.data, false),
        mount(CONFIG_COPY, PATHS.config, false),
        mount(volumes::CREDENTIALS, PATHS.certs, true),
        mount(LOGS, "/usr/share/elasticsearch/logs", false),
        mount(TMP, "/tmp", false),
    ];
    if spec.backup.is_some() && !s3 {
        m.push(mount(volumes::BACKUPS, BACKUPS_DIR, false));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::resolve_argv as from_argv;
    use crate::resolve::Resolved;

    fn set(args: &[&str]) -> anyhow::Result<Resolved> {
        let argv: Vec<&str> = ["elasticsearch"].iter().chain(args).copied().collect();
        from_argv(&argv, &|_| Ok("pw".to_owned()))
    }

    fn parts(args: &[&str]) -> Parts {
        let r = set(args).unwrap();
        r.database.parts(&r.spec).unwrap()
    }

    #[test]
    fn discovery_is_the_headless_service_or_a_single_node() {
        let yml = &parts(&["-r", "3"]).config["elasticsearch.yml"];
        assert!(yml.contains("discovery.seed_hosts: elasticsearch-headless\n"));
        // The first election's list is init-config's, from the replica count at run time.
        assert!(!yml.contains("cluster.initial_master_nodes:") && !yml.contains("single-node"));
        let yml = &parts(&["-r", "1"]).config["elasticsearch.yml"];
        assert!(yml.contains("discovery.type: single-node"));
        assert!(!yml.contains("initial_master_nodes") && !yml.contains("seed_hosts"));
    }

    #[test]
    fn certificate_names_cover_the_pods() {
        let sans = subject_alt_names(&set(&["-r", "3", "-n", "search"]).unwrap().spec);
        for want in [
            "elasticsearch-2.elasticsearch-headless",
            "*.elasticsearch-headless.search.svc.cluster.local",
            "elasticsearch.search.svc",
            "127.0.0.1",
        ] {
            assert!(
                sans.iter().any(|s| s == want),
                "{want} missing from {sans:?}"
            );
        }
    }

    fn docs(args: &[&str]) -> Vec<crate::k8s::Manifest> {
        crate::generate(&set(args).unwrap()).unwrap()
    }

    #[test]
    fn backups_are_a_shared_repository_every_node_mounts() {
        let on = ["--backup-schedule", "@daily"];
        let p = parts(&on);
        assert!(matches!(
            &p.backups,
            Backups::Api {
                container: Some(_),
                restore: None
            }
        ));
        let yml = &p.config["elasticsearch.yml"];
        assert!(yml.contains("\npath.repo: [ \"/backups\" ]\n"), "{yml}");
        assert!(p.scripts.contains_key("backup.sh") && p.scripts.contains_key("restore.sh"));
        let mounts = p.containers[0].volume_mounts.as_ref().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.name == volumes::BACKUPS && m.mount_path == BACKUPS_DIR)
        );

        // Every pod gets the claim, which is therefore ReadWriteMany.
        let docs = docs(&on);
        let claim = docs
            .iter()
            .find_map(|d| match d {
                crate::k8s::Manifest::PersistentVolumeClaim(c) => Some(c),
                _ => None,
            })
            .unwrap();
        let access = claim.spec.as_ref().unwrap().access_modes.as_ref().unwrap();
        assert_eq!(access, &["ReadWriteMany"]);
        let sts = docs
            .iter()
            .find_map(|d| match d {
                crate::k8s::Manifest::StatefulSet(s) => Some(s),
                _ => None,
            })
            .unwrap();
        let pod = sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert!(pod.volumes.iter().flatten().any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == "elasticsearch-backups")
        }));

        // Off: nothing of it.
        let off = parts(&[]);
        assert!(!off.config["elasticsearch.yml"].contains("path.repo"));
        assert!(!off.scripts.contains_key("backup.sh") && off.backups.container().is_none());
        let mounts = off.containers[0].volume_mounts.as_ref().unwrap();
        assert!(!mounts.iter().any(|m| m.name == volumes::BACKUPS));

        // The restore needs the set's backup settings, and then has its own Job container.
        let restore = [
            "--restore-from",
            "20261125T030000Z",
            "--existing-secret",
            "creds",
        ];
        let err = set(&restore).unwrap_err().to_string();
        assert!(err.contains("needs the backup settings"), "{err}");
        let with: Vec<&str> = restore.iter().chain(&on).copied().collect();
        let Backups::Api {
            restore: Some(c), ..
        } = parts(&with).backups
        else {
            panic!("the restore Job's container")
        };
        assert_eq!(c.command.unwrap(), ["bash", "/scripts/restore.sh"]);
    }

    /// With a bucket: no claim anywhere, the S3 Secret in every pod of the instance, mounted by
    /// init-config (which configures the client) and by the Jobs' containers (which read the
    /// bucket), never by the elasticsearch container.
    #[test]
    fn s3_backups_need_no_claim_and_mount_the_secret_where_it_is_read() {
        let s3 = [
            "--backup-s3-secret",
            "backups-s3",
            "--set",
            "backup.s3.prefix=/es/prod/",
        ];
        let args: Vec<&str> = s3
            .iter()
            .chain(&["--backup-schedule", "@daily"])
            .copied()
            .collect();
        let p = parts(&args);
        assert!(p.backups.through_api());
        let yml = &p.config["elasticsearch.yml"];
        assert!(!yml.contains("path.repo"), "{yml}");
        let api = &p.scripts["backup.sh"];
        assert!(api.contains(r#""base_path":"%s","client":"%s"}}' "$S3_BUCKET" es/prod sts-gen"#));
        assert!(!api.contains(r#""type":"fs""#));

        let secret = |mounts: &Option<Vec<k8s_openapi::api::core::v1::VolumeMount>>| {
            mounts
                .iter()
                .flatten()
                .any(|m| m.name == S3_SECRET && m.mount_path == S3_SECRET_DIR)
        };
        let init_config = p.init_containers.last().unwrap();
        assert_eq!(init_config.name, "init-config");
        assert!(secret(&init_config.volume_mounts));
        assert!(!secret(&p.containers[0].volume_mounts));
        assert!(
            !p.containers[0]
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == volumes::BACKUPS)
        );
        assert!(secret(&p.backups.container().unwrap().volume_mounts));

        let docs = docs(&args);
        assert!(
            !docs
                .iter()
                .any(|d| matches!(d, crate::k8s::Manifest::PersistentVolumeClaim(_)))
        );
        let pods: Vec<_> = docs
            .iter()
            .filter_map(|d| match d {
                crate::k8s::Manifest::StatefulSet(s) => s.spec.as_ref()?.template.spec.clone(),
                crate::k8s::Manifest::CronJob(c) => c
                    .spec
                    .as_ref()?
                    .job_template
                    .spec
                    .as_ref()?
                    .template
                    .spec
                    .clone(),
                _ => None,
            })
            .collect();
        assert_eq!(pods.len(), 2);
        for pod in pods {
            let volumes = pod.volumes.unwrap_or_default();
            assert!(!volumes.iter().any(|v| v.persistent_volume_claim.is_some()));
            let s3 = volumes.iter().find(|v| v.name == S3_SECRET).unwrap();
            let source = s3.secret.as_ref().unwrap();
            assert_eq!(source.secret_name.as_deref(), Some("backups-s3"));
            assert_eq!(source.default_mode, Some(0o440));
        }

        // The restore container reads the bucket too; without the backup settings it is refused.
        let restore = [
            "--restore-from",
            "20261125T030000Z",
            "--existing-secret",
            "creds",
        ];
        let with: Vec<&str> = args.iter().chain(&restore).copied().collect();
        let Backups::Api {
            restore: Some(c), ..
        } = parts(&with).backups
        else {
            panic!("the restore Job's container")
        };
        assert!(secret(&c.volume_mounts));
        let without: Vec<&str> = s3.iter().chain(&restore).copied().collect();
        let err = set(&without).unwrap_err().to_string();
        assert!(err.contains("needs the backup settings"), "{err}");
        assert!(err.contains("the bucket"), "{err}");

        // A bucket without backup settings (and no restore) leaves the nodes as they are.
        let p = parts(&s3);
        assert!(!p.volumes.iter().any(|v| v.name == S3_SECRET));
        assert!(!p.scripts["init-config.sh"].contains("elasticsearch-keystore"));
    }

    /// The snapshots' claim binds only with a ReadWriteMany class; without one (and without a
    /// bucket) the output says so, and `prod` names no repository of its own.
    #[test]
    fn a_claim_repository_needs_a_shared_class_and_prod_schedules_everywhere() {
        let warned = |args: &[&str]| {
            let r = set(args).unwrap();
            r.database
                .warnings(&r.spec)
                .iter()
                .any(|w| w.contains("needs a ReadWriteMany StorageClass"))
        };
        assert!(warned(&["--backup-schedule", "@daily"]));
        assert!(!warned(&["--backup-schedule", "@daily", "--backup-storage-class", "nfs"]));
        assert!(!warned(&["--backup-schedule", "@daily", "--backup-s3-secret", "s3"]));
        assert!(!warned(&[]));
        assert!(set(&["--preset", "prod"]).unwrap().spec.backup.is_none());
        let with_bucket = ["--preset", "prod", "--backup-schedule", "0 3 * * *", "--backup-s3-secret", "s3"];
        assert!(!warned(&with_bucket));
        assert_eq!(
            set(&with_bucket).unwrap().spec.backup.unwrap().storage.size.as_str(),
            "500Gi",
            "prod's size for the Jobs' scratch volume"
        );
    }

    #[test]
    fn quorum_budget_and_warnings() {
        assert_eq!(parts(&["-r", "2"]).topology.max_unavailable(), 0);
        assert_eq!(parts(&["-r", "3"]).topology.max_unavailable(), 1);
        let topology = |n: &str| -> Vec<String> {
            let r = set(&["-r", n]).unwrap();
            let mut w = r.database.warnings(&r.spec);
            assert!(
                w.remove(0).contains("runs privileged"),
                "the default privileged init"
            );
            w
        };
        assert!(topology("1").is_empty());
        assert!(topology("2")[0].contains("cannot lose either"));
        assert!(topology("4")[0].contains("one out of the voting"));
        assert!(topology("5").is_empty());
    }
}
