//! Redis: replicas follow pod 0's stable DNS name, authenticated, persistent on the volume.

use crate::eventually;
use crate::podsim::Cluster;
use crate::scenarios::{
    self, Db, READY, args, bootstrap, cluster, cluster_with, readiness_becomes,
};

struct Redis;

/// Items are keys `k<id>`.
impl Db for Redis {
    const KIND: &'static str = "redis";
    const IMAGE: &'static str = "redis:";
    const PASSWORD: &'static str = r#"pw"with\quote's"#;

    fn seed(c: &Cluster) {
        Self::write(c, 1);
    }

    fn write(c: &Cluster, id: u32) {
        assert_eq!(cli(c, 0, &format!("set k{id} v")), "OK", "write on pod 0");
    }

    fn items(c: &Cluster, ordinal: u32) -> String {
        let mut ids: Vec<u32> = cli(c, ordinal, "--raw keys 'k*'")
            .lines()
            .filter_map(|k| k.strip_prefix('k')?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
    }

    fn resumed(log: &str) -> bool {
        log.contains("data present: yes")
    }

    /// A replica always copies pod 0's dataset (a full sync), whichever pod it follows.
    fn copied_from(log: &str, _donor: u32) -> bool {
        log.contains("data present: no")
    }

    /// Cut off from pod 0 by a partition: its link still shows up (until repl-timeout), and
    /// nothing arrives.
    fn fall_behind(c: &Cluster, ordinal: u32) {
        c.partition(ordinal, 0);
    }

    fn stop_replication(c: &Cluster, ordinal: u32) {
        assert_eq!(cli(c, ordinal, "replicaof no one"), "OK");
    }

    const POSITION: &'static [&'static str] = &["master_replid", "master_repl_offset"];
}

