//! ConfigMaps (configuration files, scripts) and the generated credentials Secret.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::labels::Labels;
use super::object_meta;
use crate::model::Spec;

pub fn config_map(
    spec: &Spec,
    labels: &Labels,
    name: &str,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: object_meta(spec, name, labels),
        data: Some(data),
        ..Default::default()
    }
}

pub fn secret(spec: &Spec, labels: &Labels, values: &BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: object_meta(spec, &spec.names.secret, labels),
        type_: Some("Opaque".into()),
        data: Some(
            values
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}
