//! The settings every database shares, described once: their values-file keys (`Values`, the
//! schema of presets, `-f` files and `--set`) and the flags that set them (`COMMON`: key, flag,
//! parser, help). An engine's own settings live in its module, under a values section named
//! after it, and its flags are `Setting`s too.
//!
//! Every source of values is a `Layer`: a tree of values (JSON) named for errors. Layers merge
//! key by key (later wins; maps such as `labels` merge per key), and the merged tree is read into
//! typed values once.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::scalar::lenient;
use crate::model::{AntiAffinity, Quantity, Scalar, ServiceType};

/// One flag and the values key it sets.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The values-file path, e.g. `storage.size`.
    pub key: &'static str,
    /// The long flag without `--`.
    pub flag: &'static str,
    pub short: Option<char>,
    /// What `--help` calls the value; unused for a switch.
    pub value_name: &'static str,
    pub help: &'static str,
    pub value: Kind,
}

/// How a flag's text becomes a value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string, as given.
    Text,
    /// A whole number; the text names what it counts (for the error), e.g. "a number of pods".
    Count(&'static str),
    /// A Kubernetes quantity.
    Quantity,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// No value: giving the flag sets the key to this boolean.
    Switch(bool),
}

impl Setting {
    /// `--storage-size`.
    pub fn long(&self) -> String {
        format!("--{}", self.flag)
    }

    /// The value of the flag given as `text` (a switch: any text).
    pub fn parse(&self, text: &str) -> Result<Value> {
        let flag = self.long();
        Ok(match self.value {
            Kind::Text | Kind::Choice(_) => Value::String(text.to_owned()),
            Kind::Count(what) => {
                Value::from(text.trim().parse::<i64>().map_err(|_| {
                    anyhow!("{flag} {text:?} is not a whole number: expected {what}")
                })?)
            }
            Kind::Quantity => {
                Quantity::parse(&flag, text)?;
                Value::String(text.to_owned())
            }
            Kind::Switch(on) => Value::Bool(on),
        })
    }
}

const fn setting(
    key: &'static str,
    flag: &'static str,
    value_name: &'static str,
    value: Kind,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        flag,
        short: None,
        value_name,
        help,
        value,
    }
}

/// The flags of every database subcommand that set values, in `--help` order.
pub const COMMON: &[Setting] = &[
    setting(
        "name",
        "name",
        "NAME",
        Kind::Text,
        "Name of the StatefulSet and prefix of every object [default: the database name]",
    ),
    Setting {
        short: Some('n'),
        ..setting(
            "namespace",
            "namespace",
            "NS",
            Kind::Text,
            "Namespace of every object (omitted: no namespace field; kubectl's context decides)",
        )
    },
    Setting {
        short: Some('r'),
        ..setting(
            "replicas",
            "replicas",
            "N",
            Kind::Count("a number of pods such as 3"),
            "Number of pods",
        )
    },
    setting(
        "preset",
        "preset",
        "NAME",
        Kind::Text,
        "Preset to start from (see `sts-gen list`); unset: the database's defaults alone",
    ),
    setting(
        "storage.size",
        "storage-size",
        "QUANTITY",
        Kind::Quantity,
        "Size of each pod's PersistentVolumeClaim (a Kubernetes quantity, e.g. 20Gi)",
    ),
    setting(
        "storage.className",
        "storage-class",
        "NAME",
        Kind::Text,
        "StorageClass of the PersistentVolumeClaims [default: the cluster's default class]",
    ),
    setting(
        "image",
        "image",
        "IMAGE",
        Kind::Text,
        "Container image of the database",
    ),
    setting(
        "resources.cpu",
        "cpu",
        "QUANTITY",
        Kind::Quantity,
        "CPU request of the database container (a Kubernetes quantity, e.g. 500m)",
    ),
    setting(
        "resources.memory",
        "memory",
        "QUANTITY",
        Kind::Quantity,
        "Memory request and limit of the database container (a Kubernetes quantity, e.g. 2Gi)",
    ),
    setting(
        "serviceType",
        "service-type",
        "TYPE",
        Kind::Choice(&ServiceType::ALL),
        "Type of the client Services",
    ),
    setting(
        "existingSecret",
        "existing-secret",
        "NAME",
        Kind::Text,
        "Use this existing Secret for credentials instead of generating one (output is then deterministic)",
    ),
    setting(
        "clusterDomain",
        "cluster-domain",
        "DOMAIN",
        Kind::Text,
        "DNS domain of the cluster, used in the pods' stable DNS names",
    ),
    setting(
        "replication.maxLagSeconds",
        "max-lag",
        "SECONDS",
        Kind::Count("a number of seconds such as 60"),
        "Replication lag beyond which a replica is not Ready (it leaves the read Service) and not a backup source (not Elasticsearch)",
    ),
    setting(
        "networkPolicy.enabled",
        "network-policy",
        "",
        Kind::Switch(true),
        "A NetworkPolicy: the set's own pods (and its Jobs) reach every port, anyone else the client port only [default: on in the prod presets]",
    ),
    setting(
        "networkPolicy.enabled",
        "no-network-policy",
        "",
        Kind::Switch(false),
        "No NetworkPolicy (the prod presets have one)",
    ),
    setting(
        "backup.schedule",
        "backup-schedule",
        "CRON",
        Kind::Text,
        "Scheduled backups: a CronJob on this cron schedule, e.g. \"0 3 * * *\" (\"none\": off)",
    ),
    setting(
        "backup.storageSize",
        "backup-storage-size",
        "QUANTITY",
        Kind::Quantity,
        "Size of the backups' PersistentVolumeClaim",
    ),
    setting(
        "backup.storageClassName",
        "backup-storage-class",
        "NAME",
        Kind::Text,
        "StorageClass of the backups' PersistentVolumeClaim (Elasticsearch: one with ReadWriteMany) [default: the cluster's default class]",
    ),
    setting(
        "backup.keep",
        "backup-keep",
        "N",
        Kind::Count("how many backups to keep, such as 7"),
        "How many complete backups to keep; older ones go once a new one succeeds",
    ),
    setting(
        "backup.s3.secret",
        "backup-s3-secret",
        "SECRET",
        Kind::Text,
        "Keep backups in an S3-compatible bucket: an existing Secret with endpoint, bucket, \
         access-key-id, secret-access-key (and optionally region)",
    ),
];

