//! Typed Kubernetes objects: the assembler owns labels, selectors, names, the headless Service,
//! the checksum annotation and the order of objects. One builder function per kind.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::model::parts::{Backups, REPLICAS_KEY, volumes};
use crate::model::{Credentials, Parts, Spec};
use labels::Labels;

pub mod backup;
mod config;
pub mod labels;
mod network_policy;
mod pdb;
mod pod;
mod service;
mod statefulset;

/// One generated object. Each k8s-openapi type writes its own `apiVersion` and `kind`.
// A handful of objects per run: boxing the larger variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    Secret(Secret),
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(StatefulSet),
    PodDisruptionBudget(PodDisruptionBudget),
    NetworkPolicy(NetworkPolicy),
    PersistentVolumeClaim(PersistentVolumeClaim),
    CronJob(CronJob),
    Job(Job),
}

impl Manifest {
    pub fn kind(&self) -> &'static str {
        match self {
            Manifest::Secret(_) => "Secret",
            Manifest::ConfigMap(_) => "ConfigMap",
            Manifest::Service(_) => "Service",
            Manifest::StatefulSet(_) => "StatefulSet",
            Manifest::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Manifest::NetworkPolicy(_) => "NetworkPolicy",
            Manifest::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Manifest::CronJob(_) => "CronJob",
            Manifest::Job(_) => "Job",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Manifest::Secret(o) => &o.metadata,
            Manifest::ConfigMap(o) => &o.metadata,
            Manifest::Service(o) => &o.metadata,
            Manifest::StatefulSet(o) => &o.metadata,
            Manifest::PodDisruptionBudget(o) => &o.metadata,
            Manifest::NetworkPolicy(o) => &o.metadata,
            Manifest::PersistentVolumeClaim(o) => &o.metadata,
            Manifest::CronJob(o) => &o.metadata,
            Manifest::Job(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// Every object of one instance, in apply order: credentials and configuration first, then the
/// Services (the headless one before the StatefulSet that names it), the StatefulSet, the PDB,
/// the NetworkPolicy, then the backups' claim and CronJob. With `--restore-from`: the ConfigMaps, pod 0's claim and
/// the restore Job instead.
pub fn assemble(spec: &Spec, mut parts: Parts) -> Vec<Manifest> {
    let labels = Labels {
        db: spec.database,
        instance: &spec.names.instance,
        version: &spec.image.version,
        user: &spec.labels,
    };
    if let Some(name) = &spec.restore_from {
        return restore(spec, parts, &labels, name);
    }
    let mut out = Vec::with_capacity(10);
    if let Credentials::Generated(values) = &spec.credentials {
        out.push(Manifest::Secret(config::secret(spec, &labels, values)));
    }
    let maps_at = out.len();
    out.push(Manifest::Service(service::headless(spec, &labels, &parts)));
    out.push(Manifest::Service(service::client(spec, &labels, &parts)));
    if parts.topology.single_writer() {
        out.push(Manifest::Service(service::primary(spec, &labels, &parts)));
    }
    out.push(Manifest::StatefulSet(statefulset::statefulset(
        spec, &labels, &parts,
    )));
    if spec.replicas > 1 {
        out.push(Manifest::PodDisruptionBudget(pdb::pdb(
            spec,
            &labels,
            parts.topology.max_unavailable(),
        )));
    }
    if spec.network_policy {
        out.push(Manifest::NetworkPolicy(network_policy::network_policy(
            spec, &labels, &parts,
        )));
    }
    if let Some(b) = &spec.backup {
        if spec.backup_s3.is_none() {
            out.push(Manifest::PersistentVolumeClaim(backup::backups_claim(
                spec, &labels, &parts, b,
            )));
        }
        out.push(Manifest::CronJob(backup::cronjob(spec, &labels, &parts, b)));
    }
    // The ConfigMaps come first but take the files last: everything above has read them.
    out.splice(maps_at..maps_at, config_maps(spec, &labels, &mut parts));
    out
}

/// What restores backup `name` into a fresh set: the ConfigMaps the Job runs, pod 0's claim
/// (the StatefulSet adopts it) and the Job that fills it. Where the engine restores through its
/// API (`Parts::restore`): the ConfigMaps and the Job, which waits for the running set.
fn restore(spec: &Spec, mut parts: Parts, labels: &Labels, name: &str) -> Vec<Manifest> {
    let rest = match &parts.backups {
        Backups::Api {
            restore: Some(container),
            ..
        } => vec![Manifest::Job(backup::api_restore_job(
            spec, labels, &parts, container, name,
        ))],
        _ => vec![
            Manifest::PersistentVolumeClaim(backup::claim(
                spec,
                &format!("{}-{}", volumes::DATA, spec.names.pod(0)),
                labels.selector(),
                &spec.storage,
            )),
            Manifest::Job(backup::restore_job(spec, labels, &parts, name)),
        ],
    };
    let mut out = config_maps(spec, labels, &mut parts).to_vec();
    out.extend(rest);
    out
}

/// The `<name>-config` and `<name>-scripts` ConfigMaps, which take the files out of `parts`.
/// The scripts map also holds the replica count (`REPLICAS_KEY`), which the scripts read at run
/// time: it is not part of the pod template's checksum, so scaling restarts no pod.
fn config_maps(spec: &Spec, labels: &Labels, parts: &mut Parts) -> [Manifest; 2] {
    let mut scripts = std::mem::take(&mut parts.scripts);
    scripts.insert(REPLICAS_KEY.to_owned(), format!("{}\n", spec.replicas));
    [
        Manifest::ConfigMap(config::config_map(
            spec,
            labels,
            &spec.names.config,
            std::mem::take(&mut parts.config),
        )),
        Manifest::ConfigMap(config::config_map(
            spec,
            labels,
            &spec.names.scripts,
            scripts,
        )),
    ]
}

/// Metadata of a top-level object: name, namespace (if any) and the full label set.
fn object_meta(spec: &Spec, name: &str, labels: &Labels) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: spec.namespace.clone(),
        labels: Some(labels.metadata()),
        ..Default::default()
    }
}

/// sha256 of everything the pods read from ConfigMaps (the replica count aside), so a change
/// rolls the pods.
fn checksum(parts: &Parts) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for map in [&parts.config, &parts.scripts] {
        for (k, v) in map {
            h.update((k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        h.update(b"\0");
    }
    let mut hex = String::with_capacity(64);
    for b in h.finalize() {
        for nibble in [b >> 4, b & 0xf] {
            hex.push(char::from_digit(nibble.into(), 16).expect("a nibble is a hex digit"));
        }
    }
    hex
}
