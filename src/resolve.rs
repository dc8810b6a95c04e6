//! The only place that knows precedence and validates input:
//! database defaults < preset < values files (in order) < `--set` (in order) < flags.
//! The shared settings become the `Spec`; the engine reads and checks its own section.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};

use crate::engine::{self, Database, Engine};
use crate::model::names::{check_domain, check_label, check_subdomain};
use crate::model::{
    BackupSpec, Credentials, Image, Names, PasswordSource, Resources, S3Store, Spec, Storage,
};
use crate::presets;
use crate::settings::{BackupValues, COMMON, Layer, ResourceValues, Setting, Values, required};

/// What one `sts-gen <database>` asks for, before any file is read.
#[derive(Clone)]
pub struct Request {
    pub engine: &'static dyn Engine,
    /// Values already read (`sts-gen render`'s file), below the `-f` files.
    pub layers: Vec<Layer>,
    /// `-f` values files, in order.
    pub values: Vec<PathBuf>,
    /// `--set KEY=VALUE`, in order.
    pub set: Vec<String>,
    /// The flags that set values, with the text given, in order.
    pub flags: Vec<(&'static Setting, String)>,
    /// `--restore-from NAME`.
    pub restore_from: Option<String>,
    /// The values file each key came from, once the files are read (a key a `--set` or a flag
    /// gave later is not in it): errors name the file. Filled by `resolve`; start it empty.
    pub origins: std::cell::OnceCell<BTreeMap<String, String>>,
}

impl Request {
    pub fn new(engine: &'static dyn Engine) -> Request {
        Request {
            engine,
            layers: Vec::new(),
            values: Vec::new(),
            set: Vec::new(),
            flags: Vec::new(),
            restore_from: None,
            origins: std::cell::OnceCell::new(),
        }
    }

    /// Names a setting in errors: the flag when the user gave it, else its values-file key.
    fn name(&self, key: &str) -> String {
        // The shared keys that no flag sets.
        const NO_FLAG: [&str; 7] = [
            "resources.cpuLimit",
            "resources.memoryLimit",
            "terminationGracePeriodSeconds",
            "antiAffinity",
            "backup.s3",
            "backup.s3.prefix",
            "backup.s3.image",
        ];
        debug_assert!(
            settings(self.engine).any(|s| s.key == key)
                || NO_FLAG.contains(&key)
                || key.starts_with("labels.")
                || key.starts_with(&format!("{}.", self.engine.name())),
            "{key} is the key of no flag: a typo would name the key where the user gave the flag"
        );
        match self.flags.iter().find(|(s, _)| s.key == key) {
            Some((s, _)) => s.long(),
            None => match self.origins.get().and_then(|o| o.get(key)) {
                Some(file) => format!("{file}: {key}"),
                None => key.to_owned(),
            },
        }
    }

    /// The flags as the top layer of values.
    fn flag_layer(&self) -> Result<Layer> {
        let mut layer = Layer {
            origin: "flags".to_owned(),
            ..Layer::default()
        };
        for (setting, text) in &self.flags {
            layer.insert(setting.key, setting.parse(text)?)?;
        }
        Ok(layer)
    }
}

/// The settings every database subcommand has: the shared ones, then the engine's own.
pub fn settings(engine: &dyn Engine) -> impl Iterator<Item = &'static Setting> {
    COMMON
        .iter()
        .filter(|s| engine.replicas_lag() || !s.key.starts_with("replication."))
        .chain(engine.flags())
}

/// What `resolve` produced: the spec, the configured database, and lines for stderr.
#[derive(Debug)]
pub struct Resolved {
    pub spec: Spec,
    pub database: Box<dyn Database>,
    /// Information (a generated Secret).
    pub notes: Vec<String>,
    /// Risks in the topology or the security posture; `--strict` makes them errors.
    pub warnings: Vec<String>,
}

/// Resolve a request, reading values files and generating passwords from the OS.
pub fn resolve(req: &Request) -> Result<Resolved> {
    resolve_with(req, &random_password)
}

/// `resolve` with a chosen password source (tests, snapshots).
pub fn resolve_with(req: &Request, password: PasswordSource) -> Result<Resolved> {
    let engine = req.engine;
    let (mut values, given) = merged_layers(req)?;
    let section = values.take_section(engine.name());
    let common = values.common()?;
    if let Some(named) = &common.database {
        ensure!(
            named == engine.name(),
            "the values say database: {named}, but this is sts-gen {}: use sts-gen {named} (or sts-gen render)",
            engine.name()
        );
    }
    let mut spec = spec_from_values(req, &common)?;
    let limit = &spec.resources.memory_limit;
    let min = engine.min_memory_mib();
    ensure!(
        limit.value() >= (min << 20) as f64,
        "{} {limit} is too small for {}: expected at least {min}Mi",
        if common.resources.memory_limit.is_some() {
            req.name("resources.memoryLimit")
        } else {
            req.name("resources.memory")
        },
        engine.name()
    );
    let database = engine.configure(&spec, section.as_ref(), &|key| req.name(key))?;
    let mut notes = Vec::new();
    if let Credentials::Generated(_) = spec.credentials {
        spec.credentials = Credentials::Generated(engine.generate_secret(&spec, password)?);
        notes.push(format!(
            "note: generated new random credentials into Secret {}; every run generates new ones, so \
             apply it once (or create the Secret yourself) and use --existing-secret {} afterwards",
            spec.names.secret, spec.names.secret
        ));
    }
    // The database's warnings are about the set (its topology, its pods, its backups' claim),
    // which a restore's output does not hold: they show when the set is rendered.
    let mut warnings = if spec.restore_from.is_some() {
        Vec::new()
    } else {
        database.warnings(&spec)
    };
    warnings.extend(without_effect(req, &spec, &given));
    Ok(Resolved {
        warnings,
        spec,
        database,
        notes,
    })
}

