//! PostgreSQL: streaming replication from pod 0, clones with pg_basebackup.

use std::time::Duration;

use sts_gen::cli::{DbKind, GenerateArgs};

use crate::podsim::{Cluster, profile};
use crate::{eventually, ready_to_run};

/// A password that exercises every quoting path (pgpass, SQL, shell).
fn password(_len: usize) -> anyhow::Result<String> {
    Ok(r#"pw'with"quotes:colon\back"#.to_owned())
}

fn cluster(replicas: u32) -> Option<Cluster> {
    if !ready_to_run(&[profile("postgres:")]) {
        return None;
    }
    let args = GenerateArgs {
        replicas: Some(replicas.to_string()),
        ..Default::default()
    };
    let spec = sts_gen::resolve::resolve_with(DbKind::Postgres, &args, &password)
        .unwrap()
        .spec;
    let docs = sts_gen::generate(&spec).unwrap();
    Some(Cluster::new(&docs, "cluster.local"))
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

fn rows(c: &Cluster, ordinal: u32) -> String {
    sql(
        c,
        ordinal,
        "SELECT string_agg(id::text, ',' ORDER BY id) FROM t",
    )
}

fn write(c: &Cluster, id: u32) {
    let out = sql(c, 0, &format!("INSERT INTO t VALUES ({id})"));
    assert_eq!(out, "INSERT 0 1", "write on pod 0");
}

fn bootstrap(c: &mut Cluster, n: u32) {
    c.start_ordered(n);
    assert_eq!(
        sql(c, 0, "CREATE TABLE t (id int PRIMARY KEY)"),
        "CREATE TABLE"
    );
    write(c, 1);
}

#[test]
fn postgres_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    write(&c, 2);
    for o in [1, 2] {
        assert_eq!(eventually(20, "1,2", || rows(&c, o)), "1,2", "pod {o}");
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
fn postgres_scale_to_four_clones_and_catches_up() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    let log = c.start_pod(3);
    assert!(log.contains("cloning postgres-2"), "{log}");
    c.wait_ready(3, Duration::from_secs(60));
    write(&c, 2);
    assert_eq!(eventually(20, "1,2", || rows(&c, 3)), "1,2");
}

#[test]
fn postgres_restarted_replica_resumes_without_recloning() {
    let Some(mut c) = cluster(2) else { return };
    bootstrap(&mut c, 2);
    c.stop_pod(1);
    write(&c, 2);
    let log = c.start_pod(1);
    assert!(
        log.contains("data directory present") && !log.contains("cloning"),
        "{log}"
    );
    c.wait_ready(1, Duration::from_secs(60));
    assert_eq!(
        eventually(20, "1,2", || rows(&c, 1)),
        "1,2",
        "receives what it missed"
    );
}

#[test]
fn postgres_wiped_replica_reclones_and_catches_up() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    c.stop_pod(2);
    c.wipe_volume(2);
    write(&c, 2);
    let log = c.start_pod(2);
    assert!(log.contains("cloning postgres-1"), "{log}");
    c.wait_ready(2, Duration::from_secs(60));
    write(&c, 3);
    assert_eq!(eventually(20, "1,2,3", || rows(&c, 2)), "1,2,3");
}

#[test]
fn postgres_restarted_primary_is_not_reinitialised_and_replicas_reconnect() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    c.stop_pod(0);
    let log = c.start_pod(0);
    assert!(
        log.contains("data directory present") && !log.contains("initialised a new"),
        "{log}"
    );
    c.wait_ready(0, Duration::from_secs(60));
    write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(30, "1,2", || rows(&c, o)),
            "1,2",
            "pod {o} reconnected"
        );
    }
}

#[test]
fn postgres_wiped_primary_next_to_standbys_refuses_to_start_empty() {
    let Some(mut c) = cluster(2) else { return };
    bootstrap(&mut c, 2);
    c.stop_pod(0);
    c.wipe_volume(0);
    let err = c.try_start_pod(0).unwrap_err();
    assert!(err.contains("refusing to initialise"), "{err}");
    assert_eq!(rows(&c, 1), "1", "the standby keeps the data");
}
