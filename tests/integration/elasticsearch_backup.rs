//! Elasticsearch's backup.sh and restore.sh as rendered, run by bash against a fake `curl`
//! (fake-es-curl.sh, first on PATH) that answers the _snapshot, _cat and _cluster calls with canned
//! JSON and records what each call was given.

use std::path::{Path, PathBuf};
use std::process::Output;

use sts_gen::cli::{DbKind, GenerateArgs};

use crate::harness::temp_dir;
use crate::invariants::rendered_script;

/// The password the scripts read from the (fake) Secret: quotes, a backslash and a dollar, which
/// must reach Elasticsearch intact and never appear on curl's command line.
const PASSWORD: &str = "pa\"ss \\word$1";

/// A snapshot name as the backup job writes it: the UTC start time, in lowercase.
fn is_snapshot_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[8] == b't'
        && b[15] == b'z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

struct Run {
    dir: PathBuf,
    output: Output,
}

/// The run's directory goes with it, unless the test failed (then it is left for a look).
impl Drop for Run {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Run {
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
    fn log(&self) -> String {
        self.read("log")
    }
    /// "METHOD /path?query" of every API call, in order.
    fn calls(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix("CALL "))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    }
    fn bodies(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix("BODY "))
            .map(str::to_owned)
            .collect()
    }
    fn deleted(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter_map(|c| c.strip_prefix("DELETE /_snapshot/sts-gen/"))
            .map(str::to_owned)
            .collect()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn snapshots(&self) -> Vec<String> {
        let mut s: Vec<String> = self.read("snapshots").lines().map(str::to_owned).collect();
        s.sort();
        s
    }
    #[track_caller]
    fn succeeded(&self, want: bool) -> &Run {
        assert_eq!(
            self.output.status.success(),
            want,
            "exit {:?}\n--- stderr:\n{}\n--- calls:\n{}",
            self.output.status.code(),
            self.stderr(),
            self.log()
        );
        self
    }
    /// The password went to curl only in its config file (mode 600), as a Basic header, and
    /// never on a command line.
    #[track_caller]
    fn kept_the_password_off_argv(&self, cacert: &str) {
        let log = self.log();
        assert!(!log.is_empty());
        for line in log.lines().filter(|l| l.starts_with("ARGV ")) {
            assert!(!line.contains("pa\"ss"), "password on argv: {line}");
            assert!(!line.contains("Authorization"), "header on argv: {line}");
        }
        let auth = self.read("auth");
        assert!(!auth.is_empty());
        for line in auth.lines() {
            assert_eq!(
                line,
                format!("AUTH elastic:{PASSWORD} MODE 600 CACERT {cacert}"),
                "{auth}"
            );
        }
    }
}

/// Runs `key` of the Elasticsearch scripts for `args` with bash, `env` set, the fake curl first
/// on PATH and `snapshots` in the fake repository. The Secret's mount and /tmp point into a
/// directory of the test's own.
fn run(tag: &str, key: &str, args: &GenerateArgs, snapshots: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = temp_dir(&format!("es-{tag}"));
    let bin = dir.join("bin");
    let creds = dir.join("credentials");
    let tmp = dir.join("tmp");
    for d in [&bin, &creds, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/fake-es-curl.sh");
    std::fs::copy(&fake, bin.join("curl")).unwrap();
    std::fs::write(creds.join("elastic-password"), PASSWORD).unwrap();
    std::fs::write(creds.join("ca.crt"), "(the CA)").unwrap();
    let mut repo = snapshots.join("\n");
    repo.push('\n');
    std::fs::write(
        dir.join("snapshots"),
        if snapshots.is_empty() { "" } else { &repo },
    )
    .unwrap();

    // /tmp first: the test's own directories are under /tmp too.
    let script = rendered_script(DbKind::Elasticsearch, args, key)
        .replace("/tmp/", &format!("{}/", tmp.to_str().unwrap()))
        .replace("/etc/elasticsearch-credentials", creds.to_str().unwrap());
    let path = dir.join(key);
    std::fs::write(&path, script).unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&path)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("FAKE_DIR", &dir)
        .env("POD_NAME", "elasticsearch-backup-29000000-abcde")
        .env("POD_NAMESPACE", "search");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    Run { dir, output }
}

fn backup_args(keep: &str) -> GenerateArgs {
    GenerateArgs {
        backup_schedule: Some("@daily".into()),
        backup_keep: Some(keep.into()),
        ..Default::default()
    }
}

