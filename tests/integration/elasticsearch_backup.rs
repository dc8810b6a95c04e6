//! Elasticsearch's backup.sh and restore.sh as rendered, run by bash against a fake `curl`
//! (fake-es-curl.sh, first on PATH) that answers the _snapshot, _cat and _cluster calls with canned
//! JSON and records what each call was given; and init-config.sh's S3 client step, run by bash
//! against a fake `elasticsearch-keystore` that records what it was given.

use std::path::{Path, PathBuf};
use std::process::Output;

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
/// on PATH and `snapshots` in the fake repository. The Secrets' mounts and /tmp point into a
/// directory of the test's own.
fn run(tag: &str, key: &str, args: &Args, snapshots: &[&str], env: &[(&str, &str)]) -> Run {
    run_with_bucket(tag, key, args, snapshots, env, BUCKET)
}

/// The S3 Secret's bucket, as `kubectl create secret --from-file` of an `echo`ed file has it.
const BUCKET: &str = "my-backups\n";

/// [`run`], with `bucket` as the S3 Secret's key `bucket`.
fn run_with_bucket(
    tag: &str,
    key: &str,
    args: &Args,
    snapshots: &[&str],
    env: &[(&str, &str)],
    bucket: &str,
) -> Run {
    let dir = temp_dir(&format!("es-{tag}"));
    let bin = dir.join("bin");
    let creds = dir.join("credentials");
    let s3 = dir.join("s3");
    let tmp = dir.join("tmp");
    for d in [&bin, &creds, &s3, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/fake-es-curl.sh");
    std::fs::copy(&fake, bin.join("curl")).unwrap();
    std::fs::write(creds.join("elastic-password"), PASSWORD).unwrap();
    std::fs::write(creds.join("ca.crt"), "(the CA)").unwrap();
    std::fs::write(s3.join("bucket"), bucket).unwrap();
    let mut repo = snapshots.join("\n");
    repo.push('\n');
    std::fs::write(
        dir.join("snapshots"),
        if snapshots.is_empty() { "" } else { &repo },
    )
    .unwrap();

    // /tmp first: the test's own directories are under /tmp too.
    let script = script(args, key)
        .replace("/tmp/", &format!("{}/", tmp.to_str().unwrap()))
        .replace("/etc/elasticsearch-credentials", creds.to_str().unwrap())
        .replace("/etc/elasticsearch-s3", s3.to_str().unwrap())
        .replace("/scripts/replicas", dir.join("replicas").to_str().unwrap());
    std::fs::write(dir.join("replicas"), self::script(args, "replicas")).unwrap();
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

/// Flags of `sts-gen elasticsearch` (the database itself not among them).
type Args = Vec<String>;

fn args(words: &[&str]) -> Args {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Script `key` as `sts-gen elasticsearch ARGS...` renders it.
fn script(args: &Args, key: &str) -> String {
    let argv: Vec<&str> = std::iter::once("elasticsearch")
        .chain(args.iter().map(String::as_str))
        .collect();
    rendered_script(&argv, key)
}

fn backup_args(keep: &str) -> Args {
    args(&["--backup-schedule", "@daily", "--backup-keep", keep])
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

fn restore_args(sets: &[&str]) -> Args {
    let mut a = args(&[
        "--backup-schedule",
        "@daily",
        "--restore-from",
        "20200103T030000Z",
        "--existing-secret",
        "creds",
    ]);
    for set in sets {
        a.extend(["--set".to_owned(), (*set).to_owned()]);
    }
    a
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

fn s3_args(mut extra: Args) -> Args {
    extra.extend(args(&[
        "--backup-s3-secret",
        "backups-s3",
        "--set",
        "backup.s3.prefix=backups/es",
    ]));
    extra
}

const S3_REPOSITORY: &str = r#"{"type":"s3","settings":{"bucket":"my-backups","base_path":"backups/es","client":"sts-gen"}}"#;

#[test]
fn with_a_bucket_the_backup_registers_an_s3_repository_through_the_nodes_client() {
    let r = run(
        "backup-s3",
        "backup.sh",
        &s3_args(backup_args("2")),
        REPOSITORY,
        &[USER_DATA],
    );
    r.succeeded(true).kept_the_password_off_argv("");
    let calls = r.calls();
    assert_eq!(calls[0], "PUT /_snapshot/sts-gen", "{calls:?}");
    assert!(calls[1].starts_with("POST /_snapshot/sts-gen/_verify"));
    assert_eq!(r.bodies()[0], S3_REPOSITORY);
    // The rest is the same as with the claim: a snapshot, then the pruning.
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("PUT /_snapshot/sts-gen/") && c.contains("wait_for_completion"))
    );
    assert_eq!(r.deleted().len(), 4, "{:?}", r.deleted());
}

#[test]
fn with_a_bucket_the_restore_registers_the_s3_repository_and_restores() {
    let r = run(
        "restore-s3",
        "restore.sh",
        &s3_args(restore_args(&[])),
        REPOSITORY,
        &[RESTORE_ENV],
    );
    r.succeeded(true);
    let calls = r.calls();
    assert_eq!(calls[1], "PUT /_snapshot/sts-gen", "{calls:?}");
    assert_eq!(r.bodies()[0], S3_REPOSITORY);
    assert!(
        calls.iter().any(|c| c.starts_with(
            "POST /_snapshot/sts-gen/20200103t030000z/_restore?wait_for_completion=true"
        )),
        "{calls:?}"
    );
}

/// A missing or malformed bucket name fails the Job before it calls Elasticsearch at all.
#[test]
fn a_bad_bucket_fails_the_jobs_before_any_call() {
    for (tag, bucket, says) in [
        ("missing", "", "has no bucket"),
        ("upper", "My_Backups", "is no S3 bucket name"),
        ("quote", "b\"},\"x\":{\"", "is no S3 bucket name"),
    ] {
        for key in ["backup.sh", "restore.sh"] {
            let args = if key == "backup.sh" {
                s3_args(backup_args("1"))
            } else {
                s3_args(restore_args(&[]))
            };
            let r = run_with_bucket(
                &format!("bucket-{tag}-{key}"),
                key,
                &args,
                REPOSITORY,
                &[USER_DATA, RESTORE_ENV],
                bucket,
            );
            r.succeeded(false);
            assert!(r.calls().is_empty(), "{tag} {key}: {:?}", r.calls());
            assert!(r.stderr().contains(says), "{tag} {key}: {}", r.stderr());
        }
    }
}

/// A stand-in for `elasticsearch-keystore`, first on PATH: records its arguments, its config
/// directory and environment, and keeps the settings `add --stdin` reads (one line, as the real
/// tool reads) in `$ES_PATH_CONF/elasticsearch.keystore`, as `name=value` lines.
const FAKE_KEYSTORE: &str = r#"#!/bin/bash
set -euo pipefail
printf 'ARGV %s\n' "$*" >> "$FAKE_DIR/keystore.log"
printf 'CONF %s\n' "${ES_PATH_CONF:-}" >> "$FAKE_DIR/keystore.log"
env >> "$FAKE_DIR/keystore.env"
store=${ES_PATH_CONF:?}/elasticsearch.keystore
case $1 in
  create)
    [ ! -e "$store" ] || { echo "fake keystore: $store exists (the real one would prompt)" >&2; exit 1; }
    : > "$store"
    ;;
  add)
    [ -e "$store" ] || { echo "fake keystore: no keystore" >&2; exit 1; }
    [ "$#" = 4 ] && [ "$2" = --stdin ] && [ "$3" = --force ] || { echo "fake keystore: add $*" >&2; exit 2; }
    value=
    IFS= read -r value || true
    printf '%s=%s\n' "$4" "$value" >> "$store"
    ;;
  *) echo "fake keystore: unexpected $1" >&2; exit 2 ;;
