#!/usr/bin/env bash
# The MySQL of the bash sim (scenario.sh calls this first): writes wrappers mysqld, mysql and
# mysqladmin into $PODSIM_HOME/bin that run the binaries of the root scripts/mysql-root builds
# (Debian unstable's mysql-server, 9.7 at present) with that root's loader and libraries (its C
# library is newer than Debian 12's). sim.sh puts $PODSIM_HOME/bin first on the containers' PATH.
# The wrappers are always rewritten (they are a few lines), so they follow the root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${PODSIM_HOME:-/var/tmp/sts-gen-podsim}
# The root's cache under $PODSIM_HOME, as everything the sim makes: the pods' uid 999 must reach
# the binaries, and root's own ~/.cache is not open to it.
root=$(XDG_CACHE_HOME=${MYSQL_ROOT_CACHE:-$home/cache} "$here/../../scripts/mysql-root")
mkdir -p "$home/bin"

loader=$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
for tool in mysqld mysql mysqladmin; do
  case $tool in
    mysqld) binary=$root/usr/sbin/mysqld
      extra="--basedir=$root/usr --plugin-dir=$root/usr/lib/mysql/plugin --lc-messages-dir=$root/usr/share/mysql --character-sets-dir=$root/usr/share/mysql/charsets" ;;
    *) binary=$root/usr/bin/$tool
      extra="--character-sets-dir=$root/usr/share/mysql/charsets" ;;
  esac
  cat > "$home/bin/$tool" <<WRAP
#!/bin/bash
# Stands in for the image's $tool: Debian's, from $root. --defaults-file must stay the first option.
first=()
case "\${1:-}" in --defaults-file=*|--no-defaults|--defaults-extra-file=*) first=("\$1"); shift ;; esac
exec $loader --library-path $root/usr/lib/x86_64-linux-gnu $binary "\${first[@]}" $extra "\$@"
WRAP
  chmod +x "$home/bin/$tool"
done
"$home/bin/mysqld" --version
