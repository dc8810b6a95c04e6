//! MongoDB's backup job and restore path, run by bash as rendered against fake `mongosh`,
//! `mongodump`, `mongorestore`, `mongod` and `getent` first on PATH. The fakes record their
//! arguments in a log and answer what the scripts ask; the tests assert on those commands and on
//! what the scripts leave on disk. The scripts' absolute paths (/backups, /tmp, the volume, the
//! mounts) are pointed into a temporary directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sts_gen::k8s::Manifest;

use crate::harness::temp_dir;

/// The root password: quotes, a backslash and a dollar, as a Secret may hold them.
const PASSWORD: &str = "it's \"quoted\" \\ and $pecial";

const FAKES: &[(&str, &str)] = &[
    ("getent", crate::harness::FAKE_GETENT),
    (
        "mongosh",
        r#"#!/bin/bash
{ printf mongosh; printf ' %s' "$@"; echo; } >> "$FAKE_LOG"
uri= file=
prev=
for a in "$@"; do
  case $a in mongodb://*) uri=$a ;; esac
  if [ "$prev" = --file ]; then file=$a; fi
  prev=$a
done
case $file in
  */member-state.js)
    # The member's answer, from $FAKE_STATES/<pod>; no file: it does not answer.
    host=${uri#mongodb://}
    host=${host%%.*}
    # member-state.js reads the cap from the environment.
    [[ ${MAX_LAG_SECONDS:-} =~ ^[0-9]+$ ]] || { echo "MAX_LAG_SECONDS not exported" >&2; exit 9; }
    echo "member-state.js of $host with MAX_LAG_SECONDS=$MAX_LAG_SECONDS" >> "$FAKE_LOG"
    [ -f "$FAKE_STATES/$host" ] || { echo "MongoServerSelectionError: $host" >&2; exit 1; }
    cat "$FAKE_STATES/$host"
    ;;
  */restore-root.js) echo "the restored root user has the password of the Secret" ;;
  *) : ;;
esac
"#,
    ),
    (
        "mongodump",
        r#"#!/bin/bash
{ printf mongodump; printf ' %s' "$@"; echo; } >> "$FAKE_LOG"
config= archive=
for a in "$@"; do
  case $a in
    --config=*) config=${a#--config=} ;;
    --archive=*) archive=${a#--archive=} ;;
  esac
done
printf 'config mode %s: %s\n' "$(stat -c %a "$config")" "$(cat "$config")" >> "$FAKE_LOG"
printf 'fake archive' > "$archive"
"#,
    ),
    (
        "mongorestore",
        r#"#!/bin/bash
{ printf mongorestore; printf ' %s' "$@"; echo; } >> "$FAKE_LOG"
"#,
    ),
    (
        "mongod",
        r#"#!/bin/bash
{ printf mongod; printf ' %s' "$@"; echo; } >> "$FAKE_LOG"
dbpath= shutdown=
prev=
for a in "$@"; do
  if [ "$prev" = --dbpath ]; then dbpath=$a; fi
  if [ "$a" = --shutdown ]; then shutdown=1; fi
  prev=$a
done
if [ -n "$shutdown" ]; then
  touch "$dbpath/.fake-stop"
  exit 0
fi
# A server: writes its files, serves until told to shut down, then exits cleanly.
echo data > "$dbpath/WiredTiger"
while [ ! -e "$dbpath/.fake-stop" ]; do sleep 0.05; done
rm -f "$dbpath/.fake-stop"
"#,
    ),
];

struct Sandbox {
    dir: PathBuf,
    scripts: BTreeMap<String, String>,
}

