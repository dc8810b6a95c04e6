//! MySQL: the engine's own flavour, run with Debian's MySQL (the `mysql:` profile's Debian root,
//! `podsim::mysql_root`): replicas clone a running peer with the CLONE plugin over TLS, follow pod 0
//! with GTID auto-positioning, and the backup is a CLONE into the backups volume.

use std::io::Write as _;

use crate::eventually;
use crate::podsim::{Cluster, mysql_root, mysql_root_version};
use crate::scenarios::{
    self, Db, READY, args, bootstrap, cluster, cluster_with, readiness_becomes,
};

struct Mysql;

/// The image the tests' manifests name: the series of Debian's `mysql-server`, which runs.
const TESTED_IMAGE: &str = "mysql:9.7";

impl Db for Mysql {
    const KIND: &'static str = "mysql";
    const IMAGE: &'static str = "mysql:";
    /// Exercises every quoting path (option files, SQL, CLONE and CHANGE REPLICATION SOURCE);
    /// MySQL takes at most 32 characters for the replication password.
    const PASSWORD: &'static str = r#"pw'with"quotes\back slash"#;
    /// The series the Debian root carries (the default image stays 8.4, which Debian lacks).
    const FLAGS: &'static [&'static str] = &["--image", TESTED_IMAGE];

    fn seed(c: &Cluster) {
        let out = sql(
            c,
            0,
            "CREATE DATABASE app; CREATE TABLE app.t (id int PRIMARY KEY); INSERT INTO app.t VALUES (1)",
        );
        assert_eq!(out, "", "schema on pod 0");
    }

    fn write(c: &Cluster, id: u32) {
        let out = sql(c, 0, &format!("INSERT INTO app.t VALUES ({id})"));
        assert_eq!(out, "", "write on pod 0");
    }

    fn items(c: &Cluster, ordinal: u32) -> String {
        sql(c, ordinal, "SELECT GROUP_CONCAT(id ORDER BY id) FROM app.t")
    }

    fn resumed(log: &str) -> bool {
        log.contains("data directory present")
            && !log.contains("cloning")
            && !log.contains("initialising")
    }

    fn copied_from(log: &str, donor: u32) -> bool {
        log.contains(&format!("cloning the data of mysql-{donor}"))
            && log.contains(&format!("clone of mysql-{donor} complete"))
    }

    /// Delayed replication: both threads run, the applier waits an hour behind pod 0.
    fn fall_behind(c: &Cluster, ordinal: u32) {
        let delayed =
            "STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA";
        assert_eq!(sql(c, ordinal, delayed), "");
        assert_eq!(
            eventually(20, "Yes/Yes", || replica_status(c, ordinal)
                .split('/')
                .take(2)
                .collect::<Vec<_>>()
                .join("/")),
            "Yes/Yes"
        );
    }

    fn stop_replication(c: &Cluster, ordinal: u32) {
        assert_eq!(sql(c, ordinal, "STOP REPLICA"), "");
    }

    const POSITION: &'static [&'static str] = &["gtid"];
}

/// A query as root over the pod's socket, with the Secret's password; tab-separated rows (or
/// `error: ` and what the client printed).
fn sql(c: &Cluster, ordinal: u32, query: &str) -> String {
    c.exec(
        ordinal,
        &[
            "bash",
            "-c",
            // The client's warning about a password on the command line goes to stderr.
            "mysql --defaults-file=/etc/mysql/sts-gen/my.cnf --user=root \
             --password=\"$(cat /etc/mysql/credentials/root-password)\" \
             --batch --skip-column-names -e \"$1\"",
            "sql",
            query,
        ],
    )
    .unwrap_or_else(|e| format!("error: {e}"))
}

