//! Update rules (issue 17): which one-setting changes the API server takes on top of a running
//! set, and which it refuses, with its own words. Per database, the default output (with
//! `--existing-secret`, so deterministic) is applied for real into a namespace of its own; then
//! each change is rendered and applied with `--dry-run=server` on top of it, so that every change
//! is judged against the same stored base. The table that results is docs/update-rules.md's,
//! between two markers: the test fails when the server's answer changes, and
//! `STS_GEN_UPDATE_DOCS=1 cargo test --test cluster updates` rewrites that section.
//!
//! Last, per database, the way round that the docs give for the refused storage changes: the
//! StatefulSet deleted with `--cascade=orphan` (its pod stays, without an owner), the storage
//! changes tried again, then the new size applied for real: the new StatefulSet adopts the pod and
//! leaves the pod's claim at its old size.

use crate::admission::must_be_privileged;
use crate::control_plane::{self, ControlPlane, Kubectl, eventually};
use crate::{databases, sts_gen};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const BEGIN: &str = "<!-- update-rules:begin -->";
const END: &str = "<!-- update-rules:end -->";
const FIELD_MANAGER: &str = "--field-manager=sts-gen";

/// One setting changed from the base.
struct Change {
    /// The flags added to the base's.
    args: Vec<String>,
    /// As the table shows it (markdown).
    label: String,
}

/// One row of the table.
struct Row {
    db: String,
    change: String,
    objects: String,
    answer: String,
    /// The server's refusals as kubectl printed them, whole.
    refusals: Vec<String>,
}

/// The objects of a YAML output, by "Kind/name", in output order.
fn objects(yaml: &str) -> Result<Vec<(String, Value)>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
    docs.into_iter()
        .map(|doc| {
            let kind = doc["kind"].as_str().ok_or("an object without kind")?;
            let name = doc["metadata"]["name"]
                .as_str()
                .ok_or("an object without a name")?;
            Ok((format!("{kind}/{name}"), doc))
        })
        .collect()
}

/// The database image with the last number of its tag one higher: `mysql:8.4.7` → `mysql:8.4.8`.
fn next_patch(image: &str) -> Result<String, String> {
    let (head, last) = image
        .rsplit_once('.')
        .filter(|(head, _)| head.contains(':'))
        .ok_or_else(|| format!("{image}: no numbered tag"))?;
    let n: u32 = last
        .parse()
        .map_err(|_| format!("{image}: the tag does not end in a number"))?;
    Ok(format!("{head}.{}", n + 1))
}

/// The changes tried on DB, whose base output holds BASE; each label says what the base had.
fn changes(db: &str, base: &[(String, Value)]) -> Result<Vec<Change>, String> {
    let statefulset = base
        .iter()
        .find(|(id, _)| id.starts_with("StatefulSet/"))
        .map(|(_, o)| &o["spec"])
        .ok_or("no StatefulSet in the base")?;
    let container = &statefulset["template"]["spec"]["containers"][0];
    let was = |value: &Value, what: &str| match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("the base StatefulSet has no {what}")),
    };
    let image = was(&container["image"], "image")?;
    let next = next_patch(&image)?;
    let change = |args: &[&str], before: String| Change {
        args: args.iter().map(|s| s.to_string()).collect(),
        label: format!("`{}` (was {before})", args.join(" ")),
    };
    let flags = |args: &[&str]| Change {
        args: args.iter().map(|s| s.to_string()).collect(),
        label: format!("`{}`", args.join(" ")),
    };
    let replicas = was(&statefulset["replicas"], "replicas")?;
    let memory = was(&container["resources"]["limits"]["memory"], "memory limit")?;
    let cpu = was(&container["resources"]["requests"]["cpu"], "CPU request")?;
    let storage = was(
        &statefulset["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "storage request",
    )?;
    Ok(vec![
        change(&["--replicas", "5"], replicas.clone()),
        change(&["--replicas", "1"], replicas),
        change(&["--image", &next], image),
        // Differs from every engine's default (Elasticsearch 4Gi, MongoDB 2Gi, the others 1Gi).
        change(&["--memory", "3Gi"], memory),
        change(&["--cpu", "2"], cpu),
        // Larger than every engine's default (Elasticsearch 30Gi, Redis 5Gi, the others 10Gi).
        change(&["--storage-size", "50Gi"], storage),
        flags(&["--storage-class", "fast"]),
        flags(&["--service-type", "NodePort"]),
        flags(&["--set", "labels.team=payments"]),
        flags(&["--name", &format!("{db}-b")]),
        flags(&["--backup-schedule", "@daily"]),
        flags(&["--network-policy"]),
    ])
}

