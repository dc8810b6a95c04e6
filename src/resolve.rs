//! The only place that knows precedence and validates input:
//! database defaults < preset < values files (in order) < `--set` (in order) < explicit flags.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};

use crate::cli::{DbKind, GenerateArgs};
use crate::engine;
use crate::names::{Names, check_label, check_subdomain};
use crate::presets;
use crate::quantity::Quantity;
use crate::spec::{
    BackupSpec, Credentials, DbSpec, ElasticsearchSpec, Image, MongodbSpec, MysqlSpec,
    PostgresSpec, RedisSpec, Resources, S3Store, Spec, Storage,
};
use crate::values::{
    BackupValues, Merge, MongodbValues, MysqlValues, ResourceValues, S3Values, Scalar,
    StorageValues, Values,
};

/// Makes one random secret of the given length; injected so that tests can be deterministic.
pub type PasswordSource<'a> = &'a dyn Fn(usize) -> Result<String>;

/// What `resolve` produced: the spec, and lines for stderr.
#[derive(Debug)]
pub struct Resolved {
    pub spec: Spec,
    /// Information (a generated Secret).
    pub notes: Vec<String>,
    /// Risks in the topology or the security posture; `--strict` makes them errors.
    pub warnings: Vec<String>,
}

/// Resolve command-line arguments, reading values files and generating passwords from the OS.
/// `db_flags` holds the database's own flags (e.g. `--replica-set`), the top layer.
pub fn resolve(db: DbKind, args: &GenerateArgs, db_flags: Values) -> Result<Resolved> {
    resolve_full(db, args, db_flags, &random_password)
}

/// `resolve` without database flags and with a chosen password source (tests, snapshots).
pub fn resolve_with(db: DbKind, args: &GenerateArgs, password: PasswordSource) -> Result<Resolved> {
    resolve_full(db, args, Values::default(), password)
}

fn resolve_full(
    db: DbKind,
    args: &GenerateArgs,
    db_flags: Values,
    password: PasswordSource,
) -> Result<Resolved> {
    let files = args
        .values
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read values file {}", path.display()))?;
            Values::from_yaml(&text, &path.display().to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    let sets = args
        .set
        .iter()
        .map(|a| Values::from_set(a))
        .collect::<Result<Vec<_>>>()?;
    // The preset is the lowest layer after the defaults, wherever it is named: the flag wins,
    // then the last --set, then the last values file.
    let preset = args.preset.clone().or_else(|| {
        files
            .iter()
            .chain(sets.iter())
            .rev()
            .find_map(|v| v.preset.clone())
    });
    let mut values = presets::defaults(db);
    if let Some(name) = &preset {
        values.merge(presets::get(db, name)?);
    }
    for v in files.into_iter().chain(sets) {
        values.merge(v);
    }
    if let Some(named) = values.database {
        ensure!(
            named == db,
            "the values say database: {}, but this is sts-gen {}: use sts-gen {} (or sts-gen render)",
            named.as_str(),
            db.as_str(),
            named.as_str()
        );
    }
    values.merge(flag_values(args)?);
    let origin = Origin {
        args,
        db: &db_flags,
    };
    values.merge(db_flags.clone());
    let spec = spec_from_values(db, &values, &origin, password)?;
    let warnings = engine::for_kind(db).warnings(&spec);
    let mut notes = Vec::new();
    if let Credentials::Generated(_) = spec.credentials {
        notes.push(format!(
            "note: generated new random credentials into Secret {}; every run generates new ones, so \
             apply it once (or create the Secret yourself) and use --existing-secret {} afterwards",
            spec.names.secret, spec.names.secret
        ));
    }
    Ok(Resolved {
        spec,
        notes,
        warnings,
    })
}

/// The flags, as the top layer of values.
fn flag_values(a: &GenerateArgs) -> Result<Values> {
    let scalar = |v: &Option<String>| v.clone().map(Scalar);
    let replicas = match &a.replicas {
        None => None,
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
            anyhow::anyhow!(
                "--replicas {text:?} is not a whole number: expected a number of pods such as 3"
            )
        })?),
    };
    Ok(Values {
        name: a.name.clone(),
        namespace: a.namespace.clone(),
        replicas,
        image: a.image.clone(),
        storage: Some(StorageValues {
            size: scalar(&a.storage_size),
            class_name: a.storage_class.clone(),
        }),
        resources: Some(ResourceValues {
            cpu: scalar(&a.cpu),
            memory: scalar(&a.memory),
            ..Default::default()
        }),
        service_type: a.service_type,
        existing_secret: a.existing_secret.clone(),
        cluster_domain: a.cluster_domain.clone(),
        backup: Some(BackupValues {
            schedule: a.backup_schedule.clone(),
            storage_size: scalar(&a.backup_storage_size),
            storage_class_name: None,
            s3: a.backup_s3_secret.as_ref().map(|secret| S3Values {
                secret: Some(secret.clone()),
                ..Default::default()
            }),
            keep: match &a.backup_keep {
                None => None,
                Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
                    anyhow::anyhow!(
                        "--backup-keep {text:?} is not a whole number: expected how many backups to keep, such as 7"
                    )
                })?),
            },
        }),
        ..Default::default()
    })
}

