//! The whole generate path: the first byte picks the database, the rest is a values file. Either
//! sts-gen refuses it with an error, or its output parses back as YAML into exactly the objects
//! it generated, each a valid object of its kind with a name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sts_gen::k8s::Manifest;
use sts_gen::output::OutputFormat;
use sts_gen::resolve::Request;
use sts_gen::settings::Layer;

fn password(_len: usize) -> anyhow::Result<String> {
    Ok("fuzz-password".to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let engines = sts_gen::engine::ENGINES;
    let engine = engines[pick as usize % engines.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(layer) = Layer::from_yaml(text, "fuzz.yaml") else {
        return;
    };
    let request = Request {
        layers: vec![layer],
        ..Request::new(engine)
    };
    let Ok(resolved) = sts_gen::resolve::resolve_with(&request, &password) else {
        return;
    };
    let Ok(docs) = sts_gen::generate(&resolved) else {
        return;
    };
    let header = sts_gen::output::header("sts-gen fuzz");
    let stream = sts_gen::output::render(&docs, OutputFormat::Yaml, &header).expect("renders");
    let parsed: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&stream).expect("the output parses as YAML");
    assert_eq!(parsed.len(), docs.len(), "one document per object");
    for (value, doc) in parsed.iter().zip(&docs) {
        assert_eq!(value["kind"], doc.kind());
        assert_eq!(value["metadata"]["name"], doc.name());
        assert!(!doc.name().is_empty());
        let back = match doc {
            Manifest::StatefulSet(_) => {
                serde_json::from_value::<k8s_openapi::api::apps::v1::StatefulSet>(value.clone())
                    .map(drop)
            }
            Manifest::ConfigMap(_) => {
                serde_json::from_value::<k8s_openapi::api::core::v1::ConfigMap>(value.clone())
                    .map(drop)
            }
            Manifest::Service(_) => {
                serde_json::from_value::<k8s_openapi::api::core::v1::Service>(value.clone())
                    .map(drop)
            }
            _ => Ok(()),
        };
        back.expect("the object reads back as its kind");
    }
});
