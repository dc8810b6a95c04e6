//! The StatefulSet: the engine's containers in a pod template that owns identity, storage,
//! security, scheduling and rollout.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, PersistentVolumeClaim, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec,
    TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::labels::Labels;
use super::pod::{backups_volume, base_pod_spec, claim_in_every_pod, claim_spec, harden};
use super::{checksum, object_meta};
use crate::model::parts::volumes;
use crate::model::{AntiAffinity, Parts, Spec};

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
            pod_management_policy: Some(parts.topology.pod_management_policy().into()),
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
    if claim_in_every_pod(spec, parts) {
        base.volumes
            .get_or_insert_with(Vec::new)
            .push(backups_volume(spec));
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