/// Names a setting in errors: the flag when the user gave it, else its values-file key.
struct Origin<'a> {
    args: &'a GenerateArgs,
    db: &'a Values,
}

impl Origin<'_> {
    fn name(&self, key: &'static str) -> String {
        let a = self.args;
        let mongodb = self.db.mongodb.as_ref();
        let flag = match key {
            "name" => a.name.as_ref().map(|_| "--name"),
            "namespace" => a.namespace.as_ref().map(|_| "--namespace"),
            "replicas" => a.replicas.as_ref().map(|_| "--replicas"),
            "image" => a.image.as_ref().map(|_| "--image"),
            "storage.size" => a.storage_size.as_ref().map(|_| "--storage-size"),
            "storage.className" => a.storage_class.as_ref().map(|_| "--storage-class"),
            "resources.cpu" => a.cpu.as_ref().map(|_| "--cpu"),
            "resources.memory" => a.memory.as_ref().map(|_| "--memory"),
            "existingSecret" => a.existing_secret.as_ref().map(|_| "--existing-secret"),
            "clusterDomain" => a.cluster_domain.as_ref().map(|_| "--cluster-domain"),
            "backup.schedule" => a.backup_schedule.as_ref().map(|_| "--backup-schedule"),
            "backup.storageSize" => a
                .backup_storage_size
                .as_ref()
                .map(|_| "--backup-storage-size"),
            "backup.keep" => a.backup_keep.as_ref().map(|_| "--backup-keep"),
            "backup.s3.secret" => a.backup_s3_secret.as_ref().map(|_| "--backup-s3-secret"),
            "mongodb.replicaSetName" => mongodb
                .and_then(|m| m.replica_set_name.as_ref())
                .map(|_| "--replica-set"),
            _ => None,
        };
        flag.map_or_else(|| key.to_owned(), str::to_owned)
    }
}

fn required<T: Clone>(value: &Option<T>, key: &str) -> Result<T> {
    value
        .clone()
        .with_context(|| format!("{key} is not set and has no default"))
}