/// Replica_IO_Running / Replica_SQL_Running / Auto_Position / Source_Host of a replica.
fn replica_status(c: &Cluster, ordinal: u32) -> String {
    // Debian's 9.7 client processes no `\G` in batch mode: --vertical instead.
    let out = c
        .exec(
            ordinal,
            &[
                "bash",
                "-c",
                "mysql --defaults-file=/etc/mysql/sts-gen/my.cnf --user=root \
                 --password=\"$(cat /etc/mysql/credentials/root-password)\" \
                 --vertical -e 'SHOW REPLICA STATUS'",
            ],
        )
        .unwrap_or_else(|e| e);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or("")
            .to_owned()
    };
    [
        "Replica_IO_Running",
        "Replica_SQL_Running",
        "Auto_Position",
        "Source_Host",
    ]
    .map(field)
    .join("/")
}

/// The executed GTID set of a pod, on one line.
fn executed(c: &Cluster, ordinal: u32) -> String {
    sql(
        c,
        ordinal,
        "SELECT REPLACE(@@GLOBAL.gtid_executed, '\\n', '')",
    )
}

#[test]
fn mysql_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster::<Mysql>(3) else {
        return;
    };
    let logs = bootstrap::<Mysql>(&mut c, 3);
    assert!(logs[0].contains("initialised a new primary"), "{}", logs[0]);
    assert!(Mysql::copied_from(&logs[1], 0), "{}", logs[1]);
    assert!(
        Mysql::copied_from(&logs[2], 1),
        "pod 2 clones pod 1: {}",
        logs[2]
    );

    // The server that ran is Debian's, from the root the `mysql:` profile names. Printed past
    // the test harness's capture, so that every run's output says which MySQL it tested.
    let version = sql(&c, 0, "SELECT VERSION()");
    let debian = mysql_root_version().unwrap();
    assert_eq!(version, debian, "pod 0 runs the Debian root's mysqld");
    let series = TESTED_IMAGE.trim_start_matches("mysql:");
    assert!(
        version.starts_with(&format!("{series}.")),
        "the manifests name {TESTED_IMAGE}, the server is {version}: Debian's mysql-server moved on \
         (rebuild the root, or change TESTED_IMAGE and the docs)"
    );
    let root = mysql_root().unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "e2e: MySQL {version} (Debian's mysql-server, from {})",
        root.display()
    );

    Mysql::write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(20, "1,2", || Mysql::items(&c, o)),
            "1,2",
            "pod {o}"
        );
        assert_eq!(
            replica_status(&c, o),
            format!("Yes/Yes/1/{}", c.fqdn(0)),
            "pod {o} replicates from pod 0 with GTID auto-positioning"
        );
        assert_eq!(sql(&c, o, "SELECT @@server_id"), format!("{}", 100 + o));
        assert_eq!(sql(&c, o, "SELECT @@report_host"), c.fqdn(o));
        assert_eq!(sql(&c, o, "SELECT @@super_read_only"), "1");
        let refused = sql(&c, o, "INSERT INTO app.t VALUES (9)");
        assert!(refused.contains("--super-read-only"), "pod {o}: {refused}");
    }
    assert_eq!(sql(&c, 0, "SELECT @@super_read_only + @@read_only"), "0");
    // Both replicas' receivers hold a TLS connection to pod 0 (caching_sha2_password).
    assert_eq!(
        sql(
            &c,
            0,
            "SELECT GROUP_CONCAT(CONNECTION_TYPE) FROM performance_schema.threads \
             WHERE PROCESSLIST_USER = 'replication'"
        ),
        "SSL/TLS,SSL/TLS"
    );
    let accounts = sql(
        &c,
        0,
        "SELECT GROUP_CONCAT(CONCAT(user, '@', host, ':', plugin) ORDER BY user, host) FROM mysql.user",
    );
    assert_eq!(
        accounts,
        "clone@%:caching_sha2_password,mysql.infoschema@localhost:caching_sha2_password,\
         mysql.session@localhost:caching_sha2_password,mysql.sys@localhost:caching_sha2_password,\
         replication@%:caching_sha2_password,root@%:caching_sha2_password,\
         root@localhost:caching_sha2_password",
        "no anonymous or host-name accounts"
    );

    // A replica binlogs FLUSH (without LOCAL) under its own server UUID: an errant GTID that a
    // later rebuild of pod 0 would trip over (the README's advice: FLUSH LOCAL on replicas; heal
    // one with an empty transaction of that GTID on pod 0).
    assert_eq!(sql(&c, 2, "FLUSH TABLES"), "");
    let errant = sql(
        &c,
        2,
        &format!(
            "SELECT GTID_SUBTRACT(REPLACE(@@GLOBAL.gtid_executed, '\\n', ''), '{}')",
            executed(&c, 0)
        ),
    );
    assert_eq!(
        sql(
            &c,
            2,
            &format!("SELECT LOCATE(@@server_uuid, '{errant}') = 1")
        ),
        "1",
        "FLUSH on a replica is an errant GTID of its own: {errant}"
    );
    assert_eq!(
        sql(
            &c,
            0,
            &format!("SET GTID_NEXT = '{errant}'; BEGIN; COMMIT; SET GTID_NEXT = 'AUTOMATIC'")
        ),
        ""
    );
    let contained = |c: &Cluster| {
        sql(
            c,
            0,
            &format!(
                "SELECT GTID_SUBSET('{}', @@GLOBAL.gtid_executed)",
                executed(c, 2)
            ),
        )
    };
    assert_eq!(contained(&c), "1", "healed on pod 0");
    assert_eq!(sql(&c, 2, "FLUSH LOCAL TABLES"), "");
    assert_eq!(contained(&c), "1", "FLUSH LOCAL leaves none");

    // Over the network the clone user reads the set's id, and can do nothing else.
    let remote = c.exec(
        1,
        &[
            "bash",
            "-c",
            "mysql --no-defaults --host=\"$1\" --user=clone \
             --password=\"$(cat /etc/mysql/credentials/clone-password)\" --batch --skip-column-names \
             -e 'SELECT COUNT(*) FROM sts_gen.cluster; SELECT COUNT(*) FROM app.t' 2>&1 || true",
            "remote",
            &c.fqdn(0),
        ],
    );
    let remote = remote.unwrap_or_else(|e| e);
    assert!(
        remote.lines().any(|l| l == "1") && remote.contains("denied"),
        "{remote}"
    );
}

