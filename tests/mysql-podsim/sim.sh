#!/bin/bash
# A small kubelet stand-in for the sts-gen MySQL manifest (root only): pods are network +
# mount + UTS namespaces running the manifest's own scripts with Debian's MySQL (mysql-from-root.sh).
set -uo pipefail
SIM=${PODSIM_HOME:-/var/tmp/sts-gen-podsim}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NET=198.18.7
P=msim
MANIFEST=$SIM/mysql.json

log() { printf '\n=== %s\n' "$*"; }

setup() {
  teardown >/dev/null 2>&1
  ip route add unreachable $NET.0/24 metric 4242
  ip netns add $P-sw
  ip -n $P-sw link set lo up
  ip -n $P-sw link add br0 type bridge
  ip -n $P-sw link set br0 address 02:00:00:00:00:07
  ip -n $P-sw link set br0 up
  mkdir -p /etc/mysql/config /etc/mysql/credentials /etc/mysql/sts-gen /scripts /var/lib/mysql-volume /var/lib/mysql /run/mysqld /backups
  rm -rf $SIM/cm $SIM/pods $SIM/backups; mkdir -p $SIM/cm $SIM/pods $SIM/secret $SIM/backups
  chown 999:999 $SIM/backups
  python3 "$HERE/manifest-files.py" "$MANIFEST" $SIM/cm
  for k in root-password replication-password clone-password; do printf '%s' "pw-$k-it's\"x" > $SIM/secret/$k; done
  chown root:999 $SIM/secret/*; chmod 440 $SIM/secret/*
  printf '127.0.0.1 localhost\n' > $SIM/hosts
}

teardown() {
  for n in 0 1 2 3 9; do stop_pod $n 2>/dev/null; ip netns del $P-$n 2>/dev/null; done
  ip netns del $P-sw 2>/dev/null
  ip route del unreachable $NET.0/24 metric 4242 2>/dev/null
  # the empty mount points made on the host (only if still empty)
  rmdir /etc/mysql/config /etc/mysql/credentials /etc/mysql/sts-gen /etc/mysql /scripts \
    /var/lib/mysql-volume /var/lib/mysql /run/mysqld /backups 2>/dev/null
}

fqdn() { echo "mysql-$1.mysql-headless.default.svc.cluster.local"; }

rewrite_hosts() {
  local d n
  { printf '127.0.0.1 localhost\n'
    for d in $SIM/pods/*; do
      [ -e "$d/exists" ] || continue
      n=${d##*/}
      printf '%s %s mysql-%s.mysql-headless.default.svc mysql-%s.mysql-headless mysql-%s\n' "$NET.$((10 + n))" "$(fqdn $n)" "$n" "$n" "$n"
    done; } > $SIM/hosts.new
  cat $SIM/hosts.new > $SIM/hosts   # in place: bind mounts keep the inode
}

create_pod() { # N: network + volumes; the pod "exists" (has a DNS name) from now on
  local n=$1 d=$SIM/pods/$1
  mkdir -p $d/pv $d/conf $d/run $d/tmp
  chown 999:999 $d/pv $d/conf $d/run $d/tmp
  if ! ip netns list | grep -qw "$P-$n"; then
    ip netns add $P-$n
    ip -n $P-sw link add v$n type veth peer name eth0 netns $P-$n
    ip -n $P-sw link set v$n master br0 up
    ip -n $P-$n link set lo up
    ip -n $P-$n addr add $NET.$((10 + n))/24 dev eth0
    ip -n $P-$n link set eth0 up
  fi
  touch $d/exists
  rewrite_hosts
}

job_pod() { # N: a Job's pod (network and folders, no DNS name: not a member of the set)
  create_pod "$1"
  rm -f "$SIM/pods/$1/exists"
  rewrite_hosts
}

ctr() { # N CMD...: one container of pod N (its mounts, the backups volume too), as uid 999;
  # $CTR_ENV adds environment variables (NAME=value ...)
  local n=$1; shift
  local d=$SIM/pods/$n
  ip netns exec $P-$n unshare --mount --uts --propagation private -- bash -c '
    set -e
    hostname "mysql-'$n'"
    mount --bind '$SIM'/hosts /etc/hosts
    mount --bind '$SIM'/cm/mysql-config /etc/mysql/config
    mount --bind '$SIM'/cm/mysql-scripts /scripts
    mount --bind '$SIM'/secret /etc/mysql/credentials
    mount --bind '$d'/conf /etc/mysql/sts-gen
    mount --bind '$d'/pv /var/lib/mysql-volume
    mkdir -p '$d'/pv/mysql && chown 999:999 '$d'/pv/mysql
    mount --bind '$d'/pv/mysql /var/lib/mysql
    mount --bind '$d'/run /run/mysqld
    mount --bind '$d'/tmp /tmp
    mount --bind '$SIM'/backups /backups
    exec env -i PATH='$SIM'/bin:/usr/bin:/bin HOSTNAME=mysql-'$n' POD_NAME=mysql-'$n' POD_NAMESPACE=default '"${CTR_ENV:-}"' \
      setpriv --reuid=999 --regid=999 --clear-groups -- "$@"' _ "$@"
}

start_pod() { # N: init containers in order, then mysqld in the background, then wait Ready
  local n=$1
  create_pod $n
  ctr $n bash /scripts/init-config.sh || { echo "init-config failed"; return 1; }
  ctr $n bash /scripts/init-data.sh || { echo "init-data failed"; return 1; }
  ctr $n mysqld --defaults-file=/etc/mysql/sts-gen/my.cnf > $SIM/pods/$n/mysqld.log 2>&1 &
  local i
  for i in $(seq 1 120); do
    if ctr $n bash /scripts/readiness.sh 2>/dev/null; then echo "mysql-$n Ready after ${i}s"; return 0; fi
    sleep 1
  done
  echo "mysql-$n never became Ready"; ctr $n bash /scripts/readiness.sh; tail -20 $SIM/pods/$n/mysqld.log; return 1
}

stop_pod() { # N: SIGTERM everything in the pod's netns, wait for it to end
  local n=$1 pids
  pids=$(ip netns pids $P-$n 2>/dev/null)
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 60); do [ -z "$(ip netns pids $P-$n 2>/dev/null)" ] && return 0; sleep 0.5; done
  pids=$(ip netns pids $P-$n 2>/dev/null)
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
}

delete_pod() { stop_pod $1; rm -f $SIM/pods/$1/exists; rewrite_hosts; }

q() { # N SQL: as root over the socket
  local n=$1; shift
  ctr $n bash -c 'mysql --defaults-file=<(printf "[client]\nuser=root\nsocket=/var/run/mysqld/mysqld.sock\npassword=\"%s\"\n" "$(sed "s/\"/\\\\\"/g" /etc/mysql/credentials/root-password)") --batch --skip-column-names -e "$1"' _ "$*"
}
