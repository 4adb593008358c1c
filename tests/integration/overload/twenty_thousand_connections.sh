#!/usr/bin/env bash
# Overload: 20,000 connections against threads:10, far past its capacity.
#
#   twenty_thousand_connections.sh IOLAB_BINARY
#
# `iolab serve threads:10` (2 worker processes, a 10 ms stub: 2,000 answers/s at most) is loaded by
# `iolab run --target` processes holding 20,000 connections in all, with a 1 s timeout, for 4 s.
# One process cannot hold 20,000 sockets under a 20,000 descriptor limit, so the load is split
# over as many processes as the limit needs. Passes when:
#  - every load process ends on time (no hang) with exit 0 and reports timeouts;
#  - the timeouts are counted in more than one second of each timeline (the loop kept going);
#  - the load processes got answers between them. Not each: the variant serves connections in
#    the order it accepts them, and under a sanitizer one process's 10,000 can take every answer
#    (seen once under ASan: 1,120 answers and 0). A frozen engine shows in the two checks above;
#  - no worker crashed or was restarted (the same worker pids before and after);
#  - the variant answers /remote again once the load is gone (the queue drains), within 90 s.
set -euo pipefail

IOLAB=$1
TOTAL=20000
DURATION_S=4
TIMEOUT_S=1
ulimit -f 102400  # 100 MiB of output at most: a runaway process cannot fill the disk

WORK=$(mktemp -d)
cleanup() {
  # The server runs in its own process group (setsid): this ends it and its workers.
  if [[ -n ${SERVE_PID:-} ]]; then
    kill -KILL -- "-$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.err; do echo "--- $f" >&2; tail -5 "$f" >&2; done; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LIMIT=$(ulimit -n)
PER_PROCESS=$(( LIMIT - 200 < 10000 ? LIMIT - 200 : 10000 ))
PROCESSES=$(( (TOTAL + PER_PROCESS - 1) / PER_PROCESS ))
WORKERS=$(( (TOTAL * 13 / 10 + LIMIT - 201) / (LIMIT - 200) ))
(( WORKERS < 2 )) && WORKERS=2
echo "descriptor limit $LIMIT: $PROCESSES load processes of $PER_PROCESS connections, $WORKERS workers"

# The redirections are made by the background child: create the files first, so that the
# loop below never reads a file that is not there yet.
: >"$WORK/serve.out"
: >"$WORK/serve.err"
setsid timeout -s KILL 200 "$IOLAB" serve threads:10 --workers "$WORKERS" --upstream-delay 10ms \
  --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
PORT=
for _ in $(seq 600); do
  PORT=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$WORK/serve.out" | head -1)
  [[ -n $PORT ]] && break
  sleep 0.1
done
[[ -n $PORT ]] || fail "iolab serve did not report its port"
URL=http://127.0.0.1:$PORT/remote
workers() { pgrep -f "iolab worker --variant threads:10 --listen 127.0.0.1:$PORT " | sort | tr '\n' ' '; }
BEFORE=$(workers)
(( $(wc -w <<<"$BEFORE") == WORKERS )) || fail "expected $WORKERS workers, found: $BEFORE"

started_ms=$(( $(date +%s%N) / 1000000 ))
pids=()
for i in $(seq "$PROCESSES"); do
  n=$(( i < PROCESSES ? PER_PROCESS : TOTAL - PER_PROCESS * (PROCESSES - 1) ))
  timeout -s KILL 60 "$IOLAB" run --target "$URL" -c "$n" -t 1 -d "${DURATION_S}s" --warmup 0s \
    --timeout "${TIMEOUT_S}s" --format json >"$WORK/load$i.json" 2>"$WORK/load$i.err" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail "load process $((i + 1)) exited with $?"
done
elapsed_ms=$(( $(date +%s%N) / 1000000 - started_ms ))
echo "load processes ended after ${elapsed_ms} ms"
# Ends on time: the duration, the last timeouts, the reporting; anything near 60 s is a hang.
(( elapsed_ms < (DURATION_S + TIMEOUT_S + 15) * 1000 )) || fail "the load took ${elapsed_ms} ms"

all_answers=0
for i in $(seq "$PROCESSES"); do
  f=$WORK/load$i.json
  read -r answers timeouts errors seconds_with_errors < <(jq -r '.[0] | [.requests,
      .errors.timeout, .errors.total, ([.timeline[] | select(.errors > 0)] | length)] | @tsv' "$f")
  echo "load $i: $answers answers, $timeouts timeouts, $errors errors in all," \
       "errors in $seconds_with_errors seconds of the timeline"
  all_answers=$((all_answers + answers))
  (( timeouts > 0 )) || fail "load $i: no timeouts reported against a variant far past capacity"
  (( seconds_with_errors >= 2 )) || fail "load $i: errors in only $seconds_with_errors second(s)"
done
(( all_answers > 0 )) || fail "no load process got an answer"

AFTER=$(workers)
[[ $BEFORE == "$AFTER" ]] || fail "workers changed (crashed or restarted): '$BEFORE' -> '$AFTER'"
kill -0 "$SERVE_PID" 2>/dev/null || fail "iolab serve is gone"

# The queue of connections the load abandoned drains; then the variant answers at once again.
drain_start=$(date +%s)
while true; do
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$URL" || true)
  [[ $code == 200 ]] && break
  (( $(date +%s) - drain_start < 90 )) || fail "the variant did not answer within 90 s after the load"
  sleep 0.5
done
echo "the variant answered 200 again $(( $(date +%s) - drain_start )) s after the load"
[[ $(workers) == "$BEFORE" ]] || fail "workers changed while draining"
echo PASS
