//! The failure stories every replicated engine must survive, written once: each engine describes
//! how to write an item on pod 0, list the items a pod serves, and what its init output says.

use std::time::Duration;

/// Flags of `sts-gen <database>` (the database itself not among them).
pub type Args = Vec<String>;

/// `words` as flags.
pub fn args(words: &[&str]) -> Args {
    words.iter().map(|w| (*w).to_owned()).collect()
}

use crate::podsim::{Cluster, profile};
use crate::{eventually, ready_to_run};

/// How long a pod may take to become Ready.
pub const READY: Duration = Duration::from_secs(120);

pub trait Db {
    /// The database's subcommand.
    const KIND: &'static str;
    /// The image → host profile's prefix.
    const IMAGE: &'static str;
    /// The generated Secret's passwords: one that exercises every quoting path.
    const PASSWORD: &'static str;
    /// Flags every manifest of the engine's tests gets, after the test's own (an image whose
    /// version is the one the profile runs).
    const FLAGS: &'static [&'static str] = &[];
    /// Pod 0 is Ready: create whatever the items live in, and write item 1.
    fn seed(c: &Cluster);
    /// Writes item `id` on pod 0.
    fn write(c: &Cluster, id: u32);
    /// The items pod `ordinal` serves, ascending, comma-separated ("1,2").
    fn items(c: &Cluster, ordinal: u32) -> String;
    /// The init output of a pod that kept its data (no new copy).
    fn resumed(log: &str) -> bool;
    /// The init output of a pod that copied its data from ordinal `donor`.
    fn copied_from(log: &str, donor: u32) -> bool;
    /// Replica `ordinal` stops applying pod 0's writes while its replication still looks like
    /// it runs (the way a replica falls behind).
    fn fall_behind(c: &Cluster, ordinal: u32);
    /// Replica `ordinal`'s replication stops.
    fn stop_replication(c: &Cluster, ordinal: u32);
    /// The keys of a backup's info file that record the copy's position in the replication
    /// stream (each must have a value).
    const POSITION: &'static [&'static str];
}

/// The manifest for `replicas` pods, in podsim; None when the suite is skipped on purpose.
pub fn cluster<D: Db>(replicas: u32) -> Option<Cluster> {
    cluster_with::<D>(args(&["--replicas", &replicas.to_string()]))
}

/// The manifest of these flags, in podsim; None when the suite is skipped on purpose.
pub fn cluster_with<D: Db>(args: Args) -> Option<Cluster> {
    if !ready_to_run(&[profile(D::IMAGE)]) {
        return None;
    }
    Some(Cluster::new(&generate::<D>(&args), "cluster.local"))
}

/// The objects sts-gen generates for these flags, with `D::PASSWORD` for every password.
pub fn generate<D: Db>(args: &[String]) -> Vec<sts_gen::k8s::Manifest> {
    let password = |_len: usize| Ok(D::PASSWORD.to_owned());
    let argv: Vec<&str> = std::iter::once(D::KIND)
        .chain(args.iter().map(String::as_str))
        .chain(D::FLAGS.iter().copied())
        .collect();
    let resolved = sts_gen::cli::resolve_argv(&argv, &password).unwrap();
    sts_gen::generate(&resolved).unwrap()
}

/// Pods 0..n in order, each after the previous one is Ready, with item 1 written once pod 0 is
/// Ready (so every other pod copies it); returns the init output of every pod.
pub fn bootstrap<D: Db>(c: &mut Cluster, n: u32) -> Vec<String> {
    let mut logs = Vec::new();
    for o in 0..n {
        logs.push(c.start_pod(o));
        c.wait_ready(o, READY);
        if o == 0 {
            D::seed(c);
        }
        // The harness's own promise: the pod's PID and UTS namespaces.
        let seen = c.exec(o, &["sh", "-c", "cat /proc/1/comm; hostname"]);
        assert_eq!(seen, Ok(format!("sleep\n{}", c.pod_name(o))), "pod {o}");
    }
    logs
}