/// Which objects of a change differ from the base's, by "Kind/name", in output order.
struct Diff {
    changed: Vec<String>,
    new: Vec<String>,
    /// In the base, not in the change: `kubectl apply` leaves them in the cluster.
    gone: Vec<String>,
    /// Nothing in common: another set (`--name`).
    disjoint: bool,
}

fn compare(base: &[(String, Value)], change: &[(String, Value)]) -> Diff {
    let before: BTreeMap<&str, &Value> = base.iter().map(|(id, o)| (id.as_str(), o)).collect();
    let after: BTreeMap<&str, &Value> = change.iter().map(|(id, o)| (id.as_str(), o)).collect();
    let ids = |objects: &[(String, Value)], keep: &dyn Fn(&str, &Value) -> bool| {
        objects
            .iter()
            .filter(|(id, o)| keep(id, o))
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    };
    let changed = ids(change, &|id, o| before.get(id).is_some_and(|b| *b != o));
    let new = ids(change, &|id, _| !before.contains_key(id));
    let gone = ids(base, &|id, _| !after.contains_key(id));
    let disjoint = changed.is_empty() && new.len() == change.len() && gone.len() == base.len();
    Diff {
        changed,
        new,
        gone,
        disjoint,
    }
}

impl Diff {
    /// The table's "objects changed".
    fn describe(&self) -> String {
        if self.disjoint {
            return format!(
                "all {} new ({}); the {} old ones stay",
                self.new.len(),
                self.new.join(", "),
                self.gone.len()
            );
        }
        let mut parts = Vec::new();
        if !self.changed.is_empty() {
            parts.push(format!("changed: {}", self.changed.join(", ")));
        }
        if !self.new.is_empty() {
            parts.push(format!("new: {}", self.new.join(", ")));
        }
        if !self.gone.is_empty() {
            parts.push(format!(
                "left out: {} (stays in the cluster)",
                self.gone.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// The objects kubectl reported applied, as "kind/name" in lower case (kubectl prints
/// `statefulset.apps/mysql serverside-applied …`).
fn applied(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let (resource, name) = line.split_whitespace().next()?.split_once('/')?;
            let kind = resource.split('.').next()?;
            Some(format!("{kind}/{name}"))
        })
        .collect()
}

/// The server's message without the value it quotes back when that is long (the whole new
/// `volumeClaimTemplates`, its internal type as JSON): "Invalid value: […]: field is immutable".
fn shortened(message: &str) -> String {
    const INVALID: &str = "Invalid value: ";
    if let Some(at) = message.find(INVALID) {
        let from = at + INVALID.len();
        if let Some(len) = message[from..].rfind(": ").filter(|len| *len > 60) {
            return format!("{}[…]{}", &message[..from], &message[from + len..]);
        }
    }
    message.to_owned()
}

/// The server's answer to one apply of OBJECTS (DIFF from the base): "accepted", or which objects
/// it refused and why, and which changed ones it took all the same (kubectl applies each object on
/// its own). Anything else on stderr (a warning) or an object neither applied nor refused is an
/// error.
fn answer(
    objects: &[(String, Value)],
    diff: &Diff,
    out: &Kubectl,
) -> Result<(String, Vec<String>), String> {
    let done = applied(&out.stdout);
    let mut stderr: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    let mut refused = Vec::new();
    for (id, _) in objects {
        if done.contains(&id.to_lowercase()) {
            continue;
        }
        let (kind, name) = id.split_once('/').expect("Kind/name");
        let quoted = format!("\"{name}\"");
        let Some(at) = stderr
            .iter()
            .position(|l| l.contains(kind) && l.contains(&quoted))
        else {
            return Err(format!(
                "{id}: neither applied nor refused\n{}\n--- stdout:\n{}--- stderr:\n{}",
                out.cmdline, out.stdout, out.stderr
            ));
        };
        refused.push((id.clone(), stderr.remove(at).to_owned()));
    }
    if !stderr.is_empty() || out.ok != refused.is_empty() {
        return Err(format!(
            "more on stderr than refusals (exit ok: {}):\n{}\n--- stderr:\n{}",
            out.ok, out.cmdline, out.stderr
        ));
    }
    if refused.is_empty() {
        return Ok(("accepted".into(), Vec::new()));
    }
    let mut text = refused
        .iter()
        .map(|(id, message)| format!("{id} refused: `{}`", shortened(message).replace('|', "\\|")))
        .collect::<Vec<_>>()
        .join("; ");
    let taken: Vec<&str> = diff
        .changed
        .iter()
        .chain(&diff.new)
        .filter(|id| done.contains(&id.to_lowercase()))
        .map(String::as_str)
        .collect();
    if !taken.is_empty() {
        text.push_str(&format!("; {} accepted", taken.join(", ")));
    }
    Ok((text, refused.into_iter().map(|(_, m)| m).collect()))
}

/// Every row of DB's part of the table.
fn rows(cp: &ControlPlane, db: &str) -> Result<Vec<Row>, String> {
    let namespace = format!("updates-{db}");
    let secret = format!("{db}-creds");
    let base_args = [db, "--existing-secret", &secret, "-n", &namespace];
    let level = if must_be_privileged(&[db.to_owned()]) {
        "privileged"
    } else {
        "restricted"
    };
    cp.namespace(&namespace, level);

    let base_yaml = sts_gen(&base_args)?;
    let base = objects(&base_yaml)?;
    let out = cp.kubectl(
        &["apply", "--server-side", FIELD_MANAGER, "-f", "-"],
        Some(&base_yaml),
    );
    if !out.ok || !out.stderr.is_empty() || applied(&out.stdout).len() != base.len() {
        return Err(format!(
            "the base: {}\n{}{}",
            out.cmdline, out.stderr, out.stdout
        ));
    }

    let try_change = |change: &Change| -> Result<Row, String> {
        let args: Vec<&str> = base_args
            .iter()
            .copied()
            .chain(change.args.iter().map(String::as_str))
            .collect();
        let yaml = sts_gen(&args)?;
        let rendered = objects(&yaml)?;
        if rendered == base {
            return Err(format!("{}: the same output as the base", change.label));
        }
        let out = cp.kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                FIELD_MANAGER,
                "-f",
                "-",
            ],
            Some(&yaml),
        );
        let diff = compare(&base, &rendered);
        let (answer, refusals) =
            answer(&rendered, &diff, &out).map_err(|e| format!("{}: {e}", change.label))?;
        Ok(Row {
            db: db.to_owned(),
            change: change.label.clone(),
            objects: diff.describe(),
            answer,
            refusals,
        })
    };
    let mut rows = changes(db, &base)?
        .iter()
        .map(try_change)
        .collect::<Result<Vec<_>, _>>()?;

    // The way round for storage: the StatefulSet deleted, its pods left running, and created anew.
    let pod = format!("{db}-0");
    eventually(60, &format!("pod {pod} created"), || {
        cp.kubectl(&["get", "pod", &pod, "-n", &namespace], None)
            .ok
            .then_some(())
    });
    cp.kubectl(
        &[
            "delete",
            "statefulset",
            db,
            "-n",
            &namespace,
            "--cascade=orphan",
        ],
        None,
    )
    .expect_ok();
    let left = cp.get(&["pod", &pod, "-n", &namespace]);
    if left["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|owners| !owners.is_empty())
    {
        return Err(format!("{pod} still has an owner: {left}"));
    }
    for flags in [["--storage-size", "50Gi"], ["--storage-class", "fast"]] {
        rows.push(try_change(&Change {
            args: flags.iter().map(|s| s.to_string()).collect(),
            label: format!(
                "`{}` after `kubectl delete statefulset {db} --cascade=orphan`",
                flags.join(" ")
            ),
        })?);
    }
    // For real now: the new StatefulSet adopts the running pod, and leaves its claim as it was
    // (the claim template only shapes claims created from then on).
    let claim_size = |claim: &Value| claim["spec"]["resources"]["requests"]["storage"].clone();
    let claim = format!("data-{db}-0");
    let size_before = claim_size(&cp.get(&["pvc", &claim, "-n", &namespace]));
    let args: Vec<&str> = base_args
        .iter()
        .copied()
        .chain(["--storage-size", "50Gi"])
        .collect();
    cp.kubectl(
        &["apply", "--server-side", FIELD_MANAGER, "-f", "-"],
        Some(&sts_gen(&args)?),
    )
    .expect_ok();
    eventually(60, &format!("{pod} adopted by the new StatefulSet"), || {
        let owners =
            cp.get(&["pod", &pod, "-n", &namespace])["metadata"]["ownerReferences"].clone();
        (owners[0]["kind"] == "StatefulSet" && owners[0]["name"] == db).then_some(())
    });
    let size_after = claim_size(&cp.get(&["pvc", &claim, "-n", &namespace]));
    if size_after != size_before {
        return Err(format!(
            "{claim}: {size_before} before, {size_after} after the StatefulSet was re-created"
        ));
    }
    cp.kubectl(&["delete", "namespace", &namespace, "--wait=false"], None)
        .expect_ok();
    Ok(rows)
}

/// The generated section of docs/update-rules.md, markers excluded.
fn section(rows: &[Row], privileged: &[String]) -> String {
    let mut text =
        String::from("\nNamespaces: Pod Security \"restricted\" (enforce, warn and audit)");
    if !privileged.is_empty() {
        text.push_str(&format!(
            ", except {}: \"privileged\", for the init container that raises vm.max_map_count",
            privileged.join(", ")
        ));
    }
    text.push_str(".\n\n");
    text.push_str("| database | change | objects changed | server's answer |\n");
    text.push_str("| --- | --- | --- | --- |\n");
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.db, row.change, row.objects, row.answer
        ));
    }
    text.push_str(
        "\n<details><summary>The refusals in full, as kubectl printed them</summary>\n\n```text\n",
    );
    for row in rows.iter().filter(|r| !r.refusals.is_empty()) {
        text.push_str(&format!("# {}, {}\n", row.db, row.change.replace('`', "")));
        for message in &row.refusals {
            text.push_str(message);
            text.push('\n');
        }
    }
    text.push_str("```\n\n</details>\n\n");
    text
}

