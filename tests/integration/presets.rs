//! One snapshot of the full YAML stream per built-in preset (and per database's defaults).
//! Review changes with `cargo insta review`; CI fails on any difference.

use sts_gen::presets::DEFAULTS;

/// Snapshots need fixed passwords; real runs use the OS's randomness.
fn example_password(_len: usize) -> anyhow::Result<String> {
    Ok("example-password".to_owned())
}

/// Certificates and keys come from the OS's randomness on every run; the snapshot keeps their
/// keys and replaces their values.
fn redact_generated_keys(docs: &mut [sts_gen::k8s::Manifest]) {
    for doc in docs {
        if let sts_gen::k8s::Manifest::Secret(secret) = doc {
            for (key, value) in secret.data.iter_mut().flatten() {
                if key.ends_with(".crt") || key.ends_with(".key") {
                    assert!(value.0.starts_with(b"-----BEGIN "), "{key} is not PEM");
                    value.0 = format!("<{key}: PEM generated at run time>").into_bytes();
                }
            }
        }
    }
}

#[test]
fn every_builtin_preset_matches_its_snapshot() {
    insta::glob!("../../presets", "*/*.yaml", |path| {
        let db = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let preset = path.file_stem().unwrap().to_str().unwrap();
        let mut argv = vec![db];
        if preset != DEFAULTS {
            argv.extend(["--preset", preset]);
        }
        let resolved = sts_gen::cli::resolve_argv(&argv, &example_password).unwrap();
        let mut docs = sts_gen::generate(&resolved).unwrap();
        redact_generated_keys(&mut docs);
        insta::assert_snapshot!(
            sts_gen::output::yaml_stream(&docs, &sts_gen::output::header("(snapshot)")).unwrap()
        );
    });
}
