//! What the real controllers and the scheduler do with each database's output (issue 17, item 4):
//! `sts-gen <db> --preset prod --replicas 3 --existing-secret c --backup-schedule '* * * * *'`
//! (Elasticsearch also `--backup-s3-secret s3`: its backups then need no ReadWriteMany claim),
//! applied for real with server-side apply into `controllers-<db>`, on the three Nodes and the
//! volume pool of `nodes`. No kubelet runs: the tests play its part for pod status (Running and
//! Ready, or not Ready, through the status subresource) and nothing else.
//!
//! Pod Security: "restricted" for every output but Elasticsearch's, whose prod preset keeps the
//! privileged init container that raises vm.max_map_count; that one goes to a "privileged"
//! namespace (the rule of `admission::must_be_privileged`), so the output under test is the one
//! the preset really gives.
//!
//! All six outputs are applied together, on first use (`staged`), before any test goes on: the
//! CronJob controller runs a Job at the first minute boundary after the CronJob exists, and
//! starting all six clocks at once keeps that wait to one minute for the whole binary instead of
//! up to one per pair of tests (libtest runs as many tests at a time as there are cores). Nothing
//! else acts on a set until its own test does: its pods wait for a status only the test gives.

use crate::admission::must_be_privileged;
use crate::control_plane::{self, ControlPlane, Kubectl, eventually};
use crate::nodes::{self, Node};
use crate::{databases, sts_gen};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after the apply the CronJob's first Job may come: the next minute boundary, plus the
/// controller's own delay.
const CRON_DEADLINE: Duration = Duration::from_secs(90);
/// How long a StatefulSet with `OrderedReady` is watched, once its pod 0 is scheduled, for a
/// pod 1 that must not come while pod 0 is not Ready.
const ORDERED_WATCH: Duration = Duration::from_secs(3);

/// sts-gen's arguments for DB.
fn arguments(db: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        db,
        "--preset",
        "prod",
        "--replicas",
        "3",
        "--existing-secret",
        "c",
        "--backup-schedule",
        "* * * * *",
    ]
    .map(str::to_owned)
    .to_vec();
    if db == "elasticsearch" {
        args.extend(["--backup-s3-secret".into(), "s3".into()]);
    }
    args
}