/// Every layer, each checked on its own (so that an error names its file), merged in order of
/// precedence. The preset is the lowest layer after the defaults, wherever it is named: the
/// flag wins, then the last `--set`, then the last values file.
fn merged_layers(req: &Request) -> Result<(Layer, BTreeSet<String>)> {
    let engine = req.engine;
    let mut layers = req.layers.clone();
    for path in &req.values {
        layers.push(Layer::from_file(path)?);
    }
    for assignment in &req.set {
        layers.push(Layer::from_set(assignment)?);
    }
    layers.push(req.flag_layer()?);
    for layer in &layers {
        check_layer(engine, layer)?;
    }
    let preset = layers
        .iter()
        .rev()
        .find_map(|l| match l.values.get("preset") {
            Some(serde_json::Value::String(p)) => Some(p.clone()),
            _ => None,
        });
    let mut values = presets::defaults(engine.name());
    if let Some(name) = &preset {
        values.merge(presets::get(engine.name(), name)?);
    }
    let mut given = BTreeSet::new();
    let mut origins = BTreeMap::new();
    for layer in layers {
        let mut keys = BTreeSet::new();
        leaf_keys(&layer.values, "", &mut keys);
        let file = layer.origin.strip_suffix(": invalid values");
        for key in &keys {
            match file {
                Some(file) => origins.insert(key.clone(), file.to_owned()),
                None => origins.remove(key),
            };
        }
        given.extend(keys);
        values.merge(layer);
    }
    let _ = req.origins.set(origins);
    Ok((values, given))
}

