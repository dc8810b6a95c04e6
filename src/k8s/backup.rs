//! Backups: the claim they live on, the CronJob that takes them, and the Job that restores one:
//! into a fresh set's pod 0, or through the database's API into a running set.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, PodTemplateSpec,
    Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::statefulset::{base_pod_spec, claim_spec, harden};
use super::{mount, object_meta};
use crate::engine::{BACKUPS_DIR, Parts, volumes};
use crate::labels::Labels;
use crate::spec::{BackupSpec, Spec, Storage};

/// The backups volume in the Jobs' pods.
const BACKUPS: &str = volumes::BACKUPS;

/// A claim with the labels `labels` (pod 0's: the claim template's, which are the selector's).
pub fn claim(
    spec: &Spec,
    name: &str,
    labels: BTreeMap<String, String>,
    storage: &Storage,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: spec.namespace.clone(),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(claim_spec(storage)),
        ..Default::default()
    }
}

/// The backups' claim. ReadWriteMany where every database pod mounts it (`Parts::shared_backups`:
/// the pods run on different nodes and all write to it); ReadWriteOnce where only the backup Job
/// does.
pub fn backups_claim(
    spec: &Spec,
    labels: &Labels,
    parts: &Parts,
    b: &BackupSpec,
) -> PersistentVolumeClaim {
    let mut c = claim(spec, &spec.names.backups, labels.job("backup"), &b.storage);
    if parts.shared_backups {
        if let Some(s) = c.spec.as_mut() {
            s.access_modes = Some(vec!["ReadWriteMany".into()]);
        }
    }
    c
}

/// The backups' claim as the volume `backups` of a pod.
pub(super) fn backups_volume(spec: &Spec) -> Volume {
    claim_volume(BACKUPS, &spec.names.backups, false)
}

fn claim_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: read_only.then_some(true),
        }),
        ..Default::default()
    }
}

/// A Job's pod: the instance's pod basics plus `extra` volumes, never restarted in place.
fn job_pod(
    spec: &Spec,
    parts: &Parts,
    labels: &Labels,
    component: &str,
    extra: Vec<Volume>,
    init_containers: Option<Vec<Container>>,
    containers: Vec<Container>,
) -> PodTemplateSpec {
    let mut pod = base_pod_spec(spec, parts);
    pod.volumes.get_or_insert_with(Vec::new).extend(extra);
    pod.restart_policy = Some("Never".into());
    pod.init_containers = init_containers;
    pod.containers = containers;
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.job(component)),
            ..Default::default()
        }),
        spec: Some(pod),
    }
}

/// The CronJob: one backup at a time (Forbid), from a replica when one serves, retried once.
pub fn cronjob(spec: &Spec, labels: &Labels, parts: &Parts, b: &BackupSpec) -> CronJob {
    let container = parts
        .backup
        .clone()
        .expect("an engine with backups supplies the backup container");
    let mut c = harden(spec, &container);
    c.volume_mounts
        .get_or_insert_with(Vec::new)
        .push(mount(BACKUPS, BACKUPS_DIR, false));
    let template = job_pod(
        spec,
        parts,
        labels,
        "backup",
        vec![claim_volume(BACKUPS, &spec.names.backups, false)],
        None,
        vec![c],
    );
    CronJob {
        metadata: ObjectMeta {
            labels: Some(labels.job("backup")),
            ..object_meta(spec, &spec.names.backup_job, labels)
        },
        spec: Some(CronJobSpec {
            schedule: b.schedule.clone(),
            concurrency_policy: Some("Forbid".into()),
            // A run missed by more than an hour (controller down) is skipped, not run late.
            starting_deadline_seconds: Some(3600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.job("backup")),
                    ..Default::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(1),
                    // A backup that has not finished in 6 hours is stuck: stop it.
                    active_deadline_seconds: Some(6 * 3600),
                    template,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The restore Job: pod 0's own init containers, run as pod 0 on pod 0's claim, the last one
/// (init-data) with `RESTORE_FROM` naming the backup's directory.
pub fn restore_job(spec: &Spec, labels: &Labels, parts: &Parts, name: &str) -> Job {
    let mut inits: Vec<Container> = parts
        .init_containers
        .iter()
        .map(|c| as_pod_zero(spec, harden(spec, c)))
        .collect();
    let mut restore = inits.pop().expect("an engine with backups has init-data");
    restore.env.get_or_insert_with(Vec::new).push(EnvVar {
        name: "RESTORE_FROM".into(),
        value: Some(format!("{BACKUPS_DIR}/{name}")),
        ..Default::default()
    });
    restore
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(mount(BACKUPS, BACKUPS_DIR, true));
    let template = job_pod(
        spec,
        parts,
        labels,
        "restore",
        vec![
            claim_volume(
                volumes::DATA,
                &format!("{}-{}", volumes::DATA, spec.names.pod(0)),
                false,
            ),
            claim_volume(BACKUPS, &spec.names.backups, true),
        ],
        Some(inits),
        vec![restore],
    );
    Job {
        metadata: ObjectMeta {
            labels: Some(labels.job("restore")),
            ..object_meta(spec, &spec.names.restore_job, labels)
        },
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The restore Job of an engine that restores through the database's API
/// (`Parts::restore`): its container, with `RESTORE_FROM` naming the backup, against the running
/// set. Nothing of pod 0: the set's own pods load the data.
pub fn api_restore_job(
    spec: &Spec,
    labels: &Labels,
    parts: &Parts,
    container: &Container,
    name: &str,
) -> Job {
    let mut c = harden(spec, container);
    c.env.get_or_insert_with(Vec::new).push(EnvVar {
        name: "RESTORE_FROM".into(),
        value: Some(name.to_owned()),
        ..Default::default()
    });
    let template = job_pod(spec, parts, labels, "restore", Vec::new(), None, vec![c]);
    Job {
        metadata: ObjectMeta {
            labels: Some(labels.job("restore")),
            ..object_meta(spec, &spec.names.restore_job, labels)
        },
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container as pod 0 sees itself: `POD_NAME` is `<statefulset>-0`, not the Job pod's name.
fn as_pod_zero(spec: &Spec, mut c: Container) -> Container {
    for e in c.env.iter_mut().flatten() {
        if e.name == "POD_NAME" {
            *e = EnvVar {
                name: e.name.clone(),
                value: Some(spec.names.pod(0)),
                ..Default::default()
            };
        }
    }
    c
}
