//! Services: headless (stable pod DNS names), client (all pods) and primary (pod 0 only).
//! All are derived from the same selector and the engine's ports.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::{Labels, POD_NAME};
use super::object_meta;
use crate::model::Parts;
use crate::model::Spec;

/// The Service ports: every port for the headless Service, the client ports for the others.
fn ports(parts: &Parts, client_only: bool) -> Vec<ServicePort> {
    parts
        .ports
        .iter()
        .filter(|p| p.client || !client_only)
        .map(|p| ServicePort {
            name: Some(p.name.into()),
            port: p.number,
            target_port: Some(IntOrString::String(p.name.into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect()
}

/// The StatefulSet's `serviceName`: gives every pod `<pod>.<headless>.<ns>.svc.<domain>`.
pub fn headless(spec: &Spec, labels: &Labels, parts: &Parts) -> Service {
    Service {
        metadata: object_meta(spec, &spec.names.headless, labels),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Peers must resolve each other before they are Ready (cloning, bootstrap).
            publish_not_ready_addresses: Some(true),
            selector: Some(labels.selector()),
            ports: Some(ports(parts, false)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Load-balances over every Ready pod: reads.
pub fn client(spec: &Spec, labels: &Labels, parts: &Parts) -> Service {
    Service {
        metadata: object_meta(spec, &spec.names.client, labels),
        spec: Some(ServiceSpec {
            type_: Some(spec.service_type.as_str().into()),
            selector: Some(labels.selector()),
            ports: Some(ports(parts, true)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Reaches pod 0 alone, the single writer, through the label the StatefulSet controller sets.
pub fn primary(spec: &Spec, labels: &Labels, parts: &Parts) -> Service {
    let mut selector = labels.selector();
    selector.insert(POD_NAME.to_owned(), spec.names.pod(0));
    Service {
        metadata: object_meta(spec, &spec.names.primary, labels),
        spec: Some(ServiceSpec {
            type_: Some(spec.service_type.as_str().into()),
            selector: Some(selector),
            ports: Some(ports(parts, true)),
            ..Default::default()
        }),
        ..Default::default()
    }
}
