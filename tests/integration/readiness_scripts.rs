//! The readiness probes of MySQL (readiness.sh) and MongoDB (readiness.js), whose servers do not
//! run on the test machines: run as rendered against stand-ins that answer what the real servers
//! answer for a given replication state. (MariaDB's and Redis's probes run against the real
//! servers in the end-to-end suite.)

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sts_gen::k8s::Manifest;

use crate::harness::temp_dir;

/// The scripts ConfigMap's files of `sts-gen <argv>`.
fn scripts(argv: &[&str]) -> BTreeMap<String, String> {
    let resolved = sts_gen::cli::resolve_argv(argv, &|_| Ok("pw".to_owned())).unwrap();
    sts_gen::generate(&resolved)
        .unwrap()
        .into_iter()
        .find_map(|d| match d {
            Manifest::ConfigMap(c) if c.metadata.name.as_deref().unwrap().ends_with("-scripts") => {
                c.data
            }
            _ => None,
        })
        .expect("the scripts ConfigMap")
}

/// A stand-in `mysql` client: the server of one pod, whose state is in $FAKE_STATE as
/// "<read_only> <receiver> <applier> <lag>" (receiver Yes/Connecting/No, applier Yes/No, lag a
/// number or NULL; "-" for a pod without replication). It answers the read-only query,
/// SHOW REPLICA STATUS (vertical, as MySQL 8.4 prints it) and performance_schema's thread states.
const FAKE_MYSQL: &str = r#"#!/bin/bash
read -r read_only io sql lag < "$FAKE_STATE"
query=
while [ $# -gt 0 ]; do
  case $1 in -e) query=$2; shift ;; esac
  shift
done
case $query in
  *read_only*) echo "$read_only" ;;
  'SHOW REPLICA STATUS')
    [ "$io" = - ] && exit 0
    echo '*************************** 1. row ***************************'
    printf '             Replica_IO_State: %s\n' 'Waiting for source to send event'
    printf '                  Source_Host: mysql-0.mysql-headless.data.svc.cluster.local\n'
    printf '           Replica_IO_Running: %s\n' "$io"
    printf '          Replica_SQL_Running: %s\n' "$sql"
    printf '        Seconds_Behind_Source: %s\n' "$lag"
    ;;
  *performance_schema*)
    [ "$io" = - ] && exit 0
    case $io in Yes) c=ON ;; Connecting) c=CONNECTING ;; *) c=OFF ;; esac
    case $sql in Yes) a=ON ;; *) a=OFF ;; esac
    echo "$a/$c"
    ;;
  *) echo "unexpected query: $query" >&2; exit 1 ;;