#[test]
fn mysql_wiped_primary_rejoins_from_the_most_complete_replica() {
    let Some(mut c) = cluster::<Mysql>(3) else {
        return;
    };
    bootstrap::<Mysql>(&mut c, 3);
    // Pod 2 falls behind: it misses write 2, which pod 1 has.
    assert_eq!(sql(&c, 2, "STOP REPLICA"), "");
    Mysql::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Mysql::items(&c, 1)), "1,2");
    assert_eq!(Mysql::items(&c, 2), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(
        log.contains("rejoining with their data")
            && log.contains("cloning the data of mysql-1")
            // The throw-away recipient of the clone is initialised; no new primary is.
            && !log.contains("initialised a new primary"),
        "pod 0 clones pod 1, the most complete peer: {log}"
    );
    c.wait_ready(0, READY);
    assert_eq!(Mysql::items(&c, 0), "1,2", "pod 0 has every write");
    assert_eq!(sql(&c, 0, "SELECT @@super_read_only"), "0", "writable");
    // GTIDs continue where the replicas are, so pod 1 accepts pod 0's new writes.
    Mysql::write(&c, 3);
    assert_eq!(eventually(40, "1,2,3", || Mysql::items(&c, 1)), "1,2,3");
    // Pod 2 needs write 2 from pod 0's binary log, which the rebuilt pod 0 never had (a clone
    // carries no binary logs): its receiver stops with error 1236 and it turns not Ready instead
    // of serving stale data. A re-clone (wipe its volume) brings it back.
    assert_eq!(sql(&c, 2, "START REPLICA"), "");
    let io_error = || {
        sql(
            &c,
            2,
            "SELECT LAST_ERROR_MESSAGE FROM performance_schema.replication_connection_status",
        )
        .contains("1236")
        .to_string()
    };
    assert_eq!(eventually(30, "true", io_error), "true");
    assert!(
        c.exec(2, &["bash", "/scripts/readiness.sh"]).is_err(),
        "the lagging replica is not Ready"
    );
    c.stop_pod(2);
    c.wipe_volume(2);
    let log = c.start_pod(2);
    assert!(Mysql::copied_from(&log, 1), "{log}");
    c.wait_ready(2, READY);
    Mysql::write(&c, 4);
    assert_eq!(eventually(40, "1,2,3,4", || Mysql::items(&c, 2)), "1,2,3,4");
}