impl Sandbox {
    /// The MongoDB scripts for `args` (namespace `data`), with their paths under a new temporary
    /// directory holding the fakes, the Secret's root password and the other mounts.
    fn new(tag: &str, args: &[&str]) -> Sandbox {
        let dir = temp_dir(tag);
        let mut argv = vec!["mongodb", "--namespace", "data"];
        argv.extend(args);
        let resolved = sts_gen::cli::resolve_argv(&argv, &|_| Ok(PASSWORD.to_owned())).unwrap();
        let docs = sts_gen::generate(&resolved).unwrap();
        let data = docs
            .iter()
            .find_map(|d| match d {
                Manifest::ConfigMap(c) if c.metadata.name.as_deref() == Some("mongodb-scripts") => {
                    c.data.clone()
                }
                _ => None,
            })
            .expect("the scripts ConfigMap");
        let d = dir.to_str().unwrap();
        // /tmp first: the sandbox itself lies under /tmp.
        let scripts = data
            .into_iter()
            .map(|(k, v)| {
                let v = v
                    .replace("/tmp/", &format!("{d}/tmp/"))
                    .replace("/etc/mongo-credentials", &format!("{d}/credentials"))
                    .replace("/data/volume", &format!("{d}/volume"))
                    .replace("BACKUPS=/backups", &format!("BACKUPS={d}/backups"))
                    .replace("/scripts/", &format!("{d}/scripts/"));
                (k, v)
            })
            .collect::<BTreeMap<_, _>>();
        for sub in [
            "bin",
            "tmp",
            "credentials",
            "volume",
            "backups",
            "scripts",
            "states",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (name, text) in FAKES {
            let path = dir.join("bin").join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("credentials/root-password"), PASSWORD).unwrap();
        for (k, v) in &scripts {
            std::fs::write(dir.join("scripts").join(k), v).unwrap();
        }
        std::fs::write(dir.join("log"), "").unwrap();
        Sandbox { dir, scripts }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Member `pod` answers member-state.js with `line`.
    fn member(&self, pod: &str, line: &str) {
        std::fs::write(self.path("states").join(pod), format!("{line}\n")).unwrap();
    }

    /// Runs script `key` with bash as pod `pod_name`, pods `pods` resolving, and `env`.
    fn run(&self, key: &str, pod_name: &str, pods: &str, env: &[(&str, &str)]) -> Output {
        let path = std::env::var("PATH").unwrap_or_default();
        let mut cmd = Command::new("bash");
        cmd.arg(self.path("scripts").join(key))
            .env_clear()
            .env("PATH", format!("{}:{path}", self.path("bin").display()))
            .env("POD_NAME", pod_name)
            .env("POD_NAMESPACE", "data")
            .env("HOME", self.path("tmp"))
            .env("FAKE_LOG", self.path("log"))
            .env("FAKE_STATES", self.path("states"))
            .env("FAKE_PODS", pods);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap()
    }

    /// The names in the backups directory, sorted.
    fn backups(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("backups"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn backup_args(keep: &str) -> [&str; 4] {
    ["--backup-schedule", "@daily", "--backup-keep", keep]
}

fn is_backup_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

#[track_caller]
fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}:\n{stderr}", out.status);
    stderr
}

/// Lines of the log that are commands (not what the fakes add about them).
fn commands<'a>(log: &'a str, program: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.split(' ').next() == Some(program))
        .collect()
}

#[test]
fn backup_dumps_a_caught_up_secondary_with_its_oplog() {
    let s = Sandbox::new("mongo-backup", &backup_args("7"));
    s.member("mongodb-0", "PRIMARY 0 1764039600:9 2");
    s.member("mongodb-1", "SECONDARY 0 1764039600:8 1");
    s.member("mongodb-2", "SECONDARY 2 1764039598:3 1");
    let stderr = succeeded(&s.run(
        "backup.sh",
        "mongodb-backup-29392000-abcde",
        "mongodb-0 mongodb-1 mongodb-2",
        &[],
    ));
    let log = s.log();

    // The highest ordinal that is a caught-up secondary; the primary is never asked for a dump.
    let dumps = commands(&log, "mongodump");
    assert_eq!(dumps.len(), 1, "{log}");
    let dump = dumps[0];
    let host = "mongodb-2.mongodb-headless.data.svc.cluster.local:27017";
    assert!(
        dump.contains(&format!(
            " --uri=mongodb://root@{host}/?directConnection=true&authSource=admin "
        )),
        "{dump}"
    );
    for flag in [" --oplog ", " --gzip"] {
        assert!(dump.contains(flag), "{flag}: {dump}");
    }
    let backups = s.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = &backups[0];
    assert!(is_backup_name(name), "{name}");
    assert!(
        dump.contains(&format!(
            " --archive={}/.partial-{name}/dump.archive ",
            s.path("backups").display()
        )),
        "written into the partial directory: {dump}"
    );

    // The password only in mongodump's --config file (mode 0600), never on a command line.
    let config = format!("{}/tmp/sts-gen-mongodump.yaml", s.dir.display());
    assert!(dump.contains(&format!("--config={config} ")), "{dump}");
    assert!(
        log.contains("config mode 600: password: 'it''s \"quoted\" \\ and $pecial'"),
        "{log}"
    );
    for line in log.lines().filter(|l| !l.starts_with("config mode")) {
        assert!(
            !line.contains("pecial"),
            "password on a command line: {line}"
        );
    }
    assert!(!Path::new(&config).exists(), "the config file is removed");
    // member-state.js authenticates itself (it reads the Secret's file); mongosh gets no password.
    for m in commands(&log, "mongosh") {
        assert!(m.contains("directConnection=true"), "{m}");
        assert!(!m.contains("root@") && !m.contains(" -p"), "{m}");
    }

    // The complete backup: the archive and what it covers.
    let dir = s.path("backups").join(name);
    assert_eq!(
        std::fs::read_to_string(dir.join("dump.archive")).unwrap(),
        "fake archive"
    );
    let info = std::fs::read_to_string(dir.join("sts-gen-backup.info")).unwrap();
    for want in [
        format!("name={name}\n"),
        "source=mongodb-2\n".to_owned(),
        "lag_seconds=2\n".to_owned(),
        "max_lag_seconds=60\n".to_owned(),
        "oplog_from=1764039598:3\n".to_owned(),
        "oplog_until=1764039598:3\n".to_owned(),
    ] {
        assert!(info.contains(&want), "{want:?} in:\n{info}");
    }
    assert!(!dir.join(".optimes").exists());
    assert!(
        stderr.contains(&format!("backup {name} complete")),
        "{stderr}"
    );
}

#[test]
fn backup_skips_lagging_and_silent_members_and_takes_the_primary_last() {
    // Pod 2 lags, pod 0 does not answer: no secondary serves, so the primary, pod 1, which sees
    // no serving secondary either.
    let s = Sandbox::new("mongo-backup-primary", &backup_args("7"));
    s.member("mongodb-1", "PRIMARY 0 1764039600:9 0");
    s.member("mongodb-2", "SECONDARY 300 1764039300:1 0");
    succeeded(&s.run("backup.sh", "mongodb-backup-1", "mongodb-1 mongodb-2", &[]));
    let log = s.log();
    let dumps = commands(&log, "mongodump");
    assert_eq!(dumps.len(), 1, "{log}");
    assert!(
        dumps[0].contains("@mongodb-1.mongodb-headless.data.svc.cluster.local:27017/"),
        "{}",
        dumps[0]
    );

    // A primary that sees a serving secondary is passed over for it.
    let s = Sandbox::new("mongo-backup-secondary", &backup_args("7"));
    s.member("mongodb-0", "SECONDARY 1 1764039600:8 1");
    s.member("mongodb-1", "RECOVERING - 1764039000:1 0");
    s.member("mongodb-2", "PRIMARY 0 1764039600:9 1");
    succeeded(&s.run("backup.sh", "mongodb-backup-2", "", &[]));
    let log = s.log();
    assert!(
        commands(&log, "mongodump")[0].contains("@mongodb-0.mongodb-headless"),
        "{log}"
    );

    // Nobody answers: no backup, a failed Job.
    let s = Sandbox::new("mongo-backup-none", &backup_args("7"));
    let out = s.run("backup.sh", "mongodb-backup-3", "", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pod of mongodb serves: no backup taken")
    );
    assert!(commands(&s.log(), "mongodump").is_empty());
    assert!(s.backups().is_empty());
}

#[test]
fn backup_lag_cap_comes_from_max_lag() {
    let states = [
        ("mongodb-0", "PRIMARY 0 1764039600:9 2"),
        ("mongodb-1", "SECONDARY 3 1764039597:1 1"),
        ("mongodb-2", "SECONDARY 10 1764039590:1 1"),
    ];
    let run = |tag: &str, args: &[&str]| {
        let mut all = backup_args("7").to_vec();
        all.extend(args);
        let s = Sandbox::new(tag, &all);
        for (pod, line) in states {
            s.member(pod, line);
        }
        let stderr = succeeded(&s.run("backup.sh", "mongodb-backup-5", "", &[]));
        let name = &s.backups()[0];
        let info =
            std::fs::read_to_string(s.path("backups").join(name).join("sts-gen-backup.info"))
                .unwrap();
        (s.log(), stderr, info)
    };

    // The default cap (60 s): pod 2, 10 s behind, is copied.
    let (log, _, info) = run("mongo-backup-cap-default", &[]);
    assert!(
        log.contains("member-state.js of mongodb-2 with MAX_LAG_SECONDS=60"),
        "{log}"
    );
    assert!(info.contains("source=mongodb-2\nfinished="), "{info}");
    assert!(
        info.contains("lag_seconds=10\nmax_lag_seconds=60\n"),
        "{info}"
    );

    // --max-lag 5: pod 2 is too far behind, pod 1 (3 s) is copied; member-state.js gets the cap.
    let (log, stderr, info) = run("mongo-backup-cap-5", &["--max-lag", "5"]);
    assert!(
        log.contains("member-state.js of mongodb-2 with MAX_LAG_SECONDS=5"),
        "{log}"
    );
    assert!(
        stderr.contains(
            "mongodb-2 is not a source: a secondary 10 s behind the primary (at most 5 s allowed)"
        ),
        "{stderr}"
    );
    assert!(info.contains("source=mongodb-1\nfinished="), "{info}");
    assert!(
        info.contains("lag_seconds=3\nmax_lag_seconds=5\n"),
        "{info}"
    );
    assert!(info.contains("oplog_from=1764039597:1\n"), "{info}");

    // --max-lag 2: no secondary is close enough; the primary, pod 0, with lag 0.
    let (_, _, info) = run("mongo-backup-cap-2", &["--max-lag", "2"]);
    assert!(info.contains("source=mongodb-0\nfinished="), "{info}");
    assert!(
        info.contains("lag_seconds=0\nmax_lag_seconds=2\n"),
        "{info}"
    );
}

#[test]
fn backup_keeps_the_newest() {
    let s = Sandbox::new("mongo-backup-keep", &backup_args("2"));
    for old in ["20200101T030000Z", "20200102T030000Z", "20200103T030000Z"] {
        std::fs::create_dir_all(s.path("backups").join(old)).unwrap();
    }
    s.member("mongodb-1", "SECONDARY 0 1764039600:8 1");
    succeeded(&s.run("backup.sh", "mongodb-backup-4", "", &[]));
    let left = s.backups();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], "20200103T030000Z");
    assert!(
        is_backup_name(&left[1]) && left[1].as_str() > "2025",
        "{left:?}"
    );
}

