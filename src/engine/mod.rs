//! Database engines. Everything one database knows lives in its module: its values section and
//! flags, their validation and defaults (with `presets/<name>/`), its sizing rules, its parts
//! (containers, files from `templates/<name>/`), its backup strategy and its warnings. The
//! registry below is the only list of databases: the CLI's subcommands, `sts-gen list`, the
//! presets, the templates and the completions all come from it.

use std::collections::BTreeMap;
use std::fmt::Debug;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use serde::Serialize;
use serde_json::Value;

use crate::model::parts::{BACKUPS_DIR, REPLICAS_KEY, mount, volumes};
use crate::model::{Names, Parts, PasswordSource, Spec};
use crate::settings::{KeyName, Setting};
pub use crate::templates::render_files;

/// Declares the engine modules and the registry from one list: a new database is one line.
macro_rules! registry {
    ($($module:ident => [$($engine:ident),+]),+ $(,)?) => {
        $(mod $module;)+
        /// Every database, in the order `--help` and `sts-gen list` show them.
        pub static ENGINES: &[&dyn Engine] = &[$($(&$module::$engine),+),+];
    };
}

registry! {
    mysql => [MYSQL, MARIADB],
    mongodb => [MONGODB],
    elasticsearch => [ELASTICSEARCH],
    postgres => [POSTGRES],
    redis => [REDIS],
}

/// The engine called `name`.
pub fn find(name: &str) -> Option<&'static dyn Engine> {
    ENGINES.iter().copied().find(|e| e.name() == name)
}

/// The names of every engine, for messages: `mysql, mariadb, …`.
pub fn names() -> String {
    ENGINES
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A database: what `sts-gen <name>` generates.
pub trait Engine: Sync {
    /// The subcommand, the values section, the `app.kubernetes.io/name` label and the folder
    /// under `presets/`.
    fn name(&self) -> &'static str;
    /// One line for `--help` and `sts-gen list`.
    fn about(&self) -> &'static str;
    /// Example command lines for the subcommand's `--help`.
    fn examples(&self) -> &'static [&'static str];
    /// Its own flags, on its subcommand only; their keys are in its values section.
    fn flags(&self) -> &'static [Setting] {
        &[]
    }
    /// The folder of its templates under `templates/` (MariaDB shares MySQL's).
    fn templates(&self) -> &'static str {
        self.name()
    }
    /// The most replicas the database supports in this topology.
    fn max_replicas(&self) -> u32;
    /// The smallest memory limit (MiB) the server runs in with sts-gen's sizing: below it the
    /// buffers it derives from the limit leave the process nothing, and the pod is OOM-killed.
    fn min_memory_mib(&self) -> u64 {
        256
    }
    /// Whether its replicas follow a primary and can lag behind it (`replication.maxLagSeconds`
    /// applies): all but Elasticsearch.
    fn replicas_lag(&self) -> bool {
        true
    }
    /// Keys of the credentials Secret and the length of each generated password.
    fn secrets(&self) -> &'static [(&'static str, usize)];
    /// The generated Secret's contents: by default a random password for every key.
    fn generate_secret(
        &self,
        spec: &Spec,
        password: PasswordSource,
    ) -> Result<BTreeMap<String, String>> {
        let _ = spec;
        self.secrets()
            .iter()
            .map(|&(key, len)| Ok((key.to_owned(), password(len)?)))
            .collect()
    }
    /// Reads and checks its values section (merged from every layer) for `spec`: the
    /// database's own options, sized for the spec's resources. Errors name a key as `key` does.
    fn configure(
        &self,
        spec: &Spec,
        section: Option<&Value>,
        key: KeyName,
    ) -> Result<Box<dyn Database>>;
    /// Checks the section of one layer, so that an error names the file it is in.
    fn check_section(&self, section: &Value) -> Result<()>;
}

/// A database configured for one spec: its options are resolved and valid.
pub trait Database: Debug + Send + Sync {
    /// Notes on stderr about the topology of `spec` (fault tolerance, privileges).
    fn warnings(&self, spec: &Spec) -> Vec<String> {
        let _ = spec;
        Vec::new()
    }
    /// The database's parts for `spec`.
    fn parts(&self, spec: &Spec) -> Result<Parts>;
}

/// How long a new pod waits for a peer to clone from before its init container fails.
pub const PEER_WAIT_SECONDS: u32 = 300;