/// A replica is Ready only while it replicates from pod 0 and is at most `--max-lag` seconds
/// behind: it leaves the read Service when its receiver stops or cannot reach pod 0
/// ("Connecting"), or when its applier falls behind, and comes back once repaired.
#[test]
fn mysql_replica_readiness_follows_replication() {
    let Some(mut c) = cluster_with::<Mysql>(args(&["--replicas", "2", "--max-lag", "5"])) else {
        return;
    };
    bootstrap::<Mysql>(&mut c, 2);
    assert_eq!(c.readiness(1), Ok(()));

    // The receiver stopped.
    assert_eq!(sql(&c, 1, "STOP REPLICA IO_THREAD"), "");
    let (verdict, _) = readiness_becomes(&c, 1, false, 15);
    assert!(verdict.is_err(), "Ready with its receiver stopped");
    assert_eq!(sql(&c, 1, "START REPLICA IO_THREAD"), "");
    let (verdict, _) = readiness_becomes(&c, 1, true, 30);
    assert_eq!(verdict, Ok(()), "back once the receiver runs");

    // Pod 0 gone: the receiver retries ("Connecting"); the replica serves no reads meanwhile.
    c.stop_pod(0);
    let (verdict, took) = readiness_becomes(&c, 1, false, 30);
    assert!(verdict.is_err(), "Ready {took:?} after pod 0 stopped");
    assert!(
        verdict
            .as_ref()
            .is_err_and(|e| e.contains("receiver Connecting")),
        "{verdict:?}"
    );
    c.start_pod(0);
    c.wait_ready(0, READY);
    let (verdict, _) = readiness_becomes(&c, 1, true, 60);
    assert_eq!(verdict, Ok(()), "Ready again once pod 0 is back");
    Mysql::write(&c, 2);
    assert_eq!(eventually(30, "1,2", || Mysql::items(&c, 1)), "1,2");

    // The applier falls behind (a delayed replica): not Ready past the cap of 5 s.
    let delay = |s: u32| {
        sql(
            &c,
            1,
            &format!(
                "STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = {s}; START REPLICA"
            ),
        )
    };
    assert_eq!(delay(3600), "");
    Mysql::write(&c, 3);
    let (verdict, took) = readiness_becomes(&c, 1, false, 30);
    assert!(verdict.is_err(), "Ready {took:?} behind pod 0");
    assert!(
        verdict
            .as_ref()
            .is_err_and(|e| e.contains("lag") && e.contains("over 5s")),
        "{verdict:?}"
    );
    assert_eq!(Mysql::items(&c, 1), "1,2", "the replica is indeed behind");
    assert_eq!(delay(0), "");
    let (verdict, _) = readiness_becomes(&c, 1, true, 30);
    assert_eq!(verdict, Ok(()), "Ready again once caught up");
    assert_eq!(Mysql::items(&c, 1), "1,2,3");
    // Pod 0 stays Ready throughout: it accepts writes.
    assert_eq!(c.readiness(0), Ok(()));
}

/// The most complete replica is restarting (its server frozen, answering nothing) when pod 0
/// is rebuilt: pod 0 waits for it rather than cloning the first peer that answers, a stale one.
#[test]
fn mysql_wiped_primary_waits_for_a_restarting_peer() {
    let Some(mut c) = cluster::<Mysql>(3) else {
        return;
    };
    bootstrap::<Mysql>(&mut c, 3);
    // Pod 1 falls behind: it misses write 2, which pod 2 has.
    assert_eq!(sql(&c, 1, "STOP REPLICA"), "");
    Mysql::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Mysql::items(&c, 2)), "1,2");
    assert_eq!(Mysql::items(&c, 1), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    // Pod 2's server stops answering for 25 seconds, as a restarting one would.
    let freeze = "for p in /proc/[0-9]*; do case $(cat $p/comm 2>/dev/null) in mysqld) pid=${p#/proc/} ;; esac; done; \
                  [ -n \"${pid:-}\" ] && kill -STOP $pid && { (sleep 25; kill -CONT $pid) </dev/null >/dev/null 2>&1 & }; \
                  sleep 1; grep State /proc/$pid/status";
    let state = c.exec(2, &["bash", "-c", freeze]).unwrap();
    assert!(state.contains("stopped"), "{state}");
    let log = c.start_pod(0);
    assert!(
        log.contains("waiting for the others") && log.contains("cloning the data of mysql-2"),
        "pod 0 waits for pod 2 and clones it, the most complete peer: {log}"
    );
    c.wait_ready(0, READY);
    assert_eq!(
        Mysql::items(&c, 0),
        "1,2",
        "nothing written before the loss is lost"
    );
}

