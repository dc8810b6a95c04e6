//! What every pod of an instance shares, the StatefulSet's and the backup and restore Jobs':
//! volumes, the security context, the hardened containers, claims.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ObjectFieldSelector,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::model::parts::volumes;
use crate::model::{Parts, Spec, Storage};

/// What every pod of the instance shares (the StatefulSet's and the backup and restore Jobs'):
/// the ConfigMaps, the credentials and the engine's volumes, the restricted security context as
/// the image's user, no service account token, no service links. No containers.
pub fn base_pod_spec(spec: &Spec, parts: &Parts) -> PodSpec {
    let uid = parts.user_id;
    let mut volumes = vec![
        config_map_volume(volumes::CONFIG, &spec.names.config, 0o444),
        config_map_volume(volumes::SCRIPTS, &spec.names.scripts, 0o555),
        Volume {
            name: volumes::CREDENTIALS.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(spec.secret_name().to_owned()),
                default_mode: Some(0o440),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    volumes.extend(parts.volumes.iter().cloned());
    PodSpec {
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(spec.termination_grace_period_seconds),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(uid),
            run_as_group: Some(uid),
            fs_group: Some(uid),
            fs_group_change_policy: Some("OnRootMismatch".into()),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volumes: Some(volumes),
        ..Default::default()
    }
}

/// What every container gets: the pod's identity from the downward API, resources, and a
/// restricted security context.
pub fn harden(spec: &Spec, c: &Container) -> Container {
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env = vec![
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
    ];
    env.extend(c.env.iter().flatten().cloned());
    let r = &spec.resources;
    let mut limits = BTreeMap::from([("memory".to_owned(), Quantity(r.memory_limit.to_string()))]);
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".to_owned(), Quantity(cpu.to_string()));
    }
    Container {
        env: Some(env),
        image_pull_policy: Some("IfNotPresent".into()),
        resources: c.resources.clone().or(Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity(r.cpu.to_string())),
                ("memory".to_owned(), Quantity(r.memory.to_string())),
            ])),
            limits: Some(limits),
            ..Default::default()
        })),
        // An engine's own security context (a privileged init container) is kept as it is.
        security_context: c.security_context.clone().or(Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..c.clone()
    }
}

fn config_map_volume(volume: &str, config_map: &str, mode: i32) -> Volume {
    Volume {
        name: volume.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.into(),
            default_mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A ReadWriteOnce claim of `storage`.
pub fn claim_spec(storage: &Storage) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        storage_class_name: storage.class_name.clone(),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_owned(),
                Quantity(storage.size.to_string()),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Whether every database pod mounts the backups' claim: the servers write the backups
/// themselves (`Backups::Api`) and they go to the claim, not a bucket.
pub fn claim_in_every_pod(spec: &Spec, parts: &Parts) -> bool {
    parts.backups.through_api() && spec.backup.is_some() && spec.backup_s3.is_none()
}

/// The backups' claim as the volume `backups` of a pod.
pub fn backups_volume(spec: &Spec) -> Volume {
    claim_volume(volumes::BACKUPS, &spec.names.backups, false)
}

pub fn claim_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: read_only.then_some(true),
        }),
        ..Default::default()
    }
}