/// The values every database shares: presets, `-f` files and `--set` (their engine sections
/// aside). Unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Values {
    /// Which database the file describes (`sts-gen render`); checked against the subcommand.
    #[serde(default, deserialize_with = "lenient::text")]
    pub database: Option<String>,
    /// A preset to start from, as `--preset` (the flag wins).
    #[serde(default, deserialize_with = "lenient::text")]
    pub preset: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub replicas: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub image: Option<String>,
    #[serde(default)]
    pub storage: StorageValues,
    #[serde(default)]
    pub resources: ResourceValues,
    pub service_type: Option<ServiceType>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub existing_secret: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub cluster_domain: Option<String>,
    pub anti_affinity: Option<AntiAffinity>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub replication: ReplicationValues,
    #[serde(default)]
    pub network_policy: NetworkPolicyValues,
    #[serde(default)]
    pub backup: BackupValues,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicyValues {
    /// Emit the instance's NetworkPolicy.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationValues {
    /// Lag (seconds) beyond which a replica is neither Ready nor a backup source.
    #[serde(default, deserialize_with = "lenient::int")]
    pub max_lag_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageValues {
    pub size: Option<Quantity>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub class_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceValues {
    /// CPU request.
    pub cpu: Option<Quantity>,
    /// Memory request; also the memory limit unless `memoryLimit` is set.
    pub memory: Option<Quantity>,
    pub cpu_limit: Option<Quantity>,
    pub memory_limit: Option<Quantity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupValues {
    /// Cron schedule of the backup CronJob; unset or "none": no backups.
    #[serde(default, deserialize_with = "lenient::text")]
    pub schedule: Option<String>,
    pub storage_size: Option<Quantity>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub storage_class_name: Option<String>,
    /// Complete backups kept.
    #[serde(default, deserialize_with = "lenient::int")]
    pub keep: Option<i64>,
    /// An S3-compatible bucket instead of the claim.
    pub s3: Option<S3Values>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Values {
    /// An existing Secret with the keys endpoint, bucket, access-key-id, secret-access-key and
    /// optionally region.
    #[serde(default, deserialize_with = "lenient::text")]
    pub secret: Option<String>,
    /// The folder of this instance's backups in the bucket (default: `<namespace>/<name>`).
    #[serde(default, deserialize_with = "lenient::text")]
    pub prefix: Option<String>,
    /// The image of the S3 client (rclone) that uploads and downloads backups.
    #[serde(default, deserialize_with = "lenient::text")]
    pub image: Option<String>,
}

/// Values from one source, named for errors (a file, `--set k=v`, the flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    pub origin: String,
    pub values: Map<String, Value>,
}

/// The largest values file sts-gen reads: values files are a few kilobytes, and a source that
/// never ends (`-f /dev/zero`) must end in an error, not in exhausted memory.
pub const MAX_VALUES_FILE: u64 = 4 << 20;

impl Layer {
    /// The values file at `path` (a file, a pipe such as `<(…)`, a device): at most
    /// `MAX_VALUES_FILE` bytes of UTF-8 are read, whatever it is.
    pub fn from_file(path: &std::path::Path) -> Result<Layer> {
        use std::io::Read;
        let shown = path.display().to_string();
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_VALUES_FILE + 1).read_to_end(&mut bytes))
            .map_err(|e| anyhow!("cannot read values file {shown}: {}", io_reason(&e)))?;
        ensure!(
            bytes.len() as u64 <= MAX_VALUES_FILE,
            "values file {shown} is larger than {} MiB, the most a values file may be",
            MAX_VALUES_FILE >> 20
        );
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "values file {shown} is not UTF-8 text: byte {} is not",
                e.utf8_error().valid_up_to() + 1
            )
        })?;
        Layer::from_yaml(&text, &shown)
    }

    /// A values document. `origin` names the file in errors; syntax errors carry the line.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Layer> {
        let origin = format!("{origin}: invalid values");
        let mut values = if text.trim().is_empty() {
            Map::new()
        } else {
            // YAML 1.2's booleans only (`on` stays a word); `0755` and `1_000` stay text.
            let mut options = serde_saphyr::Options::default();
            options.strict_booleans = true;
            options.leading_zero_numbers_as_strings = true;
            options.underscored_numbers_as_strings = true;
            match serde_saphyr::from_str_with_options::<Value>(text, options)
                .map_err(|e| {
                    let msg = e.render_with_formatter(&ValuesMessages);
                    anyhow!("{}", with_source_line(&one_line(&msg), text))
                })
                .with_context(|| origin.clone())?
            {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                _ => bail!("{origin}: expected a map of keys such as replicas: 3"),
            }
        };
        tidy(&mut values, "").with_context(|| origin.clone())?;
        Ok(Layer { origin, values })
    }

    /// One `--set KEY=VALUE`; the key is a values-file path such as `storage.size`.
    pub fn from_set(assignment: &str) -> Result<Layer> {
        let Some((key, value)) = assignment.split_once('=') else {
            bail!("--set {assignment:?}: expected KEY=VALUE, e.g. storage.size=20Gi");
        };
        let mut layer = Layer {
            origin: format!("--set {key}={value}"),
            values: Map::new(),
        };
        layer
            .insert(key, scalar_value(value))
            .with_context(|| format!("--set {assignment:?}"))?;
        Ok(layer)
    }

    /// Set the values path `key` (see `key_path`) to `value`.
    pub fn insert(&mut self, key: &str, value: Value) -> Result<()> {
        let parts = key_path(key);
        if parts.iter().any(|p| p.is_empty()) {
            bail!("the key {key:?} has an empty path segment");
        }
        let (last, path) = parts.split_last().expect("split yields at least one part");
        let mut map = &mut self.values;
        for part in path {
            let entry = map
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            map = match entry {
                Value::Object(m) => m,
                _ => bail!("the key {key:?} goes through {part:?}, which is not a map"),
            };
        }
        map.insert(last.to_string(), value);
        Ok(())
    }

    /// Merge `later` into this layer: later values win, maps merge key by key.
    pub fn merge(&mut self, later: Layer) {
        merge_maps(&mut self.values, later.values);
    }

    /// The value at the values path `key` (`storage.size`), as text.
    pub fn get(&self, key: &str) -> Option<String> {
        let parts = key_path(key);
        let (first, rest) = parts.split_first()?;
        let mut value = self.values.get(*first)?;
        for part in rest {
            value = value.get(*part)?;
        }
        Some(match value {
            Value::String(s) => s.clone(),
            Value::Object(_) | Value::Array(_) => return None,
            other => other.to_string(),
        })
    }

    /// Take out the top-level section `key` (an engine's own values).
    pub fn take_section(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    /// The shared values of this layer (its engine sections taken out first).
    pub fn common(&self) -> Result<Values> {
        read(&self.values, "")
    }
}