/// A backup directory as the backup job leaves it.
fn complete_backup(s: &Sandbox, name: &str) -> String {
    let dir = s.path("backups").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dump.archive"), "fake archive").unwrap();
    std::fs::write(
        dir.join("sts-gen-backup.info"),
        format!("name={name}\nsource=mongodb-2\n"),
    )
    .unwrap();
    dir.to_str().unwrap().to_owned()
}

#[test]
fn restore_loads_the_backup_through_a_private_standalone_mongod() {
    let s = Sandbox::new("mongo-restore", &[]);
    let from = complete_backup(&s, "20261125T030000Z");
    // The kubelet may have made mongod's (empty) subPath directory already.
    std::fs::create_dir_all(s.path("volume/db")).unwrap();
    let stderr = succeeded(&s.run("init-data.sh", "mongodb-0", "", &[("RESTORE_FROM", &from)]));
    let log = s.log();

    let scratch = format!("{}/volume/.sts-gen-restore/db", s.dir.display());
    let mongods = commands(&log, "mongod");
    assert_eq!(mongods.len(), 2, "{log}");
    let server = mongods[0];
    assert!(
        server.starts_with(&format!(
            "mongod --dbpath {scratch} --bind_ip 127.0.0.1 --port 27017 "
        )),
        "a standalone on the scratch dbpath, on loopback only: {server}"
    );
    assert!(
        !server.contains("replSet") && !server.contains("--config"),
        "{server}"
    );
    let restores = commands(&log, "mongorestore");
    assert_eq!(restores.len(), 1, "{log}");
    assert_eq!(
        restores[0],
        format!(
            "mongorestore --uri=mongodb://127.0.0.1:27017/?directConnection=true&serverSelectionTimeoutMS=5000 \
             --archive={from}/dump.archive --gzip --oplogReplay --stopOnError"
        )
    );
    assert_eq!(mongods[1], format!("mongod --dbpath {scratch} --shutdown"));
    // In this order: server up, restore, root user, clean shutdown.
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {log}"))
    };
    assert!(at("mongod --dbpath") < at("mongorestore"));
    assert!(at("mongorestore") < at("restore-root.js"));
    assert!(at("restore-root.js") < at("--shutdown"));

    // The restored files at the dbpath, nothing left beside it.
    assert_eq!(
        std::fs::read_to_string(s.path("volume/db/WiredTiger")).unwrap(),
        "data\n"
    );
    assert!(!s.path("volume/db/.fake-stop").exists());
    assert!(!s.path("volume/.sts-gen-restore").exists());
    assert!(stderr.contains("restored "), "{stderr}");
}

