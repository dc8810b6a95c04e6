#!/usr/bin/env bash
# mysql-root-check: proves that the root scripts/mysql-root builds (Debian unstable's MySQL) runs
# what the generated MySQL scripts need, and prints the server's version. Root only.
#
# In namespaces of its own (mount, PID, and a network with only a loopback), over an overlay of
# the root (the cached root is never written), as uid 999 (the mysql image's user):
#   - mysqld --initialize-insecure, as init-data.sh runs it, for two servers with the options of
#     templates/mysql/my.cnf.j2 (GTIDs, binary log, the CLONE plugin loaded FORCE_PLUS_PERMANENT);
#   - on the first (the "primary", 127.0.0.1:3306): VERSION(), gtid_mode and
#     enforce_gtid_consistency, the clone plugin ACTIVE, init-data.sh's accounts;
#   - the second clones it with CLONE INSTANCE ... REQUIRE SSL into a data directory, restarts on
#     it, replicates with CHANGE REPLICATION SOURCE TO ... SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1
#     and receives a write; SHOW REPLICA STATUS as readiness.sh reads it;
#   - both shut down cleanly (mysqladmin shutdown), and the servers' warnings are printed.
# The last line is "mysql-root-check: OK <version>"; any failure exits non-zero with the log.
set -euo pipefail

