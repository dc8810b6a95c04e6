//! Backups in an S3 bucket: the backup CronJob's pod (the engine's backup as an init container,
//! then the S3 client's upload) and the restore Job's (the S3 client's download first), run by
//! podsim against a real S3 API (moto's server from PyPI) with the real client (Debian's rclone,
//! standing in for the rclone image).

use std::path::PathBuf;

use crate::eventually;
use crate::podsim::Cluster;
use crate::scenarios::{
    Db, args, backup_set, bootstrap, cluster_with, generate, restore_job, restored_set_serves,
    restoring,
};

/// The slot of the S3 endpoint's network namespace (pods use 0.., Jobs 60).
const S3_SLOT: u32 = 50;
const BUCKET: &str = "backups";

/// moto's S3 server: `$STS_GEN_MOTO_SERVER`, else the virtualenv scripts/install-test-deps makes.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("STS_GEN_MOTO_SERVER") {
        return p.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("sts-gen/moto/bin/moto_server")
}

/// Whether the S3 tools are here; panics with the reason unless skipping was asked for.
fn s3_tools() -> bool {
    let missing = [moto_server(), PathBuf::from("/usr/bin/rclone")]
        .into_iter()
        .find(|p| !p.exists());
    match missing {
        None => true,
        Some(_) if std::env::var("STS_GEN_E2E").as_deref() == Ok("skip") => false,
        Some(p) => panic!(
            "{} is missing (scripts/install-test-deps installs rclone and moto); set STS_GEN_E2E=skip to skip the e2e suite on purpose",
            p.display()
        ),
    }
}

/// rclone against the bucket, from the endpoint's own namespace.
fn bucket(c: &Cluster, endpoint: &str, args: &[&str]) -> Result<String, String> {
    let remote_env = [
        "RCLONE_CONFIG=/dev/null".to_owned(),
        "RCLONE_CONFIG_S3_TYPE=s3".to_owned(),
        "RCLONE_CONFIG_S3_PROVIDER=Other".to_owned(),
        format!("RCLONE_CONFIG_S3_ENDPOINT={endpoint}"),
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID=sts-gen".to_owned(),
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=sts-gen-secret".to_owned(),
        "RCLONE_CONFIG_S3_REGION=us-east-1".to_owned(),
    ];
    // A clean environment, as in a container: the host's may name a CA bundle (AWS_CA_BUNDLE).
    let argv: Vec<&str> = ["env", "-i", "PATH=/usr/bin:/bin"]
        .into_iter()
        .chain(remote_env.iter().map(String::as_str))
        .chain(["rclone"])
        .chain(args.iter().copied())
        .collect();
    c.run_in(S3_SLOT, &argv)
}

/// The complete backups in the bucket (those with their info file), oldest first.
fn complete_backups(c: &Cluster, endpoint: &str, prefix: &str) -> Vec<String> {
    let listing = bucket(
        c,
        endpoint,
        &[
            "lsf",
            "-R",
            "--files-only",
            &format!("s3:{BUCKET}/{prefix}"),
        ],
    )
    .unwrap_or_else(|e| panic!("listing the bucket: {e}"));
    let mut names: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_suffix("/sts-gen-backup.info"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// Three backups to the bucket with keep 2, a write after them, everything lost, a restore of
/// the newest from the bucket, and the set rebuilt on it.
pub fn backup_to_s3_restores_into_a_fresh_set<D: Db>() {
    if !s3_tools() {
        return;
    }
    let name = D::KIND;
    let mut set = backup_set();
    set.extend(args(&["--backup-s3-secret", "s3"]));
    let Some(mut c) = cluster_with::<D>(set.clone()) else {
        return;
    };
    let moto = moto_server();
    let ip = c.start_service(
        S3_SLOT,
        &[
            moto.to_str().unwrap(),
            "--host",
            "0.0.0.0",
            "--port",
            "5000",
        ],
    );
    let endpoint = format!("http://{ip}:5000");
    let up = eventually(30, "ok", || {
        match bucket(&c, &endpoint, &["mkdir", &format!("s3:{BUCKET}")]) {
            Ok(_) => "ok".into(),
            Err(e) => e,
        }
    });
    assert_eq!(up, "ok", "the S3 endpoint answers");
    // Versioning on: moto answers a multipart upload to an unversioned bucket with version id
    // "null", and refuses the HEAD of that version that rclone 1.60 then makes (AWS does not).
    bucket(
        &c,
        &endpoint,
        &["backend", "versioning", &format!("s3:{BUCKET}"), "Enabled"],
    )
    .unwrap();
    c.add_secret(
        "s3",
        &[
            ("endpoint", endpoint.as_str()),
            ("bucket", BUCKET),
            ("access-key-id", "sts-gen"),
            ("secret-access-key", "sts-gen-secret"),
            ("region", "us-east-1"),
        ],
    );

    bootstrap::<D>(&mut c, 3);
    D::write(&c, 2);
    let job = c.backup_job.clone().expect("a backup CronJob");
    for _ in 0..3 {
        let log = c
            .run_job(&job)
            .unwrap_or_else(|e| panic!("backup to S3 failed: {e}"));
        assert!(log.contains("complete in the bucket"), "{log}");
        // Backups are named by the second they start.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    // The default folder: <namespace>/<name> (podsim's namespace is "default").
    let prefix = format!("default/{name}");
    let names = complete_backups(&c, &endpoint, &prefix);
    assert_eq!(names.len(), 2, "keep 2: the oldest went ({names:?})");
    let objects = bucket(
        &c,
        &endpoint,
        &["lsf", &format!("s3:{BUCKET}/{prefix}/{}", names[1])],
    )
    .unwrap();
    assert_eq!(objects, "backup.tar\nsts-gen-backup.info\n");
    D::write(&c, 3); // after the backups: not in them

    let restore_from = |backup: &str| restoring::<D>(&set, backup);
    let missing = restore_job(&generate::<D>(&restore_from("20000101T000000Z")));
    let refused = c
        .run_job(&missing)
        .expect_err("a backup that is not in the bucket cannot be restored");
    assert!(
        refused.contains("no complete backup 20000101T000000Z"),
        "{refused}"
    );
    // A damaged copy in the bucket (the older backup's tar replaced): its checksum differs.
    bucket(
        &c,
        &endpoint,
        &[
            "copyto",
            "/etc/hostname",
            &format!("s3:{BUCKET}/{prefix}/{}/backup.tar", names[0]),
        ],
    )
    .unwrap();
    let damaged = restore_job(&generate::<D>(&restore_from(&names[0])));
    let refused = c
        .run_job(&damaged)
        .expect_err("a damaged backup cannot be restored");
    assert!(refused.contains("failed or is damaged"), "{refused}");

    for o in [2, 1, 0] {
        c.stop_pod(o);
        c.wipe_volume(o);
    }
    let job = restore_job(&generate::<D>(&restore_from(&names[1])));
    let restored = c
        .run_job(&job)
        .unwrap_or_else(|e| panic!("restore from S3 failed: {e}"));
    assert!(
        restored.contains(&format!("backup {} downloaded", names[1]))
            && restored.contains("restored"),
        "{restored}"
    );
    restored_set_serves::<D>(&mut c, &[1]);
}
