#!/usr/bin/env bash
# What /metrics costs a variant: the same variant under the same wrk load with its workers'
# stats published to shared memory and scraped every second (the daemon's active variant) and
# without (`iolab serve`: no publisher, no scrape), alternated, and the throughput ratio.
# /plaintext, one worker: no upstream, so the per-request cost is the largest share it can be.
#
#   bench/metrics_overhead.sh                       # build/iolab, async, 5 s, 3 pairs
#   VARIANT=threads:8 DURATION=10s PAIRS=5 bench/metrics_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
VARIANT=${VARIANT:-async}
DURATION=${DURATION:-5s}
PAIRS=${PAIRS:-3}
CONNECTIONS=${CONNECTIONS:-50}
source bench/lib.sh
require "$IOLAB" wrk curl jq ss

kind=${VARIANT%%:*}
body="{\"kind\":\"$kind\",\"workers\":1}"
[ "$kind" = threads ] && body="{\"kind\":\"threads\",\"threads\":${VARIANT#*:},\"workers\":1}"

rps_of() { wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$1" | awk '/^Requests\/sec/ {print $2}'; }

# Metrics on: the daemon, its variant publishing, /metrics scraped every second meanwhile.
measure_on() {
  cat >"$work/iolab.yaml" <<YAML
api: {listen: "127.0.0.1:0"}
state_dir: $work/state
YAML
  start_iolab daemon daemon --config "$work/iolab.yaml"
  local daemon_pid=$last_pid api="http://127.0.0.1:$last_port"
  local port
  port=$(curl -fs -X PUT -H 'Content-Type: application/json' -d "$body" "$api/api/v1/variant" | jq .port)
  (while sleep 1; do curl -fs -o /dev/null "$api/metrics" || true; done) &
  local scraper=$!
  bg_pids+=("$scraper")
  rps_of "http://127.0.0.1:$port/plaintext"
  kill "$scraper" 2>/dev/null || true
  local count
  count=$(curl -fs "$api/metrics" | awk '/^iolab_server_request_duration_seconds_count/ {n += $2} END {print n}')
  echo "  (metrics on: the scrape counted $count requests)" >&2
  stop_pid "$daemon_pid"
}

# Metrics off: the same variant alone.
measure_off() {
  start_iolab serve serve "$VARIANT" --workers 1 --listen "127.0.0.1:$(free_port)"
  local pid=$last_pid port=$last_port
  rps_of "http://127.0.0.1:$port/plaintext"
  stop_pid "$pid"
}

on=() off=() ratios=()
for i in $(seq "$PAIRS"); do
  # Alternate which goes first, so that a drift of the machine weighs on both.
  if [ $((i % 2)) -eq 1 ]; then
    off+=("$(measure_off)"); on+=("$(measure_on)")
  else
    on+=("$(measure_on)"); off+=("$(measure_off)")
  fi
  ratios+=("$(awk -v on="${on[-1]}" -v off="${off[-1]}" 'BEGIN {printf "%.4f", on / off}')")
  echo "pair $i: off ${off[-1]} req/s, on ${on[-1]} req/s, on/off ${ratios[-1]}" >&2
done
m_on=$(printf '%s\n' "${on[@]}" | median)
m_off=$(printf '%s\n' "${off[@]}" | median)
echo "$VARIANT /plaintext, $CONNECTIONS connections, $DURATION x $PAIRS pairs (medians):"
echo "  metrics off: $m_off req/s"
echo "  metrics on:  $m_on req/s"
awk -v on="$m_on" -v off="$m_off" 'BEGIN {printf "  ratio of the medians: %.3f\n", on / off}'
# Each pair ran back to back: the median of the pairs' ratios is the least sensitive to drift.
m_ratio=$(printf '%s\n' "${ratios[@]}" | median)
awk -v r="$m_ratio" 'BEGIN {printf "  on/off ratio (median of pairs): %.3f (overhead %.1f %%; target <= 2 %%)\n", r, (1 - r) * 100}'
