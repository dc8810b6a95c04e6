//! MySQL's backup job chooses the pod to copy: its `choose_source` (the shared partial's walk over
//! the engine's `source_ok`), run by bash as rendered against a fake `mysql` client and `getent`
//! first on PATH. No MySQL server runs on the test machines; MariaDB's same choice is proven end
//! to end (tests/e2e).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use sts_gen::k8s::Manifest;

use crate::harness::temp_dir;

const FAKES: &[(&str, &str)] = &[
    ("getent", crate::harness::FAKE_GETENT),
    (
        "mysql",
        r#"#!/bin/bash
# The pod's answer to SHOW REPLICA STATUS (--vertical) from $FAKE_STATES/<pod>; no file: it does
# not answer.
host=
for a in "$@"; do
  case $a in --host=*) host=${a#--host=} ;; esac
done
pod=${host%%.*}
[ -f "$FAKE_STATES/$pod" ] || { echo "ERROR 2005 (HY000): Unknown server host '$host'" >&2; exit 1; }
cat "$FAKE_STATES/$pod"
"#,
    ),
];

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    /// MySQL's backup.sh for `args`, ending with `choose_source` instead of `run_backup`.
    fn new(tag: &str, args: &[&str]) -> Sandbox {
        let dir = temp_dir(tag);
        let mut argv = vec![
            "mysql",
            "--namespace",
            "data",
            "--backup-schedule",
            "@daily",
        ];
        argv.extend(args);
        let resolved = sts_gen::cli::resolve_argv(&argv, &|_| Ok("pw".to_owned())).unwrap();
        let script = sts_gen::generate(&resolved)
            .unwrap()
            .iter()
            .find_map(|d| match d {
                Manifest::ConfigMap(c) if c.metadata.name.as_deref() == Some("mysql-scripts") => {
                    c.data.as_ref()?.get("backup.sh").cloned()
                }
                _ => None,
            })
            .expect("backup.sh in the scripts ConfigMap");
        let d = dir.to_str().unwrap();
        let script = script
            .strip_suffix("run_backup\n")
            .expect("backup.sh ends with run_backup")
            .replace("/etc/mysql/credentials", &format!("{d}/credentials"))
            .replace("/scripts/replicas", &format!("{d}/replicas"))
            + "choose_source\n";
        std::fs::write(dir.join("replicas"), "3\n").unwrap();
        for sub in ["bin", "credentials", "states"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (name, text) in FAKES {
            let path = dir.join("bin").join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("credentials/root-password"), "pw").unwrap();
        std::fs::write(dir.join("choose.sh"), script).unwrap();
        Sandbox { dir }
    }

    /// Pod `pod` answers: a primary (no status) for `None`, else a replica with these threads
    /// and Seconds_Behind_Source.
    fn pod(&self, pod: &str, replica: Option<(&str, &str, &str)>) {
        let status = match replica {
            None => String::new(),
            Some((io, sql, lag)) => format!(
                "*************************** 1. row ***************************\n\
                 \x20            Replica_IO_State: Waiting for source to send event\n\
                 \x20           Replica_IO_Running: {io}\n\
                 \x20          Replica_SQL_Running: {sql}\n\
                 \x20        Seconds_Behind_Source: {lag}\n"
            ),
        };
        std::fs::write(self.dir.join("states").join(pod), status).unwrap();
    }

    /// Runs choose_source with these pods' names resolving.
    fn choose(&self, pods: &str) -> Output {
        let path = std::env::var("PATH").unwrap_or_default();
        Command::new("bash")
            .arg(self.dir.join("choose.sh"))
            .env_clear()
            .env("PATH", format!("{}:{path}", self.dir.join("bin").display()))
            .env("POD_NAME", "mysql-backup-1")
            .env("POD_NAMESPACE", "data")
            .env("FAKE_STATES", self.dir.join("states"))
            .env("FAKE_PODS", pods)
            .output()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// choose_source's output (the source's lag, then its ordinal) and its log.
#[track_caller]
fn chosen(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}:\n{stderr}", out.status);
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

const PODS: &str = "mysql-0 mysql-1 mysql-2";

#[test]
fn backup_source_is_the_highest_replica_within_the_lag_cap() {
    // Pod 2 is 30 s behind: within the default cap (60 s), copied.
    let s = Sandbox::new("mysql-backup-default", &[]);
    s.pod("mysql-0", None);
    s.pod("mysql-1", Some(("Yes", "Yes", "0")));
    s.pod("mysql-2", Some(("Yes", "Yes", "30")));
    assert_eq!(chosen(&s.choose(PODS)).0, "30\n2\n");

    // --max-lag 5: the same pod 2 is too far behind; pod 1 is copied, and the log says why.
    let s = Sandbox::new("mysql-backup-cap", &["--max-lag", "5"]);
    s.pod("mysql-0", None);
    s.pod("mysql-1", Some(("Yes", "Yes", "4")));
    s.pod("mysql-2", Some(("Yes", "Yes", "30")));
    let (out, log) = chosen(&s.choose(PODS));
    assert_eq!(out, "4\n1\n");
    assert!(
        log.contains(
            "mysql-2 is not a source: receiver Yes, applier Yes, 30 s behind (at most 5 s allowed)"
        ),
        "{log}"
    );
}

#[test]
fn backup_source_falls_back_to_pod_0_when_no_replica_keeps_up() {
    let s = Sandbox::new("mysql-backup-fallback", &["--max-lag", "5"]);
    s.pod("mysql-0", None);
    // Lag unknown (NULL: the applier stopped), a receiver reconnecting, one too far behind, one
    // that does not answer.
    s.pod("mysql-1", Some(("Yes", "No", "NULL")));
    s.pod("mysql-2", Some(("Connecting", "Yes", "NULL")));
    s.pod("mysql-3", Some(("Yes", "Yes", "6")));
    let (out, log) = chosen(&s.choose("mysql-0 mysql-1 mysql-2 mysql-3 mysql-4"));
    assert_eq!(out, "0\n0\n", "pod 0, lag 0: {log}");
    for why in [
        "mysql-3 is not a source: receiver Yes, applier Yes, 6 s behind",
        "mysql-2 is not a source: receiver Connecting, applier Yes, NULL s behind",
        "mysql-1 is not a source: receiver Yes, applier No, NULL s behind",
    ] {
        assert!(log.contains(why), "{why}: {log}");
    }

    // Nobody answers: no source.
    let s = Sandbox::new("mysql-backup-nobody", &[]);
    assert!(!s.choose(PODS).status.success());
}