fn spec_from_values(
    db: DbKind,
    v: &Values,
    origin: &Origin,
    password: PasswordSource,
) -> Result<Spec> {
    let engine = engine::for_kind(db);
    let names = Names::new(v.name.as_deref().unwrap_or(db.as_str()))
        .map_err(|e| anyhow::anyhow!("{}{}", prefix_flag(origin.name("name"), "name"), e))?;
    if let Some(ns) = &v.namespace {
        check_label(&origin.name("namespace"), ns, 63)?;
    }

    let max = engine.max_replicas();
    let replicas = required(&v.replicas, "replicas")?;
    ensure!(
        (1..=i64::from(max)).contains(&replicas),
        "{} {replicas} is out of range: expected 1 to {max} for {}",
        origin.name("replicas"),
        db.as_str()
    );
    let replicas = replicas as u32;

    let image = image(&origin.name("image"), &required(&v.image, "image")?)?;
    let storage = v.storage.clone().unwrap_or_default();
    let storage = Storage {
        size: quantity(origin, "storage.size", &storage.size)?,
        class_name: storage.class_name,
    };
    if let Some(class) = &storage.class_name {
        check_subdomain(&origin.name("storage.className"), class)?;
    }
    let resources = resources(origin, v.resources.clone().unwrap_or_default())?;

    let cluster_domain = required(&v.cluster_domain, "clusterDomain")?;
    check_subdomain(&origin.name("clusterDomain"), &cluster_domain)?;
    // <pod>.<headless>.<namespace>.svc.<domain> must stay a valid DNS name (253 characters).
    let ns_len = v.namespace.as_ref().map_or(63, String::len);
    let fqdn =
        names.pod(replicas - 1).len() + names.headless.len() + ns_len + cluster_domain.len() + 6;
    ensure!(
        fqdn <= 253,
        "the pods' DNS names would be {fqdn} characters long: shorten the name, namespace or cluster domain (at most 253)"
    );

    // Generated after the rest of the spec: certificates need the names.
    let credentials = match &v.existing_secret {
        Some(name) => {
            check_subdomain(&origin.name("existingSecret"), name)?;
            Credentials::Existing(name.clone())
        }
        None => Credentials::Generated(BTreeMap::new()),
    };

    let grace = required(
        &v.termination_grace_period_seconds,
        "terminationGracePeriodSeconds",
    )?;
    ensure!(
        (10..=86_400).contains(&grace),
        "terminationGracePeriodSeconds {grace} is out of range: expected 10 to 86400 seconds"
    );
    let labels: BTreeMap<String, String> = v
        .labels
        .iter()
        .flatten()
        .map(|(k, val)| (k.clone(), val.0.clone()))
        .collect();
    for (k, val) in &labels {
        check_label_pair(k, val)?;
    }

    // A section for another database is a mistake (a values file for the wrong subcommand).
    let sections = [
        ("mysql", v.mysql.is_some()),
        ("mariadb", v.mariadb.is_some()),
        ("mongodb", v.mongodb.is_some()),
        ("elasticsearch", v.elasticsearch.is_some()),
        ("postgres", v.postgres.is_some()),
    ];
    for (section, present) in sections {
        ensure!(
            !present || section == db.as_str(),
            "the values key {section:?} applies to sts-gen {section}, not to sts-gen {}: remove it",
            db.as_str()
        );
    }
    let db_spec = match db {
        DbKind::Mysql => DbSpec::Mysql(mysql(
            "mysql",
            &v.mysql.clone().unwrap_or_default(),
            &resources,
            replicas,
        )?),
        DbKind::Mariadb => DbSpec::Mariadb(mysql(
            "mariadb",
            &v.mariadb.clone().unwrap_or_default(),
            &resources,
            replicas,
        )?),
        DbKind::Mongodb => DbSpec::Mongodb(mongodb(
            origin,
            &v.mongodb.clone().unwrap_or_default(),
            &resources,
        )?),
        DbKind::Redis => DbSpec::Redis(RedisSpec {
            maxmemory_mib: (resources.memory_limit.value() as u64 * 3 / 4 / MIB).max(16),
        }),
        DbKind::Postgres => {
            let p = v.postgres.clone().unwrap_or_default();
            let max_connections = required(&p.max_connections, "postgres.maxConnections")?;
            ensure!(
                (10..=10_000).contains(&max_connections),
                "postgres.maxConnections {max_connections} is out of range: expected 10 to 10000"
            );
            let keep = quantity(origin, "postgres.walKeepSize", &p.wal_keep_size)?;
            DbSpec::Postgres(PostgresSpec {
                max_connections: max_connections as u32,
                shared_buffers_mib: (resources.memory_limit.value() as u64 / 4 / MIB).max(32),
                wal_keep_mib: (keep.value() as u64 / MIB).max(16),
            })
        }
        DbKind::Elasticsearch => {
            let e = v.elasticsearch.clone().unwrap_or_default();
            let half_mib = resources.memory_limit.value() as u64 / 2 / (1 << 20);
            ensure!(
                half_mib >= 256,
                "memory limit {} is too small for Elasticsearch: expected at least 512Mi (the heap is half of it)",
                resources.memory_limit
            );
            DbSpec::Elasticsearch(ElasticsearchSpec {
                http_tls: required(&e.http_tls, "elasticsearch.httpTls")?,
                privileged_init: required(&e.privileged_init, "elasticsearch.privilegedInit")?,
                // Below 31 GiB the JVM keeps compressed object pointers.
                heap_mib: half_mib.min(31 * 1024),
            })
        }
    };

    let backup_values = v.backup.clone().unwrap_or_default();
    let backup_s3 = s3_store(origin, &names, &backup_values)?;
    let backup = backup(origin, backup_values)?;
    let restore_from = match &origin.args.restore_from {
        None => None,
        Some(name) => {
            let name = check_backup_name(name)?;
            ensure!(
                matches!(credentials, Credentials::Existing(_)),
                "--restore-from {name} needs --existing-secret: the restored data keeps the passwords of the Secret in use when the backup was taken"
            );
            Some(name)
        }
    };

    let mut spec = Spec {
        names,
        namespace: v.namespace.clone(),
        replicas,
        image,
        storage,
        resources,
        service_type: required(&v.service_type, "serviceType")?,
        credentials,
        cluster_domain,
        anti_affinity: required(&v.anti_affinity, "antiAffinity")?,
        termination_grace_period_seconds: grace,
        labels,
        backup,
        restore_from,
        backup_s3,
        db: db_spec,
    };
    if let Credentials::Generated(_) = spec.credentials {
        spec.credentials = Credentials::Generated(engine.generate_secret(&spec, password)?);
    }
    Ok(spec)
}