/// ARGS as a shell would take them back.
fn shell(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains([' ', '*']) {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One database's output, applied.
struct Staged {
    args: Vec<String>,
    namespace: String,
    level: &'static str,
    /// The output's objects.
    objects: Vec<Value>,
    /// When the apply ended, or why it failed.
    applied: Result<Instant, String>,
    /// The third byte of its pods' IPs (10.244.N.x): one per database.
    subnet: usize,
}

/// Every database's output, applied once per process into its own namespace.
fn staged(cp: &'static ControlPlane) -> &'static BTreeMap<String, Staged> {
    static STAGED: OnceLock<BTreeMap<String, Staged>> = OnceLock::new();
    STAGED.get_or_init(|| {
        let dbs = databases();
        std::thread::scope(|s| {
            let handles: Vec<_> = dbs
                .iter()
                .enumerate()
                .map(|(i, (db, _))| s.spawn(move || (db.clone(), stage(cp, db, i + 1))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("staging a database"))
                .collect()
        })
    })
}

fn stage(cp: &ControlPlane, db: &str, subnet: usize) -> Staged {
    let args = arguments(db);
    let namespace = format!("controllers-{db}");
    let level = if must_be_privileged(&args) {
        "privileged"
    } else {
        "restricted"
    };
    let mut staged = Staged {
        args: args.clone(),
        namespace: namespace.clone(),
        level,
        objects: Vec::new(),
        applied: Err(String::new()),
        subnet,
    };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let json = match sts_gen(&[&argv[..], &["-o", "json"]].concat()) {
        Ok(json) => json,
        Err(why) => {
            staged.applied = Err(why);
            return staged;
        }
    };
    let list: Value = serde_json::from_str(&json).expect("sts-gen -o json is JSON");
    staged.objects = list["items"].as_array().cloned().unwrap_or_default();
    cp.namespace(&namespace, level);
    let out = cp.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=sts-gen",
            "-n",
            &namespace,
            "-f",
            "-",
        ],
        Some(&json),
    );
    staged.applied = if out.ok {
        Ok(Instant::now())
    } else {
        Err(format!("{}:\n{}{}", out.cmdline, out.stderr, out.stdout))
    };
    staged
}

/// Kubectl in one namespace.
struct Namespace<'a> {
    cp: &'a ControlPlane,
    name: &'a str,
}

impl Namespace<'_> {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Kubectl {
        self.cp
            .kubectl(&[&["-n", self.name][..], args].concat(), stdin)
    }

    /// `kubectl get ARGS -o json` in the namespace: an object or a List.
    #[track_caller]
    fn get(&self, args: &[&str]) -> Value {
        self.cp.get(&[&["-n", self.name][..], args].concat())
    }

    /// The object KIND/NAME, or `None` when it does not exist.
    #[track_caller]
    fn find(&self, kind: &str, name: &str) -> Option<Value> {
        let text = self
            .kubectl(
                &["get", kind, name, "-o", "json", "--ignore-not-found"],
                None,
            )
            .expect_ok();
        (!text.trim().is_empty())
            .then(|| serde_json::from_str(&text).expect("kubectl get -o json is JSON"))
    }

    /// The items of `kubectl get KIND`.
    #[track_caller]
    fn list(&self, kind: &str) -> Vec<Value> {
        self.get(&[kind])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The lines of a database's report, printed when the test ends, however it ends.
struct Report {
    title: String,
    start: Instant,
    lines: Vec<String>,
}

impl Report {
    fn note(&mut self, line: String) {
        self.lines.push(format!(
            "[{:5.1} s] {line}",
            self.start.elapsed().as_secs_f64()
        ));
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        eprintln!("{}\n  {}", self.title, self.lines.join("\n  "));
    }
}

fn str_of<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn condition<'v>(pod: &'v Value, kind: &str) -> Option<&'v Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

/// Whether LABELS has every pair of SELECTOR (a `matchLabels` or a Service selector).
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// What the kubelet would report for POD: Running, its IP, and Ready or not.
fn set_ready(ns: &Namespace, pod: &Value, ip: &str, node: &Node, ready: bool) {
    let now = nodes::now();
    let status = if ready { "True" } else { "False" };
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": ready,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let patch = json!({"status": {
        "phase": "Running",
        "hostIP": node.ip,
        "hostIPs": [{"ip": node.ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": pod["status"]["startTime"].as_str().unwrap_or(&now),
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": status, "lastTransitionTime": now},
            {"type": "Ready", "status": status, "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    }});
    // Strategic merge: the conditions merge by type, so the scheduler's PodScheduled stays.
    ns.kubectl(
        &[
            "patch",
            "pod",
            str_of(pod, "/metadata/name"),
            "--subresource=status",
            "--type=strategic",
            "-p",
            &patch.to_string(),
        ],
        None,
    )
    .expect_ok();
}

/// An int-or-percent of a PodDisruptionBudget, scaled to EXPECTED pods (rounded up, as the
/// disruption controller does).
fn scaled(value: &Value, expected: i64) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().expect("an integer"),
        Value::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("an int-or-percent: {s}"));
            (percent * expected + 99) / 100
        }
        other => panic!("an int-or-percent: {other}"),
    }
}

/// The disruptions a PDB with SPEC allows, by the disruption controller's rule, with EXPECTED
/// pods (the set's replicas) of which HEALTHY are Ready.
fn disruptions_allowed(spec: &Value, expected: i64, healthy: i64) -> i64 {
    let desired = if let Some(min) = spec.get("minAvailable") {
        scaled(min, expected)
    } else if let Some(max) = spec.get("maxUnavailable") {
        (expected - scaled(max, expected)).max(0)
    } else {
        expected
    };
    (healthy - desired).max(0)
}