# --- inside: the check itself, run by this same script in the root as uid 999 ---
inside() {
  cd /check
  # Everything to stderr (the log); only the version to stdout, at the end.
  exec 3>&1 1>&2
  say() { printf '%s\n' "$*" >&2; }
  fail() { say "FAIL: $*"; for f in /check/*.err; do say "--- $f"; tail -n 20 "$f" >&2; done; exit 1; }
  cli() { # N: a client of server N over its socket as root
    printf '[client]\nuser=root\nsocket=/check/s%s.sock\npassword=%s\n' "$1" "${2-root-pw}" > "/check/c$1.cnf"
    echo "/check/c$1.cnf"
  }
  sql() { # N SQL
    mysql --defaults-file="$(cli "$1")" --batch --skip-column-names -e "$2"
  }
  wait_up() { # N PID
    local i
    for i in $(seq 1 120); do
      mysqladmin --no-defaults --socket="/check/s$1.sock" --connect-timeout=2 ping >/dev/null 2>&1 && return 0
      kill -0 "$2" 2>/dev/null || fail "server $1 exited during start-up"
      sleep 1
    done
    fail "server $1 did not answer within 120 s"
  }
  start() { # N [OPTION...]
    mysqld --defaults-file="/check/s$1.cnf" "${@:2}" &
    pids[$1]=$!
    wait_up "$1" "${pids[$1]}"
  }
  stop() { # N [password]
    mysqladmin --defaults-file="$(cli "$1" "${2-root-pw}")" shutdown || fail "mysqladmin shutdown of server $1"
    wait "${pids[$1]}" || fail "server $1 did not exit cleanly"
  }
  declare -a pids

  for n in 0 1; do
    mysqld --defaults-file="/check/s$n.cnf" --initialize-insecure --read-only=OFF --super-read-only=OFF \
      || fail "mysqld --initialize-insecure ($n)"
  done
  say "initialised two data directories"

  start 0
  printf '[client]\nuser=root\nsocket=/check/s0.sock\n' > /check/c0.cnf
  mysql --defaults-file=/check/c0.cnf --batch --show-warnings -e "
  SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';
  SET SESSION sql_log_bin = 0;
  ALTER USER 'root'@'localhost' IDENTIFIED BY 'root-pw';
  CREATE USER 'root'@'%' IDENTIFIED BY 'root-pw';
  GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
  CREATE USER 'replication'@'%' IDENTIFIED BY 'repl-pw';
  GRANT REPLICATION SLAVE ON *.* TO 'replication'@'%';
  CREATE USER 'clone'@'%' IDENTIFIED BY 'clone-pw';
  GRANT BACKUP_ADMIN ON *.* TO 'clone'@'%';
  CREATE DATABASE sts_gen;
  CREATE TABLE sts_gen.cluster (id CHAR(36) NOT NULL PRIMARY KEY);
  INSERT INTO sts_gen.cluster VALUES (UUID());
  GRANT SELECT ON sts_gen.* TO 'clone'@'%';" || fail "init-data's accounts"
  version=$(sql 0 'SELECT VERSION()')
  say "VERSION(): $version"
  gtid=$(sql 0 'SELECT CONCAT(@@GLOBAL.gtid_mode, " ", @@GLOBAL.enforce_gtid_consistency)')
  [ "$gtid" = "ON ON" ] || fail "gtid_mode, enforce_gtid_consistency: $gtid"
  say "gtid_mode, enforce_gtid_consistency: $gtid"
  clone=$(sql 0 "SELECT CONCAT(PLUGIN_STATUS, ' ', LOAD_OPTION) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone'")
  [ "$clone" = "ACTIVE FORCE_PLUS_PERMANENT" ] || fail "clone plugin: '$clone'"
  say "clone plugin (plugin_load_add = mysql_clone.so): $clone"
  sql 0 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)'

  # Server 1: a recipient as init-data.sh starts it (writable, no network, no replication), clones
  # server 0 into a data directory, then runs on it.
  start 1 --skip-networking --skip-replica-start --read-only=OFF --super-read-only=OFF
  printf '[client]\nuser=root\nsocket=/check/s1.sock\n' > /check/c1.cnf
  mysql --defaults-file=/check/c1.cnf --batch --show-warnings -e "
  SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';
  SET GLOBAL clone_valid_donor_list = '127.0.0.1:3306';
  CLONE INSTANCE FROM 'clone'@'127.0.0.1':3306 IDENTIFIED BY 'clone-pw' DATA DIRECTORY = '/check/clone' REQUIRE SSL;" \
    || fail "CLONE INSTANCE"
  if ! { mysqladmin --defaults-file=/check/c1.cnf shutdown && wait "${pids[1]}"; }; then fail "recipient shutdown"; fi
  rm -rf /check/data1 && mv /check/clone /check/data1
  say "cloned server 0 into server 1's data directory"
  start 1 --skip-networking --skip-replica-start --read-only=OFF --super-read-only=OFF
  mysql --defaults-file="$(cli 1)" --batch --show-warnings -e "
  SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';
  RESET REPLICA ALL;
  CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = 3306, SOURCE_USER = 'replication',
    SOURCE_PASSWORD = 'repl-pw', SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, GET_SOURCE_PUBLIC_KEY = 1,
    SOURCE_CONNECT_RETRY = 10, SOURCE_RETRY_COUNT = 0;" || fail "CHANGE REPLICATION SOURCE TO"
  stop 1
  start 1
  sql 0 'INSERT INTO shop.t VALUES (2)'
  for i in $(seq 1 30); do
    rows=$(sql 1 'SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.t')
    [ "$rows" = 1,2 ] && break
    [ "$i" -lt 30 ] || fail "server 1 did not replicate the write: '$rows'"
    sleep 1
  done
  state=$(mysql --defaults-file="$(cli 1)" --vertical -e 'SHOW REPLICA STATUS' | awk '
    $1 ~ /^Replica_IO_Running:$/ { io = $2 } $1 ~ /^Replica_SQL_Running:$/ { sql = $2 }
    $1 ~ /^Seconds_Behind_Source:$/ { lag = $2 } END { print io, sql, lag }')
  [ "$state" = "Yes Yes 0" ] || fail "SHOW REPLICA STATUS: receiver, applier, lag: $state"
  say "server 1 replicates (receiver, applier, lag: $state), super_read_only $(sql 1 'SELECT @@super_read_only')"
  stop 1
  stop 0
  say "both servers shut down cleanly"
  for n in 0 1; do
    grep -h '\[Warning\]' "/check/s$n.err" | sed -E 's/^[^ ]+ [0-9]+ //' | sort -u | sed "s/^/server $n: /" >&2 || true
  done
  echo "$version" >&3
}
if [ "${1:-}" = --inside ]; then
  inside
  exit
fi

# --- outside: the root, the namespaces ---
here=$(cd "$(dirname "$0")" && pwd)
me=tests/mysql-root-check.sh
[ "$(id -u)" = 0 ] || { echo "$me: needs root (namespaces, chroot)" >&2; exit 2; }
root=$("$here/../scripts/mysql-root")

work=$(mktemp -d /var/tmp/sts-gen-mysql-root-check.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$work/upper/check" "$work/upper/tmp" "$work/work" "$work/merged"
chmod 1777 "$work/upper/tmp"
chown 999:999 "$work/upper/check"

# The server options of templates/mysql/my.cnf.j2 (MySQL), then the identity init-config.sh adds.
cat > "$work/upper/check/common.cnf" <<'CNF'
[mysqld]
tmpdir = /tmp
mysqlx = OFF
skip_name_resolve = ON
host_cache_size = 0
secure_file_priv = NULL
max_connections = 151
max_allowed_packet = 64M
innodb_buffer_pool_size = 128M
innodb_flush_log_at_trx_commit = 1
log_bin = binlog
relay_log = relay-bin
sync_binlog = 1
gtid_mode = ON
enforce_gtid_consistency = ON
log_replica_updates = ON
binlog_expire_logs_seconds = 604800
relay_log_recovery = ON
skip_replica_start = OFF
plugin_load_add = mysql_clone.so
loose_clone = FORCE_PLUS_PERMANENT
CNF
for n in 0 1; do
  {
    cat "$work/upper/check/common.cnf"
    printf 'datadir = /check/data%s\nsocket = /check/s%s.sock\npid_file = /check/s%s.pid\n' "$n" "$n" "$n"
    printf 'port = %s\nlog_error = /check/s%s.err\n' "$((3306 + n))" "$n"
    printf 'server_id = %s\nreport_host = 127.0.0.1\nreport_port = %s\n' "$((100 + n))" "$((3306 + n))"
    printf 'read_only = %s\nsuper_read_only = %s\n' "$([ "$n" = 0 ] && echo OFF || echo ON)" "$([ "$n" = 0 ] && echo OFF || echo ON)"
  } > "$work/upper/check/s$n.cnf"
done

cp "$0" "$work/upper/check/check.sh"

status=0
# shellcheck disable=SC2016 # the inner shell expands them
version=$(unshare --mount --pid --fork --net --propagation private -- /bin/bash -c '
  set -e
  w=$1
  ip link set lo up
  mount -t overlay mysql-root -o "lowerdir=$2,upperdir=$w/upper,workdir=$w/work" "$w/merged"
  mount -t proc proc "$w/merged/proc"
  mount --rbind /dev "$w/merged/dev"
  exec chroot "$w/merged" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 \
    /usr/bin/setpriv --reuid=999 --regid=999 --clear-groups -- /bin/bash /check/check.sh --inside' _ "$work" "$root") \
  || status=$?
if [ "$status" != 0 ] || [ -z "$version" ]; then
  echo "$me: FAILED" >&2
  exit 1
fi
echo "mysqld: $(chroot "$root" /usr/sbin/mysqld --version)"
echo "mysql-root-check: OK $version"
