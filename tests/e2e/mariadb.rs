//! MariaDB: the MySQL engine's pattern (shared scripts) with MariaDB's cloning: mariadb-backup
//! streamed by a peer's clone-server sidecar, GTID replication from pod 0.

use crate::eventually;
use crate::podsim::Cluster;
use crate::scenarios::{
    self, Db, READY, args, bootstrap, cluster, cluster_with, readiness_becomes,
};

struct Mariadb;

impl Db for Mariadb {
    const KIND: &'static str = "mariadb";
    const IMAGE: &'static str = "mariadb:";
    /// Exercises every quoting path (option files, SQL, the clone handshake).
    const PASSWORD: &'static str = r#"pw'with"quotes\back slash"#;

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
        log.contains(&format!("cloning the data of mariadb-{donor}"))
    }

    /// Delayed replication: both threads run, the applier waits an hour behind pod 0.
    fn fall_behind(c: &Cluster, ordinal: u32) {
        let delayed = "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3600; START SLAVE";
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
        assert_eq!(sql(c, ordinal, "STOP SLAVE"), "");
    }

    const POSITION: &'static [&'static str] = &["gtid"];
}

/// A query as root over the pod's socket, with the Secret's password; tab-separated rows.
fn sql(c: &Cluster, ordinal: u32, query: &str) -> String {
    c.exec(
        ordinal,
        &[
            "bash",
            "-c",
            "MYSQL_PWD=$(cat /etc/mysql/credentials/root-password) \
             mariadb --defaults-file=/etc/mysql/sts-gen/my.cnf --user=root --batch --skip-column-names -e \"$1\"",
            "sql",
            query,
        ],
    )
    .unwrap_or_else(|e| format!("error: {e}"))
}

/// Slave_IO_Running / Slave_SQL_Running / Using_Gtid / Master_Host of a replica.
fn replica_status(c: &Cluster, ordinal: u32) -> String {
    let out = c
        .exec(
            ordinal,
            &[
                "bash",
                "-c",
                "MYSQL_PWD=$(cat /etc/mysql/credentials/root-password) \
                 mariadb --defaults-file=/etc/mysql/sts-gen/my.cnf --user=root -e 'SHOW SLAVE STATUS\\G'",
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
        "Slave_IO_Running",
        "Slave_SQL_Running",
        "Using_Gtid",
        "Master_Host",
    ]
    .map(field)
    .join("/")
}

#[test]
fn mariadb_bootstrap_three_pods_replicates_pod0_writes() {
    let Some(mut c) = cluster::<Mariadb>(3) else {
        return;
    };
    let logs = bootstrap::<Mariadb>(&mut c, 3);
    assert!(Mariadb::copied_from(&logs[1], 0), "{}", logs[1]);
    assert!(
        Mariadb::copied_from(&logs[2], 1),
        "pod 2 clones pod 1: {}",
        logs[2]
    );
    // A replica's own binlogged statement (read_only allows FLUSH) lands in its own GTID
    // domain and does not stop replication from pod 0.
    assert_eq!(sql(&c, 1, "FLUSH TABLES"), "");
    assert_eq!(sql(&c, 1, "SELECT @@gtid_domain_id"), "1");
    Mariadb::write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(20, "1,2", || Mariadb::items(&c, o)),
            "1,2",
            "pod {o}"
        );
        assert_eq!(
            replica_status(&c, o),
            format!("Yes/Yes/Slave_Pos/{}", c.fqdn(0)),
            "pod {o} replicates from pod 0 by GTID"
        );
        assert_eq!(sql(&c, o, "SELECT @@server_id"), format!("{}", 100 + o));
        let refused = sql(&c, o, "INSERT INTO app.t VALUES (9)");
        assert!(refused.contains("--read-only"), "pod {o}: {refused}");
    }
    let accounts = sql(
        &c,
        0,
        "SELECT GROUP_CONCAT(CONCAT(user, '@', host) ORDER BY user, host) FROM mysql.user",
    );
    assert_eq!(
        accounts,
        "admin@localhost,clone@%,clone@localhost,mariadb.sys@localhost,mysql@localhost,\
         replication@%,root@%,root@localhost",
        "no anonymous or host-name accounts"
    );
    // read_only binds root; the break-glass account admin (root's password, socket only) may
    // change it.
    let set_read_only = "SET GLOBAL read_only = ON; SET GLOBAL read_only = OFF; SELECT @@read_only";
    assert!(sql(&c, 0, set_read_only).contains("READ_ONLY ADMIN"));
    let admin = c.exec(
        0,
        &[
            "bash",
            "-c",
            "MYSQL_PWD=$(cat /etc/mysql/credentials/root-password) mariadb \
             --defaults-file=/etc/mysql/sts-gen/my.cnf --user=admin --batch --skip-column-names -e \"$1\"",
            "admin",
            set_read_only,
        ],
    );
    assert_eq!(admin.as_deref(), Ok("0"));
    // The probes' login: the OS user over the socket, no password.
    let probe_user = c.exec(
        0,
        &[
            "mariadb",
            "--defaults-file=/etc/mysql/sts-gen/my.cnf",
            "--user=mysql",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT CURRENT_USER()",
        ],
    );
    assert_eq!(probe_user.as_deref(), Ok("mysql@localhost"));
    let log = c.log(0, "mariadb");
    assert!(
        log.contains("ready for connections")
            && !log.contains("Access denied for user 'mysql'@'localhost'"),
        "the probes log in without errors: {log}"
    );
    // Over the network the clone user reads the set's id, and can do nothing else.
    let remote = c.exec(
        1,
        &[
            "bash",
            "-c",
            "MYSQL_PWD=$(cat /etc/mysql/credentials/clone-password) mariadb --no-defaults \
             --host=\"$1\" --user=clone --batch --skip-column-names \
             -e 'SELECT COUNT(*) FROM sts_gen.cluster; FLUSH TABLES WITH READ LOCK' 2>&1 || true",
            "remote",
            &c.fqdn(0),
        ],
    );
    let remote = remote.unwrap_or_else(|e| e);
    assert!(
        remote.starts_with("1\n") && remote.contains("RELOAD"),
        "{remote}"
    );
}

