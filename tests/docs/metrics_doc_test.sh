#!/usr/bin/env bash
# docs/metrics.md against a live scrape: a daemon (loopback, port 0) with a variant that served
# one 1 s run, then metrics_doc_check.py compares names, types and labels.
# Usage: metrics_doc_test.sh IOLAB_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
iolab=$1 src=$2 work=$3
ulimit -f 10240
rm -rf "$work" && mkdir -p "$work/state"
fail() { echo "FAIL: $*" >&2; exit 1; }
pid=""
cleanup() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
trap cleanup EXIT

cat >"$work/iolab.yaml" <<YAML
api: {listen: "127.0.0.1:0"}
state_dir: $work/state
upstream: {profile: {delay: 5ms}}
load: {max_connections: 100, max_duration: 1m}
YAML
# The redirections are made by the background child: create the files first, so that the
# loop below never reads a file that is not there yet.
: >"$work/daemon.out"
: >"$work/daemon.err"
timeout -s KILL 60 "$iolab" daemon --config "$work/iolab.yaml" >"$work/daemon.out" 2>"$work/daemon.err" &
pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n '1s/^iolab daemon listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/daemon.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the daemon did not start: $(head -c 2000 "$work/daemon.err")"
api=http://127.0.0.1:$port
json=(-H "Content-Type: application/json")
curl -fs -X PUT "${json[@]}" -d '{"kind":"threads","threads":4,"workers":1}' "$api/api/v1/variant" >/dev/null ||
  fail "PUT /api/v1/variant"
id=$(curl -fs -X POST "${json[@]}" -d '{"connections":4,"threads":1,"duration":"1s"}' "$api/api/v1/runs" | jq .id)
for _ in $(seq 300); do
  state=$(curl -fs "$api/api/v1/runs/$id" | jq -r .state)
  [ "$state" = done ] && break
  sleep 0.1
done
[ "$state" = done ] || fail "run $id: $state"
curl -fs "$api/metrics" >"$work/scrape.txt" || fail "GET /metrics"
/usr/bin/python3 "$src/tests/docs/metrics_doc_check.py" "$src" "$work/scrape.txt"
