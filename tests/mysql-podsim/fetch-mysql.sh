#!/usr/bin/env bash
# Fetches MySQL 8.4 server and client binaries (Ubuntu's mysql-server-core 8.4.x, the same
# release series as the mysql:8.4 image) into $PODSIM_HOME/mysql, without touching the system's
# apt state, and writes wrappers mysqld, mysql, mysqladmin into $PODSIM_HOME/bin that run them
# with their own loader and libraries (Debian 12's glibc is older than Ubuntu's).
# Debian ships no MySQL 8.4; Ubuntu's archive answers from this workplace's machines.
set -euo pipefail
home=${PODSIM_HOME:-/var/tmp/sts-gen-podsim}
suite=${MYSQL_UBUNTU_SUITE:-questing}
archive=http://archive.ubuntu.com/ubuntu
keyring_deb=pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb
keyring_sha256=36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8
root=$home/mysql
if [ -x "$home/bin/mysqld" ] && "$home/bin/mysqld" --version 2>/dev/null; then exit 0; fi

apt=$home/apt
rm -rf "$apt" "$root"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/keyring" "$root" "$home/bin"
curl -fsS -o "$apt/keyring.deb" "$archive/$keyring_deb"
echo "$keyring_sha256  $apt/keyring.deb" | sha256sum -c --quiet
dpkg-deb -x "$apt/keyring.deb" "$apt/keyring"
echo "deb [signed-by=$apt/keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg] $archive $suite main universe" > "$apt/sources.list"
touch "$apt/status"
opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
  -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::State::status=$apt/status"
  -o APT::Architecture=amd64 -o Debug::NoLocking=1)
apt-get "${opts[@]}" -qq update
apt-get "${opts[@]}" -qq install -y -d --no-install-recommends mysql-server-core mysql-client-core >/dev/null
for deb in "$apt"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done

loader=$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
for tool in mysqld mysql mysqladmin; do
  case $tool in
    mysqld) binary=$root/usr/sbin/mysqld
      extra="--basedir=$root/usr --plugin-dir=$root/usr/lib/mysql/plugin --lc-messages-dir=$root/usr/share/mysql" ;;
    *) binary=$root/usr/bin/$tool; extra="" ;;
  esac
  cat > "$home/bin/$tool" <<WRAP
#!/bin/bash
# Stands in for the image's $tool. --defaults-file must stay the first option.
first=()
case "\${1:-}" in --defaults-file=*|--no-defaults|--defaults-extra-file=*) first=("\$1"); shift ;; esac
exec $loader --library-path $root/usr/lib/x86_64-linux-gnu $binary "\${first[@]}" $extra "\$@"
WRAP
  chmod +x "$home/bin/$tool"
done
"$home/bin/mysqld" --version