#[test]
fn restore_refuses_existing_data_running_pods_and_incomplete_backups() {
    let s = Sandbox::new("mongo-restore-refuse", &[]);
    let from = complete_backup(&s, "20261125T030000Z");
    let restore = [("RESTORE_FROM", from.as_str())];

    std::fs::create_dir_all(s.path("volume/db")).unwrap();
    std::fs::write(s.path("volume/db/WiredTiger"), "old").unwrap();
    let out = s.run("init-data.sh", "mongodb-0", "", &restore);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("refusing to restore: pod 0's volume holds data")
    );
    assert_eq!(
        std::fs::read_to_string(s.path("volume/db/WiredTiger")).unwrap(),
        "old"
    );
    std::fs::remove_dir_all(s.path("volume/db")).unwrap();

    // mongodb-3: beyond the rendered replicas (after kubectl scale).
    for pods in ["mongodb-0", "mongodb-2", "mongodb-3"] {
        let out = s.run("init-data.sh", "mongodb-0", pods, &restore);
        assert!(!out.status.success(), "{pods}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("refusing to restore: {pods} exists")),
            "{stderr}"
        );
    }

    std::fs::remove_file(s.path("backups/20261125T030000Z/sts-gen-backup.info")).unwrap();
    let out = s.run("init-data.sh", "mongodb-0", "", &restore);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no complete backup at"));

    assert!(commands(&s.log(), "mongod").is_empty(), "{}", s.log());
    assert!(!s.path("volume/db").exists());
}

#[test]
fn init_data_without_a_restore_only_clears_what_a_failed_one_left() {
    let s = Sandbox::new("mongo-init-data", &[]);
    std::fs::create_dir_all(s.path("volume/db")).unwrap();
    std::fs::write(s.path("volume/db/WiredTiger"), "live").unwrap();
    std::fs::create_dir_all(s.path("volume/.sts-gen-restore/db")).unwrap();
    for pod in ["mongodb-0", "mongodb-1"] {
        succeeded(&s.run("init-data.sh", pod, "mongodb-0 mongodb-1", &[]));
    }
    assert!(!s.path("volume/.sts-gen-restore").exists());
    assert_eq!(
        std::fs::read_to_string(s.path("volume/db/WiredTiger")).unwrap(),
        "live"
    );
    assert_eq!(s.log(), "", "no server, no tool");
    assert!(s.scripts.contains_key("restore-root.js"));
}
