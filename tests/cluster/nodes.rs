//! What the scheduler and the PersistentVolume controller need before they act on a StatefulSet,
//! when no kubelet runs: three Nodes, one per zone, kept Ready by a heartbeat, and a pool of
//! PersistentVolumes. Set up once per test process, on first use, like the control plane.
//!
//! - The Nodes are registered as a kubelet would (labels, then capacity, addresses and a Ready
//!   condition through the status subresource). The TaintNodesByCondition admission plugin gives a
//!   new Node the `node.kubernetes.io/not-ready` taint; the node lifecycle controller removes it
//!   once it sees Ready=True. `shared` returns when no Node has a taint left.
//! - The heartbeat renews each Node's Lease in `kube-node-lease` every 10 s from a background
//!   thread (it ends with the process). Without it the node lifecycle controller marks the Nodes
//!   Unknown after its grace period (50 s), taints them `unreachable`, and sets every pod on
//!   them not Ready ("NodeNotReady"): seen in this cluster before the heartbeat existed.
//! - The PersistentVolumes: no provisioner and no StorageClass exist, and a pod whose claim is
//!   unbound is refused by the scheduler ("pod has unbound immediate PersistentVolumeClaims").
//!   A claim without `storageClassName` gets none here (the DefaultStorageClass admission plugin
//!   finds no default class), and the PV controller binds it to an Available volume whose class
//!   is "" and whose capacity and access modes fit: checked in this cluster
//!   (`a_claim_without_a_class_binds_to_the_pool`), and by the tests that wait for their claims to
//!   be Bound. The volumes are `hostPath`s under /tmp that nothing ever mounts (no kubelet),
//!   never reclaimed (`Retain`): one pool serves one process.

use crate::control_plane::ControlPlane;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

/// A registered Node.
#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub zone: String,
    /// Its InternalIP, the pods' hostIP.
    pub ip: String,
}

/// The PersistentVolumes in the pool: more than the claims of every test in the process (per
/// database, one claim per replica up to 4 and one for the backups; one probe claim).
const VOLUMES: usize = 60;
/// Their capacity: more than any claim of the prod presets (the largest asks for 400Gi).
const VOLUME_SIZE: &str = "1Ti";
/// How often the heartbeat renews the Leases; the node lifecycle controller waits 50 s.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The three Nodes, registered, Ready and untainted, with their heartbeat running and the
/// volume pool created; set up on first use. A failure fails every test that needs them.
pub fn shared(cp: &'static ControlPlane) -> &'static [Node] {
    static SHARED: OnceLock<Result<Vec<Node>, String>> = OnceLock::new();
    match SHARED.get_or_init(|| register(cp)) {
        Ok(nodes) => nodes,
        Err(why) => panic!("the test nodes: {why}"),
    }
}

/// The time now as the API's MicroTime (RFC 3339, microseconds, UTC); a Time field takes it too.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A `v1` List of ITEMS, for one `kubectl apply`.
fn list(items: Vec<Value>) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn apply(cp: &ControlPlane, manager: &str, objects: String) -> Result<(), String> {
    let out = cp.kubectl(
        &[
            "apply",
            "--server-side",
            &format!("--field-manager={manager}"),
            "-f",
            "-",
        ],
        Some(&objects),
    );
    if out.ok {
        Ok(())
    } else {
        Err(format!("{}: {}", out.cmdline, out.stderr.trim()))
    }
}

/// Renews every Node's Lease, as a kubelet does.
fn heartbeat(cp: &ControlPlane, nodes: &[Node]) -> Result<(), String> {
    let renewed = now();
    let leases = nodes
        .iter()
        .map(|node| {
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": node.name,
                    "leaseDurationSeconds": 40,
                    "renewTime": renewed,
                },
            })
        })
        .collect();
    apply(cp, "sts-gen-test-heartbeat", list(leases))
}

