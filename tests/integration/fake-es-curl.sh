#!/bin/bash
# A stand-in for curl in the Elasticsearch backup and restore tests: answers each API call the
# scripts make with canned JSON, as Elasticsearch would, and records what it was given.
#   $FAKE_DIR/log       per call: "ARGV <arguments>", "BODY <stdin>" (with a body), "CALL <method> <path>"
#   $FAKE_DIR/auth      the decoded Authorization header and the config file's mode, of each call
#   $FAKE_DIR/snapshots the repository's snapshots, "<name> <state>" per line (_cat/snapshots)
# Behaviour: $SNAPSHOT_STATE (the state a new snapshot ends in), $USER_DATA (the _resolve/index
# answer), $RESTORE_FAILED (failed shards of a restore), $FAIL_CALL (calls "<METHOD> <path>"
# starting with it answer HTTP 500), $CLUSTER_UUID (what GET / reports; unset: no node answers, as
# when the client Service has no Ready pod).
set -euo pipefail
printf 'ARGV %s\n' "$*" >> "$FAKE_DIR/log"
config='' method=GET output=/dev/stdout write_out='' url='' body=0
[ "${1-}" = --disable ] || { echo "fake curl: --disable must come first (no ~/.curlrc)" >&2; exit 2; }
shift
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift ;;
    --request) method=$2; shift ;;
    --output) output=$2; shift ;;
    --write-out) write_out=$2; shift ;;
    --data-binary) [ "$2" = @- ] || { echo "fake curl: body not on stdin" >&2; exit 2; }; body=1; shift ;;
    --header | --connect-timeout | --max-time) shift ;;
    --silent | --show-error) ;;
    http://* | https://*) url=$1 ;;
    *) echo "fake curl: unexpected argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$body" = 1 ]; then
  printf 'BODY %s\n' "$(cat)" >> "$FAKE_DIR/log"
fi
header=$(sed -n 's/^header = "Authorization: Basic \(.*\)"$/\1/p' "$config")
printf 'AUTH %s MODE %s CACERT %s\n' "$(base64 -d <<< "$header")" "$(stat -c %a "$config")" \
  "$(sed -n 's/^cacert = "\(.*\)"$/\1/p' "$config")" >> "$FAKE_DIR/auth"
path=/${url#*://*/}
printf 'CALL %s %s %s\n' "$method" "$path" "${url%%/_*}" >> "$FAKE_DIR/log"
touch "$FAKE_DIR/snapshots"

status=200
if [ -n "${FAIL_CALL:-}" ] && [[ "$method $path" == "$FAIL_CALL"* ]]; then
  printf '%s\n' '{"error":{"type":"fake_failure"},"status":500}' > "$output"
  printf '%s' "${write_out//%\{http_code\}/500}"
  exit 0
fi
case "$method $path" in
  "GET /?filter_path=cluster_uuid")
    if [ -z "${CLUSTER_UUID:-}" ]; then
      echo "curl: (7) Failed to connect to ${url%%/\?*}: Connection refused" >&2
      exit 7
    fi
    answer="{\"cluster_uuid\":\"$CLUSTER_UUID\"}"
    ;;
  "PUT /_snapshot/sts-gen") answer='{"acknowledged":true}' ;;
  "POST /_snapshot/sts-gen/_verify"*) answer='{"nodes":{"a1":{"name":"es-0"},"b2":{"name":"es-1"}}}' ;;
  "GET /_cluster/health"*) answer='{"number_of_nodes":3,"status":"green","timed_out":false}' ;;
  "GET /_resolve/index/"*) answer=${USER_DATA:-'{}'} ;;
  "GET /_cat/snapshots/sts-gen"*) answer=$(cat "$FAKE_DIR/snapshots") ;;
  "GET /_snapshot/sts-gen/"*)
    name=${path#/_snapshot/sts-gen/}
    name=${name%%\?*}
    state=$(awk -v n="$name" '$1 == n { print $2 }' "$FAKE_DIR/snapshots")
    if [ -n "$state" ]; then
      answer="{\"snapshots\":[{\"snapshot\":\"$name\",\"state\":\"$state\",\"version\":\"8.19.18\"}]}"
    else
      answer='{"snapshots":[]}'
    fi
    ;;
  "PUT /_snapshot/sts-gen/"*)
    name=${path#/_snapshot/sts-gen/}
    name=${name%%\?*}
    state=${SNAPSHOT_STATE:-SUCCESS}
    echo "$name $state" >> "$FAKE_DIR/snapshots"
    failed=0
    [ "$state" = SUCCESS ] || failed=1
    answer="{\"snapshot\":{\"snapshot\":\"$name\",\"state\":\"$state\",\"duration_in_millis\":1200,\"failures\":[],\"shards\":{\"total\":4,\"failed\":$failed,\"successful\":$((4 - failed))}}}"
    ;;
  "DELETE /_snapshot/sts-gen/"*)
    name=${path#/_snapshot/sts-gen/}
    awk -v n="$name" '$1 != n' "$FAKE_DIR/snapshots" > "$FAKE_DIR/snapshots.new"
    mv "$FAKE_DIR/snapshots.new" "$FAKE_DIR/snapshots"
    answer='{"acknowledged":true}'
    ;;
  "POST /_snapshot/sts-gen/"*"/_restore"*)
    name=${path#/_snapshot/sts-gen/}
    name=${name%%/*}
    answer="{\"snapshot\":{\"snapshot\":\"$name\",\"shards\":{\"total\":4,\"failed\":${RESTORE_FAILED:-0},\"successful\":4}}}"
    ;;
  *)
    status=404
    answer='{"error":"no such call in the fake"}'
    ;;
esac
printf '%s\n' "$answer" > "$output"
printf '%s' "${write_out//%\{http_code\}/$status}"
