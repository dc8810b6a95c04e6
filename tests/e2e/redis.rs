//! Redis: replicas follow pod 0's stable DNS name, authenticated, persistent on the volume.

use std::time::Duration;

use sts_gen::cli::{DbKind, GenerateArgs};

use crate::podsim::{Cluster, profile};
use crate::{eventually, ready_to_run};

fn password(_len: usize) -> anyhow::Result<String> {
    Ok(r#"pw"with\quote's"#.to_owned())
}

fn cluster(replicas: u32) -> Option<Cluster> {
    if !ready_to_run(&[profile("redis:")]) {
        return None;
    }
    let args = GenerateArgs {
        replicas: Some(replicas.to_string()),
        ..Default::default()
    };
    let spec = sts_gen::resolve::resolve_with(DbKind::Redis, &args, &password)
        .unwrap()
        .spec;
    let docs = sts_gen::generate(&spec).unwrap();
    Some(Cluster::new(&docs, "cluster.local"))
}

/// redis-cli in the pod, authenticated with the Secret's password (read from its file).
fn cli(c: &Cluster, ordinal: u32, command: &str) -> String {
    let script = format!(
        "REDISCLI_AUTH=$(cat /etc/redis-credentials/redis-password) redis-cli -h 127.0.0.1 {command}"
    );
    c.exec(ordinal, &["bash", "-c", &script])
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn keys(c: &Cluster, ordinal: u32) -> String {
    let mut k: Vec<String> = cli(c, ordinal, "--raw keys 'k*'")
        .lines()
        .map(str::to_owned)
        .collect();
    k.sort();
    k.join(",")
}

fn write(c: &Cluster, key: &str) {
    assert_eq!(cli(c, 0, &format!("set {key} v")), "OK", "write on pod 0");
}

#[test]
fn redis_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster(3) else { return };
    c.start_ordered(3);
    write(&c, "k1");
    for o in [1, 2] {
        assert_eq!(eventually(20, "k1", || keys(&c, o)), "k1", "pod {o}");
        assert!(
            cli(&c, o, "set x y").contains("READONLY"),
            "pod {o} rejects writes"
        );
    }
    let info = cli(&c, 0, "info replication");
    assert!(info.contains("connected_slaves:2"), "{info}");
    let anonymous = c
        .exec(0, &["redis-cli", "-h", "127.0.0.1", "ping"])
        .unwrap_or_default();
    assert!(
        anonymous.contains("NOAUTH"),
        "clients must authenticate: {anonymous}"
    );
}

#[test]
fn redis_scale_to_four_syncs_and_catches_up() {
    let Some(mut c) = cluster(3) else { return };
    c.start_ordered(3);
    write(&c, "k1");
    c.start_pod(3);
    c.wait_ready(3, Duration::from_secs(60));
    write(&c, "k2");
    assert_eq!(eventually(20, "k1,k2", || keys(&c, 3)), "k1,k2");
}

#[test]
fn redis_restarted_replica_keeps_its_data_and_catches_up() {
    let Some(mut c) = cluster(2) else { return };
    c.start_ordered(2);
    write(&c, "k1");
    assert_eq!(eventually(20, "k1", || keys(&c, 1)), "k1");
    c.stop_pod(1);
    write(&c, "k2");
    let log = c.start_pod(1);
    assert!(log.contains("data present: yes"), "{log}");
    c.wait_ready(1, Duration::from_secs(60));
    assert_eq!(eventually(20, "k1,k2", || keys(&c, 1)), "k1,k2");
}

#[test]
fn redis_wiped_replica_resyncs_everything() {
    let Some(mut c) = cluster(3) else { return };
    c.start_ordered(3);
    write(&c, "k1");
    c.stop_pod(2);
    c.wipe_volume(2);
    write(&c, "k2");
    let log = c.start_pod(2);
    assert!(log.contains("data present: no"), "{log}");
    c.wait_ready(2, Duration::from_secs(60));
    assert_eq!(eventually(20, "k1,k2", || keys(&c, 2)), "k1,k2");
}

#[test]
fn redis_restarted_primary_keeps_its_data_and_replicas_reconnect() {
    let Some(mut c) = cluster(3) else { return };
    c.start_ordered(3);
    write(&c, "k1");
    c.stop_pod(0);
    let log = c.start_pod(0);
    assert!(log.contains("data present: yes"), "{log}");
    c.wait_ready(0, Duration::from_secs(60));
    assert_eq!(keys(&c, 0), "k1", "pod 0 loaded its append-only file");
    write(&c, "k2");
    for o in [1, 2] {
        assert_eq!(eventually(30, "k1,k2", || keys(&c, o)), "k1,k2", "pod {o}");
    }
}

#[test]
fn redis_wiped_primary_copies_a_peer_instead_of_emptying_the_replicas() {
    let Some(mut c) = cluster(2) else { return };
    c.start_ordered(2);
    write(&c, "k1");
    assert_eq!(eventually(20, "k1", || keys(&c, 1)), "k1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(log.contains("copied the dataset of redis-1"), "{log}");
    c.wait_ready(0, Duration::from_secs(60));
    assert_eq!(keys(&c, 0), "k1");
    write(&c, "k2");
    assert_eq!(
        eventually(30, "k1,k2", || keys(&c, 1)),
        "k1,k2",
        "the replica kept and follows"
    );
}