fn register(cp: &'static ControlPlane) -> Result<Vec<Node>, String> {
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, x)| Node {
            name: format!("node-{x}"),
            zone: format!("zone-{x}"),
            ip: format!("10.0.0.{}", i + 1),
        })
        .collect();
    let objects = nodes
        .iter()
        .map(|node| {
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": node.name,
                    "labels": {
                        "kubernetes.io/hostname": node.name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/region": "region-1",
                        "topology.kubernetes.io/zone": node.zone,
                    },
                },
            })
        })
        .collect();
    apply(cp, "sts-gen-test-nodes", list(objects))?;
    heartbeat(cp, &nodes)?;

    let since = now();
    let resources =
        json!({"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"});
    for node in &nodes {
        let condition = |kind: &str, status: &str, reason: &str| {
            json!({
                "type": kind,
                "status": status,
                "reason": reason,
                "message": "sts-gen test node (no kubelet)",
                "lastHeartbeatTime": since,
                "lastTransitionTime": since,
            })
        };
        let status = json!({"status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": node.ip},
                {"type": "Hostname", "address": node.name},
            ],
        }});
        let out = cp.kubectl(
            &[
                "patch",
                "node",
                &node.name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status.to_string(),
            ],
            None,
        );
        if !out.ok {
            return Err(format!("{}: {}", out.cmdline, out.stderr.trim()));
        }
    }
    let beating = nodes.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(HEARTBEAT);
            if let Err(why) = heartbeat(cp, &beating) {
                eprintln!("node heartbeat: {why}");
            }
        }
    });

    let volumes = (0..VOLUMES)
        .map(|i| {
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": format!("sts-gen-test-pv-{i:02}")},
                "spec": {
                    "capacity": {"storage": VOLUME_SIZE},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": format!("/tmp/sts-gen-test-pv/{i:02}"), "type": ""},
                },
            })
        })
        .collect();
    apply(cp, "sts-gen-test-volumes", list(volumes))?;

    // Ready and untainted, as the node lifecycle controller sees them.
    let start = std::time::Instant::now();
    loop {
        let out = cp.kubectl(&["get", "nodes", "-o", "json"], None);
        let listed: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let pending: Vec<String> = nodes
            .iter()
            .filter(|node| {
                let Some(found) = listed["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|n| n["metadata"]["name"] == node.name.as_str())
                else {
                    return true;
                };
                let tainted = found["spec"]["taints"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty());
                let ready = found["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                tainted || !ready
            })
            .map(|node| node.name.clone())
            .collect();
        if pending.is_empty() {
            eprintln!(
                "{} nodes Ready and untainted in {:.1} s, {VOLUMES} PersistentVolumes of {VOLUME_SIZE}",
                nodes.len(),
                start.elapsed().as_secs_f64()
            );
            return Ok(nodes);
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "still tainted or not Ready after 60 s: {}\n{}",
                pending.join(", "),
                out.stdout
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The pool's premise: in this cluster, a claim without `storageClassName` keeps none (no
/// default StorageClass) and the PV controller binds it to a volume of the pool.
#[test]
fn a_claim_without_a_class_binds_to_the_pool() {
    let Some(cp) = crate::control_plane::shared() else {
        return;
    };
    shared(cp);
    let classes = cp.get(&["storageclasses"]);
    assert_eq!(classes["items"], json!([]), "no StorageClass");
    cp.namespace("nodes-pool", "restricted");
    let claim = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "probe", "namespace": "nodes-pool"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    });
    apply(cp, "sts-gen-test", claim.to_string()).unwrap();
    let bound = crate::control_plane::eventually(30, "the probe claim Bound", || {
        let c = cp.get(&["-n", "nodes-pool", "pvc", "probe"]);
        (c["status"]["phase"] == "Bound").then_some(c)
    });
    assert_eq!(bound["spec"].get("storageClassName"), None, "{bound}");
    let volume = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    assert!(volume.starts_with("sts-gen-test-pv-"), "{bound}");
}