/// The dotted paths of every value in `map` (`backup.keep`), into `out`.
fn leaf_keys(
    map: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    out: &mut BTreeSet<String>,
) {
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_json::Value::Object(inner) => leaf_keys(inner, &path, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

/// Settings the user gave (in a file, a `--set` or a flag; not a preset's) that change nothing
/// in this output: a warning each, an error with `--strict`.
fn without_effect(req: &Request, spec: &Spec, given: &BTreeSet<String>) -> Vec<String> {
    let shown = |key: &str| match req.flags.iter().find(|(s, _)| s.key == key) {
        Some((s, _)) => s.long(),
        None => key.to_owned(),
    };
    let mut idle = Vec::new();
    if spec.backup.is_none() {
        // A restore reads from the S3 bucket (and Elasticsearch's from the backup settings).
        let restoring = spec.restore_from.is_some();
        idle.extend(given.iter().filter(|k| {
            k.starts_with("backup.")
                && *k != "backup.schedule"
                && !(restoring && k.starts_with("backup.s3."))
        }));
    }
    let mut warnings: Vec<String> = idle
        .iter()
        .map(|k| {
            format!(
                "{} has no effect while backups are off: turn them on with --backup-schedule (backup.schedule)",
                shown(k)
            )
        })
        .collect();
    if spec.replicas == 1 && given.contains("replication.maxLagSeconds") {
        warnings.push(format!(
            "{} has no effect: one pod has no replicas",
            shown("replication.maxLagSeconds")
        ));
    }
    warnings
}

/// One layer's shared values and the engine's section; another engine's section is a mistake
/// (a values file for the wrong subcommand).
fn check_layer(engine: &dyn Engine, layer: &Layer) -> Result<()> {
    let mut common = layer.clone();
    for other in engine::ENGINES {
        let Some(section) = common.take_section(other.name()) else {
            continue;
        };
        ensure!(
            other.name() == engine.name(),
            "{}: the values key {:?} applies to sts-gen {}, not to sts-gen {}: remove it",
            layer.origin,
            other.name(),
            other.name(),
            engine.name()
        );
        engine
            .check_section(&section)
            .with_context(|| layer.origin.clone())?;
    }
    let values = common.common().with_context(|| layer.origin.clone())?;
    if let Some(named) = &values.database {
        ensure!(
            engine::find(named).is_some(),
            "{}: database {named:?} is not one sts-gen knows: expected one of {}",
            layer.origin,
            engine::names()
        );
    }
    Ok(())
}

/// The shared settings, validated, in the order of the spec's fields.
fn spec_from_values(req: &Request, v: &Values) -> Result<Spec> {
    let engine = req.engine;
    let names = names(req, v)?;
    let replicas = replicas(req, v)?;
    let storage = Storage {
        size: required(&v.storage.size, "storage.size")?,
        class_name: v.storage.class_name.clone(),
    };
    if let Some(class) = &storage.class_name {
        check_subdomain(&req.name("storage.className"), class)?;
    }
    check_volume_size(&req.name("storage.size"), &storage.size)?;
    let cluster_domain = required(&v.cluster_domain, "clusterDomain")?;
    check_domain(&req.name("clusterDomain"), &cluster_domain)?;
    // <pod>.<headless>.<namespace>.svc.<domain> must stay a valid DNS name (253 characters).
    let ns_len = v.namespace.as_ref().map_or(63, String::len);
    let fqdn =
        names.pod(replicas - 1).len() + names.headless.len() + ns_len + cluster_domain.len() + 6;
    ensure!(
        fqdn <= 253,
        "the pods' DNS names would be {fqdn} characters long: shorten the name, namespace or cluster domain (at most 253)"
    );
    let credentials = match &v.existing_secret {
        Some(name) => {
            check_subdomain(&req.name("existingSecret"), name)?;
            Credentials::Existing(name.clone())
        }
        // Generated once the spec is complete: certificates need the names.
        None => Credentials::Generated(BTreeMap::new()),
    };
    let grace = required(
        &v.termination_grace_period_seconds,
        "terminationGracePeriodSeconds",
    )?;
    ensure!(
        (10..=86_400).contains(&grace),
        "{} {grace} is out of range: expected 10 to 86400 seconds",
        req.name("terminationGracePeriodSeconds")
    );
    let restore_from = restore_from(req, &credentials)?;
    let backup = backup(req, &v.backup)?;
    // A CronJob's name is at most 52 characters: each Job it starts appends 11.
    const CRONJOB_MAX: usize = 52;
    ensure!(
        backup.is_none() || names.backup_job.len() <= CRONJOB_MAX,
        "{} {} is too long with backups on: the CronJob {} would be {} characters and Kubernetes allows {CRONJOB_MAX}; use a name of at most {} characters",
        req.name("name"),
        names.instance,
        names.backup_job,
        names.backup_job.len(),
        CRONJOB_MAX - (names.backup_job.len() - names.instance.len())
    );
    Ok(Spec {
        database: engine.name(),
        namespace: v.namespace.clone(),
        replicas,
        image: image(&req.name("image"), &required(&v.image, "image")?)?,
        storage,
        resources: resources(req, &v.resources)?,
        service_type: required(&v.service_type, "serviceType")?,
        credentials,
        cluster_domain,
        anti_affinity: required(&v.anti_affinity, "antiAffinity")?,
        termination_grace_period_seconds: grace,
        labels: labels(req, v)?,
        max_lag_seconds: max_lag(req, v)?,
        network_policy: required(&v.network_policy.enabled, "networkPolicy.enabled")?,
        backup,
        restore_from,
        backup_s3: s3_store(req, &names, &v.backup)?,
        names,
    })
}

fn names(req: &Request, v: &Values) -> Result<Names> {
    let flag = req.name("name");
    let names = Names::new(v.name.as_deref().unwrap_or(req.engine.name())).map_err(|e| {
        if flag == "name" {
            e
        } else {
            anyhow::anyhow!("{flag}: {e}")
        }
    })?;
    if let Some(ns) = &v.namespace {
        check_label(&req.name("namespace"), ns, 63)?;
    }
    Ok(names)
}

fn replicas(req: &Request, v: &Values) -> Result<u32> {
    let max = req.engine.max_replicas();
    let replicas = required(&v.replicas, "replicas")?;
    ensure!(
        (1..=i64::from(max)).contains(&replicas),
        "{} {replicas} is out of range: expected 1 to {max} for {}",
        req.name("replicas"),
        req.engine.name()
    );
    Ok(replicas as u32)
}

fn labels(req: &Request, v: &Values) -> Result<BTreeMap<String, String>> {
    let labels: BTreeMap<String, String> = v
        .labels
        .iter()
        .map(|(k, val)| (k.clone(), val.0.clone()))
        .collect();
    for (k, val) in &labels {
        check_label_pair(req, k, val)?;
    }
    Ok(labels)
}

fn restore_from(req: &Request, credentials: &Credentials) -> Result<Option<String>> {
    let Some(name) = &req.restore_from else {
        return Ok(None);
    };
    let name = check_backup_name(name)?;
    ensure!(
        matches!(credentials, Credentials::Existing(_)),
        "--restore-from {name} needs --existing-secret: the restored data keeps the passwords of the Secret in use when the backup was taken"
    );
    Ok(Some(name))
}

/// `replication.maxLagSeconds`: whole seconds, 1 to a day. Every engine's defaults set it, except
/// Elasticsearch's, which refuses it (see its `configure`).
fn max_lag(req: &Request, v: &Values) -> Result<Option<u32>> {
    let Some(lag) = v.replication.max_lag_seconds else {
        return Ok(None);
    };
    ensure!(
        (1..=86_400).contains(&lag),
        "{} {lag} is out of range: expected 1 to 86400 seconds",
        req.name("replication.maxLagSeconds")
    );
    Ok(Some(lag as u32))
}

/// The backup settings: none unless a schedule is set (and not "none").
/// Every backup setting is checked whether backups are on or not (the same value is refused
/// either way); `without_effect` reports those given while they are off.
fn backup(req: &Request, b: &BackupValues) -> Result<Option<BackupSpec>> {
    let keep = required(&b.keep, "backup.keep")?;
    ensure!(
        (1..=1000).contains(&keep),
        "{} {keep} is out of range: expected 1 to 1000 backups",
        req.name("backup.keep")
    );
    let storage = backup_storage(req, b)?;
    let schedule = match b.schedule.as_deref().map(str::trim) {
        None | Some("none") => return Ok(None),
        Some(s) => s.to_owned(),
    };
    let what = req.name("backup.schedule");
    crate::model::cron::check(&what, &schedule)?;
    Ok(Some(BackupSpec {
        schedule,
        storage,
        keep: keep as u32,
    }))
}

/// `backup.storageSize` and `backup.storageClassName`: the backups' claim, or with an S3 bucket
/// the Jobs' scratch volume.
fn backup_storage(req: &Request, b: &BackupValues) -> Result<Storage> {
    if let Some(class) = &b.storage_class_name {
        check_subdomain(&req.name("backup.storageClassName"), class)?;
    }
    let size = required(&b.storage_size, "backup.storageSize")?;
    check_volume_size(&req.name("backup.storageSize"), &size)?;
    Ok(Storage {
        size,
        class_name: b.storage_class_name.clone(),
    })
}

/// A schedule CronJob accepts: five fields, or a macro such as @daily.
/// The rclone image the backup and restore Jobs use to reach an S3 bucket (`backup.s3.image`).
pub const S3_CLIENT_IMAGE: &str = "rclone/rclone:1.68.2";

/// The S3 bucket of the backups, when `backup.s3.secret` is set: for the backup CronJob and for
/// a restore alike, so it does not depend on a schedule.
fn s3_store(req: &Request, names: &Names, b: &BackupValues) -> Result<Option<S3Store>> {
    let Some(s3) = &b.s3 else { return Ok(None) };
    let Some(secret) = &s3.secret else {
        ensure!(
            s3.prefix.is_none() && s3.image.is_none(),
            "{} needs secret: the name of an existing Secret with endpoint, bucket, access-key-id and secret-access-key",
            req.name("backup.s3")
        );
        return Ok(None);
    };
    check_subdomain(&req.name("backup.s3.secret"), secret)?;
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
                "{} {p:?} is not a folder name: expected letters, digits, '-', '_' and '.' in parts separated by '/', such as backups/mysql",
                req.name("backup.s3.prefix")
            );
            Some(p)
        }
    };
    let image = s3
        .image
        .clone()
        .unwrap_or_else(|| S3_CLIENT_IMAGE.to_owned());
    self::image(&req.name("backup.s3.image"), &image)?;
    Ok(Some(S3Store {
        secret: secret.clone(),
        prefix,
        name: names.statefulset.clone(),
        image,
        scratch: backup_storage(req, b)?,
    }))
}