/// redis-cli in the pod, authenticated with the Secret's password (read from its file).
fn cli(c: &Cluster, ordinal: u32, command: &str) -> String {
    let script = format!(
        "REDISCLI_AUTH=$(cat /etc/redis-credentials/redis-password) redis-cli -h 127.0.0.1 {command}"
    );
    c.exec(ordinal, &["bash", "-c", &script])
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn redis_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster::<Redis>(3) else {
        return;
    };
    bootstrap::<Redis>(&mut c, 3);
    for o in [1, 2] {
        assert_eq!(eventually(20, "1", || Redis::items(&c, o)), "1", "pod {o}");
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
fn redis_wiped_primary_copies_a_peer_instead_of_emptying_the_replicas() {
    let Some(mut c) = cluster::<Redis>(2) else {
        return;
    };
    bootstrap::<Redis>(&mut c, 2);
    assert_eq!(eventually(20, "1", || Redis::items(&c, 1)), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(log.contains("copied the dataset of redis-1"), "{log}");
    c.wait_ready(0, READY);
    assert_eq!(Redis::items(&c, 0), "1");
    Redis::write(&c, 2);
    assert_eq!(
        eventually(30, "1,2", || Redis::items(&c, 1)),
        "1,2",
        "the replica kept and follows"
    );
}

/// Pod 0 rebuilt from the peer that holds the most of its stream, not the first that answers, and
/// the donor is never left writable.
#[test]
fn redis_wiped_primary_copies_the_most_complete_peer() {
    let Some(mut c) = cluster::<Redis>(3) else {
        return;
    };
    bootstrap::<Redis>(&mut c, 3);
    for o in [1, 2] {
        assert_eq!(eventually(20, "1", || Redis::items(&c, o)), "1", "pod {o}");
    }
    // Pod 1 falls behind: it stops following before item 2.
    assert_eq!(cli(&c, 1, "replicaof no one"), "OK");
    Redis::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Redis::items(&c, 2)), "1,2");
    assert_eq!(Redis::items(&c, 1), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(log.contains("copied the dataset of redis-2"), "{log}");
    c.wait_ready(0, READY);
    assert_eq!(
        Redis::items(&c, 0),
        "1,2",
        "nothing written before the loss is lost"
    );
    // The donor follows pod 0 again, read-only, with its own write guard back.
    let read_only = || {
        let reply = cli(&c, 2, "set x y");
        if reply.contains("READONLY") {
            "read-only".to_owned()
        } else {
            reply
        }
    };
    assert_eq!(
        eventually(30, "read-only", read_only),
        "read-only",
        "the donor is a replica again"
    );
    assert_eq!(
        cli(&c, 2, "config get min-replicas-to-write"),
        "min-replicas-to-write\n0"
    );
    Redis::write(&c, 3);
    assert_eq!(eventually(30, "1,2,3", || Redis::items(&c, 2)), "1,2,3");
}

/// Signal `sig` to pod `ordinal`'s redis-server (the pod's own PID namespace).
fn signal_server(c: &Cluster, ordinal: u32, sig: &str) {
    let script = format!(
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = redis-server ] && kill -{sig} ${{p#/proc/}}; done; true"
    );
    c.exec(ordinal, &["bash", "-c", &script]).unwrap();
}

/// A replica is Ready only while its link to pod 0 is up and it heard from pod 0 within
/// `--max-lag`: it leaves the read Service while pod 0 restarts or falls silent, and comes
/// back; an idle pod 0 does not make it flap.
#[test]
fn redis_replica_readiness_follows_its_link() {
    let Some(mut c) = cluster_with::<Redis>(args(&["--replicas", "2", "--max-lag", "3"])) else {
        return;
    };
    bootstrap::<Redis>(&mut c, 2);
    assert_eq!(eventually(20, "1", || Redis::items(&c, 1)), "1");
    // Idle pod 0 (no writes for 12 s, beyond Redis's default 10 s ping period): still Ready.
    for _ in 0..12 {
        assert_eq!(c.readiness(1), Ok(()), "an idle pod 0 is not lag");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }

    // Pod 0 restarts: the replica's link is down until it is back.
    c.stop_pod(0);
    let (verdict, took) = readiness_becomes(&c, 1, false, 10);
    assert!(verdict.is_err(), "Ready {took:?} after pod 0 stopped");
    assert!(
        verdict
            .as_ref()
            .is_err_and(|e| e.contains("link to pod 0 is down")),
        "{verdict:?}"
    );
    c.start_pod(0);
    c.wait_ready(0, READY);
    let (verdict, took) = readiness_becomes(&c, 1, true, 30);
    assert_eq!(verdict, Ok(()), "Ready again once pod 0 is back ({took:?})");
    Redis::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Redis::items(&c, 1)), "1,2");

    // Pod 0 falls silent with the link open (hung, or its node gone): not Ready past 3 s.
    signal_server(&c, 0, "STOP");
    let (verdict, took) = readiness_becomes(&c, 1, false, 15);
    signal_server(&c, 0, "CONT");
    assert!(verdict.is_err(), "Ready {took:?} after pod 0 fell silent");
    assert!(
        verdict.as_ref().is_err_and(|e| e.contains("over 3s")),
        "{verdict:?}"
    );
    let (verdict, _) = readiness_becomes(&c, 1, true, 30);
    assert_eq!(verdict, Ok(()), "Ready again once pod 0 answers");
    assert_eq!(c.readiness(0), Ok(()), "pod 0 accepts writes");
}

#[test]
fn redis_scale_up_syncs_and_catches_up() {
    scenarios::scale_up::<Redis>();
}

#[test]
fn redis_restarted_replica_keeps_its_data_and_catches_up() {
    scenarios::restarted_replica_resumes::<Redis>();
}

#[test]
fn redis_wiped_replica_resyncs_everything() {
    scenarios::wiped_replica_recopies::<Redis>();
}

#[test]
fn redis_restarted_primary_keeps_its_data_and_replicas_reconnect() {
    scenarios::restarted_primary_keeps_its_data::<Redis>();
}

#[test]
fn redis_backup_restores_into_a_fresh_set() {
    let _ = scenarios::backup_restores_into_a_fresh_set::<Redis>();
}

#[test]
fn redis_backup_skips_stale_replicas() {
    scenarios::backup_skips_stale_replicas::<Redis>();
}

#[test]
fn redis_backup_to_s3_restores_into_a_fresh_set() {
    crate::s3::backup_to_s3_restores_into_a_fresh_set::<Redis>();
}
