//! PostgreSQL: streaming replication from pod 0, clones with pg_basebackup.

use std::time::Duration;

use crate::podsim::{Cluster, profile};
use crate::scenarios::{self, Db, READY, args, bootstrap, cluster, cluster_with, generate};
use crate::{eventually, ready_to_run};

struct Postgres;

impl Db for Postgres {
    const KIND: &'static str = "postgres";
    const IMAGE: &'static str = "postgres:";
    /// Exercises every quoting path (pgpass, SQL, shell).
    const PASSWORD: &'static str = r#"pw'with"quotes:colon\back"#;

    fn seed(c: &Cluster) {
        assert_eq!(
            sql(c, 0, "CREATE TABLE t (id int PRIMARY KEY)"),
            "CREATE TABLE"
        );
        Self::write(c, 1);
    }

    fn write(c: &Cluster, id: u32) {
        let out = sql(c, 0, &format!("INSERT INTO t VALUES ({id})"));
        assert_eq!(out, "INSERT 0 1", "write on pod 0");
    }

    fn items(c: &Cluster, ordinal: u32) -> String {
        sql(
            c,
            ordinal,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM t",
        )
    }

    fn resumed(log: &str) -> bool {
        log.contains("data directory present")
            && !log.contains("cloning")
            && !log.contains("initialised a new")
    }

    fn copied_from(log: &str, donor: u32) -> bool {
        log.contains(&format!("cloning postgres-{donor}"))
    }

    /// Its WAL receiver keeps streaming; replay is paused, after a transaction it replayed (so
    /// that the age of its last replayed transaction tells its lag).
    fn fall_behind(c: &Cluster, ordinal: u32) {
        sql(c, 0, "SELECT txid_current()");
        let replayed = || {
            sql(
                c,
                ordinal,
                "SELECT pg_last_xact_replay_timestamp() IS NOT NULL",
            )
        };
        assert_eq!(eventually(20, "t", replayed), "t");
        assert_eq!(sql(c, ordinal, "SELECT pg_wal_replay_pause()"), "");
    }

    /// No primary_conninfo: the WAL receiver stops.
    fn stop_replication(c: &Cluster, ordinal: u32) {
        assert_eq!(
            sql(c, ordinal, "ALTER SYSTEM SET primary_conninfo = ''"),
            "ALTER SYSTEM"
        );
        assert_eq!(sql(c, ordinal, "SELECT pg_reload_conf()"), "t");
        let receivers = || sql(c, ordinal, "SELECT count(*) FROM pg_stat_wal_receiver");
        assert_eq!(eventually(20, "0", receivers), "0");
    }

    const POSITION: &'static [&'static str] = &["start_lsn", "end_lsn", "timeline"];
}

fn sql(c: &Cluster, ordinal: u32, query: &str) -> String {
    c.exec(
        ordinal,
        &[
            "psql",
            "--host=/var/run/postgresql",
            "--username=postgres",
            "--dbname=postgres",
            "-At",
            "-c",
            query,
        ],
    )
    .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn postgres_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster::<Postgres>(3) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 3);
    Postgres::write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(20, "1,2", || Postgres::items(&c, o)),
            "1,2",
            "pod {o}"
        );
        assert_eq!(
            sql(&c, o, "SELECT pg_is_in_recovery()"),
            "t",
            "pod {o} is a standby"
        );
    }
    let senders = sql(
        &c,
        0,
        "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication",
    );
    assert_eq!(
        senders, "postgres-1,postgres-2",
        "both stream from pod 0 (pod 2 cloned pod 1)"
    );
    assert!(sql(&c, 1, "INSERT INTO t VALUES (9)").contains("read-only"));
    // max_slot_wal_keep_size follows the volume as it is (a quarter of it, at least
    // wal_keep_size), from the file init-data writes there: not from the size asked for.
    let df = std::process::Command::new("df")
        .args(["-Pk"])
        .arg(c.volume(0))
        .output()
        .unwrap();
    let df = String::from_utf8(df.stdout).unwrap();
    let kib: u64 = df
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let wal_keep: u64 = sql(
        &c,
        0,
        "SELECT setting FROM pg_settings WHERE name = 'wal_keep_size'",
    )
    .parse()
    .unwrap();
    assert_eq!(
        sql(
            &c,
            0,
            "SELECT setting || ' ' || sourcefile FROM pg_settings WHERE name = 'max_slot_wal_keep_size'"
        ),
        format!(
            "{} /var/lib/postgresql/data/sts-gen-volume.conf",
            (kib / 1024 / 4).max(wal_keep)
        )
    );
}