/// The PDB's status once the disruption controller has seen the current state: `expectedPods`
/// and `currentHealthy` as given, and `disruptionsAllowed` by its rule.
#[track_caller]
fn pdb_settles(ns: &Namespace, pdb: &Value, expected: i64, healthy: i64) -> Value {
    let name = str_of(pdb, "/metadata/name");
    let allowed = disruptions_allowed(&pdb["spec"], expected, healthy);
    eventually(
        30,
        &format!(
            "PDB {name}: expectedPods {expected}, currentHealthy {healthy}, disruptionsAllowed {allowed}"
        ),
        || {
            let status = ns.find("pdb", name)?["status"].clone();
            (status["expectedPods"] == expected
                && status["currentHealthy"] == healthy
                && status["disruptionsAllowed"] == allowed)
                .then_some(status)
        },
    )
}

/// The placement rules of the pod template, as the scheduler reads them.
struct Placement {
    /// Topology keys of the required pod anti-affinity: one pod per domain, or none scheduled.
    anti_required: BTreeSet<String>,
    /// Topology keys on which each pod must have a domain of its own while there are enough:
    /// the required anti-affinity, and `DoNotSchedule` spreads with a `maxSkew` of 1.
    one_per_domain: BTreeSet<String>,
    /// Every rule, hard or soft, in words.
    described: Vec<String>,
}

fn placement(template: &Value) -> Placement {
    let mut p = Placement {
        anti_required: BTreeSet::new(),
        one_per_domain: BTreeSet::new(),
        described: Vec::new(),
    };
    let anti = &template["spec"]["affinity"]["podAntiAffinity"];
    for term in anti["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = str_of(term, "/topologyKey").to_owned();
        p.described.push(format!("required anti-affinity on {key}"));
        p.anti_required.insert(key.clone());
        p.one_per_domain.insert(key);
    }
    for term in anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
    {
        p.described.push(format!(
            "preferred anti-affinity on {} (weight {})",
            str_of(term, "/podAffinityTerm/topologyKey"),
            term["weight"]
        ));
    }
    for spread in template["spec"]["topologySpreadConstraints"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = str_of(spread, "/topologyKey").to_owned();
        let when = str_of(spread, "/whenUnsatisfiable");
        p.described.push(format!(
            "topology spread on {key} (maxSkew {}, {when})",
            spread["maxSkew"]
        ));
        if when == "DoNotSchedule" && spread["maxSkew"] == 1 {
            p.one_per_domain.insert(key);
        }
    }
    p
}

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// One database's test under way: its applied output, its namespace and its report.
struct Case<'a> {
    ns: Namespace<'a>,
    nodes: &'a [Node],
    staged: &'a Staged,
    applied: Instant,
    set: &'a Value,
    set_name: String,
    replicas: i64,
    report: Report,
}