/// The parts of a values path: `storage.size` → `storage`, `size`; a label key after `labels.` is
/// one part (label keys contain dots).
fn key_path(key: &str) -> Vec<&str> {
    match key.split_once('.') {
        Some(("labels", label)) => vec!["labels", label],
        _ => key.split('.').collect(),
    }
}

/// A null is a key not given (it never overrides a lower layer); no key takes a list.
fn tidy(map: &mut Map<String, Value>, path: &str) -> Result<()> {
    map.retain(|_, v| !v.is_null());
    for (k, v) in map.iter_mut() {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match v {
            Value::Object(m) => tidy(m, &here)?,
            Value::Array(_) => {
                bail!("{here}: a list is not allowed here: expected a map or a value")
            }
            _ => {}
        }
    }
    Ok(())
}

fn merge_maps(into: &mut Map<String, Value>, later: Map<String, Value>) {
    for (k, v) in later {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_maps(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Read `values` into `T`; an error names the path of the bad key, under `section`.
pub fn read<T: DeserializeOwned>(values: &Map<String, Value>, section: &str) -> Result<T> {
    let map = Value::Object(values.clone());
    serde_path_to_error::deserialize(map).map_err(|e| {
        let mut path = e.path().to_string();
        // The path of an unknown key ends with the key, which the message names.
        if e.inner().to_string().starts_with("unknown field") {
            path = path
                .rsplit_once('.')
                .map_or("", |(parent, _)| parent)
                .to_owned();
        }
        let path = [section, if path == "." { "" } else { &path }]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        // serde names the Rust type it wanted ("expected struct StorageValues"): a user reads
        // that the key takes a map of keys.
        let message = e.inner().to_string();
        let message = match message.split_once("expected struct ") {
            Some((head, _)) => format!("{head}expected a map of keys"),
            None => message,
        };
        if path.is_empty() {
            anyhow!("{message}")
        } else {
            anyhow!("{path}: {message}")
        }
    })
}

/// Read an engine's section `name` into its values type (all fields optional).
pub fn section<T: DeserializeOwned + Default>(name: &str, value: Option<&Value>) -> Result<T> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(Value::Object(map)) => read(map, name),
        Some(other) => bail!("{name}: expected a map of keys, got {other}"),
    }
}

/// Names a setting in errors (`mongodb.replicaSetName`, or `--replica-set` when the flag set it).
pub type KeyName<'a> = &'a dyn Fn(&str) -> String;

/// A value every database's `presets/<db>/default.yaml` sets.
pub fn required<T: Clone>(value: &Option<T>, key: &str) -> Result<T> {
    value
        .clone()
        .with_context(|| format!("{key} is not set and has no default"))
}

/// `--set` values are typed the way YAML would type them: integers and booleans, else strings.
fn scalar_value(v: &str) -> Value {
    // A number only when written as one is (as values files read `0777`, `+5`: as text, kept as
    // typed; a label value `0777` stays "0777").
    if let Ok(i) = v.parse::<i64>()
        && i.to_string() == v
    {
        return Value::from(i);
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(v.to_owned()),
    }
}

/// serde-saphyr's messages for its user, reworded where they speak of its API (options, entry
/// points, budgets) rather than of the values file.
struct ValuesMessages;

impl serde_saphyr::MessageFormatter for ValuesMessages {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use serde_saphyr::Error as E;
        match err {
            E::WithSnippet { error, .. } => self.format_message(error),
            E::DuplicateMappingKey { key: Some(k), .. } => {
                format!("the key {k} is given twice: keep one").into()
            }
            E::DuplicateMappingKey { key: None, .. } => "a key is given twice: keep one".into(),
            E::MultipleDocuments { .. } => {
                "a second YAML document begins (after ---): a values file is one document".into()
            }
            E::Budget { .. }
            | E::AliasReplayCounterOverflow { .. }
            | E::AliasReplayLimitExceeded { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayStackDepthExceeded { .. } => {
                "too large or too deeply nested for a values file (aliases expand to too much, or nesting is too deep)".into()
            }
            E::Unexpected { expected, .. } => format!(
                "expected {} here",
                match *expected {
                    "string scalar" | "string" => "text (a key is a word, a value a word or a number)",
                    "map" => "a map of keys",
                    "seq" => "a list",
                    other => other,
                }
            )
            .into(),
            _ => serde_saphyr::UserMessageFormatter.format_message(err),
        }
    }
}

/// Quote the offending line, which names the key, after a message that gives `line N`.
fn with_source_line(msg: &str, text: &str) -> String {
    let line_no = msg
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    match line_no.and_then(|n| text.lines().nth(n.wrapping_sub(1))) {
        Some(line) if !line.trim().is_empty() => {
            // The line names the key; a very long one is cut (a line of a thousand brackets).
            let line = line.trim();
            match line.char_indices().nth(60) {
                Some((at, _)) => format!("{msg} (in `{}…`)", &line[..at]),
                None => format!("{msg} (in `{line}`)"),
            }
        }
        _ => msg.to_owned(),
    }
}

/// Parser errors can span lines (a snippet of the input); keep the first, most specific line.
/// An I/O error as a user reads it: the system's words without Rust's "(os error 2)".
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    // serde-saphyr puts the location on a following `-->` line; keep it with the message.
    match msg.lines().map(str::trim).find(|l| l.starts_with("-->")) {
        Some(loc) if !first.contains("line") => {
            format!("{first} at {}", loc.trim_start_matches("-->").trim())
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Layer {
        Layer::from_yaml(text, "test.yaml").unwrap()
    }

    #[test]
    fn later_layers_win_field_by_field() {
        let mut v = yaml("replicas: 3\nstorage:\n  size: 10Gi\n  className: a\n");
        v.merge(yaml("storage:\n  size: 20Gi\n"));
        let v = v.common().unwrap();
        assert_eq!(v.replicas, Some(3));
        assert_eq!(v.storage.size.unwrap().as_str(), "20Gi");
        assert_eq!(v.storage.class_name.as_deref(), Some("a"));
    }

    #[test]
    fn yaml_errors_speak_of_the_values_file_not_the_parser() {
        let bomb = "a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
                    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
                    g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        let deep = format!("a: {}{}\n", "[".repeat(3000), "]".repeat(3000));
        for (text, want) in [
            (
                "replicas: 3\nreplicas: 4\n",
                "line 2 column 1: the key replicas is given twice: keep one (in `replicas: 4`)",
            ),
            (
                "replicas: 3\n---\nreplicas: 4\n",
                "a second YAML document begins (after ---): a values file is one document",
            ),
            (bomb, "too large or too deeply nested for a values file"),
            (
                "? [a]\n: b\n",
                "expected text (a key is a word, a value a word or a number) here",
            ),
            (&deep, "…`)"),
        ] {
            let e = format!("{:#}", Layer::from_yaml(text, "v.yaml").unwrap_err());
            assert!(e.starts_with("v.yaml: invalid values: "), "{e}");
            assert!(e.contains(want), "{want}: {e}");
            for word in [
                "Options", "from_str", "budget", "Budget", "Policy", "scalar",
            ] {
                assert!(!e.contains(word), "{word} in {e}");
            }
            assert!(e.len() < 300, "{e}");
        }
    }

    #[test]
    fn type_errors_name_no_rust_type() {
        let e = format!(
            "{:#}",
            Layer::from_set("storage=5Gi")
                .unwrap()
                .common()
                .unwrap_err()
        );
        assert!(
            e.ends_with("storage: invalid type: string \"5Gi\", expected a map of keys"),
            "{e}"
        );
    }

    #[test]
    fn labels_merge_key_by_key() {
        let mut v = yaml("labels:\n  a: '1'\n  b: '2'\n");
        v.merge(Layer::from_set("labels.b=3").unwrap());
        v.merge(Layer::from_set("labels.example.com/team=db").unwrap());
        let l = v.common().unwrap().labels;
        assert_eq!(l["a"].0, "1");
        assert_eq!(l["b"].0, "3");
        assert_eq!(l["example.com/team"].0, "db");
        // Kept as typed, on the command line as in a file: not numbers that lose their zeros.
        for (set, file, want) in [
            ("0777", "0777", "0777"),
            ("+5", "'+5'", "+5"),
            ("1_000", "1_000", "1_000"),
        ] {
            let l = Layer::from_set(&format!("labels.team={set}"))
                .unwrap()
                .common()
                .unwrap()
                .labels;
            assert_eq!(l["team"].0, want, "--set");
            let l = yaml(&format!("labels:\n  team: {file}\n"))
                .common()
                .unwrap()
                .labels;
            assert_eq!(l["team"].0, want, "file");
        }
    }

    #[test]
    fn set_uses_the_values_paths_and_types() {
        let v = Layer::from_set("storage.size=20Gi")
            .unwrap()
            .common()
            .unwrap();
        assert_eq!(v.storage.size.unwrap().as_str(), "20Gi");
        let v = Layer::from_set("replicas=5").unwrap().common().unwrap();
        assert_eq!(v.replicas, Some(5));
        let v = Layer::from_set("resources.cpu=2")
            .unwrap()
            .common()
            .unwrap();
        assert_eq!(v.resources.cpu.unwrap().as_str(), "2");
        let mut l = Layer::from_set("mysql.serverIdOffset=1000").unwrap();
        assert_eq!(
            l.take_section("mysql"),
            Some(serde_json::json!({"serverIdOffset": 1000}))
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let e = Layer::from_set("storage.bogus=1").unwrap().common();
        let e = format!("{:#}", e.unwrap_err());
        assert!(
            e.contains("storage") && e.contains("unknown field `bogus`"),
            "{e}"
        );
        let e = Layer::from_set("nokey").unwrap_err().to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
        let e = format!("{:#}", Layer::from_set("storage..size=1").unwrap_err());
        assert!(e.contains("empty path segment"), "{e}");
        let e = format!(
            "{:#}",
            yaml("storage:\n  size: 10GB\n").common().unwrap_err()
        );
        assert!(
            e.contains("storage.size: \"10GB\" is not a Kubernetes quantity"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = Layer::from_yaml("replicas: 3\nstorage: [\n", "v.yaml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.starts_with("v.yaml: invalid values: "), "{msg}");
        assert!(msg.contains("line"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn a_null_is_a_key_not_given_and_no_key_takes_a_list() {
        let mut v = yaml("replicas: 4\nstorage:\n  className: fast\n");
        v.merge(yaml(
            "replicas: ~\nstorage: {className: null}\nbackup: null\n",
        ));
        let v = v.common().unwrap();
        assert_eq!(v.replicas, Some(4));
        assert_eq!(v.storage.class_name.as_deref(), Some("fast"));
        let e = Layer::from_yaml("storage: [20Gi, fast]\n", "v.yaml").unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "v.yaml: invalid values: storage: a list is not allowed here: expected a map or a value"
        );
    }

    #[test]
    fn scalars_are_read_as_the_key_needs_them() {
        let v =
            yaml("replicas: \"4\"\nnamespace: 123\nname: on\nlabels: {a: 010, b: 1_000, c: yes}\n")
                .common()
                .unwrap();
        assert_eq!(v.replicas, Some(4));
        assert_eq!(v.namespace.as_deref(), Some("123"));
        assert_eq!(v.name.as_deref(), Some("on"), "YAML 1.2: `on` is a word");
        let labels: Vec<&str> = v.labels.values().map(|s| s.0.as_str()).collect();
        assert_eq!(labels, ["010", "1_000", "yes"]);
        let e = format!("{:#}", yaml("replicas: many\n").common().unwrap_err());
        assert!(
            e.contains("replicas: \"many\" is not a whole number"),
            "{e}"
        );
    }

    #[test]
    fn empty_values_file_is_no_values() {
        assert_eq!(yaml("\n# nothing\n").values, Map::new());
    }

    #[test]
    fn flags_parse_their_values() {
        let replicas = COMMON.iter().find(|s| s.key == "replicas").unwrap();
        assert_eq!(replicas.parse("3").unwrap(), Value::from(3));
        let e = replicas.parse("abc").unwrap_err().to_string();
        assert!(
            e.contains("--replicas \"abc\" is not a whole number"),
            "{e}"
        );
        let size = COMMON.iter().find(|s| s.key == "storage.size").unwrap();
        let e = size.parse("10GB").unwrap_err().to_string();
        assert!(
            e.contains("--storage-size \"10GB\" is not a Kubernetes quantity"),
            "{e}"
        );
    }
}
