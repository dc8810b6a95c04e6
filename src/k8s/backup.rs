//! Backups: the claim they live on, the CronJob that takes them, and the Job that restores one:
//! into a fresh set's pod 0, or through the database's API into a running set.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EphemeralVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimTemplate,
    PodTemplateSpec, SecretVolumeSource, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::labels::Labels;
use super::object_meta;
use super::pod::{base_pod_spec, claim_in_every_pod, claim_spec, claim_volume, harden};
use crate::model::parts::{BACKUPS_DIR, empty_dir, mount, small_resources, volumes};
use crate::model::{BackupSpec, Parts, S3Store, Spec, Storage};

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

/// The backups' claim. ReadWriteMany where every database pod mounts it (the pods run on
/// different nodes and all write to it); ReadWriteOnce where only the backup Job does.
pub fn backups_claim(
    spec: &Spec,
    labels: &Labels,
    parts: &Parts,
    b: &BackupSpec,
) -> PersistentVolumeClaim {
    let mut c = claim(spec, &spec.names.backups, labels.job("backup"), &b.storage);
    if claim_in_every_pod(spec, parts)
        && let Some(s) = c.spec.as_mut()
    {
        s.access_modes = Some(vec!["ReadWriteMany".into()]);
    }
    c
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

/// Where the S3 client containers see the scripts ConfigMap and the S3 Secret.
const S3_SCRIPTS_DIR: &str = "/sts-gen/scripts";
const S3_CREDENTIALS_DIR: &str = "/etc/sts-gen/s3";
/// Volumes of the Jobs' pods with an S3 bucket: its Secret and the client's home.
const S3_CREDENTIALS: &str = "s3-credentials";
const S3_HOME: &str = "s3-home";

/// The S3 client's script (`s3.sh`) in the scripts ConfigMap, when the backups go to a bucket
/// through the Jobs' S3 client containers and a Job runs it (scheduled backups or a restore).
pub fn s3_scripts(spec: &Spec, parts: &Parts) -> anyhow::Result<BTreeMap<String, String>> {
    #[derive(serde::Serialize)]
    struct Context<'a> {
        dir: &'a str,
        keep: u32,
        credentials: &'a str,
        prefix: &'a str,
    }
    match &spec.backup_s3 {
        Some(s3)
            if !parts.backups.through_api()
                && (spec.backup.is_some() || spec.restore_from.is_some()) =>
        {
            crate::templates::render_files(
                &["_s3/s3.sh"],
                &Context {
                    dir: BACKUPS_DIR,
                    keep: spec.backup.as_ref().map_or(1, |b| b.keep),
                    credentials: S3_CREDENTIALS_DIR,
                    prefix: &s3.prefix_word(),
                },
            )
        }
        _ => Ok(BTreeMap::new()),
    }
}

/// The S3 client container `name` running `s3.sh args...` on the scratch volume.
fn s3_container(spec: &Spec, s3: &S3Store, name: &str, args: &[&str]) -> Container {
    let command = ["sh".to_owned(), format!("{S3_SCRIPTS_DIR}/s3.sh")]
        .into_iter()
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect();
    harden(
        spec,
        &Container {
            name: name.into(),
            image: Some(s3.image.clone()),
            command: Some(command),
            env: Some(vec![EnvVar {
                name: "HOME".into(),
                value: Some("/tmp".into()),
                ..Default::default()
            }]),
            volume_mounts: Some(vec![
                mount(volumes::SCRIPTS, S3_SCRIPTS_DIR, true),
                mount(S3_CREDENTIALS, S3_CREDENTIALS_DIR, true),
                mount(BACKUPS, BACKUPS_DIR, false),
                mount(S3_HOME, "/tmp", false),
            ]),
            // rclone buffers up to four 64 MiB parts of a stream.
            resources: Some(small_resources("100m", "128Mi", "512Mi")),
            ..Default::default()
        },
    )
}

/// The Jobs' volumes with an S3 bucket: the scratch volume (a claim of the Job's pod, deleted
/// with it) that holds one backup on its way, the S3 Secret and the client's home.
fn s3_volumes(labels: &Labels, component: &str, s3: &S3Store) -> Vec<Volume> {
    vec![
        Volume {
            name: BACKUPS.into(),
            ephemeral: Some(EphemeralVolumeSource {
                volume_claim_template: Some(PersistentVolumeClaimTemplate {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels.job(component)),
                        ..Default::default()
                    }),
                    spec: claim_spec(&s3.scratch),
                }),
            }),
            ..Default::default()
        },
        Volume {
            name: S3_CREDENTIALS.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(s3.secret.clone()),
                // Readable by the pod's group (fsGroup) only, like the credentials.
                default_mode: Some(0o440),
                ..Default::default()
            }),
            ..Default::default()
        },
        empty_dir(S3_HOME, None),
    ]
}

/// The CronJob: one backup at a time (Forbid), from a replica when one serves, retried once.
/// With an S3 bucket the backup is taken by an init container into a scratch volume and the
/// S3 client uploads it.
pub fn cronjob(spec: &Spec, labels: &Labels, parts: &Parts, b: &BackupSpec) -> CronJob {
    let container = parts
        .backups
        .container()
        .cloned()
        .expect("an engine with backups supplies the backup container");
    let c = harden(spec, &container);
    let with_backups = |mut c: Container| {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount(BACKUPS, BACKUPS_DIR, false));
        c
    };
    let template = match &spec.backup_s3 {
        // The database writes to the bucket itself: the Job only asks it to.
        Some(_) if parts.backups.through_api() => {
            job_pod(spec, parts, labels, "backup", Vec::new(), None, vec![c])
        }
        Some(s3) => job_pod(
            spec,
            parts,
            labels,
            "backup",
            s3_volumes(labels, "backup", s3),
            Some(vec![with_backups(c)]),
            vec![s3_container(spec, s3, "upload", &["upload"])],
        ),
        None => job_pod(
            spec,
            parts,
            labels,
            "backup",
            vec![claim_volume(BACKUPS, &spec.names.backups, false)],
            None,
            vec![with_backups(c)],
        ),
    };
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
    let mut volumes = vec![claim_volume(
        volumes::DATA,
        &format!("{}-{}", volumes::DATA, spec.names.pod(0)),
        false,
    )];
    match &spec.backup_s3 {
        // First the S3 client fetches the backup into the scratch volume.
        Some(s3) => {
            volumes.extend(s3_volumes(labels, "restore", s3));
            inits.insert(0, s3_container(spec, s3, "download", &["download", name]));
        }
        None => volumes.push(claim_volume(BACKUPS, &spec.names.backups, true)),
    }
    let template = job_pod(
        spec,
        parts,
        labels,
        "restore",
        volumes,
        Some(inits),
        vec![restore],
    );
    restore_job_of(spec, labels, template)
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
    restore_job_of(spec, labels, template)
}

/// The Job `<name>-restore` running `template`, retried twice.
fn restore_job_of(spec: &Spec, labels: &Labels, template: PodTemplateSpec) -> Job {
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
