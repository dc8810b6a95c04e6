//! Properties every generated manifest has, for every database, preset and replica count.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use sts_gen::engine::ENGINES;
use sts_gen::k8s::Manifest;

fn password(_len: usize) -> anyhow::Result<String> {
    Ok("it's \"quoted\" \\ and $pecial".to_owned())
}

/// The objects of `sts-gen ARGV...` (the database first), with fixed passwords.
pub(crate) fn generate(argv: &[&str]) -> Vec<Manifest> {
    let resolved =
        sts_gen::cli::resolve_argv(argv, &password).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"));
    sts_gen::generate(&resolved).unwrap()
}

/// (description, objects) for every database × preset × replicas × namespace.
fn matrix() -> Vec<(String, Vec<Manifest>)> {
    let mut out = Vec::new();
    for engine in ENGINES {
        let db = engine.name();
        let mut presets = vec![None];
        presets.extend(sts_gen::presets::names(db).into_iter().map(Some));
        for preset in presets {
            for replicas in [1, 2, 3, 5, engine.max_replicas()] {
                for namespace in [None, Some("data")] {
                    let replicas = replicas.to_string();
                    let mut argv = vec![db, "--replicas", &replicas];
                    argv.extend(preset.iter().flat_map(|p| ["--preset", *p]));
                    argv.extend(namespace.iter().flat_map(|n| ["--namespace", *n]));
                    out.push((argv.join(" "), generate(&argv)));
                }
            }
        }
        // Backups on, and the restore output. Elasticsearch restores through the repository the
        // running set mounts: its restore output needs the set's backup settings.
        let es_backups: &[&str] = if db == "elasticsearch" {
            &["--backup-schedule", "@daily"]
        } else {
            &[]
        };
        for extra in [
            &["--backup-schedule", "@daily"][..],
            &["--backup-schedule", "@daily", "--backup-s3-secret", "s3"],
            &[
                "--restore-from",
                "20261125T030000Z",
                "--existing-secret",
                "creds",
                "--backup-s3-secret",
                "s3",
            ],
            &[
                "--restore-from",
                "20261125T030000Z",
                "--existing-secret",
                "creds",
                "--namespace",
                "data",
            ],
        ] {
            let mut argv = vec![db];
            argv.extend(extra);
            if extra[0] == "--restore-from" {
                argv.extend(es_backups);
            }
            out.push((argv.join(" "), generate(&argv)));
        }
    }
    out
}

