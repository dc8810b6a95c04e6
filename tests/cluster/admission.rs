//! Every output, sent to the API server: server-side apply with `--dry-run=server` (validation,
//! defaulting and every admission plugin, Pod Security among them, without storing anything) into a
//! namespace whose Pod Security level is "restricted" for enforce, warn and audit. Zero
//! rejections and zero warnings. An output whose pods must be privileged (Elasticsearch's
//! init container that raises vm.max_map_count) goes to a "privileged" namespace instead, and the
//! test names exactly which outputs those are.

use crate::control_plane::{self, ControlPlane};
use crate::{databases, sts_gen};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;

const RESTRICTED: &str = "admission-restricted";
const PRIVILEGED: &str = "admission-privileged";

/// The outputs whose pods cannot pass "restricted": Elasticsearch's, unless
/// `--no-privileged-init` drops the init container that raises vm.max_map_count (every preset
/// keeps it). Those with the flag are in the matrix too and must pass "restricted", and so must
/// an Elasticsearch restore: a Job that calls the running set's snapshot API, without its pods.
pub(crate) fn must_be_privileged(args: &[String]) -> bool {
    args[0] == "elasticsearch"
        && !args
            .iter()
            .any(|a| a == "--no-privileged-init" || a == "--restore-from")
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Yaml,
    Json,
    OutDir,
}

struct Variant {
    /// sts-gen's arguments, without `-o` and `--out-dir`.
    args: Vec<String>,
    /// Rendered with `-n <namespace>` (otherwise kubectl's `-n` decides).
    with_namespace: bool,
    format: Format,
}

/// Every database × preset × {1, 3, 5} replicas × {generated Secret, existing Secret} × {yaml,
/// json, --out-dir}, then each database's backup, S3 and restore outputs (as scripts/test
/// validates them) in the three formats.
fn matrix() -> Vec<Variant> {
    let mut all = Vec::new();
    let mut add = |args: Vec<String>, with_namespace: bool| {
        for format in [Format::Yaml, Format::Json, Format::OutDir] {
            all.push(Variant {
                args: args.clone(),
                with_namespace,
                format,
            });
        }
    };
    let strings = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (db, presets) in databases() {
        for preset in &presets {
            for replicas in ["1", "3", "5"] {
                let mut args = strings(&[&db, "--replicas", replicas]);
                if preset != "default" {
                    args.extend(strings(&["--preset", preset]));
                }
                add(args.clone(), false);
                args.extend(strings(&["--existing-secret", &format!("{db}-creds")]));
                add(args, true);
            }
        }
        let restore = [
            "--backup-schedule",
            "@daily",
            "--restore-from",
            "20261125T030000Z",
        ];
        for extra in [
            &["--backup-schedule", "@daily", "--backup-keep", "3"][..],
            &["--backup-schedule", "@daily", "--existing-secret", "s"],
            &[&restore[..], &["--existing-secret", "s"]].concat(),
            &[
                "--preset",
                "prod",
                "--backup-s3-secret",
                "s3",
                "--existing-secret",
                "s",
            ],
            &[
                &restore[..],
                &["--backup-s3-secret", "s3", "--existing-secret", "s"],
            ]
            .concat(),
        ] {
            let mut args = strings(&[&db]);
            args.extend(strings(extra));
            add(args, extra.contains(&"--existing-secret"));
        }
        if db == "elasticsearch" {
            for preset in &presets {
                let mut args = strings(&[&db, "--no-privileged-init"]);
                if preset != "default" {
                    args.extend(strings(&["--preset", preset]));
                }
                add(args, true);
            }
        }
    }
    all
}

/// Whether any container of the output's pod templates is privileged.
fn privileged(list: &Value) -> bool {
    let items = list["items"].as_array().expect("a List");
    items.iter().any(|item| {
        let pod = match item["kind"].as_str() {
            Some("CronJob") => &item["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &item["spec"]["template"]["spec"],
        };
        ["initContainers", "containers"].iter().any(|key| {
            pod[key]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["securityContext"]["privileged"] == Value::Bool(true))
        })
    })
}

/// Applies one variant; the problem, if any.
fn apply(cp: &ControlPlane, variant: &Variant, scratch: &Path, index: usize) -> Result<(), String> {
    let args: Vec<&str> = variant.args.iter().map(String::as_str).collect();
    let list: Value = serde_json::from_str(&sts_gen(&[&args[..], &["-o", "json"]].concat())?)
        .map_err(|e| e.to_string())?;
    let objects = list["items"].as_array().map_or(0, Vec::len);
    if privileged(&list) != must_be_privileged(&variant.args) {
        return Err(format!(
            "privileged containers: {}, expected: {}",
            privileged(&list),
            must_be_privileged(&variant.args)
        ));
    }
    let namespace = if privileged(&list) {
        PRIVILEGED
    } else {
        RESTRICTED
    };
    let mut args = args.clone();
    if variant.with_namespace {
        args.extend(["-n", namespace]);
    }
    let base = [
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=sts-gen-test",
        "-n",
        namespace,
    ];
    let applied = match variant.format {
        Format::Yaml => cp.kubectl(&[&base[..], &["-f", "-"]].concat(), Some(&sts_gen(&args)?)),
        Format::Json => {
            let json = sts_gen(&[&args[..], &["-o", "json"]].concat())?;
            cp.kubectl(&[&base[..], &["-f", "-"]].concat(), Some(&json))
        }
        Format::OutDir => {
            let dir = scratch.join(index.to_string());
            let _ = std::fs::remove_dir_all(&dir);
            let dir = dir.to_str().expect("a UTF-8 path");
            sts_gen(&[&args[..], &["--out-dir", dir]].concat())?;
            cp.kubectl(&[&base[..], &["-k", dir]].concat(), None)
        }
    };
    let lines = applied.stdout.lines().count();
    if !applied.ok || !applied.stderr.is_empty() || lines != objects {
        return Err(format!(
            "{} ({} objects, {lines} applied):\n{}{}",
            applied.cmdline, objects, applied.stderr, applied.stdout
        ));
    }
    Ok(())
}

#[test]
fn every_output_is_admitted_without_a_warning() {
    let Some(cp) = control_plane::shared() else {
        return;
    };
    cp.namespace(RESTRICTED, "restricted");
    cp.namespace(PRIVILEGED, "privileged");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("admission");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    let variants = matrix();
    let next = Mutex::new(0..variants.len());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Some(i) = {
                    let mut next = next.lock().unwrap();
                    next.next()
                } {
                    let variant = &variants[i];
                    if let Err(why) = apply(cp, variant, &scratch, i) {
                        failures.lock().unwrap().push(format!(
                            "sts-gen {} ({:?}): {why}",
                            variant.args.join(" "),
                            variant.format
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} outputs were refused or warned about:\n\n{}",
        failures.len(),
        variants.len(),
        failures.join("\n\n")
    );
    let privileged = variants
        .iter()
        .filter(|v| must_be_privileged(&v.args))
        .count();
    eprintln!(
        "{} outputs admitted without a warning: {} into \"restricted\", {privileged} \
         (Elasticsearch with its privileged init container) into \"privileged\"",
        variants.len(),
        variants.len() - privileged
    );
}