esac
"#;

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    /// A directory of its own: tests run in parallel in one process.
    fn new(tag: &str) -> Sandbox {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = temp_dir(&format!("{tag}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        for sub in ["bin", "scripts", "credentials"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    fn write(&self, path: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.dir.join(path);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// MySQL's readiness.sh of `sts-gen mysql <args>`, run as pod `pod` against a server in `state`:
/// Ok, or Err with what it printed.
fn mysql_readiness(args: &[&str], pod: &str, state: &str) -> Result<(), String> {
    let s = Sandbox::new("mysql-readiness");
    let mut argv = vec!["mysql", "--namespace", "data"];
    argv.extend(args);
    let d = s.dir.display().to_string();
    let script = scripts(&argv)["readiness.sh"]
        .replace("/etc/mysql/credentials", &format!("{d}/credentials"));
    let script = s.write("scripts/readiness.sh", &script, 0o644);
    s.write("bin/mysql", FAKE_MYSQL, 0o755);
    s.write("credentials/root-password", "pw", 0o644);
    let state_file = s.write("state", state, 0o644);
    let out = Command::new("bash")
        .arg(script)
        .env_clear()
        .env(
            "PATH",
            format!("{d}/bin:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env("POD_NAME", pod)
        .env("POD_NAMESPACE", "data")
        .env("FAKE_STATE", state_file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn mysql_primary_is_ready_when_it_accepts_writes() {
    assert_eq!(mysql_readiness(&[], "mysql-0", "0 - - -"), Ok(()));
    let e = mysql_readiness(&[], "mysql-0", "1 - - -").unwrap_err();
    assert!(e.contains("read-only"), "{e}");
}

#[test]
fn mysql_replica_is_ready_only_while_replicating_within_the_lag_cap() {
    let ready = |args: &[&str], state: &str| mysql_readiness(args, "mysql-1", state);
    assert_eq!(ready(&[], "1 Yes Yes 0"), Ok(()));
    // The default cap, 60 s, from presets/mysql/default.yaml.
    assert_eq!(ready(&[], "1 Yes Yes 60"), Ok(()));
    let e = ready(&[], "1 Yes Yes 61").unwrap_err();
    assert!(e.contains("lag 61s is over 60s"), "{e}");
    // The cap follows replication.maxLagSeconds, by flag or by key.
    let e = ready(&["--max-lag", "30"], "1 Yes Yes 31").unwrap_err();
    assert!(e.contains("over 30s"), "{e}");
    assert_eq!(ready(&["--max-lag", "30"], "1 Yes Yes 30"), Ok(()));
    let e = ready(&["--set", "replication.maxLagSeconds=5"], "1 Yes Yes 6").unwrap_err();
    assert!(e.contains("over 5s"), "{e}");
    // Pod 0 unreachable: the receiver retries, and the lag is NULL.
    let e = ready(&[], "1 Connecting Yes NULL").unwrap_err();
    assert!(e.contains("receiver Connecting, applier Yes"), "{e}");
    // Stopped on an error (1236, or by hand).
    let e = ready(&[], "1 No Yes NULL").unwrap_err();
    assert!(e.contains("receiver No"), "{e}");
    let e = ready(&[], "1 Yes No NULL").unwrap_err();
    assert!(e.contains("applier No"), "{e}");
    let e = ready(&[], "1 - - -").unwrap_err();
    assert!(e.contains("not configured"), "{e}");
}

/// Stand-ins for mongosh's globals, for readiness.js run by node: `db` answers hello as this
/// member ($FAKE_STATE's `self`), `new Mongo(uri)` connects to the primary (`primary`; absent:
/// the connection fails), dates in milliseconds since the epoch.
const FAKE_MONGOSH: &str = r#"
const fakeState = JSON.parse(require('fs').readFileSync(process.env.FAKE_STATE, 'utf8'));
const fakeHello = (h) => ({ ok: 1, ...h, lastWrite: h.lastWrite === undefined ? undefined : { lastWriteDate: new Date(h.lastWrite) } });
globalThis.db = { getSiblingDB: () => ({ runCommand: () => fakeHello(fakeState.self) }) };
globalThis.Mongo = class {
  constructor(uri) {
    if (!uri.includes(`mongodb://${fakeState.self.primary}/`) || !uri.includes('directConnection=true')) throw new Error(`unexpected uri ${uri}`);
    if (!fakeState.primary) throw new Error(`MongoServerSelectionError: connect ECONNREFUSED ${uri}`);
  }
  getDB() { return { runCommand: () => fakeHello(fakeState.primary) }; }
};
globalThis.print = (s) => console.log(s);
globalThis.quit = (code) => process.exit(code);
"#;

/// MongoDB's readiness.js of `sts-gen mongodb <args>` with this member's and the primary's
/// hello (JSON): Ok, or Err with what it printed.
fn mongodb_readiness(args: &[&str], state: &str) -> Result<(), String> {
    let s = Sandbox::new("mongodb-readiness");
    let mut argv = vec!["mongodb", "--namespace", "data"];
    argv.extend(args);
    let script = format!("{FAKE_MONGOSH}\n{}", scripts(&argv)["readiness.js"]);
    let script = s.write("scripts/readiness.js", &script, 0o644);
    let state_file = s.write("state", state, 0o644);
    let out = Command::new("node")
        .arg(script)
        .env("FAKE_STATE", state_file)
        .output()
        .expect("node (scripts/install-test-deps installs it)");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(printed),
        other => panic!("exit {other:?}: {printed}"),
    }
}

const PRIMARY: &str = "mongodb-0.mongodb-headless.data.svc.cluster.local:27017";

/// A secondary whose last applied write is `behind` ms older than the primary's.
fn secondary(behind: u64) -> String {
    format!(
        r#"{{"self": {{"secondary": true, "primary": "{PRIMARY}", "lastWrite": {}}},
            "primary": {{"isWritablePrimary": true, "lastWrite": 1764039600000}}}}"#,
        1_764_039_600_000 - behind
    )
}

#[test]
fn mongodb_primary_is_ready_when_writable() {
    let state = r#"{"self": {"isWritablePrimary": true, "lastWrite": 1}}"#;
    assert_eq!(mongodb_readiness(&[], state), Ok(()));
}

#[test]
fn mongodb_secondary_is_ready_only_within_the_lag_cap_of_the_primary() {
    // Caught up, or one no-op of an idle primary (10 s) behind: Ready under the default 60 s.
    assert_eq!(mongodb_readiness(&[], &secondary(0)), Ok(()));
    assert_eq!(mongodb_readiness(&[], &secondary(10_000)), Ok(()));
    assert_eq!(mongodb_readiness(&[], &secondary(60_000)), Ok(()));
    let e = mongodb_readiness(&[], &secondary(61_000)).unwrap_err();
    assert!(
        e.contains("61 s behind the primary") && e.contains("over 60 s"),
        "{e}"
    );
    // The cap follows replication.maxLagSeconds.
    let e = mongodb_readiness(&["--max-lag", "5"], &secondary(10_000)).unwrap_err();
    assert!(e.contains("over 5 s"), "{e}");
    assert_eq!(
        mongodb_readiness(&["--max-lag", "5"], &secondary(5_000)),
        Ok(())
    );
}

#[test]
fn mongodb_member_without_a_reachable_primary_or_in_initial_sync_is_not_ready() {
    // Initial sync (STARTUP2) or RECOVERING: neither primary nor secondary.
    let e = mongodb_readiness(&[], r#"{"self": {"secondary": false}}"#).unwrap_err();
    assert!(e.contains("initial sync"), "{e}");
    // No primary elected (no majority up).
    let e = mongodb_readiness(&[], r#"{"self": {"secondary": true, "lastWrite": 1}}"#).unwrap_err();
    assert!(e.contains("sees no primary"), "{e}");
    // The primary it knows does not answer, or has stepped down.
    let state =
        format!(r#"{{"self": {{"secondary": true, "primary": "{PRIMARY}", "lastWrite": 1}}}}"#);
    let e = mongodb_readiness(&[], &state).unwrap_err();
    assert!(e.contains("MongoServerSelectionError"), "{e}");
    let state = format!(
        r#"{{"self": {{"secondary": true, "primary": "{PRIMARY}", "lastWrite": 1}},
            "primary": {{"isWritablePrimary": false, "secondary": true, "lastWrite": 1}}}}"#
    );
    let e = mongodb_readiness(&[], &state).unwrap_err();
    assert!(e.contains("no longer the primary"), "{e}");
}