/// Lines of EXPECTED missing from ACTUAL (`-`) and lines of ACTUAL missing from EXPECTED (`+`).
fn line_diff(expected: &str, actual: &str) -> String {
    let theirs: BTreeSet<&str> = actual.lines().collect();
    let ours: BTreeSet<&str> = expected.lines().collect();
    let mut out = String::new();
    for line in expected.lines().filter(|l| !theirs.contains(l)) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in actual.lines().filter(|l| !ours.contains(l)) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

#[test]
fn updates_match_docs_update_rules() {
    let Some(cp) = control_plane::shared() else {
        return;
    };
    let dbs: Vec<String> = databases().into_iter().map(|(db, _)| db).collect();
    let results: Vec<Result<Vec<Row>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = dbs.iter().map(|db| s.spawn(move || rows(cp, db))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
            .collect()
    });
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for (db, result) in dbs.iter().zip(results) {
        match result {
            Ok(rows) => all.extend(rows),
            Err(why) => failures.push(format!("{db}: {why}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let privileged: Vec<String> = dbs
        .iter()
        .filter(|db| must_be_privileged(&[db.to_string()]))
        .cloned()
        .collect();
    let generated = section(&all, &privileged);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/update-rules.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (head, rest) = doc
        .split_once(BEGIN)
        .unwrap_or_else(|| panic!("{}: no {BEGIN}", path.display()));
    let (current, tail) = rest
        .split_once(END)
        .unwrap_or_else(|| panic!("{}: no {END}", path.display()));
    let refused = all.iter().filter(|r| !r.refusals.is_empty()).count();
    eprintln!(
        "{} changes on {} databases: {} accepted, {refused} refused",
        all.len(),
        dbs.len(),
        all.len() - refused
    );
    if current == generated {
        return;
    }
    if std::env::var_os("STS_GEN_UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{head}{BEGIN}{generated}{END}{tail}")).unwrap();
        eprintln!("{} rewritten", path.display());
        return;
    }
    panic!(
        "the server's answers differ from {} (- there, + now):\n{}\n\
         If the new answers are right: STS_GEN_UPDATE_DOCS=1 cargo test --test cluster updates",
        path.display(),
        line_diff(current, &generated)
    );
}