const USER_DATA: (&str, &str) = (
    "USER_DATA",
    r#"{"indices":[{"name":"orders"}],"data_streams":[{"name":"logs-app-default"}]}"#,
);

/// Older than any run of the test: 2020. Sorted by name = by time.
const REPOSITORY: &[&str] = &[
    "20191231t030000z IN_PROGRESS",
    "20200101t030000z SUCCESS",
    "20200102t030000z FAILED",
    "20200103t030000z SUCCESS",
    "20200104t030000z PARTIAL",
    "20200105t030000z SUCCESS",
    "manual-before-upgrade SUCCESS",
];

#[test]
fn backup_registers_the_repository_snapshots_and_keeps_the_newest() {
    let r = run(
        "backup",
        "backup.sh",
        &backup_args("2"),
        REPOSITORY,
        &[USER_DATA],
    );
    r.succeeded(true).kept_the_password_off_argv("");
    let calls = r.calls();
    assert_eq!(
        calls[0], "PUT /_snapshot/sts-gen",
        "registers first: {calls:?}"
    );
    assert!(
        calls[1].starts_with("POST /_snapshot/sts-gen/_verify"),
        "{calls:?}"
    );
    assert_eq!(
        r.bodies()[0],
        r#"{"type":"fs","settings":{"location":"/backups/elasticsearch","compress":true}}"#
    );
    assert!(
        r.log().contains(" http://elasticsearch:9200\n"),
        "the client Service over http"
    );

    let take = calls
        .iter()
        .find(|c| c.starts_with("PUT /_snapshot/sts-gen/") && c.contains("wait_for_completion"))
        .expect("a snapshot is taken");
    let (name, query) = take["PUT /_snapshot/sts-gen/".len()..]
        .split_once('?')
        .unwrap();
    assert!(is_snapshot_name(name), "{name}");
    assert!(query.starts_with("wait_for_completion=true&"), "{query}");
    assert_eq!(
        r.bodies()[1],
        r#"{"indices":"*","include_global_state":true,"partial":false}"#
    );

    // Keep 2 complete: the new one and 20200105. Everything of ours older than that goes (complete,
    // failed and partial alike); a running one, other names and the kept ones stay.
    assert_eq!(
        r.deleted(),
        [
            "20200101t030000z",
            "20200102t030000z",
            "20200103t030000z",
            "20200104t030000z"
        ]
    );
    assert_eq!(
        r.snapshots(),
        [
            "20191231t030000z IN_PROGRESS".to_owned(),
            "20200105t030000z SUCCESS".to_owned(),
            format!("{name} SUCCESS"),
            "manual-before-upgrade SUCCESS".to_owned(),
        ]
    );
    let err = r.stderr();
    assert!(
        err.contains(&format!("backup {} complete", name.to_uppercase())),
        "{err}"
    );
    assert!(
        err.contains("deleted snapshot 20200103t030000z (SUCCESS"),
        "{err}"
    );
    assert!(err.contains("verified by the nodes: es-0 es-1"), "{err}");
}

#[test]
fn backup_keeps_everything_while_within_keep() {
    let r = run(
        "backup-keep",
        "backup.sh",
        &backup_args("7"),
        REPOSITORY,
        &[USER_DATA],
    );
    r.succeeded(true);
    // Four complete ones with the new one: within 7. Only failed and partial ones older than
    // the oldest complete one would go, and there are none.
    assert!(r.deleted().is_empty(), "{:?}", r.deleted());
}

#[test]
fn a_failed_or_partial_snapshot_fails_the_job_and_deletes_nothing() {
    for state in ["FAILED", "PARTIAL"] {
        let r = run(
            &format!("backup-{state}"),
            "backup.sh",
            &backup_args("1"),
            REPOSITORY,
            &[USER_DATA, ("SNAPSHOT_STATE", state)],
        );
        r.succeeded(false);
        assert!(r.deleted().is_empty(), "{state}: {:?}", r.deleted());
        assert!(
            !r.calls()
                .iter()
                .any(|c| c.starts_with("GET /_cat/snapshots")),
            "{state}: no pruning at all"
        );
        assert!(
            r.stderr().contains(&format!("is {state}"))
                || r.stderr().contains(&format!("ended {state}")),
            "{}",
            r.stderr()
        );
    }
}

