//! PostgreSQL: streaming replication from pod 0, clones with pg_basebackup.

use crate::eventually;
use crate::podsim::Cluster;
use crate::scenarios::{self, Db, bootstrap, cluster};

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