fn prefix_flag(name: String, key: &str) -> String {
    if name == key {
        String::new()
    } else {
        format!("{name}: ")
    }
}

/// The backup settings: none unless a schedule is set (and not "none").
fn backup(origin: &Origin, b: BackupValues) -> Result<Option<BackupSpec>> {
    let schedule = match b.schedule.as_deref().map(str::trim) {
        None | Some("none") => return Ok(None),
        Some(s) => s.to_owned(),
    };
    let what = origin.name("backup.schedule");
    check_schedule(&what, &schedule)?;
    let keep = required(&b.keep, "backup.keep")?;
    ensure!(
        (1..=1000).contains(&keep),
        "{} {keep} is out of range: expected 1 to 1000 backups",
        origin.name("backup.keep")
    );
    Ok(Some(BackupSpec {
        schedule,
        storage: backup_storage(origin, &b)?,
        keep: keep as u32,
    }))
}

/// `backup.storageSize` and `backup.storageClassName`: the backups' claim, or with an S3 bucket
/// the Jobs' scratch volume.
fn backup_storage(origin: &Origin, b: &BackupValues) -> Result<Storage> {
    if let Some(class) = &b.storage_class_name {
        check_subdomain("backup.storageClassName", class)?;
    }
    Ok(Storage {
        size: quantity(origin, "backup.storageSize", &b.storage_size)?,
        class_name: b.storage_class_name.clone(),
    })
}

/// A schedule CronJob accepts: five fields, or a macro such as @daily.
fn check_schedule(what: &str, s: &str) -> Result<()> {
    const MACROS: [&str; 7] = [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    let fields: Vec<&str> = s.split_whitespace().collect();
    let ok = MACROS.contains(&s)
        || (fields.len() == 5
            && fields.iter().all(|f| {
                f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c))
            }));
    ensure!(
        ok,
        "{what} {s:?} is not a cron schedule: expected five fields (minute hour day-of-month month day-of-week) such as \"0 3 * * *\", a macro such as @daily, or none"
    );
    Ok(())
}

/// The rclone image the backup and restore Jobs use to reach an S3 bucket (`backup.s3.image`).
pub const S3_CLIENT_IMAGE: &str = "rclone/rclone:1.68.2";

/// The S3 bucket of the backups, when `backup.s3.secret` is set: for the backup CronJob and for
/// a restore alike, so it does not depend on a schedule.
fn s3_store(origin: &Origin, names: &Names, b: &BackupValues) -> Result<Option<S3Store>> {
    let Some(s3) = &b.s3 else { return Ok(None) };
    let Some(secret) = &s3.secret else {
        ensure!(
            s3.prefix.is_none() && s3.image.is_none(),
            "backup.s3 needs secret: the name of an existing Secret with endpoint, bucket, access-key-id and secret-access-key"
        );
        return Ok(None);
    };
    check_subdomain(&origin.name("backup.s3.secret"), secret)?;
    let prefix = match &s3.prefix {
        None => None,
        Some(p) => {
            let p = p.trim_matches('/').to_owned();
            ensure!(
                !p.is_empty()
                    && p.split('/').all(|part| {
                        !part.is_empty()
                            && part != "."
                            && part != ".."
                            && part
                                .bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
                    }),
                "backup.s3.prefix {p:?} is not a folder name: expected letters, digits, '-', '_' and '.' in parts separated by '/', such as backups/mysql"
            );
            Some(p)
        }
    };
    let image = s3
        .image
        .clone()
        .unwrap_or_else(|| S3_CLIENT_IMAGE.to_owned());
    self::image("backup.s3.image", &image)?;
    Ok(Some(S3Store {
        secret: secret.clone(),
        prefix,
        name: names.statefulset.clone(),
        image,
        scratch: backup_storage(origin, b)?,
    }))
}

/// A backup's name as the backup job writes it: its UTC start time, e.g. 20261125T030000Z.
/// Elasticsearch's snapshot of it has the same name in lowercase, which is accepted too; the
/// name is returned as the backup job writes it.
fn check_backup_name(name: &str) -> Result<String> {
    let upper = name.to_ascii_uppercase();
    let b = upper.as_bytes();
    let ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    ensure!(
        ok,
        "--restore-from {name:?} is not a backup name: expected its UTC time as the backup job names it, such as 20261125T030000Z"
    );
    Ok(upper)
}