#[test]
fn mariadb_wiped_primary_rejoins_from_the_most_complete_replica() {
    let Some(mut c) = cluster::<Mariadb>(3) else {
        return;
    };
    bootstrap::<Mariadb>(&mut c, 3);
    // Pod 2 falls behind: it misses write 2, which pod 1 has.
    assert_eq!(sql(&c, 2, "STOP SLAVE"), "");
    Mariadb::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Mariadb::items(&c, 1)), "1,2");
    assert_eq!(Mariadb::items(&c, 2), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(
        log.contains("rejoining with their data")
            && log.contains("cloning the data of mariadb-1")
            && !log.contains("initialising"),
        "pod 0 clones pod 1, the most complete peer: {log}"
    );
    c.wait_ready(0, READY);
    assert_eq!(Mariadb::items(&c, 0), "1,2", "pod 0 has every write");
    // GTIDs continue where the replicas are, so pod 1 accepts pod 0's new writes.
    Mariadb::write(&c, 3);
    assert_eq!(eventually(40, "1,2,3", || Mariadb::items(&c, 1)), "1,2,3");
    // Pod 2 needs write 2 from pod 0's binary log, which the rebuilt pod 0 never had (a backup
    // holds no binary logs): its receiver stops with error 1236 and it turns not Ready instead of
    // serving stale data, as in MySQL. A re-clone (wipe its volume) brings it back.
    assert_eq!(sql(&c, 2, "START SLAVE"), "");
    let io_error = || {
        sql(&c, 2, "SHOW SLAVE STATUS")
            .split('\t')
            .any(|f| f == "1236")
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
    assert!(log.contains("cloning the data of mariadb-1"), "{log}");
    c.wait_ready(2, READY);
    Mariadb::write(&c, 4);
    assert_eq!(
        eventually(40, "1,2,3,4", || Mariadb::items(&c, 2)),
        "1,2,3,4"
    );
}

/// A replica is Ready only while it replicates from pod 0 and is at most `--max-lag` seconds
/// behind: it leaves the read Service when its receiver stops or cannot reach pod 0
/// ("Connecting"), or when its applier falls behind, and comes back once repaired.
#[test]
fn mariadb_replica_readiness_follows_replication() {
    let Some(mut c) = cluster_with::<Mariadb>(args(&["--replicas", "2", "--max-lag", "5"])) else {
        return;
    };
    bootstrap::<Mariadb>(&mut c, 2);
    assert_eq!(c.readiness(1), Ok(()));

    // The receiver stopped.
    assert_eq!(sql(&c, 1, "STOP SLAVE IO_THREAD"), "");
    let (verdict, _) = readiness_becomes(&c, 1, false, 15);
    assert!(verdict.is_err(), "Ready with its receiver stopped");
    assert_eq!(sql(&c, 1, "START SLAVE IO_THREAD"), "");
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
    Mariadb::write(&c, 2);
    assert_eq!(eventually(30, "1,2", || Mariadb::items(&c, 1)), "1,2");

    // The applier falls behind (a delayed replica): not Ready past the cap of 5 s.
    let delay = |s: u32| {
        sql(
            &c,
            1,
            &format!("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = {s}; START SLAVE"),
        )
    };
    assert_eq!(delay(3600), "");
    Mariadb::write(&c, 3);
    let (verdict, took) = readiness_becomes(&c, 1, false, 30);
    assert!(verdict.is_err(), "Ready {took:?} behind pod 0");
    assert!(
        verdict
            .as_ref()
            .is_err_and(|e| e.contains("lag") && e.contains("over 5s")),
        "{verdict:?}"
    );
    assert_eq!(Mariadb::items(&c, 1), "1,2", "the replica is indeed behind");
    assert_eq!(delay(0), "");
    let (verdict, _) = readiness_becomes(&c, 1, true, 30);
    assert_eq!(verdict, Ok(()), "Ready again once caught up");
    assert_eq!(Mariadb::items(&c, 1), "1,2,3");
    // Pod 0 stays Ready throughout: it accepts writes.
    assert_eq!(c.readiness(0), Ok(()));
}

/// The most complete replica is restarting (its server frozen, answering nothing) when pod 0
/// is rebuilt: pod 0 waits for it rather than cloning the first peer that answers, a stale one.
#[test]
fn mariadb_wiped_primary_waits_for_a_restarting_peer() {
    let Some(mut c) = cluster::<Mariadb>(3) else {
        return;
    };
    bootstrap::<Mariadb>(&mut c, 3);
    // Pod 1 falls behind: it misses write 2, which pod 2 has.
    assert_eq!(sql(&c, 1, "STOP SLAVE"), "");
    Mariadb::write(&c, 2);
    assert_eq!(eventually(20, "1,2", || Mariadb::items(&c, 2)), "1,2");
    assert_eq!(Mariadb::items(&c, 1), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    // Pod 2's server stops answering for 25 seconds, as a restarting one would.
    let freeze = "for p in /proc/[0-9]*; do case $(cat $p/comm 2>/dev/null) in mariadbd | mysqld) pid=${p#/proc/} ;; esac; done; \
                  [ -n \"${pid:-}\" ] && kill -STOP $pid && { (sleep 25; kill -CONT $pid) </dev/null >/dev/null 2>&1 & }; \
                  sleep 1; grep State /proc/$pid/status";
    let state = c.exec(2, &["bash", "-c", freeze]).unwrap();
    assert!(state.contains("stopped"), "{state}");
    let log = c.start_pod(0);
    assert!(
        log.contains("waiting for the others") && log.contains("cloning the data of mariadb-2"),
        "pod 0 waits for pod 2 and clones it, the most complete peer: {log}"
    );
    c.wait_ready(0, READY);
    assert_eq!(
        Mariadb::items(&c, 0),
        "1,2",
        "nothing written before the loss is lost"
    );
}

#[test]
fn mariadb_scale_up_clones_and_catches_up() {
    scenarios::scale_up::<Mariadb>();
}

#[test]
fn mariadb_restarted_replica_resumes_without_recloning() {
    scenarios::restarted_replica_resumes::<Mariadb>();
}

#[test]
fn mariadb_wiped_replica_reclones_and_catches_up() {
    scenarios::wiped_replica_recopies::<Mariadb>();
}

#[test]
fn mariadb_restarted_primary_is_not_reinitialised_and_replicas_reconnect() {
    scenarios::restarted_primary_keeps_its_data::<Mariadb>();
}

#[test]
fn mariadb_backup_restores_into_a_fresh_set() {
    let _ = scenarios::backup_restores_into_a_fresh_set::<Mariadb>();
}

#[test]
fn mariadb_backup_skips_stale_replicas() {
    scenarios::backup_skips_stale_replicas::<Mariadb>();
}

#[test]
fn mariadb_backup_to_s3_restores_into_a_fresh_set() {
    crate::s3::backup_to_s3_restores_into_a_fresh_set::<Mariadb>();
}