/// A backup's name as the backup job writes it: its UTC start time, e.g. 20261125T030000Z.
/// Elasticsearch's snapshot of it has the same name in lowercase, which is accepted too; the
/// name is returned as the backup job writes it.
/// A volume's size: at least 128Mi (less holds no database, nor one backup of it; a `1` is a
/// typo for `1Gi`), at most 1Pi.
fn check_volume_size(what: &str, size: &crate::model::Quantity) -> Result<()> {
    ensure!(
        size.value() >= (128u64 << 20) as f64 && size.value() <= (1u64 << 50) as f64,
        "{what} {size} is no size for a volume: expected 128Mi to 1Pi, such as 20Gi"
    );
    Ok(())
}

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
    // A time that exists: the backup job names a backup after the moment it started.
    let n = |at: usize, len: usize| upper[at..at + len].parse::<u8>().unwrap_or(u8::MAX);
    let year: i32 = upper[..4].parse().unwrap_or_default();
    let date = time::Month::try_from(n(4, 2))
        .ok()
        .and_then(|m| time::Date::from_calendar_date(year, m, n(6, 2)).ok());
    let clock = time::Time::from_hms(n(9, 2), n(11, 2), n(13, 2)).ok();
    ensure!(
        date.is_some() && clock.is_some(),
        "--restore-from {name:?} is no time that exists: expected YYYYMMDDTHHMMSSZ with a real date and a time of day, such as 20261125T030000Z"
    );
    Ok(upper)
}