/// Polls pod `ordinal`'s readiness probes (every second, at most `secs`) until they pass, when
/// `ready`, or fail; the last verdict (Err: what the failing probe printed) and how long it took.
pub fn readiness_becomes(
    c: &Cluster,
    ordinal: u32,
    ready: bool,
    secs: u64,
) -> (Result<(), String>, Duration) {
    let start = std::time::Instant::now();
    loop {
        let verdict = c.readiness(ordinal);
        if verdict.is_ok() == ready || start.elapsed() >= Duration::from_secs(secs) {
            return (verdict, start.elapsed());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Scale to 4 as `kubectl scale` does (the rendered count stays 3): pod 3 copies pod 2 and
/// catches up. Then to 5 as GitOps does, re-rendered with `--replicas 5` and applied: the pod
/// template is unchanged (no pod restarts), and pod 4 copies pod 3.
pub fn scale_up<D: Db>() {
    let Some(mut c) = cluster::<D>(3) else { return };
    bootstrap::<D>(&mut c, 3);
    D::write(&c, 2);
    let log = c.start_pod(3);
    assert!(D::copied_from(&log, 2), "{log}");
    c.wait_ready(3, READY);
    D::write(&c, 3);
    assert_eq!(eventually(30, "1,2,3", || D::items(&c, 3)), "1,2,3");

    c.apply(&generate::<D>(&args(&["--replicas", "5"])));
    let log = c.start_pod(4);
    assert!(D::copied_from(&log, 3), "{log}");
    c.wait_ready(4, READY);
    D::write(&c, 4);
    assert_eq!(eventually(30, "1,2,3,4", || D::items(&c, 4)), "1,2,3,4");
}

/// A replica restarted with its volume resumes without a new copy and receives what it missed.
pub fn restarted_replica_resumes<D: Db>() {
    let Some(mut c) = cluster::<D>(2) else { return };
    bootstrap::<D>(&mut c, 2);
    assert_eq!(eventually(30, "1", || D::items(&c, 1)), "1");
    c.stop_pod(1);
    D::write(&c, 2);
    let log = c.start_pod(1);
    assert!(D::resumed(&log), "{log}");
    c.wait_ready(1, READY);
    assert_eq!(
        eventually(30, "1,2", || D::items(&c, 1)),
        "1,2",
        "receives what it missed"
    );
}

/// A replica whose volume was lost copies its data again (from ordinal 1) and catches up.
pub fn wiped_replica_recopies<D: Db>() {
    let Some(mut c) = cluster::<D>(3) else { return };
    bootstrap::<D>(&mut c, 3);
    c.stop_pod(2);
    c.wipe_volume(2);
    D::write(&c, 2);
    let log = c.start_pod(2);
    assert!(D::copied_from(&log, 1), "{log}");
    c.wait_ready(2, READY);
    D::write(&c, 3);
    assert_eq!(eventually(30, "1,2,3", || D::items(&c, 2)), "1,2,3");
}

/// Pod 0 restarted with its volume is not re-initialised, keeps its data, and the replicas
/// reconnect to it.
pub fn restarted_primary_keeps_its_data<D: Db>() {
    let Some(mut c) = cluster::<D>(3) else { return };
    bootstrap::<D>(&mut c, 3);
    c.stop_pod(0);
    let log = c.start_pod(0);
    assert!(D::resumed(&log), "{log}");
    c.wait_ready(0, READY);
    assert_eq!(D::items(&c, 0), "1", "pod 0 kept its data");
    D::write(&c, 2);
    for o in [1, 2] {
        assert_eq!(
            eventually(40, "1,2", || D::items(&c, o)),
            "1,2",
            "pod {o} reconnected"
        );
    }
}

/// Three pods with daily backups, the newest 2 kept.
pub fn backup_set() -> Args {
    args(&[
        "--replicas",
        "3",
        "--backup-schedule",
        "0 3 * * *",
        "--backup-keep",
        "2",
    ])
}

/// `set` printing what restores `backup` (with the generated Secret's name as an existing one).
pub fn restoring<D: Db>(set: &[String], backup: &str) -> Args {
    let mut a = set.to_vec();
    a.extend(args(&[
        "--restore-from",
        backup,
        "--existing-secret",
        &format!("{}-credentials", D::KIND),
    ]));
    a
}

/// The backup CronJob's command copies a standby; everything is lost; the restore Job fills a
/// fresh pod 0 from the backup, and the fresh set serves what was written before the backup.
/// Returns the restore Job's output (empty when the suite is skipped).
pub fn backup_restores_into_a_fresh_set<D: Db>() -> String {
    let set = backup_set();
    let Some(mut c) = cluster_with::<D>(set.clone()) else {
        return String::new();
    };
    bootstrap::<D>(&mut c, 3);
    D::write(&c, 2);
    let job = c.backup_job.clone().expect("a backup CronJob");
    let mut names = Vec::new();
    for _ in 0..3 {
        let log = c
            .run_job(&job)
            .unwrap_or_else(|e| panic!("backup failed: {e}"));
        assert!(
            log.contains(&format!("backing up {}", c.pod_name(2))) && log.contains("complete"),
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
    let info = std::fs::read_to_string(c.backups().join(&names[1]).join("sts-gen-backup.info"))
        .expect("a complete backup has its info file");
    assert!(
        info.contains(&format!("source={}\n", c.pod_name(2))),
        "{info}"
    );
    assert_position::<D>(&info);
    assert!(
        info.contains("max_lag_seconds=60\n"),
        "the default cap: {info}"
    );
    D::write(&c, 3); // after the backups: not in them

    let job = restore_job(&generate::<D>(&restoring::<D>(&set, &names[1])));
    // Never over live data: with the set running, the restore Job refuses.
    let refused = c
        .run_job(&job)
        .expect_err("a restore over live data must fail");
    assert!(refused.contains("refusing to restore"), "{refused}");
    assert_eq!(D::items(&c, 0), "1,2,3", "the live data is untouched");

    // Everything lost but the backups.
    for o in [2, 1, 0] {
        c.stop_pod(o);
        c.wipe_volume(o);
    }
    let restored = c
        .run_job(&job)
        .unwrap_or_else(|e| panic!("restore failed: {e}"));
    assert!(restored.contains("restored"), "{restored}");
    restored_set_serves::<D>(&mut c, &[1, 2]);
    restored
}

/// The value of `key` in a backup's info file, if it has one.
pub fn info_value<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// The info file records the source's lag when chosen and the copy's position.
#[track_caller]
pub fn assert_position<D: Db>(info: &str) {
    let lag = info_value(info, "lag_seconds").and_then(|l| l.parse::<u32>().ok());
    assert!(lag.is_some(), "the source's lag: {info}");
    for key in D::POSITION {
        assert!(
            info_value(info, key).is_some_and(|v| !v.is_empty()),
            "{key} in {info}"
        );
    }
}

/// With `--max-lag 5`: a replica that fell behind more than that while its replication still
/// runs is not copied, nor one whose replication stopped; with neither replica fit, pod 0 is.
/// The info file records the source, its lag and the copy's position.
pub fn backup_skips_stale_replicas<D: Db>() {
    let mut set = backup_set();
    set.extend(args(&["--max-lag", "5"]));
    let Some(mut c) = cluster_with::<D>(set) else {
        return;
    };
    bootstrap::<D>(&mut c, 3);
    for o in [1, 2] {
        assert_eq!(eventually(30, "1", || D::items(&c, o)), "1", "pod {o}");
    }
    D::fall_behind(&c, 2);
    D::write(&c, 2);
    assert_eq!(eventually(30, "1,2", || D::items(&c, 1)), "1,2");
    // Beyond the cap: pod 2 misses a write made more than 5 s ago.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(D::items(&c, 2), "1", "pod 2 fell behind");
    let job = c.backup_job.clone().expect("a backup CronJob");

    let log = c
        .run_job(&job)
        .unwrap_or_else(|e| panic!("backup failed: {e}"));
    eprintln!("{log}");
    assert!(
        log.contains(&format!("backing up {} as", c.pod_name(1))),
        "the replica within the cap, not the one behind it: {log}"
    );
    assert!(
        log.contains(&format!("{} is not a source", c.pod_name(2))),
        "{log}"
    );
    let info = newest_info(&c);
    assert!(
        info.contains(&format!("source={}\n", c.pod_name(1))),
        "{info}"
    );
    assert!(info.contains("max_lag_seconds=5\n"), "{info}");
    assert!(
        info_value(&info, "lag_seconds").is_some_and(|l| l.parse::<u32>().is_ok_and(|l| l <= 5)),
        "{info}"
    );
    assert_position::<D>(&info);

    D::stop_replication(&c, 1);
    D::write(&c, 3);
    std::thread::sleep(Duration::from_secs(1));
    let log = c
        .run_job(&job)
        .unwrap_or_else(|e| panic!("backup failed: {e}"));
    eprintln!("{log}");
    assert!(
        log.contains(&format!("backing up {} as", c.pod_name(0))),
        "no replica fit: pod 0: {log}"
    );
    let info = newest_info(&c);
    assert!(
        info.contains(&format!("source={}\n", c.pod_name(0))),
        "{info}"
    );
    assert!(info.contains("lag_seconds=0\n"), "{info}");
    assert_position::<D>(&info);
    eprintln!("{info}");
}

/// The info file of the newest backup on the claim.
fn newest_info(c: &Cluster) -> String {
    let newest = std::fs::read_dir(c.backups())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .max()
        .expect("a backup");
    std::fs::read_to_string(c.backups().join(newest).join("sts-gen-backup.info"))
        .expect("a complete backup has its info file")
}

/// The pod of the restore Job in a `--restore-from` output.
pub fn restore_job(docs: &[sts_gen::k8s::Manifest]) -> k8s_openapi::api::core::v1::PodSpec {
    docs.iter()
        .find_map(|d| match d {
            sts_gen::k8s::Manifest::Job(j) => j.spec.as_ref()?.template.spec.clone(),
            _ => None,
        })
        .expect("a restore Job")
}

/// After a restore of a backup holding items 1 and 2 (item 3 written later): pod 0 starts on
/// the restored data and serves exactly those, and `replicas` copy it and follow a new write.
pub fn restored_set_serves<D: Db>(c: &mut Cluster, replicas: &[u32]) {
    let log = c.start_pod(0);
    assert!(D::resumed(&log), "pod 0 starts on the restored data: {log}");
    c.wait_ready(0, READY);
    assert_eq!(
        D::items(c, 0),
        "1,2",
        "the backup's data, not the later write"
    );
    D::write(c, 4);
    for &o in replicas {
        c.start_pod(o);
        c.wait_ready(o, READY);
        assert_eq!(eventually(30, "1,2,4", || D::items(c, o)), "1,2,4");
    }
}
