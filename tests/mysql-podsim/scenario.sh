#!/bin/bash
# The failure stories of the MySQL engine, run with the generated manifest's own scripts against
# real MySQL servers: Debian's (unstable's mysql-server, 9.7 at present, from the root
# scripts/mysql-root builds). Prints PASS/FAIL per check; exits non-zero on any failure.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/sim.sh"
[ "$(id -u)" = 0 ] || { echo "run as root: the pods are Linux namespaces" >&2; exit 2; }
"$here/mysql-from-root.sh"
(cd "$here/../.." && cargo build --quiet)
mkdir -p "$SIM"
fail=0
check() { # description, expected, actual
  if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: expected [$2] got [$3]"; fail=1; return 1; fi
}
rows() { q "$1" 'SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.t'; }
ready() { ctr "$1" bash /scripts/readiness.sh >/dev/null 2>&1 && echo ready || echo not-ready; }
"$here/../../target/debug/sts-gen" mysql --replicas 3 --existing-secret creds --backup-schedule @daily --backup-keep 2 -o json > "$SIM/mysql.json"
setup
t0=$SECONDS
start_pod 0 >/dev/null 2>&1; q 0 "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)"
start_pod 1 >/dev/null 2>&1; start_pod 2 >/dev/null 2>&1
q 0 "INSERT INTO shop.t VALUES (2)"; sleep 1
check "bootstrap: pod 1 has the writes" "1,2" "$(rows 1)"
check "bootstrap: pod 2 (cloned from pod 1) has the writes" "1,2" "$(rows 2)"
check "server ids" "100 101 102" "$(q 0 'SELECT @@server_id') $(q 1 'SELECT @@server_id') $(q 2 'SELECT @@server_id')"
check "replicas are super_read_only" "1" "$(q 2 'SELECT @@super_read_only')"
check "report_host" "mysql-2.mysql-headless.default.svc.cluster.local" "$(q 2 'SELECT @@report_host')"
# A replica binlogs FLUSH (without LOCAL) with its own server UUID: an errant GTID that a later
# rebuild of pod 0 would trip over. README: use FLUSH LOCAL on replicas; heal one with an empty
# transaction of that GTID on pod 0.
executed() { q "$1" "SELECT REPLACE(@@GLOBAL.gtid_executed, '\n', '')"; }
q 2 "FLUSH TABLES"
errant=$(q 2 "SELECT GTID_SUBTRACT(REPLACE(@@GLOBAL.gtid_executed, '\n', ''), '$(executed 0)')")
check "FLUSH on a replica is an errant GTID of its own" "1" "$(q 2 "SELECT LOCATE(@@server_uuid, '$errant') = 1")"
q 0 "SET GTID_NEXT = '$errant'; BEGIN; COMMIT; SET GTID_NEXT = 'AUTOMATIC'"
check "... healed by an empty transaction on pod 0 (README)" "1" "$(q 0 "SELECT GTID_SUBSET('$(executed 2)', @@GLOBAL.gtid_executed)")"
q 2 "FLUSH LOCAL TABLES"
check "FLUSH LOCAL on a replica leaves none" "1" "$(q 0 "SELECT GTID_SUBSET('$(executed 2)', @@GLOBAL.gtid_executed)")"
start_pod 3 >/dev/null 2>&1; sleep 1
check "scale to 4: pod 3 clones and catches up" "1,2" "$(rows 3)"
stop_pod 1; q 0 "INSERT INTO shop.t VALUES (3)"
out=$(start_pod 1 2>&1); sleep 1
check "restart replica: no re-clone" "0" "$(grep -c cloning <<< "$out")"
check "restart replica: receives what it missed" "1,2,3" "$(rows 1)"
stop_pod 2; rm -rf $SIM/pods/2/pv/* $SIM/pods/2/pv/.sts-gen; q 0 "INSERT INTO shop.t VALUES (4)"
out=$(start_pod 2 2>&1); sleep 1
check "wiped replica re-clones" "1" "$(grep -c 'clone of' <<< "$out")"
check "wiped replica catches up" "1,2,3,4" "$(rows 2)"
# Readiness is lag-aware: a replica whose receiver lost pod 0 ("Connecting") serves no reads.
stop_pod 0
for _ in $(seq 15); do [ "$(ready 1)" = not-ready ] && break; sleep 1; done
check "primary down: replica turns not ready" "not-ready" "$(ready 1)"
out=$(start_pod 0 2>&1); q 0 "INSERT INTO shop.t VALUES (5)"; sleep 12
check "restart pod 0: not re-initialised" "0" "$(grep -c "initialising an empty" <<< "$out")"
check "restart pod 0: replicas reconnect" "1,2,3,4,5 1,2,3,4,5 1,2,3,4,5" "$(rows 1) $(rows 2) $(rows 3)"
# The backup CronJob's command, three times (keep 2): a clone of the highest replica that
# replicates, with a write made just before it.
job_pod 9
q 0 "INSERT INTO shop.t VALUES (100)"; sleep 1
for _ in 1 2 3; do out=$(ctr 9 bash /scripts/backup.sh 2>&1) || { echo "$out"; break; }; sleep 1; done
gtid_at_backup=$(executed 0)
# Then the mistake a backup is for; the restore brings the row back.
q 0 "DELETE FROM shop.t WHERE id = 100"
backups=$(find "$SIM/backups" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
backup=$(tail -n 1 <<< "$backups")
check "backup: two complete backups kept, nothing partial" "2 0" "$(grep -c '^[0-9]*T[0-9]*Z$' <<< "$backups") $(grep -c partial <<< "$backups")"
check "backup: taken from the highest replica" "source=mysql-3" "$(grep '^source=' "$SIM/backups/$backup/sts-gen-backup.info")"
check "backup: records the GTID set" "gtid=$gtid_at_backup" "$(grep '^gtid=' "$SIM/backups/$backup/sts-gen-backup.info")"
check "backup: nothing but the data and the info (no recipient server)" "data sts-gen-backup.info" "$(cd "$SIM/backups/$backup" && echo *)"
old_set=$(q 0 'SELECT id FROM sts_gen.cluster')
stop_pod 1; q 0 "INSERT INTO shop.t VALUES (6)"; sleep 1; stop_pod 0; rm -rf $SIM/pods/0/pv/* $SIM/pods/0/pv/.sts-gen
( ctr 1 bash /scripts/init-config.sh && ctr 1 bash /scripts/init-data.sh ) >/dev/null 2>&1
ctr 1 mysqld --defaults-file=/etc/mysql/sts-gen/my.cnf > $SIM/pods/1/mysqld.log 2>&1 & sleep 4
out=$(start_pod 0 2>&1)
check "wiped pod 0 rejoins from the most complete peer, not pod 1 (behind)" "1" "$(grep -c 'cloning the data of mysql-[23]' <<< "$out")"
check "wiped pod 0 keeps every write" "1,2,3,4,5,6" "$(rows 0)"
check "wiped pod 0 is writable" "0" "$(q 0 'SELECT @@super_read_only')"
q 0 "INSERT INTO shop.t VALUES (7)"; sleep 12
check "replicas follow the rebuilt pod 0" "1,2,3,4,5,6,7 1,2,3,4,5,6,7" "$(rows 2) $(rows 3)"
check "replica behind the rebuilt pod 0 is not ready (1236)" "not-ready" "$(ready 1)"
for n in 1 2 3; do delete_pod $n; done
stop_pod 0; rm -rf $SIM/pods/0/pv/* $SIM/pods/0/pv/.sts-gen
start_pod 0 >/dev/null 2>&1
create_pod 1
ctr 1 bash /scripts/init-config.sh >/dev/null 2>&1
out=$(ctr 1 bash /scripts/init-data.sh 2>&1); rc=$?
check "replica notices a pod 0 of another replication set" "0 1" "$rc $(grep -c 'NOT REPLICATING: pod 0 belongs to replication set' <<< "$out")"
ctr 1 mysqld --defaults-file=/etc/mysql/sts-gen/my.cnf > $SIM/pods/1/mysqld.log 2>&1 & sleep 4
check "... and keeps its data without replicating it over" "1,2,3,4,5 OFF" "$(rows 1) $(q 1 'SELECT SERVICE_STATE FROM performance_schema.replication_connection_status')"
check "... and is not ready" "not-ready" "$(ready 1)"
stop_pod 0; rm -rf "$SIM"/pods/0/pv/* "$SIM"/pods/0/pv/.sts-gen
out=$(start_pod 0 2>&1)
check "pod 0 rebuilt from that replica has the old set's data" "1,2,3,4,5" "$(rows 0)"
# Restore: everything wiped, the restore Job's init containers run as pod 0 with RESTORE_FROM.
for p in 0 1 2 3; do delete_pod $p; rm -rf "$SIM"/pods/$p/pv/* "$SIM"/pods/$p/pv/.sts-gen; done
create_pod 0; delete_pod 0   # the Job's pod is not pod 0: no DNS name
ctr 0 bash /scripts/init-config.sh >/dev/null 2>&1
out=$(CTR_ENV="RESTORE_FROM=/backups/$backup" ctr 0 bash /scripts/init-data.sh 2>&1); rc=$?
check "restore job succeeds" "0 1" "$rc $(grep -c 'restored; this pod starts as the primary' <<< "$out")" || echo "$out"
out=$(start_pod 0 2>&1)
check "restored pod 0 starts on the restored data" "0" "$(grep -c 'initialising an empty' <<< "$out")"
check "restored pod 0 has the writes up to the backup" "1,2,3,4,5,100" "$(rows 0)"
check "restored pod 0 is writable and a new replication set" "0 1" "$(q 0 'SELECT @@super_read_only') $(q 0 "SELECT COUNT(*) FROM sts_gen.cluster WHERE id <> '$old_set'")"
q 0 "INSERT INTO shop.t VALUES (101)"
start_pod 1 >/dev/null 2>&1; sleep 1
check "a replica clones the restored pod 0" "1,2,3,4,5,100,101" "$(rows 1)"
out=$(CTR_ENV="RESTORE_FROM=/backups/$backup" ctr 0 bash /scripts/init-data.sh 2>&1); rc=$?
check "restore refuses over existing data" "1 1" "$rc $(grep -c 'refusing to restore' <<< "$out")"
echo "elapsed $((SECONDS - t0))s"
teardown
exit $fail
