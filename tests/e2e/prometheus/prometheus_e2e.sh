#!/usr/bin/env bash
# End-to-end: the daemon and a real Prometheus (Debian's), loopback, 1 s scrape. Loads two
# variants, then evaluates every PromQL expression of the dashboards and rule files through
# Prometheus's HTTP API and requires data from each, for both variants.
# Usage: prometheus_e2e.sh IOLAB_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
iolab=$1 src=$2 work=$3
ulimit -f 10240
rm -rf "$work" && mkdir -p "$work/state" "$work/prom-data"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
seconds=${IOLAB_E2E_SECONDS:-4}  # of load per variant

# The daemon: port 0, the port read back from its first line.
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
timeout -s KILL 120 "$iolab" daemon --config "$work/iolab.yaml" >"$work/daemon.out" 2>"$work/daemon.err" &
pids+=($!)
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/^iolab daemon listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/daemon.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the daemon did not start: $(head -c 2000 "$work/daemon.err")"
api=http://127.0.0.1:$port

# Prometheus: its own config (the shipped rules), data dir, a free loopback port.
prom_port=""
for _ in $(seq 200); do
  p=$((20000 + RANDOM % 12000))
  ss -Htln "sport = :$p" | grep -q . || { prom_port=$p; break; }
done
[ -n "$prom_port" ] || fail "no free port for prometheus"
cp "$src/dashboards/prometheus/recording_rules.yml" "$src/dashboards/prometheus/alert_rules.yml" "$work/"
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [recording_rules.yml, alert_rules.yml]
scrape_configs:
  - job_name: iolab
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YAML
timeout -s KILL 120 prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom-data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom=http://127.0.0.1:$prom_port
for _ in $(seq 600); do curl -fs "$prom/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$prom/-/ready" >/dev/null || fail "prometheus did not start: $(tail -c 2000 "$work/prometheus.log")"

# Load two variants, one after the other; the second run waits for the first.
run() {
  curl -fs -X PUT -H 'Content-Type: application/json' -d "$1" "$api/api/v1/variant" >/dev/null ||
    fail "PUT variant $1"
  id=$(curl -fs -X POST -H 'Content-Type: application/json' \
    -d "{\"connections\":8,\"threads\":1,\"duration\":\"${seconds}s\",\"path\":\"/remote\"}" "$api/api/v1/runs" | jq .id)
  for _ in $(seq $((seconds * 10 + 60))); do
    state=$(curl -fs "$api/api/v1/runs/$id" | jq -r .state)
    [ "$state" = done ] && return
    [ "$state" = queued ] || [ "$state" = running ] || fail "run $id: $state"
    sleep 0.1
  done
  fail "run $id did not finish"
}
variants=(threads:4 async)
run '{"kind":"threads","threads":4,"workers":2}'
run '{"kind":"async","workers":2}'
# A series appears after a scrape or a rule evaluation following the last run: each query is
# asked again until it has data, 60 s at most, rather than after a fixed wait.
deadline=$(( $(date +%s) + 60 ))

# Every expression: the dashboards' targets and the rules' exprs, template variables replaced.
exprs=$(jq -r '.panels[].targets[].expr' "$src"/dashboards/grafana/*.json
        sed -n 's/^ *expr: *//p' "$src"/dashboards/prometheus/recording_rules.yml \
          "$src"/dashboards/prometheus/alert_rules.yml)
checked=0
while IFS= read -r expr; do
  [ -n "$expr" ] || continue
  for v in "${variants[@]}"; do
    q=${expr//\$__rate_interval/5s}
    q=${q//\$__range/1m}
    q=${q//\$variant/$v}
    q=${q//\$scenario/adhoc}
    # An alert's condition holds only when something broke: its expression is evaluated
    # without the comparison. iolab_regression exists only on a night that regressed.
    q=${q% > 0}
    case "$q" in *iolab_regression*) continue ;; esac
    while true; do
      answer=$(curl -fs --max-time 5 --data-urlencode "query=$q" "$prom/api/v1/query") ||
        fail "query refused: $q"
      [ "$(jq -r .status <<<"$answer")" = success ] || fail "query failed: $q: $answer"
      n=$(jq '.data.result | length' <<<"$answer")
      missing=""
      if [ "$n" -eq 0 ]; then
        missing="no data for ($v)"
      # A query over all variants must show this one too.
      elif grep -q 'by (variant' <<<"$q" || [[ "$q" == variant:* ]]; then
        jq -e --arg v "$v" '[.data.result[].metric.variant] | index($v) != null' \
          <<<"$answer" >/dev/null || missing="no series for variant $v"
      fi
      [ -n "$missing" ] || break
      (( $(date +%s) < deadline )) || fail "$missing: $q"
      sleep 0.5
    done
    checked=$((checked + 1))
  done
done <<<"$exprs"
echo "prometheus e2e: $checked expression evaluations returned data for ${variants[*]}"
# docs/metrics.md's picture: IOLAB_E2E_SVG=dashboards/overview.svg (run by hand, not by ctest).
if [ -n "${IOLAB_E2E_SVG:-}" ]; then
  bash "$src/dashboards/tools/render_svg.sh" "$prom" $((2 * seconds + 8)) "$IOLAB_E2E_SVG"
fi