esac
"#;

const ACCESS_KEY: &str = "AKIA-ACCESS $1";
const SECRET_KEY: &str = "se\"cr'et\\key";

struct InitRun {
    dir: PathBuf,
    output: Output,
}

impl Drop for InitRun {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl InitRun {
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The keystore's calls: their arguments, each checked to have run on the config copy.
    fn keystore_calls(&self) -> Vec<String> {
        let log = self.read("keystore.log");
        let conf = self.dir.join("config");
        for l in log.lines().filter_map(|l| l.strip_prefix("CONF ")) {
            assert_eq!(l, conf.to_str().unwrap(), "ES_PATH_CONF is the config copy");
        }
        log.lines()
            .filter_map(|l| l.strip_prefix("ARGV "))
            .map(str::to_owned)
            .collect()
    }
    /// What init-config appended to elasticsearch.yml (after the rendered file).
    fn yml_tail(&self, rendered: &str) -> String {
        let yml = self.read("config/elasticsearch.yml");
        assert!(yml.starts_with(rendered), "the rendered file comes first");
        yml[rendered.len()..].to_owned()
    }
    #[track_caller]
    fn succeeded(&self, want: bool) -> &Self {
        assert_eq!(
            self.output.status.success(),
            want,
            "exit {:?}\n--- stderr:\n{}",
            self.output.status.code(),
            self.stderr()
        );
        self
    }
}

/// Runs init-config.sh as rendered for `args` with bash as pod elasticsearch-0: the image's config
/// directory (`image_keystore`: with a keystore in it), the ConfigMap, the Secrets and the
/// emptyDir all in a directory of the test's own; `secret` is the S3 Secret's files.
fn init_config(
    tag: &str,
    args: &Args,
    secret: &[(&str, &str)],
    image_keystore: bool,
) -> (InitRun, String) {
    // A node of a formed cluster: no first-election list (see the test of that below).
    let formed = [("CLUSTER_UUID", "Qh3rV8Zr2xT9kLm4pNw7Yg")];
    init_config_on(tag, args, secret, image_keystore, &[], &formed)
}

/// `init_config` on a data volume holding `data` (path, content; a path ending in `/` is a
/// directory), with `env` for the fake curl (`CLUSTER_UUID`) and the scripts ConfigMap's
/// `replicas` key as rendered unless `env` has `REPLICAS_FILE` (its content instead).
fn init_config_on(
    tag: &str,
    args: &Args,
    secret: &[(&str, &str)],
    image_keystore: bool,
    data_files: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (InitRun, String) {
    let dir = temp_dir(&format!("es-init-{tag}"));
    let [bin, image, config_map, config, creds, s3, data] = [
        "bin",
        "image-config",
        "config-map",
        "config",
        "credentials",
        "s3",
        "data",
    ]
    .map(|d| {
        let p = dir.join(d);
        std::fs::create_dir_all(&p).unwrap();
        p
    });
    for (path, content) in data_files {
        match path.strip_suffix('/') {
            Some(d) => std::fs::create_dir_all(data.join(d)).unwrap(),
            None => std::fs::write(data.join(path), content).unwrap(),
        }
    }
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/fake-es-curl.sh");
    std::fs::copy(fake, bin.join("curl")).unwrap();
    let replicas = env
        .iter()
        .find(|(k, _)| *k == "REPLICAS_FILE")
        .map_or_else(|| script(args, "replicas"), |(_, v)| v.to_string());
    std::fs::write(dir.join("replicas"), replicas).unwrap();
    let keystore = bin.join("elasticsearch-keystore");
    std::fs::write(&keystore, FAKE_KEYSTORE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&keystore, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(image.join("jvm.options"), "-Xss1m\n").unwrap();
    if image_keystore {
        std::fs::write(image.join("elasticsearch.keystore"), "").unwrap();
    }
    let rendered = script(args, "elasticsearch.yml");
    std::fs::write(config_map.join("elasticsearch.yml"), &rendered).unwrap();
    std::fs::write(creds.join("elastic-password"), PASSWORD).unwrap();
    for (key, value) in secret {
        std::fs::write(s3.join(key), value).unwrap();
    }
    // The longer paths first: /mnt/config is a prefix of /mnt/config-map.
    // /tmp first: the test's own directories are under /tmp too.
    let script = script(args, "init-config.sh")
        .replace("/tmp/sts-gen-", dir.join("tmp-").to_str().unwrap())
        .replace("/usr/share/elasticsearch/config", image.to_str().unwrap())
        .replace("/usr/share/elasticsearch/data", data.to_str().unwrap())
        .replace("/mnt/config-map", config_map.to_str().unwrap())
        .replace("/mnt/config", config.to_str().unwrap())
        .replace("/etc/elasticsearch-credentials", creds.to_str().unwrap())
        .replace("/etc/elasticsearch-s3", s3.to_str().unwrap())
        .replace("/scripts/replicas", dir.join("replicas").to_str().unwrap());
    let path = dir.join("init-config.sh");
    std::fs::write(&path, script).unwrap();
    let output = std::process::Command::new("bash")
        .arg(&path)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("FAKE_DIR", &dir)
        .env("POD_NAME", "elasticsearch-0")
        .env("POD_NAMESPACE", "search")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (InitRun { dir, output }, rendered)
}

fn s3_secret<'a>(endpoint: &'a str, region: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut s = vec![
        ("endpoint", endpoint),
        ("bucket", "my-backups"),
        ("access-key-id", ACCESS_KEY),
        // As `echo ... >` writes it: the keystore takes the line, without its newline.
        ("secret-access-key", "se\"cr'et\\key\n"),
    ];
    s.extend(region.map(|r| ("region", r)));
    s
}

#[test]
fn init_config_puts_the_s3_keys_in_the_keystore_and_the_client_in_elasticsearch_yml() {
    let args = s3_args(backup_args("2"));
    let (r, rendered) = init_config(
        "https",
        &args,
        &s3_secret("https://s3.eu-west-1.amazonaws.com\n", Some("eu-west-1")),
        false,
    );
    r.succeeded(true);
    // The image has no keystore here: a password-less one is created first.
    assert_eq!(
        r.keystore_calls(),
        [
            "create",
            "add --stdin --force s3.client.sts-gen.access_key",
            "add --stdin --force s3.client.sts-gen.secret_key",
        ]
    );
    assert_eq!(
        r.read("config/elasticsearch.keystore"),
        format!(
            "s3.client.sts-gen.access_key={ACCESS_KEY}\ns3.client.sts-gen.secret_key={SECRET_KEY}\n"
        )
    );
    // The values reached the keystore on stdin only: not on its command line, not in its
    // environment, not in the log.
    for secret in [ACCESS_KEY, SECRET_KEY] {
        for (what, text) in [
            ("argv", r.read("keystore.log")),
            ("env", r.read("keystore.env")),
            ("stderr", r.stderr()),
        ] {
            assert!(
                !text.contains(secret),
                "{secret:?} in the keystore's {what}"
            );
        }
    }
    assert_eq!(
        r.yml_tail(&rendered),
        "\n# sts-gen: the S3 client of the snapshot repository, from the S3 Secret backups-s3 (init-config)\n\
         s3.client.sts-gen.endpoint: \"https://s3.eu-west-1.amazonaws.com\"\n\
         s3.client.sts-gen.path_style_access: true\n\
         s3.client.sts-gen.region: \"eu-west-1\"\n"
    );
    // The rest of init-config's work is done as before.
    assert_eq!(r.read("config/jvm.options"), "-Xss1m\n");
    assert_eq!(r.read("config/bootstrap-password"), PASSWORD);
    assert!(
        r.stderr()
            .contains("S3 client sts-gen configured: endpoint https://s3.eu-west-1.amazonaws.com, region eu-west-1"),
        "{}",
        r.stderr()
    );
}

#[test]
fn init_config_takes_an_http_endpoint_with_a_port_and_the_images_keystore() {
    let (r, rendered) = init_config(
        "http-port",
        &s3_args(backup_args("2")),
        &s3_secret("http://minio.minio:9000/", None),
        true,
    );
    r.succeeded(true);
    // The image's keystore (copied with the config directory) is used, not replaced.
    assert_eq!(
        r.keystore_calls(),
        [
            "add --stdin --force s3.client.sts-gen.access_key",
            "add --stdin --force s3.client.sts-gen.secret_key",
        ]
    );
    let tail = r.yml_tail(&rendered);
    assert!(
        tail.contains("s3.client.sts-gen.endpoint: \"http://minio.minio:9000\"\n"),
        "{tail}"
    );
    assert!(
        !tail.contains("region"),
        "no region without the key: {tail}"
    );
}

#[test]
fn init_config_refuses_an_endpoint_that_is_not_http_host_port() {
    for endpoint in [
        "ftp://x",
        "minio.minio:9000",
        "https://user:pw@s3.example.com",
        "https://s3.example.com/bucket",
        "https://s3.example.com:99999",
        "https://s3.example.com\nevil: true",
    ] {
        let (r, _) = init_config(
            "refused",
            &s3_args(backup_args("2")),
            &s3_secret(endpoint, None),
            false,
        );
        r.succeeded(false);
        assert!(
            r.keystore_calls().is_empty(),
            "{endpoint:?}: the keystore untouched"
        );
        let err = r.stderr();
        assert_eq!(err.lines().count(), 1, "{endpoint:?}: one line: {err}");
        assert!(
            err.contains("the S3 Secret backups-s3's endpoint is not http(s)://host[:port]"),
            "{endpoint:?}: {err}"
        );
        assert!(!err.contains("pw@"), "the value is not logged: {err}");
    }
    // A key missing from the Secret fails just as clearly.
    let mut secret = s3_secret("https://s3.example.com", None);
    secret.retain(|(k, _)| *k != "secret-access-key");
    let (r, _) = init_config("no-secret-key", &s3_args(backup_args("2")), &secret, false);
    r.succeeded(false);
    assert!(
        r.stderr()
            .contains("the S3 Secret backups-s3 has no secret-access-key"),
        "{}",
        r.stderr()
    );
    assert!(r.keystore_calls().is_empty());
}

/// What init-config appended for the first election: the pods listed, or None.
fn initial_master_nodes(tail: &str) -> Option<Vec<String>> {
    let (_, list) = tail.split_once("cluster.initial_master_nodes:\n")?;
    Some(
        list.lines()
            .map_while(|l| l.strip_prefix("  - "))
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn the_first_election_keeps_its_master_list_until_the_cluster_has_formed() {
    let three = args(&["--replicas", "3"]);
    let pods = |n: usize| -> Vec<String> { (0..n).map(|i| format!("elasticsearch-{i}")).collect() };
    let rendered = script(&three, "elasticsearch.yml");
    assert!(
        !rendered.contains("cluster.initial_master_nodes:"),
        "init-config decides, not the ConfigMap"
    );

    // Every node restarted before the first election: each wrote _state on its first start, and
    // no node answers. The list stays, or the cluster never forms.
    let (run, rendered) = init_config_on(
        "restart-before-formed",
        &three,
        &[],
        false,
        &[("_state/", "")],
        &[],
    );
    run.succeeded(true);
    assert_eq!(
        initial_master_nodes(&run.yml_tail(&rendered)),
        Some(pods(3)),
        "{}",
        run.stderr()
    );
    assert!(run.read("data/sts-gen-cluster-uuid").is_empty());

    // The count is read at run time: a set scaled to 5 before it formed lists 5.
    let (run, rendered) = init_config_on(
        "scaled-before-formed",
        &three,
        &[],
        false,
        &[],
        &[("REPLICAS_FILE", "5\n")],
    );
    run.succeeded(true);
    assert_eq!(
        initial_master_nodes(&run.yml_tail(&rendered)),
        Some(pods(5))
    );

    // A node answers with the cluster's UUID: recorded, and the setting left out.
    let uuid = "Qh3rV8Zr2xT9kLm4pNw7Yg";
    let (run, rendered) = init_config_on(
        "formed",
        &three,
        &[],
        false,
        &[("_state/", "")],
        &[("CLUSTER_UUID", uuid)],
    );
    run.succeeded(true);
    assert_eq!(
        initial_master_nodes(&run.yml_tail(&rendered)),
        None,
        "{}",
        run.stderr()
    );
    assert_eq!(run.read("data/sts-gen-cluster-uuid"), format!("{uuid}\n"));
    assert!(run.stderr().contains(&format!("cluster {uuid} has formed")));

    // Recorded before: no node needs to answer (a full restart after formation).
    let marker = format!("{uuid}\n");
    let (run, rendered) = init_config_on(
        "recorded",
        &three,
        &[],
        false,
        &[("_state/", ""), ("sts-gen-cluster-uuid", &marker)],
        &[],
    );
    run.succeeded(true);
    assert_eq!(initial_master_nodes(&run.yml_tail(&rendered)), None);

    // A node that answers without a formed cluster ("_na_") is no sign.
    let (run, rendered) =
        init_config_on("na", &three, &[], false, &[], &[("CLUSTER_UUID", "_na_")]);
    run.succeeded(true);
    assert_eq!(
        initial_master_nodes(&run.yml_tail(&rendered)),
        Some(pods(3))
    );
    assert!(run.read("data/sts-gen-cluster-uuid").is_empty());

    // A replica count that is not one fails the pod, naming the key.
    let (run, _) = init_config_on(
        "no-count",
        &three,
        &[],
        false,
        &[],
        &[("REPLICAS_FILE", "")],
    );
    run.succeeded(false);
    assert!(
        run.stderr().contains("needs its key replicas"),
        "{}",
        run.stderr()
    );

    // One node: single-node discovery, nothing asked.
    let one = args(&["--replicas", "1"]);
    let (run, rendered) =
        init_config_on("single", &one, &[], false, &[], &[("CLUSTER_UUID", uuid)]);
    run.succeeded(true);
    assert_eq!(run.yml_tail(&rendered), "");
    assert!(rendered.contains("discovery.type: single-node"));
    assert!(!run.read("log").contains("CALL"));
}
