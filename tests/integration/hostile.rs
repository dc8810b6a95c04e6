//! Arbitrary text in every field a user types: sts-gen refuses it, or the output parses to
//! exactly the objects a harmless value gives, and every script it changed is still valid bash.
//! Nothing a user writes can add an object, end a document or a comment line early, or break out
//! of a script's quoting.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;
use sts_gen::engine::ENGINES;
use sts_gen::k8s::Manifest;
use sts_gen::output::OutputFormat;
use sts_gen::resolve::Request;
use sts_gen::settings::Layer;

/// Every text field of the values (the shared ones and the engines' own), with a harmless value
/// for the baseline.
const FIELDS: &[(&str, &str)] = &[
    ("name", "shop"),
    ("namespace", "data"),
    ("image", "registry.example/db:1"),
    ("storage.className", "fast"),
    ("clusterDomain", "cluster.local"),
    ("backup.schedule", "0 3 * * *"),
    ("backup.storageClassName", "nfs"),
    ("backup.s3.secret", "s3"),
    ("backup.s3.prefix", "backups"),
    ("backup.s3.image", "rclone/rclone:1"),
    ("labels.team", "payments"),
    // The value is the label's key (a key with dots is a map path elsewhere: set it directly).
    (LABEL_KEY, "team"),
    ("existingSecret", "creds"),
    ("mongodb.replicaSetName", "rs0"),
];

const LABEL_KEY: &str = "a label's key";

/// Pieces that mean something in one of the output's contexts: YAML, comments, shell, SQL,
/// JavaScript, config files, templates, line breaks of every kind.
const PIECES: &[&str] = &[
    "\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\t",
    "\0",
    "'",
    "\"",
    "\\",
    "`",
    "$(",
    "${",
    ")",
    "}",
    ";",
    "&",
    "|",
    "#",
    ": ",
    "- ",
    "---",
    "...",
    "{{",
    "}}",
    "{%",
    "%}",
    "*/",
    "/*",
    "--",
    "<!--",
    "%",
    "!",
    "&a",
    "*a",
    "@",
    "=",
    ",",
    "[",
    "]",
    " ",
    "é",
    "\u{feff}",
    "kind: Namespace",
];

fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        2 => "[a-z0-9]{1,4}",
        1 => any::<String>(),
    ];
    proptest::collection::vec(piece, 1..6).prop_map(|p| p.concat())
}

fn password(_len: usize) -> anyhow::Result<String> {
    Ok("pw".to_owned())
}

/// The objects of `db` with backups on and `key` set to `value` (`None`: refused).
fn generate(db: &str, key: &str, value: &str) -> Option<Vec<Manifest>> {
    let engine = sts_gen::engine::find(db).unwrap();
    let mut layer = Layer::default();
    let base = [
        ("existingSecret", "creds"),
        ("backup.schedule", "0 3 * * *"),
    ];
    for (k, v) in base {
        layer.insert(k, Value::String(v.to_owned())).unwrap();
    }
    if key.starts_with("backup.s3.") && key != "backup.s3.secret" {
        layer
            .insert("backup.s3.secret", Value::String("s3".into()))
            .unwrap();
    }
    if key.starts_with("mongodb.") && db != "mongodb" {
        return None;
    }
    if key == LABEL_KEY {
        let labels = serde_json::json!({ value: "v" });
        layer.values.insert("labels".to_owned(), labels);
    } else {
        layer.insert(key, Value::String(value.to_owned())).ok()?;
    }
    let request = Request {
        layers: vec![layer],
        ..Request::new(engine)
    };
    let resolved = sts_gen::resolve::resolve_with(&request, &password).ok()?;
    sts_gen::generate(&resolved).ok()
}

/// The stream as sts-gen prints it, parsed back as YAML: (kind, name) of every document.
fn reparsed(docs: &[Manifest], header: &str) -> Vec<(String, String)> {
    let text = sts_gen::output::render(docs, OutputFormat::Yaml, header).unwrap();
    let values: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    values
        .iter()
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or("?").to_owned(),
                v["metadata"]["name"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// Every script of the output, by ConfigMap key.
fn scripts(docs: &[Manifest]) -> BTreeMap<String, String> {
    docs.iter()
        .filter_map(|d| match d {
            Manifest::ConfigMap(c) => c.data.clone(),
            _ => None,
        })
        .flatten()
        .filter(|(k, _)| k.ends_with(".sh"))
        .collect()
}

fn bash_syntax_ok(script: &str) -> bool {
    use std::io::Write;
    let mut child = std::process::Command::new("bash")
        .args(["-n", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_in_any_field_is_refused_or_harmless(
        field in proptest::sample::select(FIELDS),
        value in hostile(),
        db in proptest::sample::select(ENGINES.iter().map(|e| e.name()).collect::<Vec<_>>()),
    ) {
        let (key, harmless) = field;
        let Some(baseline) = generate(db, key, harmless) else {
            // The field does not apply to this database.
            return Ok(());
        };
        let Some(docs) = generate(db, key, &value) else {
            return Ok(()); // refused: fine
        };
        // The header names the command line, which holds the value.
        let words = vec!["sts-gen".to_owned(), db.to_owned(), "--set".to_owned(), format!("{key}={value}")];
        let header = sts_gen::output::header(&sts_gen::output::command_line(&words));
        let want: Vec<String> = reparsed(&baseline, &header).into_iter().map(|(k, _)| k).collect();
        let got: Vec<String> = reparsed(&docs, &header).into_iter().map(|(k, _)| k).collect();
        prop_assert_eq!(got, want, "{}={:?} changed the objects", key, value);
        let before = scripts(&baseline);
        for (name, script) in scripts(&docs) {
            if before.get(&name) != Some(&script) {
                prop_assert!(bash_syntax_ok(&script), "{}={:?} broke {}:\n{}", key, value, name, script);
            }
        }
    }
}