impl<'a> Case<'a> {
    /// The output's objects of KIND.
    fn objects(&self, kind: &str) -> Vec<&'a Value> {
        let staged: &'a Staged = self.staged;
        staged
            .objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect()
    }

    fn pod_name(&self, i: i64) -> String {
        format!("{}-{i}", self.set_name)
    }

    /// Pod I's IP: 10.244.<database>.<10 + I>.
    fn ip(&self, i: i64) -> String {
        format!("10.244.{}.{}", self.staged.subnet, 10 + i)
    }

    #[track_caller]
    fn node_of(&self, pod: &Value) -> &'a Node {
        let name = str_of(pod, "/spec/nodeName");
        let nodes: &'a [Node] = self.nodes;
        nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("{}: on an unknown node {name:?}", pod["metadata"]["name"]))
    }

    /// The set's pods (those it controls), by ordinal.
    fn pods(&self) -> BTreeMap<i64, Value> {
        let prefix = format!("{}-", self.set_name);
        self.ns
            .list("pods")
            .into_iter()
            .filter(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["kind"] == "StatefulSet" && o["name"] == self.set_name.as_str())
            })
            .filter_map(|p| {
                let ordinal = str_of(&p, "/metadata/name")
                    .strip_prefix(&prefix)?
                    .parse()
                    .ok()?;
                Some((ordinal, p))
            })
            .collect()
    }

    /// Pod I once the scheduler has given it a node.
    #[track_caller]
    fn scheduled(&self, i: i64) -> Value {
        eventually(
            60,
            &format!("{} created and scheduled", self.pod_name(i)),
            || {
                self.pods()
                    .remove(&i)
                    .filter(|p| p["spec"]["nodeName"].is_string())
            },
        )
    }

    /// Marks pod I Running and Ready, or Running and not Ready.
    fn set_ready(&self, i: i64, ready: bool) {
        let pod = &self.pods()[&i];
        set_ready(&self.ns, pod, &self.ip(i), self.node_of(pod), ready);
    }

    fn claim_templates(&self) -> Vec<&'a Value> {
        let set: &'a Value = self.set;
        set["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Pod I's claims, one per template and as it asks, each Bound by the PV controller:
    /// "claim -> volume".
    #[track_caller]
    fn claims_bound(&self, i: i64) -> Vec<String> {
        self.claim_templates()
            .iter()
            .map(|t| {
                let claim = format!("{}-{}", str_of(t, "/metadata/name"), self.pod_name(i));
                let c = eventually(60, &format!("claim {claim} created and Bound"), || {
                    self.ns
                        .find("pvc", &claim)
                        .filter(|c| c["status"]["phase"] == "Bound")
                });
                for field in ["/spec/accessModes", "/spec/resources/requests/storage"] {
                    assert_eq!(c.pointer(field), t.pointer(field), "{claim}: {field}");
                }
                format!("{claim} -> {}", str_of(&c, "/spec/volumeName"))
            })
            .collect()
    }

    /// Step 1: Pod 0 and its claims. With OrderedReady, no pod 1 while pod 0 is not Ready; with
    /// Parallel, every pod at once.
    fn first_pods(&mut self) {
        let set = self.set;
        let policy = set["spec"]["podManagementPolicy"]
            .as_str()
            .unwrap_or("OrderedReady");
        let names: Vec<&str> = self
            .claim_templates()
            .iter()
            .map(|t| str_of(t, "/metadata/name"))
            .collect();
        self.report.note(format!(
            "StatefulSet {}: {} replicas, podManagementPolicy {policy}, claim templates [{}]; applied {:.1} s ago",
            self.set_name,
            self.replicas,
            names.join(", "),
            self.applied.elapsed().as_secs_f64()
        ));
        let pod0 = eventually(60, &format!("{} created", self.pod_name(0)), || {
            self.pods().remove(&0)
        });
        assert!(!is_ready(&pod0), "{} Ready, unmarked", self.pod_name(0));
        let claims = self.claims_bound(0);
        self.report.note(format!(
            "{} created, claims: {}",
            self.pod_name(0),
            claims.join(", ")
        ));
        if policy == "OrderedReady" {
            self.scheduled(0);
            let watch = Instant::now();
            while watch.elapsed() < ORDERED_WATCH {
                let pods = self.pods();
                assert_eq!(
                    pods.keys().copied().collect::<Vec<_>>(),
                    vec![0],
                    "OrderedReady: only pod 0 while it is not Ready"
                );
                std::thread::sleep(Duration::from_millis(250));
            }
            self.report.note(format!(
                "OrderedReady: {} scheduled, not Ready; no {} within {} s",
                self.pod_name(0),
                self.pod_name(1),
                ORDERED_WATCH.as_secs()
            ));
        } else {
            let all = eventually(30, "every pod created (Parallel)", || {
                let pods = self.pods();
                (pods.len() as i64 == self.replicas).then_some(pods)
            });
            assert!(all.values().all(|p| !is_ready(p)), "a pod Ready, unmarked");
            self.report.note(format!(
                "Parallel: all {} pods created at once, none Ready",
                self.replicas
            ));
        }
    }

    /// Step 2: Each pod scheduled, then marked Running and Ready (with OrderedReady, that is what
    /// brings the next one), on nodes as the placement rules ask.
    fn scheduled_and_ready(&mut self, rules: &Placement) {
        let mut placed: Vec<(String, String)> = Vec::new();
        for i in 0..self.replicas {
            let pod = self.scheduled(i);
            let claims = self.claims_bound(i);
            let node = self.node_of(&pod);
            self.set_ready(i, true);
            self.report.note(format!(
                "{} scheduled on {} ({}), claims {}; marked Ready",
                self.pod_name(i),
                node.name,
                node.zone,
                claims.join(", ")
            ));
            placed.push((node.name.clone(), node.zone.clone()));
        }
        eventually(
            30,
            &format!("{}: readyReplicas {}", self.set_name, self.replicas),
            || {
                (self.ns.find("statefulset", &self.set_name)?["status"]["readyReplicas"]
                    == self.replicas)
                    .then_some(())
            },
        );
        let distinct = |zones: bool| {
            placed
                .iter()
                .map(|(n, z)| if zones { z } else { n })
                .collect::<BTreeSet<_>>()
                .len()
        };
        let spread = format!(
            "{} pods on {} nodes, {} zones; the output asks for: {}",
            self.replicas,
            distinct(false),
            distinct(true),
            rules.described.join(", ")
        );
        // One node per zone here: pods on distinct nodes are in distinct zones. Soft rules
        // (preferred anti-affinity, ScheduleAnyway spreads) are reported, not asserted.
        if rules.one_per_domain.contains(HOSTNAME) || rules.one_per_domain.contains(ZONE) {
            assert_eq!(distinct(false), self.replicas as usize, "{spread}");
            assert_eq!(distinct(true), self.replicas as usize, "{spread}");
        }
        self.report.note(spread);
    }

    /// Step 3: EndpointSlices with pod 1 not Ready: published as ready (not serving) for the Services
    /// with publishNotReadyAddresses (the headless one), as not ready for the others. The
    /// disruption controller stops counting it.
    fn endpoint_slices(&mut self) {
        let down = 1;
        self.set_ready(down, false);
        let pods = self.pods();
        let services = self.objects("Service");
        // Service -> pod -> (ready, serving).
        type Published = BTreeMap<String, BTreeMap<String, (bool, bool)>>;
        let mut expected = Published::new();
        for svc in &services {
            let publish = svc["spec"]["publishNotReadyAddresses"] == true;
            let endpoints = pods
                .iter()
                .filter(|(_, p)| selects(&svc["spec"]["selector"], &p["metadata"]["labels"]))
                .map(|(i, _)| {
                    let serving = *i != down;
                    (self.pod_name(*i), (serving || publish, serving))
                })
                .collect();
            expected.insert(str_of(svc, "/metadata/name").to_owned(), endpoints);
        }
        let published = || {
            let mut found: Published = expected
                .keys()
                .map(|s| (s.clone(), BTreeMap::new()))
                .collect();
            for slice in self.ns.list("endpointslices") {
                let service = str_of(&slice, "/metadata/labels/kubernetes.io~1service-name");
                let Some(endpoints) = found.get_mut(service) else {
                    continue;
                };
                for e in slice["endpoints"].as_array().into_iter().flatten() {
                    endpoints.insert(
                        str_of(e, "/targetRef/name").to_owned(),
                        (
                            e["conditions"]["ready"] == true,
                            e["conditions"]["serving"] == true,
                        ),
                    );
                }
            }
            found
        };
        eventually(
            30,
            &format!(
                "EndpointSlices with {} not Ready: {expected:?}",
                self.pod_name(down)
            ),
            || (published() == expected).then_some(()),
        );
        for svc in &services {
            let name = str_of(svc, "/metadata/name");
            self.report.note(format!(
                "{} not Ready -> Service {name}{}: {}",
                self.pod_name(down),
                if svc["spec"]["publishNotReadyAddresses"] == true {
                    " (publishNotReadyAddresses)"
                } else {
                    ""
                },
                expected[name]
                    .iter()
                    .map(|(pod, (ready, serving))| format!("{pod} ready={ready} serving={serving}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for pdb in self.objects("PodDisruptionBudget") {
            let status = pdb_settles(&self.ns, pdb, self.replicas, self.replicas - 1);
            self.report.note(format!(
                "PDB {} with {} not Ready: disruptionsAllowed {}",
                str_of(pdb, "/metadata/name"),
                self.pod_name(down),
                status["disruptionsAllowed"]
            ));
        }
        self.set_ready(down, true);
    }

    /// Step 4: The PDB with every pod Ready: as its spec says, and at least one disruption.
    fn disruption_budget(&mut self) {
        for pdb in self.objects("PodDisruptionBudget") {
            let status = pdb_settles(&self.ns, pdb, self.replicas, self.replicas);
            self.report.note(format!(
                "PDB {} ({}): expectedPods {}, currentHealthy {}, desiredHealthy {}, disruptionsAllowed {}",
                str_of(pdb, "/metadata/name"),
                ["minAvailable", "maxUnavailable"]
                    .iter()
                    .filter_map(|k| pdb["spec"].get(*k).map(|v| format!("{k} {v}")))
                    .collect::<Vec<_>>()
                    .join(", "),
                status["expectedPods"],
                status["currentHealthy"],
                status["desiredHealthy"],
                status["disruptionsAllowed"]
            ));
            assert!(
                status["disruptionsAllowed"].as_i64() >= Some(1),
                "PDB {} allows no disruption with every pod Ready: {status}",
                str_of(pdb, "/metadata/name")
            );
        }
    }

    fn scale(&self, replicas: i64) {
        self.ns
            .kubectl(
                &[
                    "scale",
                    "statefulset",
                    &self.set_name,
                    &format!("--replicas={replicas}"),
                ],
                None,
            )
            .expect_ok();
    }

    /// Step 5: One replica more than there are nodes: what the scheduler does with it, what the PDB
    /// then allows; and back, with the claims kept or deleted as the retention policy says.
    fn more_replicas_than_nodes(&mut self, rules: &Placement) {
        let more = self.nodes.len() as i64 + 1;
        self.scale(more);
        let extra = self.replicas..more;
        for i in extra.clone() {
            let name = self.pod_name(i);
            if rules.anti_required.contains(HOSTNAME) || rules.anti_required.contains(ZONE) {
                // The scheduler may see the pod before the PV controller binds its claim
                // ("pod has unbound immediate PersistentVolumeClaims"): the verdict that counts
                // is the one after.
                let claims = self.claims_bound(i);
                let message = eventually(
                    60,
                    &format!("{name}: PodScheduled=False, its claims bound"),
                    || {
                        let pod = self.pods().remove(&i)?;
                        let c = condition(&pod, "PodScheduled")?;
                        let message = str_of(c, "/message");
                        (c["status"] == "False" && !message.contains("unbound immediate")).then(
                            || {
                                assert_eq!(c["reason"], "Unschedulable", "{name}: {c}");
                                message.to_owned()
                            },
                        )
                    },
                );
                assert!(
                    message.contains("anti-affinity"),
                    "{name} unschedulable, but not for the anti-affinity: {message}"
                );
                // Asserted on the condition: the scheduler's events (events.k8s.io, one series
                // per pod and reason) may still carry an earlier note for the same pod, "pod has
                // unbound immediate PersistentVolumeClaims", from before its claim was bound.
                let events: Vec<String> = self
                    .ns
                    .list("events")
                    .iter()
                    .filter(|e| e["involvedObject"]["name"] == name.as_str())
                    .filter(|e| e["reason"] == "FailedScheduling")
                    .map(|e| str_of(e, "/message").to_owned())
                    .collect();
                self.report.note(format!(
                    "scaled to {more} on {} nodes: {name} created, claims {}, Pending: PodScheduled=False Unschedulable: \"{message}\"; FailedScheduling events: {events:?}",
                    self.nodes.len(),
                    claims.join(", ")
                ));
            } else {
                let pod = self.scheduled(i);
                self.report.note(format!(
                    "scaled to {more} on {} nodes: {name} scheduled anyway, on {} (no required anti-affinity)",
                    self.nodes.len(),
                    self.node_of(&pod).name
                ));
            }
        }
        for pdb in self.objects("PodDisruptionBudget") {
            let status = pdb_settles(&self.ns, pdb, more, self.replicas);
            self.report.note(format!(
                "PDB {} with {more} replicas, {} Ready: disruptionsAllowed {}",
                str_of(pdb, "/metadata/name"),
                self.replicas,
                status["disruptionsAllowed"]
            ));
        }

        self.scale(self.replicas);
        eventually(60, &format!("back to {} pods", self.replicas), || {
            let pods = self.pods();
            for (i, pod) in pods.range(self.replicas..) {
                // A scheduled pod is deleted gracefully, and no kubelet confirms it: force it,
                // as the kubelet would have.
                if pod["metadata"]["deletionTimestamp"].is_string() {
                    let name = self.pod_name(*i);
                    let force = ["delete", "pod", &name, "--grace-period=0", "--force"];
                    self.ns.kubectl(&force, None);
                }
            }
            (pods.len() as i64 == self.replicas).then_some(())
        });
        let retain = self.set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"]
            .as_str()
            .unwrap_or("Retain");
        for t in self.claim_templates() {
            for i in extra.clone() {
                let claim = format!("{}-{}", str_of(t, "/metadata/name"), self.pod_name(i));
                if retain == "Retain" {
                    assert!(self.ns.find("pvc", &claim).is_some(), "{claim} retained");
                } else {
                    eventually(60, &format!("{claim} deleted"), || {
                        self.ns.find("pvc", &claim).is_none().then_some(())
                    });
                }
                self.report.note(format!(
                    "scaled back to {}: claim {claim} {} (whenScaled: {retain})",
                    self.replicas,
                    if retain == "Retain" {
                        "kept"
                    } else {
                        "deleted"
                    }
                ));
            }
        }
    }

    /// Asks the eviction API to evict pod I.
    fn evict(&self, i: i64) -> Kubectl {
        let name = self.pod_name(i);
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": self.ns.name},
        });
        let path = format!("/api/v1/namespaces/{}/pods/{name}/eviction", self.ns.name);
        self.ns.kubectl(
            &["create", "--raw", &path, "-f", "-"],
            Some(&body.to_string()),
        )
    }

    /// Step 6: Evictions: as many as the PDB allows are accepted, the next one is refused.
    fn evictions(&mut self) {
        for pdb in self.objects("PodDisruptionBudget") {
            let status = pdb_settles(&self.ns, pdb, self.replicas, self.replicas);
            let allowed = status["disruptionsAllowed"].as_i64().expect("a number");
            for i in 0..allowed {
                let out = self.evict(i);
                assert!(
                    out.ok && out.stdout.contains("\"Success\""),
                    "eviction {} of {allowed} refused: {}{}",
                    i + 1,
                    out.stderr,
                    out.stdout
                );
                let name = self.pod_name(i);
                let pod = self.ns.find("pod", &name).expect("the evicted pod");
                assert!(
                    pod["metadata"]["deletionTimestamp"].is_string(),
                    "{name} evicted, not terminating"
                );
                self.report.note(format!(
                    "eviction of {name} accepted (it stays Terminating: no kubelet)"
                ));
            }
            let out = self.evict(allowed);
            assert!(
                !out.ok
                    && out.stderr.contains("TooManyRequests")
                    && out.stderr.contains("disruption budget"),
                "eviction {} after {allowed} allowed: {}{}",
                allowed + 1,
                out.stderr,
                out.stdout
            );
            self.report.note(format!(
                "eviction of {} refused: {}",
                self.pod_name(allowed),
                out.stderr.trim()
            ));
        }
    }

    /// Step 7: The CronJob controller runs a Job, owned by the CronJob, at the first minute boundary
    /// after the apply.
    fn cron_jobs(&mut self) {
        for cron in self.objects("CronJob") {
            let name = str_of(cron, "/metadata/name");
            let left = CRON_DEADLINE.saturating_sub(self.applied.elapsed());
            let job = eventually(
                left.as_secs().max(1),
                &format!(
                    "a Job of CronJob {name} within {} s of the apply",
                    CRON_DEADLINE.as_secs()
                ),
                || {
                    self.ns.list("jobs").into_iter().find(|j| {
                        j["metadata"]["ownerReferences"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|o| {
                                o["kind"] == "CronJob"
                                    && o["name"] == name
                                    && o["controller"] == true
                            })
                    })
                },
            );
            self.report.note(format!(
                "CronJob {name} ({}): Job {} created at {}, owned by the CronJob (seen {:.0} s after the apply)",
                str_of(cron, "/spec/schedule"),
                str_of(&job, "/metadata/name"),
                str_of(&job, "/metadata/creationTimestamp"),
                self.applied.elapsed().as_secs_f64()
            ));
        }
    }
}

/// The test of one database; each database has its own `#[test]`, below.
fn controllers_act_on(db: &str) {
    let Some(cp) = control_plane::shared() else {
        return;
    };
    let nodes = nodes::shared(cp);
    let staged = &staged(cp)[db];
    let applied = match &staged.applied {
        Ok(at) => *at,
        Err(why) => panic!("sts-gen {}: not applied: {why}", shell(&staged.args)),
    };
    let set = staged
        .objects
        .iter()
        .find(|o| o["kind"] == "StatefulSet")
        .expect("a StatefulSet");
    let replicas = set["spec"]["replicas"].as_i64().unwrap_or(1);
    assert!(replicas >= 2, "{replicas} replicas");
    let mut case = Case {
        ns: Namespace {
            cp,
            name: &staged.namespace,
        },
        nodes,
        staged,
        applied,
        set,
        set_name: str_of(set, "/metadata/name").to_owned(),
        replicas,
        report: Report {
            title: format!(
                "{db}: `sts-gen {}` in {} (Pod Security {})",
                shell(&staged.args),
                staged.namespace,
                staged.level
            ),
            start: Instant::now(),
            lines: Vec::new(),
        },
    };
    let rules = placement(&set["spec"]["template"]);
    case.first_pods();
    case.scheduled_and_ready(&rules);
    case.endpoint_slices();
    case.disruption_budget();
    case.more_replicas_than_nodes(&rules);
    case.evictions();
    case.cron_jobs();
}

#[test]
fn elasticsearch() {
    controllers_act_on("elasticsearch");
}

#[test]
fn mariadb() {
    controllers_act_on("mariadb");
}

#[test]
fn mongodb() {
    controllers_act_on("mongodb");
}

#[test]
fn mysql() {
    controllers_act_on("mysql");
}

#[test]
fn postgres() {
    controllers_act_on("postgres");
}

#[test]
fn redis() {
    controllers_act_on("redis");
}