/// What `_partials/backup.sh` reads from a template context (`backup`).
#[derive(Debug, Serialize)]
pub struct BackupContext {
    pub dir: &'static str,
    pub keep: u32,
}

/// What the shared partials (`templates/_partials/`: identity, cluster, backup) read from every
/// engine's template context; each engine flattens it into its own.
#[derive(Debug, Serialize)]
pub struct SetContext<'a> {
    pub names: &'a Names,
    pub cluster_domain: &'a str,
    /// The file holding the replica count as rendered (see `REPLICAS_KEY`); the count itself is
    /// not in the context, so that no script or configuration file changes with it.
    pub replicas_file: String,
    /// Lag beyond which a replica is neither Ready nor a backup source (not Elasticsearch).
    pub max_lag_seconds: Option<u32>,
    /// Set when the spec has backups.
    pub backup: Option<BackupContext>,
}

impl SetContext<'_> {
    /// The shared part of an engine's template context; `scripts` is where its pods mount the
    /// scripts ConfigMap.
    pub fn of<'a>(spec: &'a Spec, scripts: &str) -> SetContext<'a> {
        SetContext {
            names: &spec.names,
            cluster_domain: &spec.cluster_domain,
            replicas_file: format!("{scripts}/{REPLICAS_KEY}"),
            max_lag_seconds: spec.max_lag_seconds,
            backup: spec.backup.as_ref().map(|b| BackupContext {
                dir: BACKUPS_DIR,
                keep: b.keep,
            }),
        }
    }
}

/// The backup CronJob's container when `spec` has backups: the database image running
/// `<scripts>/backup.sh` with the scripts, the credentials and the emptyDir `tmp` at /tmp mounted,
/// and small `resources` of its own.
pub fn backup_container(
    spec: &Spec,
    scripts: &str,
    credentials: &str,
    resources: ResourceRequirements,
) -> Option<Container> {
    spec.backup.as_ref().map(|_| Container {
        name: "backup".into(),
        image: Some(spec.image.reference.clone()),
        command: Some(vec!["bash".into(), format!("{scripts}/backup.sh")]),
        volume_mounts: Some(vec![
            mount(volumes::SCRIPTS, scripts, true),
            mount(volumes::CREDENTIALS, credentials, true),
            mount(volumes::TMP, "/tmp", false),
        ]),
        resources: Some(resources),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::BTreeSet::new();
        for e in ENGINES {
            assert!(seen.insert(e.name()), "{} twice", e.name());
            // Its section must not shadow a shared key (`storage`, `backup`, …).
            let mut shared = crate::settings::Layer::default();
            shared.insert(e.name(), serde_json::json!({})).unwrap();
            assert!(
                shared.common().is_err(),
                "{} is a shared values key",
                e.name()
            );
            assert!(e.name().bytes().all(|b| b.is_ascii_lowercase()));
            for s in e.flags() {
                assert!(
                    s.key.starts_with(&format!("{}.", e.name())),
                    "{}'s flag --{} sets {}, outside its section",
                    e.name(),
                    s.flag,
                    s.key
                );
            }
        }
    }

    /// The folders under `root` that belong to a database (`_partials/` and the like are shared).
    fn folders(root: &str) -> std::collections::BTreeSet<String> {
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(root))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('_'))
            .collect()
    }

    /// A database is its engine's files, `templates/<dir>/`, `presets/<name>/` and one line in
    /// the registry: nothing else lists the databases, so the three must agree.
    #[test]
    fn the_registry_agrees_with_templates_and_presets() {
        let names: std::collections::BTreeSet<String> =
            ENGINES.iter().map(|e| e.name().to_owned()).collect();
        assert_eq!(folders("presets"), names, "presets/<database>/ per engine");
        let used: std::collections::BTreeSet<String> =
            ENGINES.iter().map(|e| e.templates().to_owned()).collect();
        assert_eq!(folders("templates"), used, "templates/<dir>/ per engine");
        for e in ENGINES {
            assert!(
                crate::presets::text(e.name(), crate::presets::DEFAULTS).is_some(),
                "presets/{}/default.yaml",
                e.name()
            );
            assert!(
                crate::templates::ids()
                    .iter()
                    .any(|id| id.starts_with(&format!("{}/", e.templates()))),
                "templates/{}/ has templates",
                e.templates()
            );
        }
    }
}