#[test]
fn postgres_wiped_primary_next_to_standbys_refuses_to_start_empty() {
    let Some(mut c) = cluster::<Postgres>(2) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 2);
    c.stop_pod(0);
    c.wipe_volume(0);
    let err = c.try_start_pod(0).unwrap_err();
    assert!(err.contains("refusing to initialise"), "{err}");
    assert_eq!(Postgres::items(&c, 1), "1", "the standby keeps the data");
}

#[test]
fn postgres_scale_up_clones_and_catches_up() {
    scenarios::scale_up::<Postgres>();
}

#[test]
fn postgres_restarted_replica_resumes_without_recloning() {
    scenarios::restarted_replica_resumes::<Postgres>();
}

#[test]
fn postgres_wiped_replica_reclones_and_catches_up() {
    scenarios::wiped_replica_recopies::<Postgres>();
}

#[test]
fn postgres_restarted_primary_is_not_reinitialised_and_replicas_reconnect() {
    scenarios::restarted_primary_keeps_its_data::<Postgres>();
}

#[test]
fn postgres_backup_restores_into_a_fresh_set() {
    let log = scenarios::backup_restores_into_a_fresh_set::<Postgres>();
    assert!(
        log.is_empty() || log.contains("recovered the backup onto timeline 2"),
        "a new timeline: {log}"
    );
}

#[test]
fn postgres_backup_skips_stale_standbys() {
    scenarios::backup_skips_stale_replicas::<Postgres>();
}

#[test]
fn postgres_backup_to_s3_restores_into_a_fresh_set() {
    crate::s3::backup_to_s3_restores_into_a_fresh_set::<Postgres>();
}

/// Pod 0's replication slots, "name:active" in name order.
fn slots(c: &Cluster) -> String {
    sql(
        c,
        0,
        "SELECT coalesce(string_agg(slot_name || ':' || active, ',' ORDER BY slot_name), '') \
         FROM pg_replication_slots",
    )
}

/// Writes at least `segments` WAL segments (16 MiB each) on pod 0 and checkpoints, so that pod 0
/// removes (or recycles) the WAL no slot and no wal_keep_size holds any more.
fn churn_wal(c: &Cluster, segments: u32) {
    for i in 0..segments {
        sql(c, 0, &format!("INSERT INTO t VALUES ({})", 1000 + i));
        sql(c, 0, "SELECT pg_switch_wal()");
    }
    for _ in 0..2 {
        assert_eq!(sql(c, 0, "CHECKPOINT"), "CHECKPOINT");
    }
}

/// Waits (30 s at most) until pod `ordinal`'s replication container logged `want`.
#[track_caller]
fn logged(c: &Cluster, ordinal: u32, want: &str) {
    let found = eventually(30, "found", || {
        if c.log(ordinal, "replication").contains(want) {
            "found"
        } else {
            "not yet"
        }
        .into()
    });
    assert_eq!(found, "found", "{want}:\n{}", c.log(ordinal, "replication"));
}

/// Polls pod `ordinal`'s readiness probe until it fails with a message containing `want`;
/// returns the message.
fn not_ready_with(c: &Cluster, ordinal: u32, secs: u64, want: &str) -> String {
    let mut last = String::new();
    eventually(secs, "failed", || match c.readiness(ordinal) {
        Ok(()) => {
            last = "Ready".into();
            "ready".into()
        }
        Err(e) => {
            last = e;
            if last.contains(want) {
                "failed"
            } else {
                "other"
            }
            .into()
        }
    });
    assert!(
        last.contains(want),
        "pod {ordinal}: want '{want}', got: {last}"
    );
    last
}

