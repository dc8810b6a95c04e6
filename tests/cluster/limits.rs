//! sts-gen's bounds, checked by the server: every value at the edge of what sts-gen accepts
//! (the longest names, the largest sizes, the longest label, unusual but valid schedules and
//! image references) gives output the API server admits without a warning. A bound that sts-gen
//! set too wide shows up here as a rejection (a CronJob name over 52 characters, a label over 63).

use crate::admission::{self, Format, Variant};
use crate::control_plane;
use crate::{databases, sts_gen};

/// The most pods each database takes (presets/README.md).
fn max_replicas(db: &str) -> &'static str {
    match db {
        "mongodb" => "50",
        "elasticsearch" => "99",
        "postgres" => "10",
        _ => "32",
    }
}

/// A DNS subdomain of exactly 253 characters: four labels.
fn subdomain_253() -> String {
    format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    )
}

fn edges(db: &str) -> Vec<Vec<String>> {
    let long = subdomain_253();
    let label = format!("labels.{long}/{}={}", "k".repeat(63), "v".repeat(63));
    let digest = format!(
        "registry.example.com:5000/team/{db}:1.2.3@sha256:{}",
        "0a".repeat(32)
    );
    let cases: Vec<Vec<String>> = vec![
        // The CronJob's name, <name>-backup, is at most 52 characters.
        vec![
            "--name".into(),
            "n".repeat(45),
            "--backup-schedule".into(),
            "@daily".into(),
        ],
        vec![
            "--name".into(),
            "n".repeat(45),
            "--backup-schedule".into(),
            "@daily".into(),
            "--restore-from".into(),
            "20261125T030000Z".into(),
            "--backup-s3-secret".into(),
            long.clone(),
            "--existing-secret".into(),
            long.clone(),
        ],
        vec!["--name".into(), "n".repeat(52)],
        vec![
            "--replicas".into(),
            max_replicas(db).into(),
            "--preset".into(),
            "prod".into(),
        ],
        vec![
            "--existing-secret".into(),
            long.clone(),
            "--storage-class".into(),
            long.clone(),
        ],
        vec![
            "--storage-size".into(),
            "1Pi".into(),
            "--memory".into(),
            "64Ti".into(),
            "--cpu".into(),
            "10000".into(),
            "--backup-schedule".into(),
            "59 23 31 12 SUN".into(),
            "--backup-storage-size".into(),
            "1Pi".into(),
            "--backup-keep".into(),
            "1000".into(),
        ],
        vec!["--set".into(), label, "--image".into(), digest],
        vec![
            "--service-type".into(),
            "LoadBalancer".into(),
            "--backup-schedule".into(),
            "*/15 0-23/2 1,15 JAN-DEC MON-FRI".into(),
        ],
        vec![
            "--service-type".into(),
            "NodePort".into(),
            "--backup-schedule".into(),
            "@every 90m".into(),
        ],
    ];
    cases
        .into_iter()
        .map(|case| std::iter::once(db.to_owned()).chain(case).collect())
        .collect()
}

#[test]
fn the_edges_of_what_sts_gen_accepts_are_admitted() {
    let Some(cp) = control_plane::shared() else {
        return;
    };
    let scratch = admission::prepare(cp, "limits");
    let mut failures = Vec::new();
    let mut count = 0;
    for (db, _) in databases() {
        for args in edges(&db) {
            let variant = Variant {
                args,
                with_namespace: true,
                format: Format::Yaml,
            };
            count += 1;
            if let Err(why) = admission::apply(cp, &variant, &scratch, count) {
                failures.push(format!("sts-gen {}: {why}", variant.args.join(" ")));
            }
        }
        // The longest namespace: every object in it, named in the output.
        let namespace = format!("{db}-{}", "s".repeat(62 - db.len()));
        let level = if db == "elasticsearch" {
            "privileged"
        } else {
            "restricted"
        };
        cp.namespace(&namespace, level);
        let out = sts_gen(&[&db, "-n", &namespace, "--backup-schedule", "@daily"]).unwrap();
        let applied = cp.kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=sts-gen-test",
                "-f",
                "-",
            ],
            Some(&out),
        );
        count += 1;
        if !applied.ok || !applied.stderr.is_empty() {
            failures.push(format!(
                "{}: {}{}",
                applied.cmdline, applied.stderr, applied.stdout
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} refused or warned about:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{count} outputs at the edges of sts-gen's bounds admitted without a warning");
}
