#!/usr/bin/env bash
# How closely the load engine reads back a known server and holds a schedule: the timing claims
# that hold on a quiet machine only, so they live here rather than in the tests.
# Against `iolab stub`, REPEATS runs per case, medians printed with each claim's ratio:
#
#   closed loop -c2 -t1, stub 50 ms:        p50 / 50 ms           claim: under 1.03 (1.5 ms)
#   open loop --rate 40 -c4 -t2, 50 ms:     p50 / 50 ms           claim: under 1.03
#                                           lag max               claim: under 40 ms (a busy
#                                                                 connection would cost 50 ms)
#   open loop --rate 1000 -c10 -t2, 1 ms:   achieved / 1000 req/s claim: 0.99 to 1.01
#                                           lag mean              claim: under 10 ms
#
#   bench/loadgen_accuracy.sh
#   IOLAB=build-lg/iolab REPEATS=5 DURATION=10s bench/loadgen_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-5s}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-120}

source bench/lib.sh
require "$IOLAB" jq ss curl

start_iolab stub50 stub --listen 127.0.0.1:0 --delay 50ms
url50="http://127.0.0.1:$last_port/"
start_iolab stub1 stub --listen 127.0.0.1:0 --delay 1ms
url1="http://127.0.0.1:$last_port/"
echo "iolab stubs answering after 50 ms and 1 ms; $REPEATS runs of -d $DURATION per case ($IOLAB)"
echo

# run_json NAME URL ARGS...: one `iolab run`, its JSON row in $work/NAME.json.
run_json() {
  local name=$1 url=$2
  shift 2
  timeout -s KILL "$STEP_TIMEOUT_S" "$IOLAB" run --target "$url" -d "$DURATION" --warmup 0s \
    --format json "$@" >"$work/$name.json" 2>"$work/$name.err" ||
    die "iolab run $* failed: $(cat "$work/$name.err")"
}

# field NAME JQ: the median over the repeats of NAME of jq expression JQ on its row.
field() {
  local name=$1 expr=$2 i
  for i in $(seq "$REPEATS"); do jq -r ".[0] | $expr" "$work/$name.$i.json"; done | median
}

for i in $(seq "$REPEATS"); do
  run_json "closed.$i" "$url50" -c 2 -t 1
  run_json "open.$i" "$url50" -c 4 -t 2 --rate 40
  run_json "rate.$i" "$url1" -c 10 -t 2 --rate 1000
done

# claim TEXT VALUE LOW HIGH: one line, "held" when LOW <= VALUE < HIGH.
claim() {
  awk -v t="$1" -v v="$2" -v lo="$3" -v hi="$4" \
    'BEGIN { printf "%-44s %10.4f  %s\n", t, v, (v >= lo && v < hi) ? "held" : "MISSED" }'
}

printf "%-44s %10s  %s\n" "claim (median of $REPEATS)" "value" "on this machine"
claim "closed loop 50 ms: p50 / 50 ms (< 1.03)" \
  "$(field closed '.latency_ms.p50 / 50')" 1 1.03
claim "open loop 50 ms: p50 / 50 ms (< 1.03)" \
  "$(field open '.latency_ms.p50 / 50')" 1 1.03
claim "open loop 50 ms: lag max in ms (< 40)" \
  "$(field open '.rate.lag_max_ns / 1e6')" 0 40
claim "--rate 1000: achieved / requested (0.99-1.01)" \
  "$(field rate '.rate.achieved / .rate.requested')" 0.99 1.01
claim "--rate 1000: lag mean in ms (< 10)" \
  "$(field rate '.rate.lag_mean_ns / 1e6')" 0 10