#[test]
fn postgres_standbys_stream_through_slots_that_keep_wal_for_a_stopped_one() {
    // wal_keep_size at its floor (one segment): only the slot keeps what pod 1 misses.
    let Some(mut c) = cluster_with::<Postgres>(args(&[
        "--replicas",
        "3",
        "--set",
        "postgres.walKeepSize=16Mi",
    ])) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 3);
    assert_eq!(
        eventually(30, "postgres_1:true,postgres_2:true", || slots(&c)),
        "postgres_1:true,postgres_2:true",
        "a slot per standby, in use"
    );
    for o in [1, 2] {
        assert_eq!(
            sql(&c, o, "SELECT slot_name FROM pg_stat_wal_receiver"),
            format!("postgres_{o}"),
            "pod {o} streams through its own slot"
        );
    }
    c.stop_pod(1);
    churn_wal(&c, 6);
    assert_eq!(
        eventually(10, "postgres_1:false,postgres_2:true", || slots(&c)),
        "postgres_1:false,postgres_2:true",
        "a stopped standby keeps its slot"
    );
    let log = c.start_pod(1);
    assert!(Postgres::resumed(&log), "{log}");
    c.wait_ready(1, READY);
    assert_eq!(
        eventually(30, "1,1000,1001,1002,1003,1004,1005", || Postgres::items(
            &c, 1
        )),
        "1,1000,1001,1002,1003,1004,1005",
        "pod 1 caught up on more WAL than wal_keep_size"
    );
}

#[test]
fn postgres_slot_of_a_removed_standby_is_dropped_not_of_a_stopped_one() {
    if !ready_to_run(&[profile(Postgres::IMAGE)]) {
        return;
    }
    // The rendered grace (10 minutes) and round (10 s), shortened for the test.
    let mut docs = generate::<Postgres>(&args(&["--replicas", "3"]));
    let mut patched = 0;
    for d in &mut docs {
        if let sts_gen::k8s::Manifest::ConfigMap(cm) = d
            && let Some(script) = cm.data.as_mut().and_then(|d| d.get_mut("replication.sh"))
        {
            *script = script
                .replace("\nGRACE_SECONDS=600\n", "\nGRACE_SECONDS=6\n")
                .replace("\nINTERVAL=10\n", "\nINTERVAL=2\n");
            patched += script.contains("GRACE_SECONDS=6\n") as u32
                + script.contains("INTERVAL=2\n") as u32;
        }
    }
    assert_eq!(patched, 2, "replication.sh has GRACE_SECONDS and INTERVAL");
    let mut c = Cluster::new(&docs, "cluster.local");
    bootstrap::<Postgres>(&mut c, 3);
    assert_eq!(
        eventually(30, "postgres_1:true,postgres_2:true", || slots(&c)),
        "postgres_1:true,postgres_2:true"
    );
    // Pod 1's server dies, its pod stays (a container restart); pod 2 is removed (scaled down).
    c.exec(
        1,
        &[
            "pg_ctl",
            "stop",
            "--pgdata=/var/lib/postgresql/data/pgdata",
            "--mode=immediate",
        ],
    )
    .unwrap();
    c.stop_pod(2);
    assert_eq!(
        eventually(40, "postgres_1:false", || slots(&c)),
        "postgres_1:false",
        "the removed ordinal's slot is dropped, the existing pod's kept"
    );
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        slots(&c),
        "postgres_1:false",
        "an existing pod keeps its slot"
    );
    let log = c.log(0, "replication");
    assert!(
        log.contains("dropped the replication slot postgres_2")
            && !log.contains("dropped the replication slot postgres_1"),
        "{log}"
    );
    // Both come back: pod 2 (whose slot went) gets a new one and catches up.
    c.stop_pod(1);
    c.start_pod(1);
    c.wait_ready(1, READY);
    Postgres::write(&c, 2);
    let log = c.start_pod(2);
    assert!(log.contains("replication slot postgres_2 present"), "{log}");
    c.wait_ready(2, READY);
    assert_eq!(
        eventually(30, "postgres_1:true,postgres_2:true", || slots(&c)),
        "postgres_1:true,postgres_2:true"
    );
    assert_eq!(eventually(30, "1,2", || Postgres::items(&c, 2)), "1,2");
}

