//! The StatefulSet: the engine's containers in a pod template that owns identity, storage,
//! security, scheduling and rollout.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource,
    ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecretVolumeSource, SecurityContext, TopologySpreadConstraint, Volume,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{checksum, object_meta};
use crate::engine::{Parts, volumes};
use crate::labels::Labels;
use crate::spec::{Spec, Storage};
use crate::values::AntiAffinity;

/// Pod-template annotation holding the checksum of the ConfigMaps.
pub const CHECKSUM_ANNOTATION: &str = "checksum/config";

pub fn statefulset(spec: &Spec, labels: &Labels, parts: &Parts) -> StatefulSet {
    let selector = LabelSelector {
        match_labels: Some(labels.selector()),
        ..Default::default()
    };
    StatefulSet {
        metadata: object_meta(spec, &spec.names.statefulset, labels),
        spec: Some(StatefulSetSpec {
            service_name: Some(spec.names.headless.clone()),
            replicas: Some(spec.replicas as i32),
            selector: selector.clone(),
            pod_management_policy: Some(parts.pod_management_policy.into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..Default::default()
            }),
            // Data is never deleted implicitly, neither with the StatefulSet nor on scale-down.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.metadata()),
                    annotations: Some(BTreeMap::from([(
                        CHECKSUM_ANNOTATION.to_owned(),
                        checksum(parts),
                    )])),
                    ..Default::default()
                }),
                spec: Some(pod_spec(spec, parts, &selector)),
            },
            volume_claim_templates: Some(vec![claim(spec, labels)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_spec(spec: &Spec, parts: &Parts, selector: &LabelSelector) -> PodSpec {
    let mut base = base_pod_spec(spec, parts);
    // The servers write the backups themselves: every pod mounts the (ReadWriteMany) claim.
    if super::backup::claim_in_every_pod(spec, parts) {
        base.volumes
            .get_or_insert_with(Vec::new)
            .push(super::backup::backups_volume(spec));
    }
    PodSpec {
        affinity: Some(affinity(spec, selector)),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(selector.clone()),
            ..Default::default()
        }]),
        init_containers: Some(
            parts
                .init_containers
                .iter()
                .map(|c| harden(spec, c))
                .collect(),
        ),
        containers: parts.containers.iter().map(|c| harden(spec, c)).collect(),
        ..base
    }
}

/// What every pod of the instance shares (the StatefulSet's and the backup and restore Jobs'):
/// the ConfigMaps, the credentials and the engine's volumes, the restricted security context as
/// the image's user, no service account token, no service links. No containers.
pub(super) fn base_pod_spec(spec: &Spec, parts: &Parts) -> PodSpec {
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
pub(super) fn harden(spec: &Spec, c: &Container) -> Container {
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

fn affinity(spec: &Spec, selector: &LabelSelector) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(selector.clone()),
        topology_key: "kubernetes.io/hostname".into(),
        ..Default::default()
    };
    let anti = match spec.anti_affinity {
        AntiAffinity::Preferred => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term,
                },
            ]),
            ..Default::default()
        },
        AntiAffinity::Required => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..Default::default()
        },
    };
    Affinity {
        pod_anti_affinity: Some(anti),
        ..Default::default()
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

/// The volumeClaimTemplate. Its labels are the selector labels only: claim templates are
/// immutable, so nothing that changes between versions may appear in them.
fn claim(spec: &Spec, labels: &Labels) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(volumes::DATA.into()),
            labels: Some(labels.selector()),
            ..Default::default()
        },
        spec: Some(claim_spec(&spec.storage)),
        ..Default::default()
    }
}

/// A ReadWriteOnce claim of `storage`.
pub(super) fn claim_spec(storage: &Storage) -> PersistentVolumeClaimSpec {
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
