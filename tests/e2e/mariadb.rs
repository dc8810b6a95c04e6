//! MariaDB: the MySQL engine's pattern (shared scripts) with MariaDB's cloning: mariadb-backup
//! streamed by a peer's clone-server sidecar, GTID replication from pod 0.

use std::time::Duration;

use sts_gen::cli::{DbKind, GenerateArgs};

use crate::podsim::{Cluster, profile};
use crate::{eventually, ready_to_run};

/// A password that exercises every quoting path (option files, SQL, the clone handshake).
fn password(_len: usize) -> anyhow::Result<String> {
    Ok(r#"pw'with"quotes\back slash"#.to_owned())
}

fn cluster(replicas: u32) -> Option<Cluster> {
    if !ready_to_run(&[profile("mariadb:")]) {
        return None;
    }
    let args = GenerateArgs {
        replicas: Some(replicas.to_string()),
        ..Default::default()
    };
    let spec = sts_gen::resolve::resolve_with(DbKind::Mariadb, &args, &password)
        .unwrap()
        .spec;
    let docs = sts_gen::generate(&spec).unwrap();
    Some(Cluster::new(&docs, "cluster.local"))
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

fn rows(c: &Cluster, ordinal: u32) -> String {
    sql(c, ordinal, "SELECT GROUP_CONCAT(id ORDER BY id) FROM app.t")
}

fn write(c: &Cluster, id: u32) {
    let out = sql(c, 0, &format!("INSERT INTO app.t VALUES ({id})"));
    assert_eq!(out, "", "write on pod 0");
}

fn bootstrap(c: &mut Cluster, n: u32) {
    c.start_pod(0);
    c.wait_ready(0, Duration::from_secs(120));
    let out = sql(
        c,
        0,
        "CREATE DATABASE app; CREATE TABLE app.t (id int PRIMARY KEY); INSERT INTO app.t VALUES (1)",
    );
    assert_eq!(out, "", "schema on pod 0");
    for o in 1..n {
        c.start_pod(o);
        c.wait_ready(o, Duration::from_secs(120));
    }
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
    let Some(mut c) = cluster(3) else { return };
    c.start_pod(0);
    c.wait_ready(0, Duration::from_secs(120));
    sql(
        &c,
        0,
        "CREATE DATABASE app; CREATE TABLE app.t (id int PRIMARY KEY); INSERT INTO app.t VALUES (1)",
    );
    let log1 = c.start_pod(1);
    assert!(log1.contains("cloning the data of mariadb-0"), "{log1}");
    c.wait_ready(1, Duration::from_secs(120));
    let log2 = c.start_pod(2);
    assert!(
        log2.contains("cloning the data of mariadb-1"),
        "pod 2 clones pod 1: {log2}"
    );
    c.wait_ready(2, Duration::from_secs(120));
    write(&c, 2);
    for o in [1, 2] {
        assert_eq!(eventually(20, "1,2", || rows(&c, o)), "1,2", "pod {o}");
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
        accounts, "clone@%,mariadb.sys@localhost,replication@%,root@%,root@localhost",
        "no anonymous or host-name accounts"
    );
}

#[test]
fn mariadb_scale_to_four_clones_and_catches_up() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    write(&c, 2);
    let log = c.start_pod(3);
    assert!(log.contains("cloning the data of mariadb-2"), "{log}");
    c.wait_ready(3, Duration::from_secs(120));
    write(&c, 3);
    assert_eq!(eventually(20, "1,2,3", || rows(&c, 3)), "1,2,3");
}

#[test]
fn mariadb_restarted_replica_resumes_without_recloning() {
    let Some(mut c) = cluster(2) else { return };
    bootstrap(&mut c, 2);
    c.stop_pod(1);
    write(&c, 2);
    let log = c.start_pod(1);
    assert!(
        log.contains("data directory present") && !log.contains("cloning"),
        "{log}"
    );
    c.wait_ready(1, Duration::from_secs(120));
    assert_eq!(
        eventually(20, "1,2", || rows(&c, 1)),
        "1,2",
        "receives what it missed"
    );
}

#[test]
fn mariadb_wiped_replica_reclones_and_catches_up() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    c.stop_pod(2);
    c.wipe_volume(2);
    write(&c, 2);
    let log = c.start_pod(2);
    assert!(log.contains("cloning the data of mariadb-1"), "{log}");
    c.wait_ready(2, Duration::from_secs(120));
    write(&c, 3);
    assert_eq!(eventually(20, "1,2,3", || rows(&c, 2)), "1,2,3");
}

#[test]
fn mariadb_restarted_primary_is_not_reinitialised_and_replicas_reconnect() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    c.stop_pod(0);
    let log = c.start_pod(0);
    assert!(
        log.contains("data directory present") && !log.contains("initialising"),
        "{log}"
    );
    c.wait_ready(0, Duration::from_secs(120));
    write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(40, "1,2", || rows(&c, o)),
            "1,2",
            "pod {o} reconnected"
        );
    }
}

#[test]
fn mariadb_wiped_primary_rejoins_from_the_most_complete_replica() {
    let Some(mut c) = cluster(3) else { return };
    bootstrap(&mut c, 3);
    // Pod 2 falls behind: it misses write 2, which pod 1 has.
    assert_eq!(sql(&c, 2, "STOP SLAVE"), "");
    write(&c, 2);
    assert_eq!(eventually(20, "1,2", || rows(&c, 1)), "1,2");
    assert_eq!(rows(&c, 2), "1");
    c.stop_pod(0);
    c.wipe_volume(0);
    let log = c.start_pod(0);
    assert!(
        log.contains("rejoining with their data")
            && log.contains("cloning the data of mariadb-1")
            && !log.contains("initialising"),
        "pod 0 clones pod 1, the most complete peer: {log}"
    );
    c.wait_ready(0, Duration::from_secs(120));
    assert_eq!(rows(&c, 0), "1,2", "pod 0 has every write");
    // GTIDs continue where the replicas are, so pod 1 accepts pod 0's new writes.
    write(&c, 3);
    assert_eq!(eventually(40, "1,2,3", || rows(&c, 1)), "1,2,3");
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
    c.wait_ready(2, Duration::from_secs(120));
    write(&c, 4);
    assert_eq!(eventually(40, "1,2,3,4", || rows(&c, 2)), "1,2,3,4");
}