fn resources(req: &Request, r: &ResourceValues) -> Result<Resources> {
    let cpu = required(&r.cpu, "resources.cpu")?;
    let memory = required(&r.memory, "resources.memory")?;
    // CPU: at least 1m, the smallest amount Kubernetes counts (the API server refuses less).
    // CPU and memory: not far beyond any node (a few thousand cores, tens of TiB): a typo.
    let cpus = [
        ("resources.cpu", Some(&cpu)),
        ("resources.cpuLimit", r.cpu_limit.as_ref()),
    ];
    for (key, q) in cpus.into_iter().filter_map(|(k, q)| Some((k, q?))) {
        let name = req.name(key);
        ensure!(
            q.value() >= 0.001,
            "{name} {q} is below 1m, the smallest CPU amount Kubernetes counts: expected such as 500m or 2"
        );
        ensure!(
            q.value() <= 10_000.0,
            "{name} {q} is more than any node has: expected at most 10000 cores"
        );
    }
    let memories = [
        ("resources.memory", Some(&memory)),
        ("resources.memoryLimit", r.memory_limit.as_ref()),
    ];
    for (key, q) in memories.into_iter().filter_map(|(k, q)| Some((k, q?))) {
        ensure!(
            q.value() <= (64u64 << 40) as f64,
            "{} {q} is more than any node has: expected at most 64Ti",
            req.name(key)
        );
    }
    let cpu_limit = r.cpu_limit.clone();
    let memory_limit = r.memory_limit.clone().unwrap_or_else(|| memory.clone());
    if let Some(limit) = &cpu_limit {
        ensure!(
            limit.value() >= cpu.value(),
            "{} {limit} is below the CPU request {cpu}: expected at least {cpu} (e.g. --set resources.cpuLimit={cpu})",
            req.name("resources.cpuLimit")
        );
    }
    ensure!(
        memory_limit.value() >= memory.value(),
        "{} {memory_limit} is below the memory request {memory}: expected at least {memory} (e.g. --set resources.memoryLimit={memory})",
        req.name("resources.memoryLimit")
    );
    Ok(Resources {
        cpu,
        memory,
        cpu_limit,
        memory_limit,
    })
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
    // The grammar of container image references (distribution's), as the kubelet's runtime
    // reads them: lowercase repository path components, a tag of at most 128 characters, a
    // digest of at least 32 hex digits.
    if <oci_spec::distribution::Reference as std::str::FromStr>::from_str(reference).is_err() {
        bail!(
            "{what} {reference:?} is not an image reference: expected [registry[:port]/]repository[:tag][@digest] with a lowercase repository, such as mysql:8.4.7 or mysql@sha256:<64 hex digits>"
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
    // The digests runtimes verify are lowercase hex of the algorithm's exact length.
    if let Some((algorithm, hex)) = digest.and_then(|d| d.split_once(':')) {
        let len = match algorithm {
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        ensure!(
            len.is_none_or(|n| hex.len() == n)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{what} {reference:?} has a digest a runtime refuses: expected {algorithm}: and {} lowercase hex digits",
            len.unwrap_or(32)
        );
    }
    // The app.kubernetes.io/version label: the tag as a label value takes it (at most 63
    // characters, alphanumeric at both ends).
    let label: String = version.chars().take(63).collect();
    let label = label.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    Ok(Image {
        reference: reference.to_owned(),
        version: if label.is_empty() {
            "unknown".to_owned()
        } else {
            label.to_owned()
        },
    })
}

fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

fn check_label_pair(req: &Request, key: &str, value: &str) -> Result<()> {
    let what = req.name(&format!("labels.{key}"));
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty() && is_label_value(name);
    let prefix_ok = prefix.is_none_or(|p| check_subdomain("label prefix", p).is_ok());
    ensure!(
        name_ok && prefix_ok,
        "{what}: the label key {} is not valid: expected [prefix/]name, the name at most 63 letters, digits, '-', '_', '.'",
        quoted(key)
    );
    ensure!(
        prefix != Some("app.kubernetes.io"),
        "{what}: the label is set by sts-gen: choose a key outside app.kubernetes.io/"
    );
    ensure!(
        is_label_value(value),
        "{what} {} is not a label value: expected at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric",
        quoted(value)
    );
    Ok(())
}

/// `text` quoted for an error, cut after 60 characters: enough to recognise it.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{:?}…", &text[..at]),
        None => format!("{text:?}"),
    }
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
    use crate::cli::resolve_argv;
    use crate::model::{AntiAffinity, ServiceType};

    fn fixed(_len: usize) -> Result<String> {
        Ok("pw".to_owned())
    }

    #[track_caller]
    fn spec(argv: &[&str]) -> Spec {
        resolve_argv(argv, &fixed).unwrap().spec
    }

    #[track_caller]
    fn error(argv: &[&str]) -> String {
        format!("{:#}", resolve_argv(argv, &fixed).unwrap_err())
    }

    #[test]
    fn backups_are_off_unless_scheduled_and_validated() {
        assert_eq!(spec(&["postgres"]).backup, None);
        let on = [
            "postgres",
            "--backup-schedule",
            "0 3 * * *",
            "--backup-keep",
            "3",
            "--backup-storage-size",
            "50Gi",
        ];
        let b = spec(&on).backup.unwrap();
        assert_eq!((b.schedule.as_str(), b.keep), ("0 3 * * *", 3));
        assert_eq!(b.storage.size.to_string(), "50Gi");
        assert!(
            spec(&["postgres", "--preset", "prod"]).backup.is_some(),
            "on in prod"
        );
        let off = ["postgres", "--preset", "prod", "--backup-schedule", "none"];
        assert_eq!(spec(&off).backup, None, "none turns it off");
        let keep = |n: &'static str| {
            vec![
                "postgres",
                "--backup-schedule",
                "@daily",
                "--backup-keep",
                n,
            ]
        };
        for (argv, want) in [
            (
                vec!["postgres", "--backup-schedule", "0 3 * *"],
                "--backup-schedule \"0 3 * *\" is not a cron schedule",
            ),
            (
                keep("0"),
                "--backup-keep 0 is out of range: expected 1 to 1000",
            ),
            (keep("many"), "--backup-keep \"many\" is not a whole number"),
            (
                vec![
                    "postgres",
                    "--restore-from",
                    "latest",
                    "--existing-secret",
                    "s",
                ],
                "--restore-from \"latest\" is not a backup name",
            ),
            (
                vec![
                    "postgres",
                    "--restore-from",
                    "20261325T030000Z",
                    "--existing-secret",
                    "s",
                ],
                "--restore-from \"20261325T030000Z\" is no time that exists",
            ),
            (
                vec![
                    "postgres",
                    "--restore-from",
                    "20270229T246000Z",
                    "--existing-secret",
                    "s",
                ],
                "is no time that exists",
            ),
            (
                vec![
                    "postgres",
                    "--name",
                    "a234567890123456789012345678901234567890123456",
                    "--backup-schedule",
                    "@daily",
                ],
                "is too long with backups on: the CronJob a234567890123456789012345678901234567890123456-backup would be 53 characters and Kubernetes allows 52; use a name of at most 45 characters",
            ),
            (
                vec!["postgres", "--restore-from", "20261125T030000Z"],
                "--restore-from 20261125T030000Z needs --existing-secret",
            ),
        ] {
            let e = error(&argv);
            assert!(e.contains(want), "{e}");
        }
        let lower = [
            "postgres",
            "--restore-from",
            "20261125t030000z",
            "--existing-secret",
            "s",
        ];
        assert_eq!(
            spec(&lower).restore_from.as_deref(),
            Some("20261125T030000Z"),
            "Elasticsearch's lowercase snapshot name names the backup too"
        );
    }

    #[test]
    fn a_bad_value_from_a_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("sts-gen-origin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (text, want) in [
            ("replicas: 0\n", "replicas 0 is out of range"),
            (
                "mysql:\n  maxConnections: 5\n",
                "mysql.maxConnections 5 is out of range",
            ),
            (
                "resources:\n  memoryLimit: 100Mi\n",
                "resources.memoryLimit 100Mi is below the memory request",
            ),
            (
                "backup:\n  schedule: 61 * * * *\n",
                "backup.schedule \"61 * * * *\": minute",
            ),
        ] {
            let file = dir.join("v.yaml");
            std::fs::write(&file, text).unwrap();
            let f = file.to_str().unwrap();
            let e = resolve_argv(&["mysql", "-f", f], &fixed)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{f}: {want}")), "{e}");
            // A later --set gives the value: the file is not named.
            let key = want.split(' ').next().unwrap();
            let set = format!("{key}={}", if key == "replicas" { "40" } else { "x" });
            if key == "replicas" {
                let e = resolve_argv(&["mysql", "-f", f, "--set", &set], &fixed)
                    .unwrap_err()
                    .to_string();
                assert!(e.starts_with("replicas 40 is out of range"), "{e}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_without_effect_are_reported_and_checked_all_the_same() {
        let warnings = |argv: &[&str]| resolve_argv(argv, &fixed).unwrap().warnings;
        assert_eq!(
            warnings(&[
                "mysql",
                "--backup-keep",
                "3",
                "--set",
                "backup.s3.prefix=p",
                "--set",
                "backup.s3.secret=s"
            ]),
            [
                "--backup-keep has no effect while backups are off: turn them on with --backup-schedule (backup.schedule)",
                "backup.s3.prefix has no effect while backups are off: turn them on with --backup-schedule (backup.schedule)",
                "backup.s3.secret has no effect while backups are off: turn them on with --backup-schedule (backup.schedule)",
            ]
        );
        assert_eq!(
            warnings(&["postgres", "-r", "1", "--max-lag", "5"]),
            ["--max-lag has no effect: one pod has no replicas"]
        );
        // In effect: scheduled, restoring from the bucket, or a preset's own settings.
        assert!(
            warnings(&["mysql", "--backup-keep", "3", "--backup-schedule", "@daily"]).is_empty()
        );
        assert!(
            warnings(&[
                "mysql",
                "--backup-s3-secret",
                "s3",
                "--restore-from",
                "20261125T030000Z",
                "--existing-secret",
                "s"
            ])
            .is_empty()
        );
        assert!(
            warnings(&["mysql", "--preset", "prod", "--backup-schedule", "none"])
                .iter()
                .all(|w| !w.contains("no effect"))
        );
        // Refused whether backups are on or not.
        for argv in [
            &["mysql", "--backup-keep", "0"][..],
            &["mysql", "--backup-keep", "0", "--backup-schedule", "@daily"],
        ] {
            let e = resolve_argv(argv, &fixed).unwrap_err().to_string();
            assert!(e.contains("--backup-keep 0 is out of range"), "{e}");
        }
    }

    #[test]
    fn defaults_alone_make_a_complete_spec() {
        let r = resolve_argv(&["mysql"], &fixed).unwrap();
        let s = &r.spec;
        assert_eq!(s.database, "mysql");
        assert_eq!(s.names.statefulset, "mysql");
        assert_eq!(s.replicas, 3);
        assert_eq!(s.image.version, "8.4.7");
        assert_eq!(s.namespace, None);
        assert_eq!(s.service_type, ServiceType::ClusterIP);
        assert!(matches!(s.credentials, Credentials::Generated(ref m) if m.len() == 3));
        assert_eq!(r.notes.len(), 1, "the generated Secret is noted");
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
        let (f1, f2) = (f1.to_str().unwrap(), f2.to_str().unwrap());
        let files = ["mysql", "--preset", "prod", "-f", f1, "-f", f2];
        let s = spec(&files);
        assert_eq!(s.replicas, 5, "later file wins");
        assert_eq!(s.storage.size.as_str(), "1Gi", "file beats preset");
        assert_eq!(s.resources.cpu.as_str(), "3");
        assert_eq!(
            s.anti_affinity,
            AntiAffinity::Required,
            "preset beats default"
        );
        let sets: Vec<&str> = files
            .iter()
            .copied()
            .chain([
                "--set",
                "replicas=6",
                "--set",
                "storage.size=2Gi",
                "--set",
                "replicas=7",
            ])
            .collect();
        let s = spec(&sets);
        assert_eq!(s.replicas, 7, "later --set wins, --set beats files");
        assert_eq!(s.storage.size.as_str(), "2Gi");
        let flags: Vec<&str> = sets
            .iter()
            .copied()
            .chain(["--replicas", "2", "--storage-size", "3Gi"])
            .collect();
        let s = spec(&flags);
        assert_eq!(s.replicas, 2, "flag beats --set");
        assert_eq!(s.storage.size.as_str(), "3Gi");
        // A preset named in a values file applies under it.
        std::fs::write(f2, "preset: dev\n").unwrap();
        let dev = spec(&["mysql", "--preset", "dev"]);
        assert_eq!(spec(&["mysql", "-f", f2]), dev, "as --preset dev");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn existing_secret_generates_nothing() {
        let never = |_: usize| -> Result<String> { panic!("no password may be generated") };
        let r = resolve_argv(&["mysql", "--existing-secret", "mine"], &never).unwrap();
        assert_eq!(r.spec.credentials, Credentials::Existing("mine".into()));
        assert_eq!(r.spec.secret_name(), "mine");
        assert!(r.notes.is_empty());
    }

    #[test]
    fn errors_name_the_flag_or_key_and_what_is_allowed() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--replicas", "0"],
                "--replicas 0 is out of range: expected 1 to 32 for mysql",
            ),
            (&["--replicas", "-1"], "--replicas -1 is out of range"),
            (
                &["--replicas", "abc"],
                "--replicas \"abc\" is not a whole number",
            ),
            (&["--replicas", "33"], "expected 1 to 32"),
            (&["--set", "replicas=0"], "replicas 0 is out of range"),
            (
                &["--max-lag", "0"],
                "--max-lag 0 is out of range: expected 1 to 86400 seconds",
            ),
            (
                &["--set", "replication.maxLagSeconds=86401"],
                "replication.maxLagSeconds 86401 is out of range",
            ),
            (
                &["--name", "My_DB"],
                "--name: name \"My_DB\" is not a valid DNS-1123 label",
            ),
            (
                &["--namespace", "Prod"],
                "--namespace \"Prod\" is not a valid DNS-1123 label",
            ),
            (
                &["--storage-size", "10GB"],
                "--storage-size \"10GB\" is not a Kubernetes quantity",
            ),
            (
                &["--set", "storage.size=10GB"],
                "--set storage.size=10GB: storage.size: \"10GB\" is not a Kubernetes quantity",
            ),
            (
                &["--memory", "-5Gi"],
                "--memory \"-5Gi\" must be greater than zero",
            ),
            (
                &["--cpu", "lots"],
                "--cpu \"lots\" is not a Kubernetes quantity",
            ),
            (&["--image", ""], "--image is empty"),
            (&["--image", "my sql"], "contains whitespace"),
            (
                &["--image", "mysql@sha256:aéééééééé"],
                "--image \"mysql@sha256:aéééééééé\" is not an image reference",
            ),
            (&["--image", "MySQL:8"], "is not an image reference"),
            (&["--image", "mysql:8:4"], "is not an image reference"),
            (&["--image", "!"], "is not an image reference"),
            (
                &[
                    "--set",
                    "backup.s3.secret=s",
                    "--set",
                    "backup.s3.image=a//b",
                ],
                "backup.s3.image \"a//b\" is not an image reference",
            ),
            (
                &["--backup-schedule", "0 3\n* * *"],
                "contains a control character",
            ),
            (&["--memory", "1e400"], "--memory \"1e400\" is too large"),
            (
                &["--memory", "1"],
                "--memory 1 is too small for mysql: expected at least 512Mi",
            ),
            (
                &["--set", "resources.memoryLimit=100Mi", "--memory", "100Mi"],
                "resources.memoryLimit 100Mi is too small for mysql",
            ),
            (
                &["--memory", "1Ei"],
                "--memory 1Ei is more than any node has: expected at most 64Ti",
            ),
            (&["--cpu", "20000"], "--cpu 20000 is more than any node has"),
            (
                &["--storage-size", "1"],
                "--storage-size 1 is no size for a volume: expected 128Mi to 1Pi",
            ),
            (
                &["--cpu", "0.0001"],
                "--cpu 0.0001 is below 1m, the smallest CPU amount Kubernetes counts",
            ),
            (
                &["--preset", "huge"],
                "unknown preset \"huge\" for mysql: expected one of dev, prod",
            ),
            (
                &["--set", "bogus=1"],
                "--set bogus=1: unknown field `bogus`",
            ),
            (
                &["--set", "mysql.bogus=1"],
                "--set mysql.bogus=1: mysql: unknown field `bogus`",
            ),
            (
                &["--set", "postgres.maxConnections=100"],
                "the values key \"postgres\" applies to sts-gen postgres, not to sts-gen mysql",
            ),
            (
                &["-f", "/nonexistent/v.yaml"],
                "cannot read values file /nonexistent/v.yaml",
            ),
            (
                &["--cluster-domain", "Cluster.Local"],
                "--cluster-domain \"Cluster.Local\" is not a valid DNS name",
            ),
            (
                &["--existing-secret", "bad_secret"],
                "--existing-secret \"bad_secret\"",
            ),
            (
                &["--set", "resources.memoryLimit=512Mi"],
                "resources.memoryLimit 512Mi is below the memory request 1Gi",
            ),
            (
                &["--set", "mysql.serverIdOffset=0"],
                "mysql.serverIdOffset 0 is out of range",
            ),
            (
                &["--set", "mysql.innodbBufferPoolSize=1Gi"],
                "below the memory limit 1Gi",
            ),
            (
                &["--set", "labels.app.kubernetes.io/name=x"],
                "labels.app.kubernetes.io/name: the label is set by sts-gen",
            ),
            (
                &["--set", "labels.team=a b"],
                "labels.team \"a b\" is not a label value",
            ),
            (
                &["--set", "database=redis"],
                "the values say database: redis, but this is sts-gen mysql",
            ),
            (
                &["--set", "database=oracle"],
                "database \"oracle\" is not one sts-gen knows",
            ),
        ];
        for (args, want) in cases {
            let argv: Vec<&str> = ["mysql"].iter().chain(args.iter()).copied().collect();
            let got = error(&argv);
            assert!(
                got.contains(want),
                "{argv:?}\n  want: {want}\n  got:  {got}"
            );
            assert!(!got.contains('\n'), "one line: {got}");
        }
        let e = error(&["mongodb", "--replica-set", "a b"]);
        assert!(
            e.contains("--replica-set \"a b\" is not a valid replica set name"),
            "{e}"
        );
    }

    #[test]
    fn image_versions() {
        // The label takes what of the tag a label value can hold.
        assert_eq!(image("i", "redis:7-").unwrap().version, "7");
        let long = format!("redis:a{}", "b".repeat(127));
        assert_eq!(image("i", &long).unwrap().version.len(), 63);
        let upper = format!("redis@sha256:{}", "A".repeat(64));
        let e = image("--image", &upper).unwrap_err().to_string();
        assert!(
            e.contains(
                "has a digest a runtime refuses: expected sha256: and 64 lowercase hex digits"
            ),
            "{e}"
        );
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
            image(
                "i",
                "mysql@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            )
            .unwrap()
            .version,
            "sha256-0123456789ab"
        );
        assert_eq!(
            image("i", "mysql:8.4.7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap().version,
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