fn quantity(origin: &Origin, key: &'static str, value: &Option<Scalar>) -> Result<Quantity> {
    let text = required(value, key)?;
    Quantity::parse(&origin.name(key), &text.0)
}

fn optional_quantity(key: &str, value: &Option<Scalar>) -> Result<Option<Quantity>> {
    value
        .as_ref()
        .map(|s| Quantity::parse(key, &s.0))
        .transpose()
}

fn resources(origin: &Origin, r: ResourceValues) -> Result<Resources> {
    let cpu = quantity(origin, "resources.cpu", &r.cpu)?;
    let memory = quantity(origin, "resources.memory", &r.memory)?;
    let cpu_limit = optional_quantity("resources.cpuLimit", &r.cpu_limit)?;
    let memory_limit = optional_quantity("resources.memoryLimit", &r.memory_limit)?
        .unwrap_or_else(|| memory.clone());
    if let Some(limit) = &cpu_limit {
        ensure!(
            limit.value() >= cpu.value(),
            "resources.cpuLimit {limit} is below the CPU request {cpu}: expected at least {cpu}"
        );
    }
    ensure!(
        memory_limit.value() >= memory.value(),
        "resources.memoryLimit {memory_limit} is below the memory request {memory}: expected at least {memory}"
    );
    Ok(Resources {
        cpu,
        memory,
        cpu_limit,
        memory_limit,
    })
}

const MIB: u64 = 1 << 20;
/// InnoDB sizes the buffer pool in chunks of 128 MiB (times the instances).
const POOL_CHUNK: u64 = 128 * MIB;

