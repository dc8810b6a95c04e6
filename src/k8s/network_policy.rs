//! The NetworkPolicy (`networkPolicy.enabled`): the database pods take connections from the
//! instance's own pods (its peers, and its backup and restore Jobs) on every port, and from
//! anywhere else on the client ports only. Egress is left alone. Policies add up: another
//! policy selecting the same pods widens what this one admits.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::{INSTANCE, Labels, NAME};
use super::object_meta;
use crate::model::{Parts, Spec};

pub fn network_policy(spec: &Spec, labels: &Labels, parts: &Parts) -> NetworkPolicy {
    let selector = labels.selector();
    // The set's pods and its Jobs' pods: the same name and instance, any component.
    let own = selector
        .iter()
        .filter(|(k, _)| *k == NAME || *k == INSTANCE)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let client_ports = parts
        .ports
        .iter()
        .filter(|p| p.client)
        .map(|p| NetworkPolicyPort {
            port: Some(IntOrString::String(p.name.to_owned())),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect();
    NetworkPolicy {
        metadata: object_meta(spec, &spec.names.statefulset, labels),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                // Peers (replication, cloning, elections) and the backup and restore Jobs.
                NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(own),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ports: None,
                },
                // Clients, from anywhere: the client ports only.
                NetworkPolicyIngressRule {
                    from: None,
                    ports: Some(client_ports),
                },
            ]),
            ..Default::default()
        }),
    }
}