/// Pod 0 lost its volume while replica 1 was away (deleted, its volume kept): pod 0 sees no peer
/// and starts a new replication set. Replica 1, back, refuses to replicate it: its server starts
/// on its own data without replication and is not Ready. Pod 0 rebuilt from it has the old set's
/// data, and the replica then follows it again.
#[test]
fn mysql_replica_of_another_set_keeps_its_data_for_pod0() {
    let Some(mut c) = cluster::<Mysql>(2) else {
        return;
    };
    bootstrap::<Mysql>(&mut c, 2);
    Mysql::write(&c, 2);
    assert_eq!(eventually(30, "1,2", || Mysql::items(&c, 1)), "1,2");
    c.stop_pod(1);
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(log.contains("initialised a new primary"), "{log}");
    c.wait_ready(0, READY);

    let log = c.start_pod(1);
    assert!(
        log.contains("NOT REPLICATING: pod 0 belongs to replication set"),
        "{log}"
    );
    assert_eq!(
        eventually(60, "1,2", || Mysql::items(&c, 1)),
        "1,2",
        "its server starts on its data"
    );
    assert_eq!(
        sql(
            &c,
            1,
            "SELECT SERVICE_STATE FROM performance_schema.replication_connection_status"
        ),
        "OFF",
        "and does not replicate"
    );
    let verdict = c.readiness(1);
    assert!(
        verdict.as_ref().is_err_and(|e| e.contains("receiver No")),
        "not Ready: {verdict:?}"
    );

    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(
        Mysql::copied_from(&log, 1),
        "pod 0 rebuilt from pod 1: {log}"
    );
    c.wait_ready(0, READY);
    assert_eq!(Mysql::items(&c, 0), "1,2", "the old set's data");
    c.stop_pod(1);
    let log = c.start_pod(1);
    assert!(
        Mysql::resumed(&log) && !log.contains("NOT REPLICATING"),
        "{log}"
    );
    c.wait_ready(1, READY);
    Mysql::write(&c, 3);
    assert_eq!(eventually(30, "1,2,3", || Mysql::items(&c, 1)), "1,2,3");
}

#[test]
fn mysql_scale_up_clones_and_catches_up() {
    scenarios::scale_up::<Mysql>();
}

#[test]
fn mysql_restarted_replica_resumes_without_recloning() {
    scenarios::restarted_replica_resumes::<Mysql>();
}

#[test]
fn mysql_wiped_replica_reclones_and_catches_up() {
    scenarios::wiped_replica_recopies::<Mysql>();
}

#[test]
fn mysql_restarted_primary_is_not_reinitialised_and_replicas_reconnect() {
    scenarios::restarted_primary_keeps_its_data::<Mysql>();
}

#[test]
fn mysql_backup_restores_into_a_fresh_set() {
    let log = scenarios::backup_restores_into_a_fresh_set::<Mysql>();
    assert!(
        log.is_empty() || log.contains("restored; this pod starts as the primary"),
        "{log}"
    );
}

#[test]
fn mysql_backup_skips_stale_replicas() {
    scenarios::backup_skips_stale_replicas::<Mysql>();
}

#[test]
fn mysql_backup_to_s3_restores_into_a_fresh_set() {
    crate::s3::backup_to_s3_restores_into_a_fresh_set::<Mysql>();
}
