//! PostgreSQL: streaming replication from pod 0, clones with pg_basebackup.

use sts_gen::cli::{DbKind, GenerateArgs};

use crate::eventually;
use crate::podsim::Cluster;
use crate::scenarios::{self, Db, bootstrap, cluster};

struct Postgres;

impl Db for Postgres {
    const KIND: DbKind = DbKind::Postgres;
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
fn postgres_scale_to_four_clones_and_catches_up() {
    scenarios::scale_to_four::<Postgres>();
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

/// The backup CronJob's command copies a standby; everything is lost; the restore Job fills a
/// fresh pod 0 from the backup, and the fresh set serves what was written before the backup.
#[test]
fn postgres_backup_restores_into_a_fresh_set() {
    let args = GenerateArgs {
        replicas: Some("3".into()),
        backup_schedule: Some("0 3 * * *".into()),
        backup_keep: Some("2".into()),
        ..Default::default()
    };
    let Some(mut c) = scenarios::cluster_with::<Postgres>(args.clone()) else {
        return;
    };
    bootstrap::<Postgres>(&mut c, 3);
    Postgres::write(&c, 2);
    let job = c.backup_job.clone().expect("a backup CronJob");
    let mut names = Vec::new();
    for _ in 0..3 {
        let log = c
            .run_job(&job)
            .unwrap_or_else(|e| panic!("backup failed: {e}"));
        assert!(
            log.contains("backing up postgres-2") && log.contains("complete"),
            "a standby is copied, not the primary: {log}"
        );
        let mut now: Vec<String> = std::fs::read_dir(c.backups())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        now.sort();
        names = now;
    }
    assert_eq!(names.len(), 2, "keep 2: the oldest went ({names:?})");
    Postgres::write(&c, 3); // after the backups: not in them

    // Everything lost but the backups.
    for o in [2, 1, 0] {
        c.stop_pod(o);
        c.wipe_volume(o);
    }
    let restore = scenarios::generate::<Postgres>(&GenerateArgs {
        restore_from: Some(names[1].clone()),
        existing_secret: Some("postgres-credentials".into()),
        ..args
    });
    let job = restore
        .iter()
        .find_map(|d| match d {
            sts_gen::k8s::Manifest::Job(j) => j.spec.as_ref()?.template.spec.clone(),
            _ => None,
        })
        .expect("a restore Job");
    let log = c
        .run_job(&job)
        .unwrap_or_else(|e| panic!("restore failed: {e}"));
    assert!(log.contains("restored"), "{log}");
    let log = c.start_pod(0);
    assert!(
        Postgres::resumed(&log),
        "pod 0 starts on the restored data: {log}"
    );
    c.wait_ready(0, scenarios::READY);
    assert_eq!(
        Postgres::items(&c, 0),
        "1,2",
        "the backup's data, not the later write"
    );
    Postgres::write(&c, 4);
    for o in [1, 2] {
        c.start_pod(o);
        c.wait_ready(o, scenarios::READY);
        assert_eq!(eventually(30, "1,2,4", || Postgres::items(&c, o)), "1,2,4");
    }
}
