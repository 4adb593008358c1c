#!/usr/bin/env bash
# iolab's load engine against wrk, side by side on one nginx (loopback, worker_processes 1, a
# 612-byte page). Runs wrk and `iolab run --target` alternately with the same -t/-c/-d, PAIRS
# pairs per point, and prints per point the median req/s of each, the ratio iolab / wrk, the
# CPU seconds (user + sys, from /usr/bin/time) each spent per 10k requests, and how often each
# blocked a second (voluntary context switches: on loopback the server pays each wake-up).
#
#   bench/loadgen_vs_wrk.sh                      # build/iolab, 3 pairs of 5 s at -t1 -c50, -t2 -c400
#   IOLAB=build-lg/iolab PAIRS=5 DURATION=10s bench/loadgen_vs_wrk.sh
#   POINTS="1:50 2:400 2:1000" bench/loadgen_vs_wrk.sh
#   TARGET=stub:1ms POINTS=1:50 bench/loadgen_vs_wrk.sh   # `iolab stub` answering after 1 ms
#                                                          # instead of nginx: a server that is
#                                                          # not saturated at -c50
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
WRK=${WRK:-wrk}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-5s}
POINTS=${POINTS:-"1:50 2:400"}
TARGET=${TARGET:-nginx}
# Any single command that runs longer than this is killed; the bench then fails.
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-120}

source bench/lib.sh
require "$IOLAB" "$WRK" nginx /usr/bin/time jq curl ss

case $TARGET in
  nginx)
    port=$(free_port)
    start_nginx "$port"
    url="http://127.0.0.1:$port/"
    size=$(curl -fs "$url" | wc -c)
    echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') on $url (worker_processes 1, ${size}-byte page)"
    ;;
  stub:*)
    start_iolab stub stub --listen 127.0.0.1:0 --delay "${TARGET#stub:}"
    url="http://127.0.0.1:$last_port/"
    echo "iolab stub on $url (answers after ${TARGET#stub:})"
    ;;
  *) die "TARGET is nginx or stub:DELAY, not '$TARGET'" ;;
esac
echo "$PAIRS pairs of -d $DURATION per point, alternating wrk and iolab ($IOLAB)"
echo

# Each runs one command under /usr/bin/time and prints "REQUESTS REQ/S CPU_SECONDS BLOCKS".
run_wrk() {
  local t=$1 c=$2 out="$work/wrk.out"
  /usr/bin/time -f '%U %S %w' -o "$work/time" timeout -s KILL "$STEP_TIMEOUT_S" \
    "$WRK" -t"$t" -c"$c" -d"$DURATION" "$url" >"$out" 2>&1
  local requests rps
  requests=$(awk '/requests in/ {print $1}' "$out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  echo "$requests $rps $(awk '{print $1 + $2, $3}' "$work/time")"
}

run_iolab() {
  local t=$1 c=$2 out="$work/iolab.json"
  /usr/bin/time -f '%U %S %w' -o "$work/time" timeout -s KILL "$STEP_TIMEOUT_S" \
    "$IOLAB" run --target "$url" -t"$t" -c"$c" -d"$DURATION" --warmup 0s --format json \
    >"$out" 2>"$work/iolab.err"
  echo "$(jq -r '.[0].requests' "$out") $(jq -r '.[0].rps' "$out") \
$(awk '{print $1 + $2, $3}' "$work/time")"
}


printf '%-12s %12s %12s %7s %16s %16s %7s %14s %14s\n' point "wrk req/s" "iolab req/s" ratio \
  "wrk cpu-s/10k" "iolab cpu-s/10k" ratio "wrk blocks/10k" "iolab blk/10k"
for point in $POINTS; do
  t=${point%%:*}
  c=${point##*:}
  : >"$work/wrk.rows"
  : >"$work/iolab.rows"
  for i in $(seq "$PAIRS"); do
    read -r wreq wrps wcpu wblocks < <(run_wrk "$t" "$c")
    read -r ireq irps icpu iblocks < <(run_iolab "$t" "$c")
    echo "$wrps $(awk -v c="$wcpu" -v b="$wblocks" -v n="$wreq" \
      'BEGIN {print c * 10000 / n, b * 10000 / n}')" >>"$work/wrk.rows"
    echo "$irps $(awk -v c="$icpu" -v b="$iblocks" -v n="$ireq" \
      'BEGIN {print c * 10000 / n, b * 10000 / n}')" >>"$work/iolab.rows"
    printf '  pair %d -t%s -c%s: wrk %.0f req/s %.2f cpu-s, iolab %.0f req/s %.2f cpu-s\n' \
      "$i" "$t" "$c" "$wrps" "$wcpu" "$irps" "$icpu"
  done
  wrps=$(cut -d' ' -f1 "$work/wrk.rows" | median)
  irps=$(cut -d' ' -f1 "$work/iolab.rows" | median)
  wcpu=$(cut -d' ' -f2 "$work/wrk.rows" | median)
  icpu=$(cut -d' ' -f2 "$work/iolab.rows" | median)
  wblocks=$(cut -d' ' -f3 "$work/wrk.rows" | median)
  iblocks=$(cut -d' ' -f3 "$work/iolab.rows" | median)
  printf '%-12s %12.0f %12.0f %7.3f %16.4f %16.4f %7.3f %14.0f %14.0f\n' "-t$t -c$c" "$wrps" \
    "$irps" "$(awk -v a="$irps" -v b="$wrps" 'BEGIN {print a / b}')" "$wcpu" "$icpu" \
    "$(awk -v a="$icpu" -v b="$wcpu" 'BEGIN {print a / b}')" "$wblocks" "$iblocks"
done
echo
echo "ratio columns: iolab / wrk (req/s: >= 1.0 is the target; cpu-s per 10k requests: <= 1.0)"
echo "blocks: voluntary context switches (times the process slept) per 10k requests"