#[test]
fn postgres_standby_is_ready_only_while_it_streams_within_the_lag_bound() {
    let Some(mut c) = cluster_with::<Postgres>(args(&["--replicas", "2", "--max-lag", "3"])) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 2);
    // An idle primary sends nothing: the standby is caught up, not 8 s behind.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(c.readiness(1), Ok(()), "idle primary, caught-up standby");
    assert_eq!(c.readiness(0), Ok(()));

    // A network partition between pod 1 and pod 0 (packets dropped both ways): pod 1's WAL
    // receiver notices within wal_receiver_timeout (60 s) and pod 1 leaves the read Service.
    let ip = |o: u32| {
        let line = c.exec(o, &["getent", "hosts", &c.fqdn(o)]).unwrap();
        line.split_whitespace().next().unwrap().to_owned()
    };
    let (ip0, ip1) = (ip(0), ip(1));
    c.run_in(1, &["ip", "route", "add", "blackhole", &ip0])
        .unwrap();
    c.run_in(0, &["ip", "route", "add", "blackhole", &ip1])
        .unwrap();
    not_ready_with(
        &c,
        1,
        120,
        "not streaming from pod 0: pod 0 does not answer",
    );
    assert_eq!(c.readiness(0), Ok(()), "the primary still accepts writes");
    logged(&c, 1, "NOT STREAMING: pod 0 does not answer");
    c.run_in(1, &["ip", "route", "del", "blackhole", &ip0])
        .unwrap();
    c.run_in(0, &["ip", "route", "del", "blackhole", &ip1])
        .unwrap();
    c.wait_ready(1, Duration::from_secs(90));
    Postgres::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Postgres::items(&c, 1)), "1,2");

    // Replay stalls (as behind a long query on the standby) while pod 0 writes on.
    sql(&c, 1, "SELECT pg_wal_replay_pause()");
    Postgres::write(&c, 3);
    not_ready_with(&c, 1, 30, "behind (replication.maxLagSeconds: 3s)");
    sql(&c, 1, "SELECT pg_wal_replay_resume()");
    c.wait_ready(1, Duration::from_secs(30));
    assert_eq!(eventually(20, "1,2,3", || Postgres::items(&c, 1)), "1,2,3");
}

#[test]
fn postgres_standby_with_a_reapplied_replication_password_says_so_and_recovers() {
    let Some(mut c) = cluster::<Postgres>(2) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 2);
    // A generated Secret applied again: new passwords, which the database never got.
    c.add_secret(
        "postgres-credentials",
        &[("replication-password", "Generated2ndTime")],
    );
    c.stop_pod(1);
    let log = c.start_pod(1);
    assert!(
        log.contains("the replication password in the Secret does not match the primary's"),
        "{log}"
    );
    let why = not_ready_with(&c, 1, 60, "does not match the primary's");
    assert!(why.contains("password authentication failed"), "{why}");
    logged(
        &c,
        1,
        "NOT STREAMING: the replication password in the Secret does not match the primary's",
    );
    // The documented fix: the database takes the Secret's password (operations.md, Passwords).
    assert_eq!(
        sql(&c, 0, "ALTER ROLE replication PASSWORD 'Generated2ndTime'"),
        "ALTER ROLE"
    );
    c.wait_ready(1, Duration::from_secs(60));
    Postgres::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Postgres::items(&c, 1)), "1,2");
    logged(
        &c,
        1,
        "streaming from postgres-0 through the slot postgres_1",
    );
}
