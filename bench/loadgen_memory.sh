#!/usr/bin/env bash
# Constant memory: one open-loop `iolab run --target` at 20k req/s for 60 s against the built-in
# stub (`iolab stub`, no delay), its resident size read from /proc after 5 s and just before the
# end. Prints both; exits 1 when the end is larger than after 5 s plus 1 MiB of page noise.
#
#   bench/loadgen_memory.sh                 # build/iolab, 20000 req/s, 60 s
#   IOLAB=build-lg/iolab RATE=20000 DURATION_S=60 bench/loadgen_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
RATE=${RATE:-20000}
DURATION_S=${DURATION_S:-60}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${THREADS:-2}
NOISE_KB=${NOISE_KB:-1024}

work=$(mktemp -d /tmp/iolab-memory.XXXXXX)
stub_pid=""
run_pid=""
cleanup() {
  for pid in $run_pid $stub_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $run_pid $stub_pid; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
ulimit -f 102400

timeout -s KILL $((DURATION_S + 60)) "$IOLAB" stub --listen 127.0.0.1:0 --delay 0ms \
  >"$work/stub.out" 2>&1 &
stub_pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/stub.out")
  [[ -n "$port" ]] && break
  sleep 0.05
done
[[ -n "$port" ]] || { echo "loadgen_memory: the stub did not start" >&2; cat "$work/stub.out" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

timeout -s KILL $((DURATION_S + 30)) "$IOLAB" run --target "http://127.0.0.1:$port/" \
  --rate "$RATE" -c "$CONNECTIONS" -t "$THREADS" -d "${DURATION_S}s" --warmup 0s --format json \
  >"$work/result.json" 2>"$work/progress.txt" &
run_pid=$!
sleep 5
# $run_pid is timeout(1); iolab is its child.
iolab_pid=$(cat "/proc/$run_pid/task/$run_pid/children" | awk '{print $1}')
at_5s=$(rss_kb "$iolab_pid")
sleep $((DURATION_S - 6))
at_end=$(rss_kb "$iolab_pid")
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$iolab_pid/status" 2>/dev/null || echo 0)
wait "$run_pid"
run_pid=""

echo "iolab run --target (stub, no delay) --rate $RATE -c $CONNECTIONS -t $THREADS -d ${DURATION_S}s"
jq -r '.[0] | "answers \(.requests), achieved \(.rps | floor) req/s, errors \(.errors.total), " +
  "p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, lag max \(.rate.lag_max_ns / 1e6) ms, " +
  "timeline \(.timeline | length) s"' "$work/result.json"
echo "RSS after 5 s:            ${at_5s} KiB"
echo "RSS at $((DURATION_S - 1)) s (the end):   ${at_end} KiB"
echo "peak RSS (VmHWM):         ${peak} KiB"
if ((at_end > at_5s + NOISE_KB)); then
  echo "FAIL: memory grew by $((at_end - at_5s)) KiB"
  exit 1
fi
echo "OK: no growth beyond ${NOISE_KB} KiB ($((at_end - at_5s)) KiB)"