/// Parse a YAML stream back into typed objects, by kind.
fn parse_stream(text: &str) -> Vec<Manifest> {
    let mut docs: Vec<String> = Vec::new();
    for line in text.lines() {
        if docs.is_empty() && line.starts_with('#') {
            continue; // the header comment
        }
        if line == "---" {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().expect("the stream starts with ---");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.iter()
        .map(|doc| {
            let kind = doc
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .expect("every document has a kind");
            match kind {
                "Secret" => Manifest::Secret(serde_saphyr::from_str::<Secret>(doc).unwrap()),
                "ConfigMap" => {
                    Manifest::ConfigMap(serde_saphyr::from_str::<ConfigMap>(doc).unwrap())
                }
                "Service" => Manifest::Service(serde_saphyr::from_str::<Service>(doc).unwrap()),
                "StatefulSet" => {
                    Manifest::StatefulSet(serde_saphyr::from_str::<StatefulSet>(doc).unwrap())
                }
                "PodDisruptionBudget" => Manifest::PodDisruptionBudget(
                    serde_saphyr::from_str::<PodDisruptionBudget>(doc).unwrap(),
                ),
                "PersistentVolumeClaim" => Manifest::PersistentVolumeClaim(
                    serde_saphyr::from_str::<PersistentVolumeClaim>(doc).unwrap(),
                ),
                "NetworkPolicy" => {
                    Manifest::NetworkPolicy(serde_saphyr::from_str::<NetworkPolicy>(doc).unwrap())
                }
                "CronJob" => Manifest::CronJob(serde_saphyr::from_str::<CronJob>(doc).unwrap()),
                "Job" => Manifest::Job(serde_saphyr::from_str::<Job>(doc).unwrap()),
                other => panic!("unexpected kind {other}"),
            }
        })
        .collect()
}

#[test]
fn yaml_round_trips_into_k8s_openapi_types() {
    for (what, docs) in matrix() {
        let text = sts_gen::output::yaml_stream(&docs, &sts_gen::output::header("t")).unwrap();
        assert_eq!(parse_stream(&text), docs, "{what}");
        let json = sts_gen::output::json_list(&docs).unwrap();
        let list: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            docs.len(),
            "{what}"
        );
    }
}

/// On every output of the matrix, each multi-line ConfigMap value (a script, a configuration
/// file) is a `|` literal block, and nothing is folded into a `>` block.
#[test]
fn files_are_literal_blocks_on_every_output() {
    let mut files = 0;
    for (what, docs) in matrix() {
        for doc in &docs {
            let yaml = sts_gen::output::to_yaml(doc).unwrap();
            assert!(
                !yaml
                    .lines()
                    .any(|l| l.ends_with(": >") || l.ends_with(": >-") || l.ends_with(": >+")),
                "{what}: {} {} has a folded block",
                doc.kind(),
                doc.name()
            );
            let Manifest::ConfigMap(cm) = doc else {
                continue;
            };
            for (key, text) in cm.data.iter().flatten() {
                if text.contains('\n') {
                    assert!(
                        yaml.contains(&format!("\n  {key}: |")),
                        "{what}: {key} of {} is not a literal block",
                        doc.name()
                    );
                    files += 1;
                }
            }
        }
    }
    assert!(files > 500, "only {files} files checked");
}

fn statefulset(docs: &[Manifest]) -> &StatefulSet {
    docs.iter()
        .find_map(|d| match d {
            Manifest::StatefulSet(s) => Some(s),
            _ => None,
        })
        .expect("one StatefulSet")
}

fn services(docs: &[Manifest]) -> Vec<&Service> {
    docs.iter()
        .filter_map(|d| match d {
            Manifest::Service(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn config_maps(docs: &[Manifest]) -> Vec<&ConfigMap> {
    docs.iter()
        .filter_map(|d| match d {
            Manifest::ConfigMap(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn objects_are_wired_together() {
    for (what, docs) in matrix() {
        if what.contains("--restore-from") {
            continue; // no StatefulSet: see jobs_are_wired_together
        }
        let sts = statefulset(&docs);
        let spec = sts.spec.as_ref().unwrap();
        let template = &spec.template;
        let pod = template.spec.as_ref().unwrap();
        let selector = spec.selector.match_labels.as_ref().unwrap();
        let pod_labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        for (k, v) in selector {
            assert_eq!(pod_labels.get(k), Some(v), "{what}: selector ⊆ pod labels");
        }
        assert!(
            !selector.contains_key("app.kubernetes.io/version"),
            "{what}"
        );

        // serviceName is the headless Service; every Service selects these pods by name.
        let svcs = services(&docs);
        let headless = svcs
            .iter()
            .find(|s| s.metadata.name == spec.service_name)
            .unwrap_or_else(|| panic!("{what}: serviceName has no Service"));
        let hs = headless.spec.as_ref().unwrap();
        assert_eq!(hs.cluster_ip.as_deref(), Some("None"), "{what}");
        assert_eq!(hs.publish_not_ready_addresses, Some(true), "{what}");
        let container_ports: BTreeSet<String> = pod
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| p.name.clone())
            .collect();
        for s in &svcs {
            let ss = s.spec.as_ref().unwrap();
            let sel = ss.selector.as_ref().unwrap();
            for (k, v) in selector {
                assert_eq!(sel.get(k), Some(v), "{what}: Service selector");
            }
            for p in ss.ports.iter().flatten() {
                let target = match p.target_port.as_ref().unwrap() {
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s,
                    other => panic!("{what}: targetPort by number: {other:?}"),
                };
                assert!(
                    container_ports.contains(target),
                    "{what}: targetPort {target}"
                );
            }
            assert!(s.metadata.name.as_ref().unwrap().len() <= 63, "{what}");
        }

        // Every mount names a volume or the claim; every volume is used.
        let mut volumes: BTreeSet<String> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        let claims: Vec<_> = spec.volume_claim_templates.iter().flatten().collect();
        for c in &claims {
            volumes.insert(c.metadata.name.clone().unwrap());
            assert_eq!(
                c.metadata.labels.as_ref(),
                Some(selector),
                "{what}: claim labels are the selector"
            );
        }
        let mut used = BTreeSet::new();
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            for m in c.volume_mounts.iter().flatten() {
                assert!(
                    volumes.contains(&m.name),
                    "{what}: {} mounts unknown {}",
                    c.name,
                    m.name
                );
                used.insert(m.name.clone());
            }
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{what}");
            if sc.privileged == Some(true) {
                // The one exception: Elasticsearch's vm.max_map_count init container (opt-out).
                let init = pod
                    .init_containers
                    .iter()
                    .flatten()
                    .any(|i| i.name == c.name);
                assert!(
                    init && c.name == "init-sysctl",
                    "{what}: privileged {}",
                    c.name
                );
            } else {
                assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}");
                assert_eq!(sc.run_as_non_root, Some(true), "{what}");
            }
            assert!(
                c.resources
                    .as_ref()
                    .unwrap()
                    .limits
                    .as_ref()
                    .unwrap()
                    .contains_key("memory")
            );
        }
        assert_eq!(used, volumes, "{what}: every volume is mounted");
        assert_eq!(pod.automount_service_account_token, Some(false), "{what}");

        // The ConfigMaps and Secret the pod references are the ones emitted.
        let emitted: BTreeSet<_> = config_maps(&docs)
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        for v in pod.volumes.iter().flatten() {
            if let Some(cm) = &v.config_map {
                assert!(emitted.contains(&cm.name), "{what}: ConfigMap {}", cm.name);
            }
        }

        // The PDB exists when there is something to protect, and never blocks all disruption.
        let pdbs: Vec<_> = docs
            .iter()
            .filter(|d| d.kind() == "PodDisruptionBudget")
            .collect();
        assert_eq!(
            pdbs.len(),
            usize::from(spec.replicas.unwrap() > 1),
            "{what}"
        );
        assert_eq!(
            spec.persistent_volume_claim_retention_policy
                .as_ref()
                .unwrap()
                .when_deleted
                .as_deref(),
            Some("Retain")
        );
    }
}

#[test]
fn config_checksum_follows_the_config() {
    let checksum = |argv: &[&str]| {
        let docs = generate(argv);
        let sts = statefulset(&docs);
        let annotations = sts
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone();
        annotations.unwrap()["checksum/config"].clone()
    };
    let base = checksum(&["mysql"]);
    assert_eq!(base, checksum(&["mysql"]));
    assert_ne!(
        base,
        checksum(&["mysql", "--set", "mysql.maxConnections=500"])
    );
}

/// Scaling re-renders with another `--replicas`: the pod template (and with it the checksum of
/// the ConfigMaps) must not change, or applying it would roll every pod, the writer included. The
/// count reaches the scripts through the scripts ConfigMap's `replicas` key instead, which no
/// checksum covers. Elasticsearch's one node is another topology (`discovery.type: single-node`).
#[test]
fn scaling_leaves_the_pod_template_alone() {
    let template = |argv: &[&str]| {
        let docs = generate(argv);
        let sts = statefulset(&docs);
        let spec = sts.spec.as_ref().unwrap();
        let replicas_key = config_maps(&docs)
            .iter()
            .find_map(|m| m.data.as_ref()?.get("replicas").cloned());
        (
            serde_json::to_value(&spec.template).unwrap(),
            spec.replicas,
            replicas_key,
        )
    };
    for engine in ENGINES {
        let db = engine.name();
        let lowest = if db == "elasticsearch" { 2 } else { 1 };
        let counts = [lowest, 3, 5, engine.max_replicas()];
        for extra in [&[][..], &["--backup-schedule", "@daily"]] {
            let argv = |n: &str| -> Vec<String> {
                [db, "--replicas", n]
                    .iter()
                    .chain(extra)
                    .map(|s| s.to_string())
                    .collect()
            };
            let base = argv("3");
            let base: Vec<&str> = base.iter().map(String::as_str).collect();
            let (want, _, _) = template(&base);
            for n in counts {
                let args = argv(&n.to_string());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (got, replicas, key) = template(&args);
                assert_eq!(replicas, Some(n as i32), "{args:?}");
                assert_eq!(key.as_deref(), Some(format!("{n}\n").as_str()), "{args:?}");
                if got != want {
                    let (a, b) = (got.to_string(), want.to_string());
                    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                    panic!(
                        "{args:?}: the pod template differs from --replicas 3's at …{}…",
                        &a[at.saturating_sub(80)..(at + 80).min(a.len())]
                    );
                }
            }
        }
    }
}

fn have(tool: &str) -> bool {
    let present = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !present && std::env::var_os("STS_GEN_REQUIRE_LINTERS").is_some() {
        panic!("{tool} is required (STS_GEN_REQUIRE_LINTERS) but not installed");
    }
    present
}

/// The distinct scripts whose ConfigMap key has this ending, across the matrix: text → origin.
fn scripts(ending: &str) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    for (what, docs) in matrix() {
        for cm in config_maps(&docs) {
            for (key, text) in cm.data.iter().flatten() {
                if key.ends_with(ending) {
                    seen.entry(text.clone())
                        .or_insert_with(|| format!("{what} {key}"));
                }
            }
        }
    }
    seen
}

/// Every shell script the manifests carry parses with its shell (bash; POSIX sh for the S3
/// client's, whose image has no bash), and passes shellcheck when it is installed (CI installs it
/// and sets STS_GEN_REQUIRE_LINTERS=1, so it cannot be skipped there).
#[test]
fn scripts_pass_bash_n_and_shellcheck() {
    let dir = std::env::temp_dir().join(format!("sts-gen-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shellcheck = have("shellcheck");
    let seen = scripts(".sh");
    assert!(!seen.is_empty());
    for (i, (text, origin)) in seen.iter().enumerate() {
        let shell = if text.starts_with("#!/bin/bash\n") {
            "bash"
        } else {
            assert!(
                text.starts_with("#!/bin/sh\n") && origin.ends_with(" s3.sh"),
                "{origin}: bash, or POSIX sh for the S3 client's script"
            );
            "sh"
        };
        let path = dir.join(format!("script-{i}.sh"));
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(shell)
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{origin}: {shell} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if shellcheck {
            let out = std::process::Command::new("shellcheck")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{origin}: shellcheck:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every mongosh script parses as JavaScript (`node --check`; node is on the CI machines).
#[test]
fn javascript_passes_node_check() {
    let dir = std::env::temp_dir().join(format!("sts-gen-js-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seen = scripts(".js");
    assert!(!seen.is_empty());
    if have("node") {
        for (i, (text, origin)) in seen.iter().enumerate() {
            let path = dir.join(format!("script-{i}.js"));
            std::fs::write(&path, text).unwrap();
            let out = std::process::Command::new("node")
                .arg("--check")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{origin}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn server_ids_and_identity_follow_the_ordinal() {
    let docs = generate(&[
        "mysql",
        "--name",
        "orders",
        "--cluster-domain",
        "k8s.example",
    ]);
    let scripts = config_maps(&docs)
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some("orders-scripts"))
        .unwrap();
    let init = &scripts.data.as_ref().unwrap()["init-config.sh"];
    assert!(init.contains("server_id=$((100 + ORDINAL))"), "{init}");
    assert!(init.contains("STATEFULSET=orders\n"));
    assert!(
        init.contains("orders-headless \"$NAMESPACE\" k8s.example"),
        "{init}"
    );
    assert!(!init.contains("orders-0.orders"), "no literal pod-0 name");
}

/// Script `key` of the ConfigMaps `sts-gen ARGV...` generates, as rendered.
pub(crate) fn rendered_script(argv: &[&str], key: &str) -> String {
    config_maps(&generate(argv))
        .into_iter()
        .find_map(|c| c.data.as_ref()?.get(key).cloned())
        .unwrap_or_else(|| panic!("{argv:?} has no {key}"))
}

/// The shell function `name` of script `key` in the ConfigMaps `db` generates for `args`, as
/// rendered: its definition, for a test to run with bash.
fn rendered_function(argv: &[&str], key: &str, name: &str) -> String {
    let script = rendered_script(argv, key);
    let start = script
        .find(&format!("{name}() {{"))
        .unwrap_or_else(|| panic!("{key} defines no {name}"));
    let end = start + script[start..].find("\n}\n").unwrap() + 3;
    script[start..end].to_owned()
}

/// Runs `function` (a rendered shell function) with bash, called with `arg`: (success, stderr).
fn call(function: &str, name: &str, arg: &str) -> (bool, String) {
    let out = std::process::Command::new("bash")
        .args(["-euc", &format!("{function}\n{name} \"$1\""), "bash", arg])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Credentials that would break at run time are refused before anything is copied, with the
/// reason: MySQL's 32-character replication password (MariaDB's 96), a Redis password with a line
/// break (it would split `requirepass`).
#[test]
fn credentials_that_would_break_at_run_time_are_refused_first() {
    for (db, max) in [("mysql", 32), ("mariadb", 96)] {
        let check = rendered_function(&[db], "init-data.sh", "check_replication_password");
        assert!(call(&check, "check_replication_password", &"p".repeat(max)).0);
        let (ok, err) = call(&check, "check_replication_password", &"p".repeat(max + 1));
        assert!(!ok, "{db}: {} characters accepted", max + 1);
        assert!(
            err.contains(&format!("is {} characters long", max + 1))
                && err.contains(&format!("at most {max}")),
            "{err}"
        );
        let script = rendered_script(&[db], "init-data.sh");
        let call_at = script
            .find("\ncheck_replication_password \"$(secret")
            .unwrap();
        assert!(
            call_at < script.find("\nmkdir -p \"$SCRATCH\"").unwrap(),
            "{db}: checked before anything is copied"
        );
    }
    let check = rendered_function(&["redis"], "init-config.sh", "check_password");
    assert!(call(&check, "check_password", "pa ss\"'$x").0);
    for bad in ["pa\nss", "pa\rss", "pa\tss"] {
        let (ok, err) = call(&check, "check_password", bad);
        assert!(
            !ok && err.contains("holds a control character"),
            "{bad:?}: {err}"
        );
    }
}

/// Pod 0's rebuild waits for every peer, not only the first that answers (the most complete may be
/// restarting), and after the deadline chooses among those that answered.
#[test]
fn rebuilding_pod_0_waits_for_every_peer() {
    for db in ["mysql", "mariadb"] {
        let wait = rendered_function(&[db], "init-data.sh", "wait_for_peers");
        // Peer 2 answers from the third try on; peer 3 never.
        let script = |peers: &str, wait_seconds: u32| {
            format!(
                "log() {{ echo \"$*\" >&2; }}\nsleep() {{ :; }}\ntries=0\n\
                 peer_alive() {{ case $1 in 1) true ;; 2) tries=$((tries + 1)); [ $tries -ge 3 ] ;; *) false ;; esac; }}\n\
                 PEER_WAIT_SECONDS={wait_seconds}\n{wait}\nwait_for_peers {peers}"
            )
        };
        let run = |peers: &str, wait_seconds: u32| {
            std::process::Command::new("bash")
                .args(["-euc", &script(peers, wait_seconds)])
                .output()
                .unwrap()
        };
        let out = run("1 2", 60);
        assert!(out.status.success(), "{db}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1 2\n",
            "{db}: waited for peer 2"
        );
        let out = run("1 3", 0);
        assert!(out.status.success(), "{db}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\n",
            "{db}: deadline: among those answering"
        );
        assert!(!run("3", 0).status.success(), "{db}: none answers");
    }
}

/// MariaDB's binlog-state comparison (pod 0 clones the most complete peer), run by bash as
/// rendered.
#[test]
fn mariadb_gtid_contains_compares_every_domain() {
    let function = rendered_function(&["mariadb"], "init-data.sh", "gtid_contains");
    let cases = [
        ("0-100-5", "0-100-3", true),
        ("0-100-5", "0-100-5", true),
        ("0-100-3", "0-100-5", false),
        ("0-100-12", "0-100-9", true), // numbers, not strings
        // Another server's transactions in domain 0 that the first lacks: diverged.
        ("0-100-8", "0-100-4,0-101-9", false),
        ("0-100-4,0-101-9", "0-100-8", false),
        ("0-100-8,0-101-9", "0-100-8,0-101-9", true),
        // Replicas' own domains (gtid_domain_id = ordinal) say nothing about pod 0's data.
        ("0-100-5,1-101-7", "0-100-5,2-102-3", true),
        ("0-100-5", "", true),
        ("", "0-100-1", false),
        ("", "", true),
    ];
    for (a, b, want) in cases {
        let out = std::process::Command::new("bash")
            .args([
                "-c",
                &format!("set -euo pipefail\n{function}gtid_contains \"$1\" \"$2\""),
                "test",
                a,
                b,
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.success(),
            want,
            "gtid_contains {a:?} {b:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The NetworkPolicy selects the database pods, admits the set's own pods and its Jobs' pods on
/// every port, and everyone else on the ports the client Services expose, by the names the
/// containers give them.
#[test]
fn the_network_policy_admits_peers_everywhere_and_clients_to_the_client_ports() {
    for engine in ENGINES {
        let db = engine.name();
        let docs = generate(&[db, "--network-policy", "--backup-schedule", "@daily"]);
        let policy = docs
            .iter()
            .find_map(|d| match d {
                Manifest::NetworkPolicy(p) => p.spec.clone(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{db}: no NetworkPolicy"));
        let sts = statefulset(&docs).spec.clone().unwrap();
        let pod_labels = sts.template.metadata.unwrap().labels.unwrap();
        let selects = |selector: &std::collections::BTreeMap<String, String>,
                       labels: &std::collections::BTreeMap<String, String>| {
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        };
        let target = policy.pod_selector.unwrap().match_labels.unwrap();
        assert_eq!(target, sts.selector.match_labels.clone().unwrap(), "{db}");
        assert_eq!(
            policy.policy_types.as_deref(),
            Some(&["Ingress".to_owned()][..])
        );
        let rules = policy.ingress.unwrap();
        assert_eq!(rules.len(), 2, "{db}");
        let peers = rules[0].from.clone().unwrap()[0]
            .pod_selector
            .clone()
            .unwrap()
            .match_labels
            .unwrap();
        assert!(rules[0].ports.is_none(), "{db}: peers reach every port");
        assert!(
            selects(&peers, &pod_labels),
            "{db}: the set's pods are peers"
        );
        let job = docs
            .iter()
            .find_map(|d| match d {
                Manifest::CronJob(c) => {
                    c.spec.clone()?.job_template.spec?.template.metadata?.labels
                }
                _ => None,
            })
            .unwrap();
        assert!(
            selects(&peers, &job),
            "{db}: the backup Job's pods are peers"
        );
        assert!(rules[1].from.is_none(), "{db}: clients from anywhere");
        let client_ports: BTreeSet<String> = services(&docs)
            .iter()
            .filter(|s| s.spec.as_ref().unwrap().cluster_ip.as_deref() != Some("None"))
            .flat_map(|s| s.spec.clone().unwrap().ports.unwrap())
            .map(|p| match p.target_port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) => n,
                other => panic!("{db}: target port {other:?} is not a name"),
            })
            .collect();
        let allowed: BTreeSet<String> = rules[1]
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| match p.port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) => n,
                other => panic!("{db}: policy port {other:?} is not a name"),
            })
            .collect();
        assert_eq!(
            allowed, client_ports,
            "{db}: exactly the client Services' ports"
        );
        let named: BTreeSet<String> = sts
            .template
            .spec
            .unwrap()
            .containers
            .iter()
            .flat_map(|c| c.ports.clone().unwrap_or_default())
            .filter_map(|p| p.name)
            .collect();
        assert!(
            allowed.is_subset(&named),
            "{db}: {allowed:?} are container ports {named:?}"
        );
    }
    // Off unless asked for or in a prod preset.
    assert!(
        !generate(&["redis"])
            .iter()
            .any(|d| matches!(d, Manifest::NetworkPolicy(_)))
    );
    assert!(
        !generate(&["redis", "--preset", "prod", "--no-network-policy"])
            .iter()
            .any(|d| matches!(d, Manifest::NetworkPolicy(_)))
    );
    assert!(
        generate(&["redis", "--preset", "prod"])
            .iter()
            .any(|d| matches!(d, Manifest::NetworkPolicy(_)))
    );
}

/// The backup CronJob and the restore Job: every mount names a volume of the pod, every claim
/// exists (or is pod 0's, which the restore output creates with the claim template's labels), and
/// no Job pod carries the labels the Services and the StatefulSet select.
#[test]
fn jobs_are_wired_together() {
    let mut seen = 0;
    for (what, docs) in matrix() {
        let claims: BTreeMap<&str, &PersistentVolumeClaim> = docs
            .iter()
            .filter_map(|d| match d {
                Manifest::PersistentVolumeClaim(c) => Some((c.metadata.name.as_deref()?, c)),
                _ => None,
            })
            .collect();
        let pods: Vec<_> = docs
            .iter()
            .filter_map(|d| match d {
                Manifest::CronJob(c) => c.spec.as_ref()?.job_template.spec.as_ref(),
                Manifest::Job(j) => j.spec.as_ref(),
                _ => None,
            })
            .map(|j| &j.template)
            .collect();
        let mut instance = String::new();
        for template in pods {
            seen += 1;
            let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
            instance = labels["app.kubernetes.io/instance"].clone();
            assert_ne!(
                labels
                    .get("app.kubernetes.io/component")
                    .map(String::as_str),
                Some("database"),
                "{what}: a Job pod is not selected as a database pod"
            );
            let pod = template.spec.as_ref().unwrap();
            assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{what}");
            let volumes: BTreeSet<&str> = pod
                .volumes
                .iter()
                .flatten()
                .map(|v| v.name.as_str())
                .collect();
            let containers = pod.init_containers.iter().flatten().chain(&pod.containers);
            for c in containers {
                for m in c.volume_mounts.iter().flatten() {
                    assert!(
                        volumes.contains(m.name.as_str()),
                        "{what}: {} mounts {}",
                        c.name,
                        m.name
                    );
                }
            }
            for v in pod.volumes.iter().flatten() {
                if let Some(pvc) = &v.persistent_volume_claim {
                    let known = claims.contains_key(pvc.claim_name.as_str())
                        // The backups' claim exists already: the set that took them made it.
                        || pvc.claim_name == format!("{instance}-backups");
                    assert!(known, "{what}: claim {} is in the output", pvc.claim_name);
                }
            }
        }
        // An engine that restores through its API into the running set has no claim of pod 0
        // in its restore output (and no claim at all).
        let api_restore = docs.iter().any(|d| matches!(d, Manifest::Job(j)
            if j.spec.as_ref().is_some_and(|s| s.template.spec.as_ref().is_some_and(|p| p.init_containers.is_none()))));
        if what.contains("--restore-from") && api_restore {
            assert!(claims.is_empty(), "{what}: an API restore creates no claim");
        } else if what.contains("--restore-from") {
            let pod0 = claims
                .get(format!("data-{instance}-0").as_str())
                .expect("pod 0's claim");
            let labels = pod0.metadata.labels.as_ref().unwrap();
            assert_eq!(
                labels
                    .get("app.kubernetes.io/component")
                    .map(String::as_str),
                Some("database"),
                "{what}: pod 0's claim has the claim template's labels"
            );
        }
    }
    assert!(seen >= 2, "the matrix has backup and restore Jobs");
}

/// The backups' retention, run by bash as rendered: only complete backups count, the newest
/// `keep` stay, partial directories are left to the run that writes them.
#[test]
fn backup_retention_keeps_the_newest_complete_backups() {
    let argv = [
        "postgres",
        "--backup-schedule",
        "@daily",
        "--backup-keep",
        "2",
    ];
    let prune = rendered_function(&argv, "backup.sh", "prune");
    let dir = std::env::temp_dir().join(format!("sts-gen-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in [
        "20261120T030000Z",
        "20261121T030000Z",
        "20261122T030000Z",
        "20261123T030000Z",
        ".partial-20261124T030000Z",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a backup").unwrap();
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "set -euo pipefail\nlog() {{ echo \"$*\"; }}\nBACKUPS=$1\nKEEP=2\n{prune}prune"
            ),
            "prune",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".partial-20261124T030000Z",
            "20261122T030000Z",
            "20261123T030000Z",
            "notes.txt"
        ]
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("deleted backup 20261120T030000Z")
            && log.contains("deleted backup 20261121T030000Z"),
        "{log}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The S3 client's script comes with a Job that runs it: scheduled backups or a restore; a
/// bucket alone changes nothing (and is reported as such).
#[test]
fn the_s3_script_comes_only_with_a_job_that_runs_it() {
    let has_s3 = |argv: &[&str]| {
        config_maps(&generate(argv))
            .iter()
            .any(|c| c.data.as_ref().is_some_and(|d| d.contains_key("s3.sh")))
    };
    assert!(!has_s3(&["redis", "--backup-s3-secret", "s3"]));
    assert!(has_s3(&[
        "redis",
        "--backup-s3-secret",
        "s3",
        "--backup-schedule",
        "@daily"
    ]));
    assert!(has_s3(&[
        "redis",
        "--backup-s3-secret",
        "s3",
        "--restore-from",
        "20261125T030000Z",
        "--existing-secret",
        "s"
    ]));
}