#[test]
fn the_snapshot_of_an_empty_cluster_pushes_nothing_out() {
    let r = run(
        "backup-empty",
        "backup.sh",
        &backup_args("1"),
        REPOSITORY,
        &[],
    );
    r.succeeded(true);
    assert!(r.deleted().is_empty(), "{:?}", r.deleted());
    assert!(
        r.stderr().contains("no older snapshot deleted"),
        "{}",
        r.stderr()
    );
}

fn restore_args(extra: &[&str]) -> GenerateArgs {
    GenerateArgs {
        backup_schedule: Some("@daily".into()),
        restore_from: Some("20200103T030000Z".into()),
        existing_secret: Some("creds".into()),
        set: extra.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

const RESTORE_ENV: (&str, &str) = ("RESTORE_FROM", "20200103T030000Z");

#[test]
fn restore_waits_registers_and_restores_everything_over_https() {
    let r = run(
        "restore",
        "restore.sh",
        &restore_args(&["elasticsearch.httpTls=true"]),
        REPOSITORY,
        &[RESTORE_ENV],
    );
    r.succeeded(true);
    let creds = r.dir.join("credentials/ca.crt");
    r.kept_the_password_off_argv(creds.to_str().unwrap());
    assert!(
        r.log().contains(" https://elasticsearch:9200\n"),
        "the client Service over https"
    );
    let calls = r.calls();
    assert!(
        calls[0].starts_with("GET /_cluster/health?wait_for_nodes=%3E%3D3&wait_for_status=yellow"),
        "{calls:?}"
    );
    assert_eq!(calls[1], "PUT /_snapshot/sts-gen");
    let restore = calls
        .iter()
        .find(|c| c.contains("/_restore"))
        .expect("a restore");
    assert!(
        restore.starts_with(
            "POST /_snapshot/sts-gen/20200103t030000z/_restore?wait_for_completion=true"
        ),
        "{restore}"
    );
    assert_eq!(
        r.bodies().last().unwrap(),
        r#"{"indices":"*","include_global_state":true}"#
    );
    assert!(
        r.stderr().contains("backup 20200103T030000Z restored"),
        "{}",
        r.stderr()
    );
}

#[test]
fn restore_refuses_a_cluster_with_data_and_incomplete_or_missing_snapshots() {
    let cases: [(&str, &str, (&str, &str), &str); 3] = [
        (
            "data",
            "20200103T030000Z",
            USER_DATA,
            "refusing to restore: the cluster holds data streams or indices already (orders logs-app-default)",
        ),
        (
            "partial",
            "20200104T030000Z",
            ("USER_DATA", "{}"),
            "is PARTIAL, not SUCCESS",
        ),
        (
            "missing",
            "20200106T030000Z",
            ("USER_DATA", "{}"),
            "is not in repository sts-gen",
        ),
    ];
    for (tag, backup, data, says) in cases {
        let r = run(
            &format!("restore-{tag}"),
            "restore.sh",
            &restore_args(&[]),
            REPOSITORY,
            &[("RESTORE_FROM", backup), data],
        );
        r.succeeded(false);
        assert!(
            !r.calls().iter().any(|c| c.contains("/_restore")),
            "{tag}: nothing restored"
        );
        assert!(r.stderr().contains(says), "{tag}: {}", r.stderr());
    }
}

#[test]
fn a_restore_that_loses_shards_fails() {
    let r = run(
        "restore-failed",
        "restore.sh",
        &restore_args(&[]),
        REPOSITORY,
        &[RESTORE_ENV, ("RESTORE_FAILED", "2")],
    );
    r.succeeded(false);
    assert!(
        r.stderr()
            .contains("did not recover every primary shard (failed: 2)"),
        "{}",
        r.stderr()
    );
}

/// Elasticsearch answering an error is a failure, never "no data" or "no snapshot".
#[test]
fn api_errors_fail_the_jobs_before_they_delete_or_restore() {
    let r = run(
        "backup-500",
        "backup.sh",
        &backup_args("1"),
        REPOSITORY,
        &[USER_DATA, ("FAIL_CALL", "PUT /_snapshot/sts-gen/")],
    );
    r.succeeded(false);
    assert!(r.deleted().is_empty());
    assert!(r.stderr().contains("HTTP 500"), "{}", r.stderr());
    let r = run(
        "restore-500",
        "restore.sh",
        &restore_args(&[]),
        REPOSITORY,
        &[RESTORE_ENV, ("FAIL_CALL", "GET /_resolve/index/")],
    );
    r.succeeded(false);
    assert!(!r.calls().iter().any(|c| c.contains("/_restore")));
}
