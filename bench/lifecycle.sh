#!/usr/bin/env bash
# The long form of the lifecycle stress test: every server kind (each variant, the stub, a
# supervisor's worker processes, the daemon) through CYCLES (200) start -> stop cycles while
# `stress-ng --cpu 2` keeps both cores busy, so that a stop() landing before a thread has reached
# its loop is likely. Prints, per kind, how many cycles ended (by where the stop landed) and the
# slowest cycle; fails when a cycle hangs, leaves its port bound or leaves a thread behind.
#
#   bench/lifecycle.sh                      # build/tests/iolab_integration_tests, 200 cycles
#   CYCLES=50 STRESS=0 bench/lifecycle.sh   # fewer cycles, idle machine
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=${TESTS:-build/tests/iolab_integration_tests}
CYCLES=${CYCLES:-200}
STRESS=${STRESS:-1}
source bench/lib.sh
require "$TESTS"

if [ "$STRESS" = 1 ]; then
  require stress-ng
  stress-ng --cpu 2 --quiet >/dev/null 2>&1 &
  bg_pids+=($!)
  echo "== stress-ng --cpu 2 (pid $!) keeps both cores busy =="
fi

echo "== $CYCLES cycles per kind: stop at once, after 0-5 ms, or while a client connects =="
started=$(date +%s)
set +e
IOLAB_LIFECYCLE_CYCLES=$CYCLES timeout -s KILL 1800 "$TESTS" \
  --gtest_filter='EveryServer/VariantLifecycleTest.*' >"$work/out.txt" 2>&1
rc=$?
set -e
grep '^lifecycle' "$work/out.txt" || true
echo "== $(( $(date +%s) - started )) s in all =="
if [ $rc -ne 0 ]; then
  grep -E 'Failure|FAILED|did not end|Expected|Which is|port|threads left' "$work/out.txt" | head -40
  die "the lifecycle test failed (exit $rc)"
fi
slowest=$(grep '^lifecycle' "$work/out.txt" | sed -E 's/.*slowest cycle ([0-9.]+) ms.*/\1 &/' |
  sort -g | tail -1 | cut -d' ' -f2-)
echo "slowest of all kinds: $slowest"
