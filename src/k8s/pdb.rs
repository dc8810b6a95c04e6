//! The PodDisruptionBudget: voluntary disruptions (drains, upgrades) take at most what the engine
//! says the database can lose.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::Labels;
use super::object_meta;
use crate::model::Spec;

pub fn pdb(spec: &Spec, labels: &Labels, max_unavailable: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: object_meta(spec, &spec.names.statefulset, labels),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(labels.selector()),
                ..Default::default()
            }),
            // Pods that are not Ready may be evicted: they serve nothing, and blocking their
            // eviction would block node drains behind a broken pod.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