/// The options of MySQL and MariaDB; `section` is the values key they came under.
fn mysql(
    section: &str,
    m: &MysqlValues,
    resources: &Resources,
    replicas: u32,
) -> Result<MysqlSpec> {
    let key = |k: &str| format!("{section}.{k}");
    let offset = required(&m.server_id_offset, &key("serverIdOffset"))?;
    ensure!(
        offset >= 1 && offset + i64::from(replicas) <= i64::from(u32::MAX),
        "{} {offset} is out of range: expected 1 to {} (server_id = offset + ordinal, never 0)",
        key("serverIdOffset"),
        u32::MAX - replicas
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
    let limit = resources.memory_limit.value() as u64;
    let pool = match optional_quantity(&key("innodbBufferPoolSize"), &m.innodb_buffer_pool_size)? {
        Some(q) => {
            let bytes = q.value() as u64;
            ensure!(
                bytes >= POOL_CHUNK && bytes < limit,
                "{} {q} is out of range: expected at least 128Mi and below the memory limit {}",
                key("innodbBufferPoolSize"),
                resources.memory_limit
            );
            bytes / MIB * MIB
        }
        None => derived_pool(limit),
    };
    Ok(MysqlSpec {
        server_id_offset: offset as u32,
        max_connections: max_connections as u32,
        innodb_buffer_pool_size: pool,
        binlog_expire_logs_seconds: expire as u32,
    })
}

fn mongodb(origin: &Origin, m: &MongodbValues, resources: &Resources) -> Result<MongodbSpec> {
    let name = required(&m.replica_set_name, "mongodb.replicaSetName")?;
    let what = origin.name("mongodb.replicaSetName");
    ensure!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{what} {name:?} is not a valid replica set name: expected 1 to 64 letters, digits, '-' or '_'"
    );
    let limit = resources.memory_limit.value();
    let gib = 1024.0 * 1024.0 * 1024.0;
    let cache = match optional_quantity("mongodb.wiredTigerCacheSize", &m.wired_tiger_cache_size)? {
        Some(q) => {
            ensure!(
                q.value() >= 0.25 * gib && q.value() < limit,
                "mongodb.wiredTigerCacheSize {q} is out of range: expected at least 256Mi and below the memory limit {}",
                resources.memory_limit
            );
            q.value() / gib
        }
        // mongod's own default: 50% of (RAM - 1 GiB), at least 0.25 GiB; RAM = the limit.
        None => ((limit / gib - 1.0) * 0.5).max(0.25),
    };
    Ok(MongodbSpec {
        replica_set_name: name,
        // Two decimals: the config file stays readable and stable.
        wired_tiger_cache_gb: (cache * 100.0).floor() / 100.0,
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

fn image(what: &str, reference: &str) -> Result<Image> {
    if reference.trim().is_empty() {
        bail!("{what} is empty: expected an image reference such as mysql:8.4.7");
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "{what} {reference:?} contains whitespace: expected an image reference such as mysql:8.4.7"
        );
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let version = match (last.split_once(':'), digest) {
        (Some((_, tag)), _) => tag.to_owned(),
        (None, Some(d)) => {
            let hex = d.split_once(':').map_or(d, |(_, h)| h);
            format!("sha256-{}", &hex[..hex.len().min(12)])
        }
        (None, None) => "latest".to_owned(),
    };
    ensure!(
        is_label_value(&version),
        "{what} {reference:?}: its tag {version:?} cannot be used as the app.kubernetes.io/version label (at most 63 letters, digits, '-', '_', '.')"
    );
    Ok(Image {
        reference: reference.to_owned(),
        version,
    })
}

fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

fn check_label_pair(key: &str, value: &str) -> Result<()> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty() && is_label_value(name);
    let prefix_ok = prefix.is_none_or(|p| check_subdomain("label prefix", p).is_ok());
    ensure!(
        name_ok && prefix_ok,
        "label key {key:?} is not valid: expected [prefix/]name, the name at most 63 letters, digits, '-', '_', '.'"
    );
    ensure!(
        prefix != Some("app.kubernetes.io"),
        "label {key:?} is set by sts-gen: choose a key outside app.kubernetes.io/"
    );
    ensure!(
        is_label_value(value),
        "label {key}={value:?} has an invalid value: expected at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric"
    );
    Ok(())
}

/// `len` characters from [A-Za-z0-9] (~5.95 bits each) from the OS's randomness, without modulo
/// bias. Alphanumerics are safe in every shell, SQL string, URI and key file.
fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
        for &b in &buf {
            // 248 = 4 * 62: bytes at or above it would favour the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ServiceType;

    fn fixed(_len: usize) -> Result<String> {
        Ok("pw".to_owned())
    }

    #[track_caller]
    fn spec(args: &GenerateArgs) -> Spec {
        resolve_with(DbKind::Mysql, args, &fixed).unwrap().spec
    }

    #[track_caller]
    fn error(args: &GenerateArgs) -> String {
        format!(
            "{:#}",
            resolve_with(DbKind::Mysql, args, &fixed).unwrap_err()
        )
    }

    fn args() -> GenerateArgs {
        GenerateArgs::default()
    }

    #[test]
    fn backups_are_off_unless_scheduled_and_validated() {
        let pg = |a: GenerateArgs| resolve_with(DbKind::Postgres, &a, &fixed);
        assert_eq!(pg(args()).unwrap().spec.backup, None);
        let on = GenerateArgs {
            backup_schedule: Some("0 3 * * *".into()),
            backup_keep: Some("3".into()),
            backup_storage_size: Some("50Gi".into()),
            ..args()
        };
        let b = pg(on.clone()).unwrap().spec.backup.unwrap();
        assert_eq!((b.schedule.as_str(), b.keep), ("0 3 * * *", 3));
        assert_eq!(b.storage.size.to_string(), "50Gi");
        let prod = GenerateArgs {
            preset: Some("prod".into()),
            ..args()
        };
        assert!(
            pg(prod.clone()).unwrap().spec.backup.is_some(),
            "on in prod"
        );
        let off = GenerateArgs {
            backup_schedule: Some("none".into()),
            ..prod
        };
        assert_eq!(pg(off).unwrap().spec.backup, None, "none turns it off");
        for (a, want) in [
            (
                GenerateArgs {
                    backup_schedule: Some("0 3 * *".into()),
                    ..args()
                },
                "--backup-schedule \"0 3 * *\" is not a cron schedule",
            ),
            (
                GenerateArgs {
                    backup_keep: Some("0".into()),
                    ..on.clone()
                },
                "--backup-keep 0 is out of range: expected 1 to 1000",
            ),
            (
                GenerateArgs {
                    backup_keep: Some("many".into()),
                    ..on.clone()
                },
                "--backup-keep \"many\" is not a whole number",
            ),
            (
                GenerateArgs {
                    restore_from: Some("latest".into()),
                    existing_secret: Some("s".into()),
                    ..args()
                },
                "--restore-from \"latest\" is not a backup name",
            ),
            (
                GenerateArgs {
                    restore_from: Some("20261125T030000Z".into()),
                    ..args()
                },
                "--restore-from 20261125T030000Z needs --existing-secret",
            ),
        ] {
            let e = format!("{:#}", pg(a).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
        let lower = GenerateArgs {
            restore_from: Some("20261125t030000z".into()),
            existing_secret: Some("s".into()),
            ..args()
        };
        assert_eq!(
            pg(lower).unwrap().spec.restore_from.as_deref(),
            Some("20261125T030000Z"),
            "Elasticsearch's lowercase snapshot name names the backup too"
        );
        assert!(check_schedule("s", "@daily").is_ok());
        assert!(check_schedule("s", "*/15 1-5 * JAN,FEB MON-FRI").is_ok());
    }

    #[test]
    fn defaults_alone_make_a_complete_spec() {
        let s = spec(&args());
        assert_eq!(s.names.statefulset, "mysql");
        assert_eq!(s.replicas, 3);
        assert_eq!(s.image.version, "8.4.7");
        assert_eq!(s.namespace, None);
        assert_eq!(s.service_type, ServiceType::ClusterIP);
        assert!(matches!(s.credentials, Credentials::Generated(ref m) if m.len() == 3));
    }

    #[test]
    fn precedence_flag_over_set_over_file_over_preset_over_default() {
        let dir = std::env::temp_dir().join(format!("sts-gen-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f1 = dir.join("a.yaml");
        let f2 = dir.join("b.yaml");
        std::fs::write(
            &f1,
            "replicas: 4\nstorage:\n  size: 1Gi\nresources:\n  cpu: 3\n",
        )
        .unwrap();
        std::fs::write(&f2, "replicas: 5\n").unwrap();
        let mut a = GenerateArgs {
            preset: Some("prod".into()),
            values: vec![f1, f2],
            ..args()
        };
        let s = spec(&a);
        assert_eq!(s.replicas, 5, "later file wins");
        assert_eq!(s.storage.size.as_str(), "1Gi", "file beats preset");
        assert_eq!(s.resources.cpu.as_str(), "3");
        assert_eq!(
            s.anti_affinity,
            crate::values::AntiAffinity::Required,
            "preset beats default"
        );
        a.set = vec![
            "replicas=6".into(),
            "storage.size=2Gi".into(),
            "replicas=7".into(),
        ];
        let s = spec(&a);
        assert_eq!(s.replicas, 7, "later --set wins, --set beats files");
        assert_eq!(s.storage.size.as_str(), "2Gi");
        a.replicas = Some("2".into());
        a.storage_size = Some("3Gi".into());
        let s = spec(&a);
        assert_eq!(s.replicas, 2, "flag beats --set");
        assert_eq!(s.storage.size.as_str(), "3Gi");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn existing_secret_generates_nothing() {
        let never = |_: usize| -> Result<String> { panic!("no password may be generated") };
        let a = GenerateArgs {
            existing_secret: Some("mine".into()),
            ..args()
        };
        let r = resolve_with(DbKind::Mysql, &a, &never).unwrap();
        assert_eq!(r.spec.credentials, Credentials::Existing("mine".into()));
        assert_eq!(r.spec.secret_name(), "mine");
        assert!(r.notes.is_empty());
    }

    #[test]
    fn errors_name_the_flag_or_key_and_what_is_allowed() {
        let cases: Vec<(GenerateArgs, &str)> = vec![
            (
                GenerateArgs {
                    replicas: Some("0".into()),
                    ..args()
                },
                "--replicas 0 is out of range: expected 1 to 32 for mysql",
            ),
            (
                GenerateArgs {
                    replicas: Some("-1".into()),
                    ..args()
                },
                "--replicas -1 is out of range",
            ),
            (
                GenerateArgs {
                    replicas: Some("abc".into()),
                    ..args()
                },
                "--replicas \"abc\" is not a whole number",
            ),
            (
                GenerateArgs {
                    replicas: Some("33".into()),
                    ..args()
                },
                "expected 1 to 32",
            ),
            (
                GenerateArgs {
                    set: vec!["replicas=0".into()],
                    ..args()
                },
                "replicas 0 is out of range",
            ),
            (
                GenerateArgs {
                    name: Some("My_DB".into()),
                    ..args()
                },
                "--name: name \"My_DB\" is not a valid DNS-1123 label",
            ),
            (
                GenerateArgs {
                    namespace: Some("Prod".into()),
                    ..args()
                },
                "--namespace \"Prod\" is not a valid DNS-1123 label",
            ),
            (
                GenerateArgs {
                    storage_size: Some("10GB".into()),
                    ..args()
                },
                "--storage-size \"10GB\" is not a Kubernetes quantity",
            ),
            (
                GenerateArgs {
                    memory: Some("-5Gi".into()),
                    ..args()
                },
                "--memory \"-5Gi\" must be greater than zero",
            ),
            (
                GenerateArgs {
                    cpu: Some("lots".into()),
                    ..args()
                },
                "--cpu \"lots\" is not a Kubernetes quantity",
            ),
            (
                GenerateArgs {
                    image: Some("".into()),
                    ..args()
                },
                "--image is empty",
            ),
            (
                GenerateArgs {
                    image: Some("my sql".into()),
                    ..args()
                },
                "contains whitespace",
            ),
            (
                GenerateArgs {
                    preset: Some("huge".into()),
                    ..args()
                },
                "unknown preset \"huge\" for mysql: expected one of dev, prod",
            ),
            (
                GenerateArgs {
                    set: vec!["bogus=1".into()],
                    ..args()
                },
                "--set bogus=1: unknown field `bogus`",
            ),
            (
                GenerateArgs {
                    values: vec!["/nonexistent/v.yaml".into()],
                    ..args()
                },
                "cannot read values file /nonexistent/v.yaml",
            ),
            (
                GenerateArgs {
                    cluster_domain: Some("Cluster.Local".into()),
                    ..args()
                },
                "--cluster-domain \"Cluster.Local\" is not a valid DNS name",
            ),
            (
                GenerateArgs {
                    existing_secret: Some("bad_secret".into()),
                    ..args()
                },
                "--existing-secret \"bad_secret\"",
            ),
            (
                GenerateArgs {
                    set: vec!["resources.memoryLimit=512Mi".into()],
                    ..args()
                },
                "resources.memoryLimit 512Mi is below the memory request 1Gi",
            ),
            (
                GenerateArgs {
                    set: vec!["mysql.serverIdOffset=0".into()],
                    ..args()
                },
                "mysql.serverIdOffset 0 is out of range",
            ),
            (
                GenerateArgs {
                    set: vec!["mysql.innodbBufferPoolSize=1Gi".into()],
                    ..args()
                },
                "below the memory limit 1Gi",
            ),
            (
                GenerateArgs {
                    set: vec!["labels.app.kubernetes.io/name=x".into()],
                    ..args()
                },
                "label \"app.kubernetes.io/name\" is set by sts-gen",
            ),
            (
                GenerateArgs {
                    set: vec!["labels.team=a b".into()],
                    ..args()
                },
                "has an invalid value",
            ),
        ];
        for (a, want) in cases {
            let got = error(&a);
            assert!(got.contains(want), "{a:?}\n  want: {want}\n  got:  {got}");
            assert!(!got.contains('\n'), "one line: {got}");
        }
    }

    #[test]
    fn buffer_pool_follows_the_memory_limit() {
        assert_eq!(derived_pool(512 * MIB), 128 * MIB);
        assert_eq!(derived_pool(1024 * MIB), 384 * MIB);
        assert_eq!(derived_pool(8192 * MIB), 5632 * MIB);
        let s = spec(&GenerateArgs {
            memory: Some("4Gi".into()),
            ..args()
        });
        let DbSpec::Mysql(m) = s.db else {
            unreachable!()
        };
        assert_eq!(m.innodb_buffer_pool_size, 2816 * MIB);
        let s = spec(&GenerateArgs {
            set: vec!["mysql.innodbBufferPoolSize=300Mi".into()],
            ..args()
        });
        let DbSpec::Mysql(m) = s.db else {
            unreachable!()
        };
        assert_eq!(m.innodb_buffer_pool_size, 300 * MIB);
    }

    #[test]
    fn image_versions() {
        assert_eq!(image("i", "mysql:8.4.7").unwrap().version, "8.4.7");
        assert_eq!(
            image("i", "registry:5000/db/mysql:8.4").unwrap().version,
            "8.4"
        );
        assert_eq!(
            image("i", "registry:5000/db/mysql").unwrap().version,
            "latest"
        );
        assert_eq!(
            image("i", "mysql@sha256:0123456789abcdef0123")
                .unwrap()
                .version,
            "sha256-0123456789ab"
        );
        assert_eq!(
            image("i", "mysql:8.4.7@sha256:00ff").unwrap().version,
            "8.4.7"
        );
    }

    #[test]
    fn passwords_are_random_and_alphanumeric() {
        let a = random_password(24).unwrap();
        let b = random_password(24).unwrap();
        assert_eq!(random_password(756).unwrap().len(), 756);
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
